"""Registry scanning settings: PutRegistryScanningConfiguration,
GetRegistryScanningConfiguration and BatchGetRepositoryScanningConfiguration.

crossreg stores and reports the configuration as ECR does, but it has no vulnerability scanner:
StartImageScan and DescribeImageScanFindings answer an error saying so, and no scan ever
produces findings. (PutImageScanningConfiguration, the per-repository flag, lives with the
repository settings.)
"""

from __future__ import annotations

import json

from crossreg.ecr import errors
from crossreg.ecr.ops.unsupported import NO_SCANNER, register_unsupported
from crossreg.ecr.registry import OpContext, operation
from crossreg.lifecycle.evaluate import tag_matches_pattern
from crossreg.metadata import schema as s
from crossreg.services.models import RepoKey
from crossreg.services.registry_settings import update_registry

DEFAULT_CONFIGURATION = {"scanType": "BASIC", "rules": []}
# When several rules match a repository, the most frequent scanning wins.
_FREQUENCY_ORDER = ("CONTINUOUS_SCAN", "SCAN_ON_PUSH", "MANUAL")

register_unsupported("StartImageScan", NO_SCANNER)
register_unsupported("DescribeImageScanFindings", NO_SCANNER)


def _configuration(ctx: OpContext) -> dict:
    from sqlalchemy import select

    with ctx.core.db.read() as c:
        row = c.execute(select(s.registries.c.scanning_config).where(
            s.registries.c.account_id == ctx.account_id, s.registries.c.region == ctx.region)).first()
    return json.loads(row[0]) if row and row[0] else dict(DEFAULT_CONFIGURATION)


@operation("PutRegistryScanningConfiguration")
def put_registry_scanning_configuration(ctx: OpContext, params: dict) -> dict:
    scan_type = params.get("scanType", "BASIC")
    rules = [{"scanFrequency": r["scanFrequency"],
              "repositoryFilters": [{"filter": f["filter"], "filterType": f["filterType"]}
                                    for f in r["repositoryFilters"]]}
             for r in params.get("rules") or []]
    for i, rule in enumerate(rules, 1):
        if scan_type == "BASIC" and rule["scanFrequency"] == "CONTINUOUS_SCAN":
            # [inferred] text: ECR documents continuous scanning for enhanced scanning only.
            raise errors.invalid_parameter(f"rules.{i}.member.scanFrequency",
                                           "CONTINUOUS_SCAN is only supported with scanType ENHANCED")
    config = {"scanType": scan_type, "rules": rules}
    with ctx.core.db.write() as c:
        update_registry(c, ctx.account_id, ctx.region, scanning_config=json.dumps(config))
    return {"registryScanningConfiguration": config}


@operation("GetRegistryScanningConfiguration")
def get_registry_scanning_configuration(ctx: OpContext, params: dict) -> dict:
    return {"registryId": ctx.account_id, "scanningConfiguration": _configuration(ctx)}


def _applied(config: dict, name: str) -> tuple[str, list[dict]] | None:
    """(scanFrequency, the filters that matched) for a repository, from the registry's rules."""
    found = []
    for rule in config.get("rules", []):
        matched = [f for f in rule["repositoryFilters"] if tag_matches_pattern(name, f["filter"])]
        if matched:
            found.append((_FREQUENCY_ORDER.index(rule["scanFrequency"]), rule["scanFrequency"], matched))
    if not found:
        return None
    _, frequency, matched = min(found, key=lambda f: f[0])
    return frequency, matched


@operation("BatchGetRepositoryScanningConfiguration")
def batch_get_repository_scanning_configuration(ctx: OpContext, params: dict) -> dict:
    config = _configuration(ctx)
    configurations, failures = [], []
    for name in dict.fromkeys(params["repositoryNames"]):
        repo = ctx.core.registry.find_repository(RepoKey(ctx.account_id, ctx.region, name))
        if repo is None:
            failures.append({"repositoryName": name, "failureCode": "REPOSITORY_NOT_FOUND",
                             "failureReason": f"The repository with name '{name}' does not exist in "
                                              f"the registry with id '{ctx.account_id}'"})
            continue
        applied = _applied(config, name)
        if applied is not None:
            frequency, filters = applied
        else:
            frequency, filters = ("SCAN_ON_PUSH" if repo.scan_on_push else "MANUAL"), []
        configurations.append({"repositoryArn": repo.arn, "repositoryName": repo.name,
                               "scanOnPush": repo.scan_on_push, "scanFrequency": frequency,
                               "appliedScanFilters": filters})
    return {"scanningConfigurations": configurations, "failures": failures}
