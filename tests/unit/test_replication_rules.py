import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossreg.replication.rules import (
    Destination,
    InvalidReplicationConfiguration,
    destinations_for,
    rule_matches,
    validate,
)
from crossreg.services.templates import best_template, template_matches

PROVIDER, OWNER = "111111111111", "222222222222"
SEED_RULE = {"destinations": [{"region": "us-east-1", "registryId": OWNER}],
             "repositoryFilters": [{"filter": "breast-cancer-classifier", "filterType": "PREFIX_MATCH"}]}


def test_seed_rule_replicates_only_the_filtered_repository():
    config = validate({"rules": [SEED_RULE]}, PROVIDER, "us-east-1")
    assert destinations_for(config, "breast-cancer-classifier") == {Destination("us-east-1", OWNER): False}
    assert destinations_for(config, "other-model") == {}


def test_rule_without_filters_matches_everything_and_rules_add_up():
    config = validate({"rules": [
        {"destinations": [{"region": "eu-west-1", "registryId": PROVIDER}]},
        SEED_RULE,
    ]}, PROVIDER, "us-east-1")
    assert set(destinations_for(config, "anything")) == {Destination("eu-west-1", PROVIDER)}
    assert set(destinations_for(config, "breast-cancer-classifier")) == {
        Destination("eu-west-1", PROVIDER), Destination("us-east-1", OWNER)}


def test_delete_replication_flag_is_per_destination_and_any_rule_enables_it():
    config = validate({"rules": [
        {**SEED_RULE, "deleteReplication": {"enabled": True}},
        {"destinations": [{"region": "us-east-1", "registryId": OWNER}]},
    ]}, PROVIDER, "us-east-1")
    assert destinations_for(config, "breast-cancer-classifier") == {Destination("us-east-1", OWNER): True}
    assert destinations_for(config, "x") == {Destination("us-east-1", OWNER): False}


def test_destination_equal_to_source_is_rejected_with_ecr_wording():
    with pytest.raises(InvalidReplicationConfiguration) as err:
        validate({"rules": [{"destinations": [{"region": "us-east-1", "registryId": PROVIDER}]}]},
                 PROVIDER, "us-east-1")
    assert err.value.reason == "Replication destination cannot be the same as the source registry"
    # the same account in another region is cross-region replication, which is fine
    validate({"rules": [{"destinations": [{"region": "us-west-2", "registryId": PROVIDER}]}]},
             PROVIDER, "us-east-1")


def test_limits():
    dest = [{"region": "us-east-1", "registryId": OWNER}]
    with pytest.raises(InvalidReplicationConfiguration, match="10 rules"):
        validate({"rules": [{"destinations": dest}] * 11}, PROVIDER, "us-east-1")
    many = [{"destinations": [{"region": "us-east-1", "registryId": f"{i:012d}"} for i in range(r * 3, r * 3 + 3)]}
            for r in range(9)]  # 27 unique destinations
    with pytest.raises(InvalidReplicationConfiguration, match="25 unique destinations"):
        validate({"rules": many}, PROVIDER, "us-west-2")
    filters = [{"filter": f"repo{i}", "filterType": "PREFIX_MATCH"} for i in range(101)]
    with pytest.raises(InvalidReplicationConfiguration, match="100 repository filters"):
        validate({"rules": [{"destinations": dest, "repositoryFilters": filters}]}, PROVIDER, "us-east-1")
    with pytest.raises(InvalidReplicationConfiguration, match="at least one destination"):
        validate({"rules": [{"destinations": []}]}, PROVIDER, "us-east-1")
    assert validate({"rules": []}, PROVIDER, "us-east-1") == {"rules": []}


names = st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True)


@given(names, st.lists(names, max_size=5))
def test_prefix_match_is_startswith_on_any_filter(repo, prefixes):
    rule = {"destinations": [], "repositoryFilters": [{"filter": p, "filterType": "PREFIX_MATCH"} for p in prefixes]}
    assert rule_matches(rule, repo) == (not prefixes or any(repo.startswith(p) for p in prefixes))


def test_creation_template_longest_prefix_then_root():
    templates = [
        {"prefix": "ROOT", "appliedFor": ["REPLICATION"], "imageTagMutability": "MUTABLE"},
        {"prefix": "prod", "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE"},
        {"prefix": "prod/ml", "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"},
        {"prefix": "prod/ml/x", "appliedFor": ["PULL_THROUGH_CACHE"]},
    ]
    assert best_template(templates, "prod/ml/x/model", "REPLICATION")["prefix"] == "prod/ml"
    assert best_template(templates, "prod/app", "REPLICATION")["prefix"] == "prod"
    assert best_template(templates, "production", "REPLICATION")["prefix"] == "ROOT"
    assert best_template(templates[1:], "dev/app", "REPLICATION") is None
    assert template_matches("prod/", "prod/app") and not template_matches("prod", "prodx")
