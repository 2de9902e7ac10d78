"""Registry scanning settings end to end, and the scan operations crossreg does not offer:
PutRegistryScanningConfiguration / GetRegistryScanningConfiguration /
BatchGetRepositoryScanningConfiguration store and report; StartImageScan and
DescribeImageScanFindings say that crossreg does not scan (never a fake finding)."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_ecr_support import client_error, error_of, unique

pytestmark = pytest.mark.integration


@pytest.fixture()
def ecr(server, owner):
    client = server.boto3(owner)
    yield client
    client.put_registry_scanning_configuration(scanType="BASIC", rules=[])


def test_defaults(ecr, owner):
    out = ecr.get_registry_scanning_configuration()
    assert out["registryId"] == owner.account_id
    assert out["scanningConfiguration"] == {"scanType": "BASIC", "rules": []}


def test_put_get_and_per_repository_view(ecr, owner):
    plain, scanned, pushed = unique("scan-app"), unique("other"), unique("flagged")
    for name in (plain, scanned, pushed):
        ecr.create_repository(repositoryName=name)
    ecr.put_image_scanning_configuration(repositoryName=pushed, imageScanningConfiguration={"scanOnPush": True})
    rules = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "scan-*", "filterType": "WILDCARD"}]},
             {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": scanned, "filterType": "WILDCARD"}]}]
    out = ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=rules)
    assert out["registryScanningConfiguration"] == {"scanType": "ENHANCED", "rules": rules}
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"] == {"scanType": "ENHANCED", "rules": rules}

    out = ecr.batch_get_repository_scanning_configuration(repositoryNames=[plain, scanned, pushed, "missing-repo", plain])
    by_name = {c["repositoryName"]: c for c in out["scanningConfigurations"]}
    assert list(by_name) == [plain, scanned, pushed]  # asked twice, answered once
    assert by_name[plain] == {"repositoryArn": f"arn:aws:ecr:us-east-1:{owner.account_id}:repository/{plain}",
                              "repositoryName": plain, "scanOnPush": False, "scanFrequency": "SCAN_ON_PUSH",
                              "appliedScanFilters": [{"filter": "scan-*", "filterType": "WILDCARD"}]}
    assert by_name[scanned]["scanFrequency"] == "CONTINUOUS_SCAN"
    assert by_name[pushed]["scanFrequency"] == "SCAN_ON_PUSH" and by_name[pushed]["scanOnPush"] is True
    assert by_name[pushed]["appliedScanFilters"] == []
    assert out["failures"] == [{"repositoryName": "missing-repo", "failureCode": "REPOSITORY_NOT_FOUND",
                                "failureReason": "The repository with name 'missing-repo' does not exist in the "
                                                 f"registry with id '{owner.account_id}'"}]

    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])
    out = ecr.batch_get_repository_scanning_configuration(repositoryNames=[plain])
    assert out["scanningConfigurations"][0]["scanFrequency"] == "MANUAL"


def test_with_the_cli(server, owner, ecr):
    rules = json.dumps([{"scanFrequency": "SCAN_ON_PUSH",
                         "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}])
    out = json.loads(server.aws(owner, "ecr", "put-registry-scanning-configuration", "--scan-type", "BASIC",
                                "--rules", rules).stdout)
    assert out["registryScanningConfiguration"]["rules"][0]["scanFrequency"] == "SCAN_ON_PUSH"
    out = json.loads(server.aws(owner, "ecr", "get-registry-scanning-configuration").stdout)
    assert out["scanningConfiguration"]["scanType"] == "BASIC"


@pytest.mark.parametrize("kwargs,words", [
    ({"scanType": "BASIC", "rules": [{"scanFrequency": "CONTINUOUS_SCAN",
                                      "repositoryFilters": [{"filter": "x", "filterType": "WILDCARD"}]}]},
     "CONTINUOUS_SCAN is only supported with scanType ENHANCED"),
    ({"scanType": "THOROUGH"}, "Member must satisfy enum value set"),
    ({"rules": [{"scanFrequency": "MANUAL", "repositoryFilters": [{"filter": "Bad!", "filterType": "WILDCARD"}]}]},
     "Member must satisfy regular expression pattern"),
    ({"rules": [{"scanFrequency": "MANUAL", "repositoryFilters": []}] * 3},
     "Member must have length less than or equal to 2"),
])
def test_invalid_configurations(ecr, kwargs, words):
    err = client_error(ecr.put_registry_scanning_configuration, **kwargs)
    assert err.response["Error"]["Code"] == "InvalidParameterException"
    assert words in err.response["Error"]["Message"]
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"] == {"scanType": "BASIC", "rules": []}


def test_batch_get_limits(ecr):
    err = client_error(ecr.batch_get_repository_scanning_configuration,
                       repositoryNames=[f"r{i:02d}" for i in range(26)])
    assert err.response["Error"]["Code"] == "InvalidParameterException"


@pytest.mark.parametrize("call,kwargs", [
    ("start_image_scan", {}),
    ("describe_image_scan_findings", {}),
])
def test_scans_are_not_offered(ecr, call, kwargs):
    name = unique("scan")
    ecr.create_repository(repositoryName=name)
    err = client_error(getattr(ecr, call), repositoryName=name, imageId={"imageTag": "latest"}, **kwargs)
    operation = "StartImageScan" if call == "start_image_scan" else "DescribeImageScanFindings"
    assert error_of(err) == ("ValidationException", f"The operation {operation} is not supported by crossreg: "
                                                    "crossreg does not scan images for vulnerabilities")
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_other_unsupported_operations_say_why(server, owner):
    ecr = server.boto3(owner)
    err = client_error(ecr.describe_pull_through_cache_rules)
    assert error_of(err) == ("ValidationException", "The operation DescribePullThroughCacheRules is not supported "
                                                    "by crossreg: crossreg has no pull through cache")
    err = client_error(ecr.get_signing_configuration)
    assert "GetSigningConfiguration is not supported by crossreg" in error_of(err)[1]
