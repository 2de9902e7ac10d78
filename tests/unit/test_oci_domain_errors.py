import json

import pytest

from crossreg.oci import errors as oe
from crossreg.oci.errors import CODES, OciError

SPEC_CODES = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404, "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400, "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429, "TAG_INVALID": 400, "RANGE_INVALID": 416,
}


@pytest.mark.parametrize("code,status", sorted(SPEC_CODES.items()))
def test_catalogue_defaults(code, status):
    err = OciError(code)
    assert err.status == status
    assert err.message == CODES[code].message and err.message
    assert json.loads(err.body()) == {"errors": [{"code": code, "message": err.message}]}


def test_spec_messages():
    assert OciError("BLOB_UNKNOWN").message == "blob unknown to registry"
    assert OciError("DIGEST_INVALID").message == "provided digest did not match uploaded content"
    assert OciError("NAME_UNKNOWN").message == "repository name not known to registry"


def test_body_carries_detail_only_when_given():
    err = OciError("MANIFEST_BLOB_UNKNOWN", "missing", detail={"digests": ["sha256:" + "a" * 64]}, status=400)
    assert json.loads(err.body()) == {"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "missing",
                                                  "detail": {"digests": ["sha256:" + "a" * 64]}}]}
    assert b"detail" not in OciError("DENIED", "no").body()
    assert str(err) == "missing"


def test_explicit_status_and_unknown_codes():
    assert OciError("SIZE_INVALID", "too big", status=413).status == 413
    custom = OciError("QUERY_PARAMETER_INVALID", "bad n")
    assert (custom.status, custom.message) == (400, "bad n")
    for bad in ("lower", "WITH SPACE", "", "TRAILING_", None):
        with pytest.raises(ValueError):
            OciError(bad)


def test_ecr_worded_constructors():
    err = oe.name_unknown("team/app", "111111111111")
    assert (err.code, err.status) == ("NAME_UNKNOWN", 404)
    assert err.message == "The repository with name 'team/app' does not exist in the registry with id '111111111111'"

    err = oe.tag_invalid_immutable("v1", "team/app")
    assert (err.code, err.status) == ("TAG_INVALID", 400)
    assert err.message == ("The image tag 'v1' already exists in the 'team/app' repository and cannot be "
                           "overwritten because the repository is immutable.")

    err = oe.denied_token_expired()
    assert (err.code, err.status) == ("DENIED", 403)
    assert err.message == "Your authorization token has expired. Reauthenticate and try again."

    err = oe.blob_upload_unknown("u-1", "app", "222222222222")
    assert (err.code, err.status) == ("BLOB_UPLOAD_UNKNOWN", 404)
    assert err.message == ("Upload with id 'u-1' could not be found for the repository with name 'app' "
                           "in the registry with id '222222222222'")

    assert oe.manifest_unknown("latest").message == "Requested image not found"
    assert oe.manifest_too_large(4194304).status == 413
    assert oe.manifest_blob_unknown(["sha256:" + "b" * 64]).detail == {"digests": ["sha256:" + "b" * 64]}
    assert oe.range_invalid(10).status == 416
    assert oe.unauthorized().status == 401
    assert oe.unsupported().status == 405
    assert oe.too_many_requests().status == 429
    assert oe.digest_mismatch("sha256:" + "a" * 64, "sha256:" + "b" * 64).code == "DIGEST_INVALID"
