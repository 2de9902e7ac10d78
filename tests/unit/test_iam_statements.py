import json

import pytest

from crossreg.iam.policy import PolicyError, parse_policy
from crossreg.iam.statements import merge_statement, pull_through_cache_statement, replication_statement


def test_replication_statement_matches_console_doc_example():
    assert replication_statement("ReplicationAccessCrossAccount", ["111122223333"], "us-west-2", "444455556666") == {
        "Sid": "ReplicationAccessCrossAccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": ["arn:aws:ecr:us-west-2:444455556666:repository/*"],
    }


def test_replication_statement_several_accounts_become_a_list():
    s = replication_statement("R", "111111111111, 333333333333,111111111111,", "us-east-1", "222222222222")
    assert s["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::333333333333:root"]}
    # Key order follows the console output.
    assert list(s) == ["Sid", "Effect", "Principal", "Action", "Resource"]


def test_replication_statement_without_sid():
    assert "Sid" not in replication_statement(None, ["111111111111"], "us-east-1", "222222222222")


@pytest.mark.parametrize("args", [
    ("R", [], "us-east-1", "222222222222"),
    ("R", " , ", "us-east-1", "222222222222"),
    ("R", ["11111111111"], "us-east-1", "222222222222"),
    ("R", ["arn:aws:iam::111111111111:root"], "us-east-1", "222222222222"),
    ("R", ["111111111111"], "useast1", "222222222222"),
    ("R", ["111111111111"], "us-east-1", "2222"),
    ("", ["111111111111"], "us-east-1", "222222222222"),
])
def test_replication_statement_rejects_bad_input(args):
    with pytest.raises(ValueError):
        replication_statement(*args)


def test_pull_through_cache_statement():
    s = pull_through_cache_statement("PullThroughCacheFromReadOnlyRole",
                                     ["arn:aws:iam::111122223333:role/example-role"],
                                     "us-east-1", "111122223333", "ecr-public/", ["amazonlinux/amazonlinux", "nginx"])
    assert s == {
        "Sid": "PullThroughCacheFromReadOnlyRole",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/example-role"},
        "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
        "Resource": ["arn:aws:ecr:us-east-1:111122223333:repository/ecr-public/amazonlinux/amazonlinux",
                     "arn:aws:ecr:us-east-1:111122223333:repository/ecr-public/nginx"],
    }


def test_pull_through_cache_statement_defaults_to_whole_namespace_and_lists_principals():
    s = pull_through_cache_statement("P", "arn:aws:iam::111122223333:user/a,arn:aws:iam::111122223333:role/b",
                                     "eu-west-1", "111122223333", "docker-hub")
    assert s["Principal"] == {"AWS": ["arn:aws:iam::111122223333:user/a", "arn:aws:iam::111122223333:role/b"]}
    assert s["Resource"] == ["arn:aws:ecr:eu-west-1:111122223333:repository/docker-hub/*"]


@pytest.mark.parametrize("principals,prefix,names", [
    ([], "ecr-public", ["x"]),
    (["111122223333"], "ecr-public", ["x"]),                     # an IAM entity ARN is required
    (["arn:aws:iam::111122223333:group/devs"], "ecr-public", ["x"]),
    (["arn:aws:iam::111122223333:role/r"], "", ["x"]),
    (["arn:aws:iam::111122223333:role/r"], "Bad Prefix", ["x"]),
    (["arn:aws:iam::111122223333:role/r"], "ecr-public", ["UPPER"]),
])
def test_pull_through_cache_statement_rejects_bad_input(principals, prefix, names):
    with pytest.raises(ValueError):
        pull_through_cache_statement("P", principals, "us-east-1", "111122223333", prefix, names)


def test_generated_statements_are_valid_registry_policies_under_both_scopes():
    text = merge_statement(None, replication_statement("Repl", ["111111111111"], "us-east-1", "222222222222"))
    text = merge_statement(text, pull_through_cache_statement(
        "Cache", ["arn:aws:iam::222222222222:role/ci"], "us-east-1", "222222222222", "ecr-public", ["nginx"]))
    for scope in ("V1", "V2"):
        policy = parse_policy(text, "registry", scope)
        assert [s.sid for s in policy.statements] == ["Repl", "Cache"]


def test_merge_into_nothing_creates_a_document():
    statement = {"Sid": "A", "Effect": "Allow"}
    for existing in (None, "", "  \n"):
        assert json.loads(merge_statement(existing, statement)) == {"Version": "2012-10-17", "Statement": [statement]}


def test_merge_appends_and_keeps_other_fields():
    existing = json.dumps({"Version": "2008-10-17", "Id": "x", "Statement": {"Sid": "A", "Effect": "Allow"}})
    merged = json.loads(merge_statement(existing, {"Sid": "B", "Effect": "Deny"}))
    assert merged == {"Version": "2008-10-17", "Id": "x",
                      "Statement": [{"Sid": "A", "Effect": "Allow"}, {"Sid": "B", "Effect": "Deny"}]}


def test_merge_statements_without_sid_never_clash():
    text = merge_statement(merge_statement(None, {"Effect": "Allow"}), {"Effect": "Allow"})
    assert len(json.loads(text)["Statement"]) == 2


def test_merge_rejects_duplicate_sid():
    text = merge_statement(None, {"Sid": "A", "Effect": "Allow"})
    with pytest.raises(PolicyError) as exc:
        merge_statement(text, {"Sid": "A", "Effect": "Deny"})
    assert exc.value.reason == "a statement with Sid 'A' already exists in the policy"


@pytest.mark.parametrize("existing", ["{", "[]", '{"Statement": "x"}'])
def test_merge_rejects_broken_existing_policy(existing):
    with pytest.raises(PolicyError):
        merge_statement(existing, {"Sid": "A"})
