import json

import pytest

from crossreg.iam.arn import repository_arn
from crossreg.iam.evaluate import (
    AuthzRequest,
    Decision,
    Evaluation,
    evaluate,
    explain,
    is_allowed,
    statement_applies,
)
from crossreg.iam.policy import parse_policy
from crossreg.iam.statements import merge_statement, replication_statement

PROVIDER = "111111111111"
OWNER = "222222222222"
THIRD = "333333333333"
REGION = "us-east-1"
REPO = "breast-cancer-classifier"
REPO_ARN = repository_arn(REGION, OWNER, REPO)


def registry_policy(*statements):
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), "registry")


def repository_policy(*statements):
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), "repository")


def grant(actions=("ecr:CreateRepository", "ecr:ReplicateImage"), effect="Allow",
          principal=f"arn:aws:iam::{PROVIDER}:root", resource=f"arn:aws:ecr:{REGION}:{OWNER}:repository/*", **extra):
    return {"Effect": effect, "Principal": {"AWS": principal}, "Action": list(actions), "Resource": resource, **extra}


def req(account, action, resource=REPO_ARN, **context):
    return AuthzRequest.for_account(account, action, resource, context)


# --- the seed scenario: data owner 222222222222 lets provider 111111111111 replicate -------------


@pytest.fixture
def owner_policy():
    # Exactly what the console's "Generate statement" writes for cross-account replication.
    text = merge_statement(None, replication_statement("ReplicationAccessCrossAccount", [PROVIDER], REGION, OWNER))
    return parse_policy(text, "registry")


def test_seed_provider_may_replicate_and_create(owner_policy):
    assert evaluate(owner_policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.ALLOW
    assert evaluate(owner_policy, req(PROVIDER, "ecr:CreateRepository")) == Decision.ALLOW
    assert is_allowed(owner_policy, principal_account=PROVIDER, action="ecr:ReplicateImage", resource_arn=REPO_ARN)


def test_seed_third_account_is_denied(owner_policy):
    assert evaluate(owner_policy, req(THIRD, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY
    assert not is_allowed(owner_policy, req(THIRD, "ecr:CreateRepository"))


def test_seed_grant_does_not_extend_to_other_actions_regions_or_registries(owner_policy):
    assert evaluate(owner_policy, req(PROVIDER, "ecr:BatchGetImage")) == Decision.IMPLICIT_DENY
    assert evaluate(owner_policy, req(PROVIDER, "ecr:ReplicateImage",
                                      repository_arn("eu-west-1", OWNER, REPO))) == Decision.IMPLICIT_DENY
    assert evaluate(owner_policy, req(PROVIDER, "ecr:ReplicateImage",
                                      repository_arn(REGION, THIRD, REPO))) == Decision.IMPLICIT_DENY


def test_seed_policy_without_create_repository():
    policy = registry_policy(grant(actions=["ecr:ReplicateImage"]))
    assert evaluate(policy, req(PROVIDER, "ecr:CreateRepository")) == Decision.IMPLICIT_DENY
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.ALLOW


def test_seed_deny_statement_wins(owner_policy):
    deny = registry_policy(grant(actions=["ecr:ReplicateImage"], effect="Deny",
                                 resource=f"arn:aws:ecr:{REGION}:{OWNER}:repository/breast-*"))
    assert evaluate([owner_policy, deny], req(PROVIDER, "ecr:ReplicateImage")) == Decision.EXPLICIT_DENY
    # ...but only where it applies
    other = repository_arn(REGION, OWNER, "lung-classifier")
    assert evaluate([owner_policy, deny], req(PROVIDER, "ecr:ReplicateImage", other)) == Decision.ALLOW
    assert evaluate([owner_policy, deny], req(PROVIDER, "ecr:CreateRepository")) == Decision.ALLOW
    # Deny wins within a single policy too, whatever the statement order.
    both = registry_policy(grant(effect="Deny"), grant())
    assert evaluate(both, req(PROVIDER, "ecr:ReplicateImage")) == Decision.EXPLICIT_DENY


def test_seed_source_account_condition_absent_is_not_allowed():
    # Replication does not populate aws:SourceAccount, so such a condition silently denies (#2675).
    policy = registry_policy(grant(Condition={"StringEquals": {"aws:SourceAccount": PROVIDER}}))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY
    # Present and matching, it allows.
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", **{"aws:SourceAccount": PROVIDER})) == Decision.ALLOW


# --- principals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("principal", [PROVIDER, f"arn:aws:iam::{PROVIDER}:root", "*", [THIRD, PROVIDER]])
def test_account_principals_match_any_principal_of_the_account(principal):
    policy = registry_policy(grant(principal=principal))
    role = AuthzRequest(f"arn:aws:iam::{PROVIDER}:role/replicator", PROVIDER, "ecr:ReplicateImage", REPO_ARN)
    assert evaluate(policy, role) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.ALLOW


def test_wildcard_principal_string_matches_everyone():
    policy = repository_policy({"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"})
    assert evaluate(policy, req(THIRD, "ecr:BatchGetImage")) == Decision.ALLOW


def test_user_and_role_principals_match_exactly():
    role = f"arn:aws:iam::{PROVIDER}:role/ml/puller"
    policy = registry_policy(grant(principal=role))
    assert evaluate(policy, AuthzRequest(role, PROVIDER, "ecr:ReplicateImage", REPO_ARN)) == Decision.ALLOW
    other_role = f"arn:aws:iam::{PROVIDER}:role/ml/pusher"
    assert evaluate(policy, AuthzRequest(other_role, PROVIDER, "ecr:ReplicateImage", REPO_ARN)) == Decision.IMPLICIT_DENY
    # A specific role does not grant the account as a whole.
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY


def test_role_principal_matches_its_sessions():
    policy = registry_policy(grant(principal=f"arn:aws:iam::{PROVIDER}:role/ml/puller"))
    session = f"arn:aws:sts::{PROVIDER}:assumed-role/puller/build-42"
    assert evaluate(policy, AuthzRequest(session, PROVIDER, "ecr:ReplicateImage", REPO_ARN)) == Decision.ALLOW
    other = f"arn:aws:sts::{THIRD}:assumed-role/puller/build-42"
    assert evaluate(policy, AuthzRequest(other, THIRD, "ecr:ReplicateImage", REPO_ARN)) == Decision.IMPLICIT_DENY


def test_service_principal():
    policy = repository_policy({"Effect": "Allow", "Principal": {"Service": "replication.ecr.amazonaws.com"},
                                "Action": "ecr:ReplicateImage"})
    svc = AuthzRequest("replication.ecr.amazonaws.com", OWNER, "ecr:ReplicateImage", REPO_ARN)
    assert evaluate(policy, svc) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY


def test_not_principal():
    policy = repository_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": PROVIDER}, "Action": "ecr:BatchGetImage"})
    assert evaluate(policy, req(PROVIDER, "ecr:BatchGetImage")) == Decision.ALLOW
    assert evaluate(policy, req(THIRD, "ecr:BatchGetImage")) == Decision.EXPLICIT_DENY


# --- actions and resources -------------------------------------------------------------------------


def test_action_matching_is_case_insensitive_and_wildcarded():
    policy = registry_policy(grant(actions=["ECR:replicate*"]))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ECR:REPLICATEIMAGE")) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:CreateRepository")) == Decision.IMPLICIT_DENY


def test_not_action():
    policy = repository_policy({"Effect": "Allow", "Principal": {"AWS": PROVIDER},
                                "NotAction": ["ecr:Delete*", "ecr:BatchDeleteImage"]})
    assert evaluate(policy, req(PROVIDER, "ecr:BatchGetImage")) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:DeleteRepository")) == Decision.IMPLICIT_DENY
    assert evaluate(policy, req(PROVIDER, "ecr:BatchDeleteImage")) == Decision.IMPLICIT_DENY


def test_missing_resource_means_the_policys_own_resource():
    policy = repository_policy({"Effect": "Allow", "Principal": {"AWS": PROVIDER}, "Action": "ecr:BatchGetImage"})
    assert evaluate(policy, req(PROVIDER, "ecr:BatchGetImage")) == Decision.ALLOW


def test_resource_narrowing_and_not_resource():
    policy = registry_policy(grant(resource=f"arn:aws:ecr:{REGION}:{OWNER}:repository/prod-*"))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", repository_arn(REGION, OWNER, "prod-api"))) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", repository_arn(REGION, OWNER, "dev-api"))) \
        == Decision.IMPLICIT_DENY
    deny_others = registry_policy(
        grant(resource="*"),
        {"Effect": "Deny", "Principal": "*", "Action": "ecr:*",
         "NotResource": f"arn:aws:ecr:{REGION}:{OWNER}:repository/shared/*"})
    assert evaluate(deny_others, req(PROVIDER, "ecr:ReplicateImage", repository_arn(REGION, OWNER, "shared/x"))) \
        == Decision.ALLOW
    assert evaluate(deny_others, req(PROVIDER, "ecr:ReplicateImage")) == Decision.EXPLICIT_DENY


# --- context ---------------------------------------------------------------------------------------


def test_principal_keys_are_derived_from_the_request():
    policy = registry_policy(grant(principal="*", Condition={"StringEquals": {"aws:PrincipalAccount": PROVIDER},
                                                             "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}}))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.ALLOW
    assert evaluate(policy, req(THIRD, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY


def test_explicit_context_overrides_and_keys_fold_case():
    policy = registry_policy(grant(Condition={"Bool": {"aws:SecureTransport": "true"}}))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", **{"AWS:SecureTransport": True})) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", **{"aws:securetransport": False})) \
        == Decision.IMPLICIT_DENY


def test_deny_with_condition_only_when_condition_holds():
    policy = registry_policy(grant(), grant(effect="Deny", Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", **{"aws:SourceIp": "10.1.1.1"})) == Decision.ALLOW
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage", **{"aws:SourceIp": "8.8.8.8"})) == Decision.EXPLICIT_DENY
    # Negated operator with the key missing holds, so the deny applies.
    assert evaluate(policy, req(PROVIDER, "ecr:ReplicateImage")) == Decision.EXPLICIT_DENY


# --- API shape ------------------------------------------------------------------------------------


def test_no_policies_is_implicit_deny():
    assert evaluate(None, req(PROVIDER, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY
    assert evaluate([], req(PROVIDER, "ecr:ReplicateImage")) == Decision.IMPLICIT_DENY


def test_evaluate_rejects_unparsed_text(owner_policy):
    with pytest.raises(TypeError):
        evaluate('{"Version": "2012-10-17"}', req(PROVIDER, "ecr:ReplicateImage"))  # type: ignore[arg-type]


def test_explain_reports_deciding_statements(owner_policy):
    result = explain(owner_policy, req(PROVIDER, "ecr:ReplicateImage"))
    assert isinstance(result, Evaluation)
    assert result.decision == Decision.ALLOW
    assert [s.sid for s in result.statements] == ["ReplicationAccessCrossAccount"]
    deny = registry_policy(grant(effect="Deny", Sid="NoReplication"))
    result = explain([owner_policy, deny], req(PROVIDER, "ecr:ReplicateImage"))
    assert result.decision == Decision.EXPLICIT_DENY and [s.sid for s in result.statements] == ["NoReplication"]
    assert explain(owner_policy, req(THIRD, "ecr:ReplicateImage")) == Evaluation(Decision.IMPLICIT_DENY, ())


def test_statement_applies_ignores_effect():
    (s,) = registry_policy(grant(effect="Deny")).statements
    assert statement_applies(s, req(PROVIDER, "ecr:ReplicateImage"))
    assert not statement_applies(s, req(THIRD, "ecr:ReplicateImage"))


def test_request_is_immutable_and_copies_context():
    context = {"aws:SourceIp": "10.0.0.1"}
    request = AuthzRequest.for_account(PROVIDER, "ecr:BatchGetImage", REPO_ARN, context)
    context["aws:SourceIp"] = "8.8.8.8"
    assert request.context["aws:SourceIp"] == "10.0.0.1"
    with pytest.raises(TypeError):
        request.context["aws:SourceIp"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        request.action = "ecr:PutImage"  # type: ignore[misc]
    assert request.principal_arn == f"arn:aws:iam::{PROVIDER}:root"
    assert hash(request) == hash(AuthzRequest.for_account(PROVIDER, "ecr:BatchGetImage", REPO_ARN, context))


def test_is_allowed_argument_forms(owner_policy):
    assert is_allowed(owner_policy, req(PROVIDER, "ecr:ReplicateImage"))
    assert is_allowed(owner_policy, principal_account=PROVIDER, action="ecr:ReplicateImage", resource_arn=REPO_ARN,
                      principal_arn=f"arn:aws:iam::{PROVIDER}:user/alice")
    with pytest.raises(TypeError):
        is_allowed(owner_policy)
    with pytest.raises(TypeError):
        is_allowed(owner_policy, req(PROVIDER, "ecr:ReplicateImage"), action="ecr:ReplicateImage")
