"""Repository creation templates are validated by one function of the service layer
(crossreg.services.templates.check_template), which the ECR API and the console both use. The
constraints it shares with botocore's model are the model's own, reported in the same words as
the ECR API's model validation (crossreg.ecr.protocol) reports them."""

from __future__ import annotations

import json

import pytest

from crossreg.ecr import protocol
from crossreg.ecr.errors import EcrError
from crossreg.services import repository_settings as rs
from crossreg.services import templates as tpl

OP = "CreateRepositoryCreationTemplate"
LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "selection": {
    "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]})


def test_constants_are_the_models():
    shape = protocol.service_model().operation_model(OP).input_shape.members
    assert shape["prefix"].metadata == {"min": 1, "max": tpl.MAX_PREFIX, "pattern": tpl.PREFIX_PATTERN}
    assert shape["description"].metadata["max"] == tpl.MAX_DESCRIPTION
    kms = shape["encryptionConfiguration"].members["kmsKey"].metadata
    assert kms["pattern"] == tpl.KMS_KEY_PATTERN and kms["max"] == 2048
    assert shape["repositoryPolicy"].metadata["max"] == tpl.MAX_REPOSITORY_POLICY
    assert shape["lifecyclePolicy"].metadata["max"] == tpl.MAX_LIFECYCLE_POLICY
    assert shape["customRoleArn"].metadata["max"] == tpl.MAX_ROLE_ARN
    assert tuple(shape["appliedFor"].member.metadata["enum"]) == tpl.APPLIED_FOR
    assert shape["imageTagMutabilityExclusionFilters"].metadata["max"] == rs.MAX_EXCLUSION_FILTERS
    assert tuple(shape) == ("prefix", *tpl.FIELDS)


# Documents the model refuses: the service refuses them with the ECR API's very message.
@pytest.mark.parametrize("fields", [
    {"prefix": "Bad_Prefix"},
    {"prefix": "ends-with-/-/"},
    {"prefix": "a" * 257},
    {"prefix": ""},
    {"description": "d" * 257},
    {"appliedFor": ["SOMETIMES"]},
    {"imageTagMutability": "SOMETIMES"},
    {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
     "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": f"v{i}"} for i in range(6)]},
    {"encryptionConfiguration": {"encryptionType": "ROT13"}},
    {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "alias/aws/ecr"}},
    {"repositoryPolicy": "x" * 10241},
    {"lifecyclePolicy": "x" * 30721},
    {"customRoleArn": "arn:aws:iam::111111111111:role/" + "r" * 2048},
])
def test_model_constraints_have_the_apis_words(fields):
    doc = {"prefix": "ok", "appliedFor": ["REPLICATION"], **fields}
    with pytest.raises(EcrError) as api:
        protocol.validate_input(OP, doc)
    with pytest.raises(rs.InvalidSetting) as service:
        tpl.validate_template(doc)
    assert service.value.kind == api.value.code == "InvalidParameterException"
    assert str(service.value) == api.value.message


# ECR's own rules, beyond the model (the ECR API reaches these after its model validation).
@pytest.mark.parametrize("fields,setting,message", [
    ({"appliedFor": []}, "appliedFor",
     "Invalid parameter at 'appliedFor' failed to satisfy constraint: "
     "'Member must have length greater than or equal to 1'"),
    ({"imageTagMutability": "MUTABLE_WITH_EXCLUSION"}, "imageTagMutability",
     "ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as MUTABLE_WITH_EXCLUSION"),
    ({"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": "arn:aws:kms:us-east-1:111111111111:key/k"}},
     "encryptionConfiguration", "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: "
     "'KMS key must not be specified when the encryption type is AES256'"),
    ({"resourceTags": [{"Key": "aws:x", "Value": ""}]}, "resourceTags",
     "Tag keys starting with 'aws:' are reserved for AWS use"),
    ({"repositoryPolicy": "{}"}, "repositoryPolicy",
     "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: 'Invalid repository policy provided'"),
    ({"lifecyclePolicy": "{"}, "lifecyclePolicy", None),
    ({"customRoleArn": "not-a-role"}, "customRoleArn",
     "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'Invalid ARN'"),
])
def test_ecr_rules(fields, setting, message):
    doc = {"prefix": "ok", "appliedFor": ["REPLICATION"], **fields}
    protocol.validate_input(OP, doc)  # the model accepts it
    _, problems = tpl.check_template(doc)
    assert [s for s, _ in problems] == [setting]
    if message is not None:
        assert str(problems[0][1]) == message
    with pytest.raises(rs.InvalidSetting):
        tpl.validate_template(doc)


def test_every_problem_is_reported_once_per_setting_in_ecrs_order():
    doc = {"prefix": "Bad", "description": "d" * 300, "appliedFor": [],
           "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION", "lifecyclePolicy": "{", "customRoleArn": "x"}
    _, problems = tpl.check_template(doc)
    assert [s for s, _ in problems] == ["prefix", "description", "appliedFor", "imageTagMutability",
                                        "lifecyclePolicy", "customRoleArn"]
    assert problems[4][1].cause is not None  # the lifecycle parser's own error, for the console
    with pytest.raises(tpl.InvalidTemplate) as err:
        tpl.validate_template(doc)
    assert err.value.field == "prefix"


def test_defaults_and_normalisation():
    doc = tpl.validate_template({"prefix": "ROOT", "appliedFor": ["REPLICATION", "REPLICATION", "CREATE_ON_PUSH"],
                                 "description": "", "repositoryPolicy": "", "lifecyclePolicy": LIFECYCLE,
                                 "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": ""},
                                 "customRoleArn": "", "unknown": "dropped"})
    assert doc == {"prefix": "ROOT", "appliedFor": ["REPLICATION", "CREATE_ON_PUSH"], "lifecyclePolicy": LIFECYCLE,
                   "imageTagMutability": "MUTABLE", "encryptionConfiguration": {"encryptionType": "KMS"},
                   "resourceTags": []}


def test_update_drops_the_old_modes_filters():
    current = {"prefix": "p", "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
               "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"}]}
    assert "imageTagMutabilityExclusionFilters" not in tpl.updated_document(current, {"imageTagMutability": "MUTABLE"})
    assert tpl.updated_document(current, {"description": "x"})["imageTagMutabilityExclusionFilters"]
