import botocore.session
import pytest

from crossreg.iam.actions import (
    INTERNAL_ACTIONS,
    PULL_ACTIONS,
    PUSH_ACTIONS,
    REGISTRY_POLICY_V1_ACTIONS,
    OciKind,
    actions_matching,
    canonical_action,
    ecr_actions,
    is_known_action,
    oci_action,
    oci_actions,
    operation_action,
)


def test_catalogue_is_botocore_operations_plus_internal_actions():
    operations = botocore.session.get_session().get_service_model("ecr").operation_names
    expected = {f"ecr:{op}" for op in operations} | {"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage"}
    assert ecr_actions() == expected
    assert len(ecr_actions()) == len(operations) + 2
    assert set(INTERNAL_ACTIONS) <= ecr_actions()


def test_every_named_action_set_is_in_the_catalogue():
    for action in (*PULL_ACTIONS, *PUSH_ACTIONS, *REGISTRY_POLICY_V1_ACTIONS, "ecr:BatchDeleteImage"):
        assert action in ecr_actions()


def test_canonical_action_folds_case():
    assert canonical_action("ECR:batchgetimage") == "ecr:BatchGetImage"
    assert canonical_action("ecr:NoSuchThing") is None
    assert is_known_action("ecr:replicateimage")
    assert not is_known_action("s3:GetObject")


def test_operation_action():
    assert operation_action("PutImage") == "ecr:PutImage"
    with pytest.raises(ValueError):
        operation_action("PutImages")


def test_actions_matching():
    assert actions_matching("ecr:Replicate*") == {"ecr:ReplicateImage"}
    assert actions_matching("*") == ecr_actions()
    assert actions_matching("ECR:*") == ecr_actions()
    assert {"ecr:CreateRepository", "ecr:CreatePullThroughCacheRule",
            "ecr:CreateRepositoryCreationTemplate"} <= actions_matching("ecr:Create*")
    assert actions_matching("ecr:Nope*") == frozenset()
    assert actions_matching("s3:*") == frozenset()


@pytest.mark.parametrize("method,kind,action", [
    ("GET", "manifest", "ecr:BatchGetImage"),
    ("HEAD", "manifest", "ecr:BatchGetImage"),
    ("PUT", "manifest", "ecr:PutImage"),
    ("DELETE", "manifest", "ecr:BatchDeleteImage"),
    ("GET", "blob", "ecr:GetDownloadUrlForLayer"),
    ("HEAD", "blob", "ecr:GetDownloadUrlForLayer"),
    ("POST", "blob_upload", "ecr:InitiateLayerUpload"),
    ("PATCH", "blob_upload", "ecr:UploadLayerPart"),
    ("PUT", "blob_upload", "ecr:CompleteLayerUpload"),
    ("GET", "tags", "ecr:BatchGetImage"),
    ("GET", "referrers", "ecr:BatchGetImage"),
    ("GET", "catalog", "ecr:DescribeRepositories"),
])
def test_oci_action(method, kind, action):
    assert oci_action(method, kind) == action
    assert oci_action(method.lower(), OciKind(kind)) == action


def test_blob_head_during_push_is_layer_availability_check():
    assert oci_action("HEAD", OciKind.BLOB, pushing=True) == "ecr:BatchCheckLayerAvailability"
    assert oci_actions("HEAD", OciKind.BLOB) == ("ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
    # pushing only changes the ambiguous case
    assert oci_action("GET", OciKind.MANIFEST, pushing=True) == "ecr:BatchGetImage"


def test_pull_and_push_sets_cover_the_oci_flows():
    pull = {oci_action(m, k) for m, k in [("GET", "manifest"), ("HEAD", "manifest"), ("GET", "blob"), ("HEAD", "blob")]}
    assert pull == set(PULL_ACTIONS)
    push = {oci_action("HEAD", "blob", pushing=True)} | {
        oci_action(m, "blob_upload") for m in ("POST", "PATCH", "PUT")} | {oci_action("PUT", "manifest")}
    assert push == set(PUSH_ACTIONS)


@pytest.mark.parametrize("method,kind", [("POST", "manifest"), ("DELETE", "blob"), ("PUT", "tags"), ("GET", "nope")])
def test_oci_action_rejects_undefined_requests(method, kind):
    with pytest.raises(ValueError):
        oci_action(method, kind)
