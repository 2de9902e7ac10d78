"""Replication rules as ECR defines them: pure validation and matching, no I/O.

A configuration is ECR's ReplicationConfiguration JSON: {"rules": [{"destinations": [{"region",
"registryId"}], "repositoryFilters": [{"filter", "filterType": "PREFIX_MATCH"}],
"deleteReplication": {"enabled": bool}}]}.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RULES = 10
MAX_UNIQUE_DESTINATIONS = 25
MAX_FILTERS_PER_RULE = 100


class InvalidReplicationConfiguration(ValueError):
    """`field` and `reason` fill ECR's "Invalid parameter at '<field>' failed to satisfy
    constraint: '<reason>'"."""

    def __init__(self, reason: str, field: str = "replicationConfiguration"):
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass(frozen=True, order=True)
class Destination:
    region: str
    registry_id: str


def validate(config: dict, source_account: str, source_region: str) -> dict:
    """Check ECR's service limits and rules (the model's shapes are checked earlier).
    Returns the normalised configuration that DescribeRegistry will echo."""
    rules = config.get("rules", [])
    if len(rules) > MAX_RULES:
        raise InvalidReplicationConfiguration(
            f"Replication configuration cannot contain more than {MAX_RULES} rules")
    unique: set[Destination] = set()
    normalised = []
    for i, rule in enumerate(rules):
        destinations = rule.get("destinations", [])
        if not destinations:
            raise InvalidReplicationConfiguration(
                "Replication rule must contain at least one destination",
                f"replicationConfiguration.rules.{i + 1}.member.destinations")
        filters = rule.get("repositoryFilters") or []
        if len(filters) > MAX_FILTERS_PER_RULE:
            raise InvalidReplicationConfiguration(
                f"Replication rule cannot contain more than {MAX_FILTERS_PER_RULE} repository filters",
                f"replicationConfiguration.rules.{i + 1}.member.repositoryFilters")
        seen_in_rule: set[Destination] = set()
        for d in destinations:
            dest = Destination(d["region"], d["registryId"])
            if dest.region == source_region and dest.registry_id == source_account:
                raise InvalidReplicationConfiguration(
                    "Replication destination cannot be the same as the source registry")
            if dest in seen_in_rule:
                raise InvalidReplicationConfiguration(
                    f"Replication rule contains duplicate destination {dest.registry_id} in {dest.region}",
                    f"replicationConfiguration.rules.{i + 1}.member.destinations")
            seen_in_rule.add(dest)
            unique.add(dest)
        for f in filters:
            if f.get("filterType") != "PREFIX_MATCH":
                raise InvalidReplicationConfiguration(
                    "Member must satisfy enum value set: [PREFIX_MATCH]",
                    f"replicationConfiguration.rules.{i + 1}.member.repositoryFilters.filterType")
        out = {"destinations": [{"region": d["region"], "registryId": d["registryId"]} for d in destinations]}
        if filters:
            out["repositoryFilters"] = [{"filter": f["filter"], "filterType": f["filterType"]} for f in filters]
        if "deleteReplication" in rule and rule["deleteReplication"] is not None:
            out["deleteReplication"] = {"enabled": bool(rule["deleteReplication"].get("enabled"))}
        normalised.append(out)
    if len(unique) > MAX_UNIQUE_DESTINATIONS:
        raise InvalidReplicationConfiguration(
            f"Replication configuration cannot contain more than {MAX_UNIQUE_DESTINATIONS} unique destinations")
    return {"rules": normalised}


def rule_matches(rule: dict, repository_name: str) -> bool:
    """PREFIX_MATCH on the repository name; a rule without filters matches every repository."""
    filters = rule.get("repositoryFilters") or []
    if not filters:
        return True
    return any(repository_name.startswith(f["filter"]) for f in filters)


def destinations_for(config: dict | None, repository_name: str) -> dict[Destination, bool]:
    """Every destination an image pushed to `repository_name` goes to (rules add up), mapped to
    whether deletions replicate there too (true if any matching rule enables it)."""
    found: dict[Destination, bool] = {}
    for rule in (config or {}).get("rules", []):
        if not rule_matches(rule, repository_name):
            continue
        deletes = bool((rule.get("deleteReplication") or {}).get("enabled"))
        for d in rule.get("destinations", []):
            dest = Destination(d["region"], d["registryId"])
            found[dest] = found.get(dest, False) or deletes
    return found
