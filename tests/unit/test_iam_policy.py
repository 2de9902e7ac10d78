import json

import pytest

from crossreg.iam.policy import Policy, PolicyError, Principal, parse_policy

REPO_ARN = "arn:aws:ecr:us-east-1:222222222222:repository/*"


def doc(*statements, version="2012-10-17", **extra):
    return json.dumps({"Version": version, "Statement": list(statements), **extra})


def stmt(**overrides):
    base = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": ["ecr:ReplicateImage"], "Resource": REPO_ARN}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def reason(text, kind="registry", scope="V2"):
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, kind, scope)
    return exc.value.reason


# --- well-formed policies ---------------------------------------------------------------------


def test_parses_console_replication_policy():
    policy = parse_policy(doc({
        "Sid": "ReplicationAccessCrossAccount", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": ["arn:aws:ecr:us-west-2:444455556666:repository/*"]}), "registry")
    assert isinstance(policy, Policy)
    assert policy.kind == "registry" and policy.version == "2012-10-17"
    (s,) = policy.statements
    assert s.sid == "ReplicationAccessCrossAccount"
    assert s.effect == "Allow"
    assert s.principal == Principal(aws=("arn:aws:iam::111122223333:root",))
    assert s.actions == ("ecr:CreateRepository", "ecr:ReplicateImage")
    assert s.resources == ("arn:aws:ecr:us-west-2:444455556666:repository/*",)
    assert s.not_principal is s.not_actions is s.not_resources is None


def test_single_statement_object_and_string_values():
    policy = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": stmt(Action="ecr:ReplicateImage")}),
                          "registry")
    assert policy.statements[0].actions == ("ecr:ReplicateImage",)
    assert policy.statements[0].resources == (REPO_ARN,)


def test_repository_policy_relaxations():
    # 2008 version, no Resource, repeated Sid, Sid with spaces: all accepted for repository policies.
    text = doc(stmt(Sid="allow public pull", Resource=None, Principal="*",
                    Action=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]),
               stmt(Sid="allow public pull", Resource=None),
               version="2008-10-17")
    policy = parse_policy(text, "repository")
    assert policy.version == "2008-10-17"
    assert policy.statements[0].principal == Principal(wildcard=True)
    assert policy.statements[0].resources is None and policy.statements[0].not_resources is None


def test_principal_forms():
    text = doc(stmt(Principal={"AWS": ["arn:aws:iam::111111111111:root", "222222222222",
                                       "arn:aws:iam::333333333333:role/path/deployer",
                                       "arn:aws:iam::333333333333:user/alice",
                                       "arn:aws:sts::333333333333:assumed-role/deployer/s1"],
                               "Service": "replication.ecr.amazonaws.com"}))
    p = parse_policy(text, "registry").statements[0].principal
    assert len(p.aws) == 5 and p.service == ("replication.ecr.amazonaws.com",) and not p.wildcard
    assert parse_policy(doc(stmt(Principal={"AWS": "*"})), "registry").statements[0].principal.wildcard


def test_not_elements():
    text = doc(stmt(Effect="Deny", Principal=None, NotPrincipal={"AWS": "111111111111"},
                    Action=None, NotAction="ecr:BatchGetImage", Resource=None,
                    NotResource="arn:aws:ecr:us-east-1:222222222222:repository/public-*"))
    s = parse_policy(text, "repository").statements[0]
    assert s.principal is None and s.not_principal == Principal(aws=("111111111111",))
    assert s.actions is None and s.not_actions == ("ecr:BatchGetImage",)
    assert s.resources is None and s.not_resources == ("arn:aws:ecr:us-east-1:222222222222:repository/public-*",)


def test_policy_id_and_wildcard_resources_accepted():
    text = doc(stmt(Resource=["*", "arn:aws:ecr:*:*:repository/*", "arn:aws:ecr:us-east-?:2222222222??:repository/p*",
                              "arn:aws-cn:ecr:cn-north-1:222222222222:repository/x",
                              "arn:aws:ecr:us-east-1:222222222222:*"]), Id="my-policy")
    assert parse_policy(text, "registry").id == "my-policy"


def test_action_case_and_wildcards_accepted():
    text = doc(stmt(Action=["ECR:replicateimage", "ecr:Create*", "ecr:*", "*", "ecr:Batch?etImage"]))
    assert parse_policy(text, "registry").statements[0].actions[0] == "ECR:replicateimage"


def test_repository_policy_may_name_other_services():
    parse_policy(doc(stmt(Action=["ecr:BatchGetImage", "s3:GetObject"])), "repository")


def test_conditions_parsed_and_normalised():
    text = doc(stmt(Condition={
        "StringEquals": {"aws:SourceAccount": ["111111111111", 111111111112]},
        "Bool": {"aws:SecureTransport": True},
        "ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "team-*"},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
        "NumericLessThanEquals": {"ecr:Count": "3"},
        "Null": {"aws:SourceArn": "true"},
    }))
    conds = {c.operator: c for c in parse_policy(text, "registry").statements[0].conditions}
    assert conds["StringEquals"].values == ("111111111111", "111111111112")
    assert conds["Bool"].values == ("true",)
    like = conds["ForAnyValue:StringLikeIfExists"]
    assert (like.base, like.set_qualifier, like.if_exists, like.key) == ("StringLike", "ForAnyValue", True, "aws:TagKeys")


# --- invalid documents -------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("", "policy is not valid JSON"),
    ("{", "policy is not valid JSON"),
    ("[]", "policy must be a JSON object"),
    ('"x"', "policy must be a JSON object"),
    ('{"Version": NaN, "Statement": []}', "NaN is not valid JSON"),
    ('{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": []}', "duplicate key 'Version'"),
    ('{"Statement": []}', "Version is required"),
    ('{"Version": "2012-10-18", "Statement": [{}]}', "Version: '2012-10-18' is not one of"),
    ('{"Version": "2012-10-17"}', "Statement is required"),
    ('{"Version": "2012-10-17", "Statement": []}', "Statement: must not be empty"),
    ('{"Version": "2012-10-17", "Statement": ["x"]}', "Statement[0]: must be an object"),
    ('{"Version": "2012-10-17", "Statement": [], "Extra": 1}', "unknown top-level element 'Extra'"),
    ('{"Version": "2012-10-17", "Id": 3, "Statement": []}', "Id: must be a string"),
])
def test_document_errors(text, expected):
    assert expected in reason(text)


def test_deep_nesting_is_a_policy_error():
    assert "not valid JSON" in reason("[" * 100000 + "]" * 100000)


def test_non_string_text():
    assert reason(b"{}") == "policy text must be a string"  # type: ignore[arg-type]


def test_caller_bugs_are_value_errors_not_policy_errors():
    with pytest.raises(ValueError) as exc:
        parse_policy(doc(stmt()), "identity")  # type: ignore[arg-type]
    assert not isinstance(exc.value, PolicyError)
    with pytest.raises(ValueError):
        parse_policy(doc(stmt()), "registry", "V3")  # type: ignore[arg-type]


@pytest.mark.parametrize("overrides,expected", [
    ({"Bogus": 1}, "Statement[0]: unknown element 'Bogus'"),
    ({"Sid": 5}, "Statement[0].Sid: must be a string"),
    ({"Effect": None}, "Statement[0].Effect: must be 'Allow' or 'Deny', not None"),
    ({"Effect": "allow"}, "Statement[0].Effect: must be 'Allow' or 'Deny', not 'allow'"),
    ({"Principal": None}, "Statement[0]: Principal or NotPrincipal is required"),
    ({"NotPrincipal": "*"}, "Statement[0]: Principal and NotPrincipal cannot both be present"),
    ({"Principal": "111111111111"}, "Statement[0].Principal: must be \"*\" or an object"),
    ({"Principal": {}}, "Statement[0].Principal: must be \"*\" or an object"),
    ({"Principal": {"Federated": "cognito-identity.amazonaws.com"}},
     "Statement[0].Principal: unsupported principal type 'Federated'"),
    ({"Principal": {"AWS": []}}, "Statement[0].Principal.AWS: must not be an empty list"),
    ({"Principal": {"AWS": 111111111111}}, "Statement[0].Principal.AWS: 111111111111 is not a string"),
    ({"Principal": {"AWS": "11111111111"}}, "Statement[0].Principal.AWS: '11111111111' is not a valid AWS principal"),
    ({"Principal": {"AWS": "arn:aws:iam::*:root"}}, "'arn:aws:iam::*:root' is not a valid AWS principal"),
    ({"Principal": {"AWS": "arn:aws:iam::111111111111:group/devs"}}, "is not a valid AWS principal"),
    ({"Principal": {"Service": "not a service"}}, "Statement[0].Principal.Service: 'not a service' is not a valid service principal"),
    ({"Action": None}, "Statement[0]: Action or NotAction is required"),
    ({"NotAction": "ecr:PutImage"}, "Statement[0]: Action and NotAction cannot both be present"),
    ({"Action": []}, "Statement[0].Action: must not be an empty list"),
    ({"Action": "ReplicateImage"}, "Statement[0].Action: 'ReplicateImage' is not a valid action"),
    ({"Action": "ecr:Replicate Image"}, "is not a valid action"),
    ({"Action": "ec*:ReplicateImage"}, "is not a valid action"),
    ({"Action": "ecr:ReplicateImages"}, "Statement[0].Action: 'ecr:ReplicateImages' is not a known ECR action"),
    ({"Action": "ecr:Nope*"}, "'ecr:Nope*' is not a known ECR action"),
    ({"Action": ["ecr:ReplicateImage", "s3:GetObject"]},
     "Statement[0].Action: 's3:GetObject' is not allowed in a registry policy (only ecr: actions)"),
    ({"Resource": None}, "Statement[0]: Resource or NotResource is required"),
    ({"NotResource": "*"}, "Statement[0]: Resource and NotResource cannot both be present"),
    ({"Resource": []}, "Statement[0].Resource: must not be an empty list"),
    ({"Resource": "arn:aws:us-east-2:111122223333:repository/*"},
     "Statement[0].Resource: 'arn:aws:us-east-2:111122223333:repository/*' is not a valid ARN"),
    ({"Resource": "arn:aws:us-east-2:ecr:111122223333:repository/*"},
     "Statement[0].Resource: 'arn:aws:us-east-2:ecr:111122223333:repository/*' is not a valid ARN (service is 'us-east-2', expected 'ecr')"),
    ({"Resource": "arn:aws:s3:::bucket"}, "service is 's3', expected 'ecr'"),
    ({"Resource": "arn:aws:ecr:useast1:111122223333:repository/*"}, "region 'useast1' is not a region"),
    ({"Resource": "arn:aws:ecr:us-east-1:11112222333:repository/*"}, "account '11112222333' is not a 12-digit account id"),
    ({"Resource": "arn:aws:ecr:us-east-1::repository/*"}, "account '' is not a 12-digit account id"),
    ({"Resource": "arn:awz:ecr:us-east-1:111122223333:repository/*"}, "partition 'awz' is not an AWS partition"),
    ({"Resource": "arn:aws:ecr:us-east-1:111122223333:repo/*"}, "resource 'repo/*' is not repository/<name>"),
    ({"Resource": "arn:aws:ecr:us-east-1:111122223333:repository/"}, "is not repository/<name>"),
    ({"Resource": ["*", "nope"]}, "Statement[0].Resource: 'nope' is not a valid ARN"),
    ({"Condition": "x"}, "Statement[0].Condition: must be an object"),
    ({"Condition": {"StringEqualz": {"aws:SourceAccount": "1"}}},
     "Statement[0].Condition: unknown condition operator 'StringEqualz'"),
    ({"Condition": {"ForSomeValues:StringEquals": {"aws:SourceAccount": "1"}}}, "unknown condition operator"),
    ({"Condition": {"NullIfExists": {"aws:SourceAccount": "true"}}}, "Null takes no qualifier or IfExists"),
    ({"Condition": {"StringEquals": {}}}, "Statement[0].Condition.StringEquals: must be a non-empty object"),
    ({"Condition": {"StringEquals": {"SourceAccount": "1"}}},
     "Statement[0].Condition.StringEquals: 'SourceAccount' is not a valid condition key"),
    ({"Condition": {"StringEquals": {"aws:SourceAccount": []}}},
     "Statement[0].Condition.StringEquals.aws:SourceAccount: must have at least one value"),
    ({"Condition": {"StringEquals": {"aws:SourceAccount": None}}}, "None is not a scalar condition value"),
    ({"Condition": {"StringEquals": {"aws:SourceAccount": {"a": 1}}}}, "is not a scalar condition value"),
    ({"Condition": {"Bool": {"aws:SecureTransport": "yes"}}}, "'yes' is not 'true' or 'false'"),
    ({"Condition": {"Null": {"aws:SourceArn": 1}}}, "1 is not 'true' or 'false'"),
    ({"Condition": {"NumericLessThan": {"ecr:n": "ten"}}}, "'ten' is not a number"),
    ({"Condition": {"NumericLessThan": {"ecr:n": True}}}, "True is not a number"),
    ({"Condition": {"DateLessThan": {"aws:CurrentTime": "tomorrow"}}}, "'tomorrow' is not an ISO 8601 date"),
    ({"Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}, "is not an IP address or CIDR block"),
])
def test_statement_errors(overrides, expected):
    assert expected in reason(doc(stmt(**overrides)))


def test_error_path_points_at_the_offending_statement():
    assert reason(doc(stmt(), stmt(Effect="Maybe"))).startswith("Statement[1].Effect:")


def test_registry_policy_rejects_duplicate_sids():
    assert reason(doc(stmt(Sid="A"), stmt(Sid="B"), stmt(Sid="A"))) == "Statement[2].Sid: duplicate Sid 'A'"


def test_repository_policy_allows_missing_resource_but_not_bad_one():
    parse_policy(doc(stmt(Resource=None)), "repository")
    assert "is not a valid ARN" in reason(doc(stmt(Resource="arn:aws:us-east-2:1:x")), kind="repository")


# --- registry policy scope ---------------------------------------------------------------------


@pytest.mark.parametrize("actions", [
    ["ecr:ReplicateImage"], ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
    ["ecr:*"], ["*"], ["ecr:Replicate*"], ["ECR:CREATEREPOSITORY"],
])
def test_v1_scope_allows_only_replication_and_cache_actions(actions):
    parse_policy(doc(stmt(Action=actions)), "registry", "V1")


@pytest.mark.parametrize("actions,bad", [
    (["ecr:ReplicateImage", "ecr:DescribeRepositories"], "ecr:DescribeRepositories"),
    (["ecr:Create*"], "ecr:Create*"),
    (["ecr:BatchGetImage"], "ecr:BatchGetImage"),
])
def test_v1_scope_rejects_other_actions(actions, bad):
    assert f"'{bad}' is not allowed in a registry policy with scope V1" in reason(doc(stmt(Action=actions)), scope="V1")
    parse_policy(doc(stmt(Action=actions)), "registry", "V2")  # fine under V2


def test_v1_scope_not_action_must_not_cover_other_actions():
    assert "is not allowed in a registry policy with scope V1" in reason(
        doc(stmt(Action=None, NotAction="ecr:PutImage")), scope="V1")


def test_v1_scope_does_not_apply_to_repository_policies():
    parse_policy(doc(stmt(Action="ecr:BatchGetImage")), "repository", "V1")


@pytest.mark.timeout(20)
def test_huge_inputs_are_rejected_quickly():
    long_action = "ecr:" + "*" * 5000 + "x"
    assert "is not a known ECR action" in reason(doc(stmt(Action=long_action)), kind="repository")
    assert "unknown condition operator" in reason(doc(stmt(Condition={"A" * 20000: {"aws:x": "1"}})))
    many = [stmt(Sid=f"S{i}") for i in range(500)]
    assert len(parse_policy(doc(*many), "registry").statements) == 500
