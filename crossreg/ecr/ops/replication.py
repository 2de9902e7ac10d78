"""Replication configuration and status: PutReplicationConfiguration, DescribeRegistry,
DescribeImageReplicationStatus, replication backfills, and the account settings that govern
the registry policy scope."""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import delete, func, insert, select, update

from crossreg.ecr import errors
from crossreg.ecr.pagination import decode_token, encode_token, page_size
from crossreg.ecr.registry import OpContext, operation
from crossreg.metadata import schema as s
from crossreg.replication import tasks as tq
from crossreg.replication.rules import InvalidReplicationConfiguration, destinations_for
from crossreg.services import registry_settings
from crossreg.services.registry_settings import account_setting, replication_config, update_registry

# ECR's account settings and the values each accepts.
ACCOUNT_SETTINGS = {"REGISTRY_POLICY_SCOPE": ("V1", "V2"), "BASIC_SCAN_TYPE_VERSION": ("AWS_NATIVE", "CLAIR")}
ACCOUNT_SETTING_DEFAULTS = {"REGISTRY_POLICY_SCOPE": "V2", "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE"}


@operation("PutReplicationConfiguration")
def put_replication_configuration(ctx: OpContext, params: dict) -> dict:
    try:
        config = registry_settings.put_replication_configuration(
            ctx.core.db, ctx.account_id, ctx.region, params["replicationConfiguration"])
    except InvalidReplicationConfiguration as err:
        raise errors.invalid_parameter(err.field, err.reason) from None
    return {"replicationConfiguration": config}


@operation("DescribeRegistry")
def describe_registry(ctx: OpContext, params: dict) -> dict:
    with ctx.core.db.read() as c:
        config = replication_config(c, ctx.account_id, ctx.region) or {"rules": []}
    return {"registryId": ctx.account_id, "replicationConfiguration": config}


def _image_digest(ctx: OpContext, repo, image_id: dict) -> str:
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if not digest and not tag:
        raise errors.invalid_parameter("imageId", "Invalid request parameters: both tag and digest cannot be null")
    reg = ctx.core.registry
    resolved = reg.resolve(repo, tag) if tag else reg.resolve(repo, digest)
    if resolved is None or (digest and tag and resolved != digest):
        raise errors.image_not_found(image_id, repo.name, repo.account_id)
    return resolved


@operation("DescribeImageReplicationStatus", cross_account=True)
def describe_image_replication_status(ctx: OpContext, params: dict) -> dict:
    repo = ctx.repository(params)
    digest = _image_digest(ctx, repo, params["imageId"])
    with ctx.core.db.read() as c:
        statuses = tq.image_statuses(c, repo.account_id, repo.region, repo.name, digest)
    image_id = {"imageDigest": digest}
    if params["imageId"].get("imageTag"):
        image_id["imageTag"] = params["imageId"]["imageTag"]
    return {"repositoryName": repo.name, "imageId": image_id, "replicationStatuses": statuses}


# ---------------------------------------------------------------- account settings
@operation("GetAccountSetting")
def get_account_setting(ctx: OpContext, params: dict) -> dict:
    name = params["name"]
    if name not in ACCOUNT_SETTINGS:
        raise errors.invalid_parameter("name", f"Member must satisfy enum value set: {sorted(ACCOUNT_SETTINGS)}")
    with ctx.core.db.read() as c:
        value = account_setting(c, ctx.account_id, ctx.region, name, ACCOUNT_SETTING_DEFAULTS[name])
    return {"name": name, "value": value}


@operation("PutAccountSetting")
def put_account_setting(ctx: OpContext, params: dict) -> dict:
    name, value = params["name"], params["value"]
    if name not in ACCOUNT_SETTINGS:
        raise errors.invalid_parameter("name", f"Member must satisfy enum value set: {sorted(ACCOUNT_SETTINGS)}")
    if value not in ACCOUNT_SETTINGS[name]:
        raise errors.invalid_parameter("value", f"Member must satisfy enum value set: {list(ACCOUNT_SETTINGS[name])}")
    with ctx.core.db.write() as c:
        row = c.execute(select(s.registries.c.account_settings).where(
            s.registries.c.account_id == ctx.account_id, s.registries.c.region == ctx.region)).first()
        current = json.loads(row[0]) if row and row[0] else {}
        current[name] = value
        update_registry(c, ctx.account_id, ctx.region, account_settings=json.dumps(current))
    return {"name": name, "value": value}


# ---------------------------------------------------------------- replication backfill
_TERMINAL = ("COMPLETE", "FAILED", "STOPPED")
b, t = s.replication_backfills, s.replication_tasks


def _destination_in_config(config: dict | None, dest: dict) -> bool:
    return any(d == {"region": dest["region"], "registryId": dest["registryId"]}
               for rule in (config or {}).get("rules", []) for d in rule.get("destinations", []))


@operation("StartReplicationBackfill")
def start_replication_backfill(ctx: OpContext, params: dict) -> dict:
    dest = params["destination"]
    reg = ctx.core.registry
    now = time.time()
    backfill_id = str(uuid.uuid4())
    with ctx.core.db.write() as c:
        config = replication_config(c, ctx.account_id, ctx.region)
        if not _destination_in_config(config, dest):
            raise errors.invalid_parameter(
                "destination", "The destination must be part of the registry's replication configuration")
        active = c.execute(select(b.c.id, b.c.dest_region).where(
            b.c.account_id == ctx.account_id, b.c.region == ctx.region, b.c.status.not_in(_TERMINAL))).all()
        if any(region == dest["region"] for _, region in active):
            raise errors.EcrError("ReplicationBackfillInProgressException",
                                  f"A replication backfill to region '{dest['region']}' is already in progress")
        if len(active) >= 10:
            raise errors.EcrError("LimitExceededException",
                                  "The maximum number of replication backfills in progress (10) has been reached")
        c.execute(insert(b).values(id=backfill_id, account_id=ctx.account_id, region=ctx.region,
                                   dest_account=dest["registryId"], dest_region=dest["region"],
                                   status="IN_PROGRESS", started_at=now))
        # Every image+tag combination of every repository the rules send to this destination
        # is one replication (untagged images count once).
        for repo in reg.list_repositories(ctx.account_id, ctx.region):
            from crossreg.replication.rules import Destination

            if Destination(dest["region"], dest["registryId"]) not in destinations_for(config, repo.name):
                continue
            by_digest: dict[str, list[str]] = {}
            for digest, tag in reg.list_image_ids(repo):
                by_digest.setdefault(digest, [])
                if tag:
                    by_digest[digest].append(tag)
            for digest, tags in sorted(by_digest.items()):
                for tag in tags or [None]:
                    tq.enqueue(c, kind="PUSH", source_account=ctx.account_id, source_region=ctx.region,
                               repository_name=repo.name, digest=digest, tags=[tag] if tag else [],
                               dest_account=dest["registryId"], dest_region=dest["region"],
                               backfill_id=backfill_id)
    planner = ctx.core.extensions.get("replication_planner")
    if planner is not None:
        planner.wake()
    return {"replicationBackfillId": backfill_id, "registryId": ctx.account_id,
            "destination": {"region": dest["region"], "registryId": dest["registryId"]},
            "status": "IN_PROGRESS", "startedAt": now}


def _backfill(ctx: OpContext, backfill_id: str) -> dict:
    """The backfill with its progress; its status is settled once its tasks have all ended
    (FAILED when at least half of them failed, as ECR documents)."""
    with ctx.core.db.write() as c:
        row = c.execute(select(b).where(b.c.id == backfill_id, b.c.account_id == ctx.account_id,
                                        b.c.region == ctx.region)).first()
        if row is None:
            raise errors.EcrError("ReplicationBackfillNotFoundException",
                                  f"The replication backfill with id '{backfill_id}' does not exist in the "
                                  f"registry with id '{ctx.account_id}'")
        counts = dict(c.execute(select(t.c.status, func.count()).where(
            t.c.backfill_id == backfill_id).group_by(t.c.status)).all())
        codes = sorted({code for (code,) in c.execute(select(t.c.failure_code).where(
            t.c.backfill_id == backfill_id, t.c.failure_code.is_not(None)).distinct())})
        total = sum(counts.values())
        done, failed = counts.get("COMPLETE", 0), counts.get("FAILED", 0)
        status, ended = row.status, row.finished_at
        if status == "IN_PROGRESS" and done + failed == total:
            status = "FAILED" if total and failed * 2 >= total else "COMPLETE"
            ended = time.time()
            c.execute(update(b).where(b.c.id == backfill_id).values(status=status, finished_at=ended))
    out = {"replicationBackfillId": backfill_id,
           "destination": {"region": row.dest_region, "registryId": row.dest_account},
           "status": status, "startedAt": row.started_at,
           "progress": {"totalReplicationCount": total, "completedReplicationCount": done,
                        "failedReplicationCount": failed, "failureCodes": codes}}
    if ended:
        out["endedAt"] = ended
    if status == "FAILED" and codes:
        out["failureCode"] = codes[0]
    return out


@operation("DescribeReplicationBackfillResults")
def describe_replication_backfill_results(ctx: OpContext, params: dict) -> dict:
    backfill = _backfill(ctx, params["replicationBackfillId"])
    out = {"registryId": ctx.account_id, **backfill}
    if backfill["status"] not in _TERMINAL:
        return out  # per-image results exist only once the backfill has ended
    size = page_size(params.get("maxResults"))
    scope = f"backfill-results:{ctx.account_id}:{ctx.region}:{backfill['replicationBackfillId']}"
    after = decode_token(ctx.core.pagination_key, scope, params["nextToken"])["after"] if params.get("nextToken") else 0
    q = select(t).where(t.c.backfill_id == backfill["replicationBackfillId"], t.c.id > after,
                        t.c.status.in_(("COMPLETE", "FAILED")))
    if params.get("resultStatusFilter"):
        q = q.where(t.c.status == params["resultStatusFilter"])
    with ctx.core.db.read() as c:
        rows = c.execute(q.order_by(t.c.id).limit(size + 1)).all()
    results = []
    for r in rows[:size]:
        tags = json.loads(r.tags or "[]")
        item = {"repositoryName": r.repository_name,
                "imageId": {"imageDigest": r.manifest_digest, **({"imageTag": tags[0]} if tags else {})},
                "status": r.status}
        if r.failure_code:
            item["failureCode"] = r.failure_code
        results.append(item)
    out["results"] = results
    if len(rows) > size:
        out["nextToken"] = encode_token(ctx.core.pagination_key, scope, {"after": rows[size - 1].id})
    return out


@operation("ListReplicationBackfills")
def list_replication_backfills(ctx: OpContext, params: dict) -> dict:
    size = page_size(params.get("maxResults"), default=50, maximum=50)
    scope = f"backfills:{ctx.account_id}:{ctx.region}"
    cutoff = time.time() - 90 * 86400  # ended backfills are kept for 90 days
    q = select(b.c.id, b.c.started_at).where(
        b.c.account_id == ctx.account_id, b.c.region == ctx.region,
        (b.c.finished_at.is_(None)) | (b.c.finished_at > cutoff))
    if params.get("nextToken"):
        after = decode_token(ctx.core.pagination_key, scope, params["nextToken"])
        q = q.where((b.c.started_at < after["t"]) | ((b.c.started_at == after["t"]) & (b.c.id > after["id"])))
    with ctx.core.db.read() as c:
        rows = c.execute(q.order_by(b.c.started_at.desc(), b.c.id).limit(size + 1)).all()
    out = {"registryId": ctx.account_id, "backfills": [_backfill(ctx, r.id) for r in rows[:size]]}
    if len(rows) > size:
        last = rows[size - 1]
        out["nextToken"] = encode_token(ctx.core.pagination_key, scope, {"t": last.started_at, "id": last.id})
    return out


@operation("StopReplicationBackfill")
def stop_replication_backfill(ctx: OpContext, params: dict) -> dict:
    backfill = _backfill(ctx, params["replicationBackfillId"])
    if backfill["status"] in _TERMINAL:
        raise errors.EcrError("ReplicationBackfillInvalidStatusException",
                              f"The replication backfill is already {backfill['status']}")
    with ctx.core.db.write() as c:
        # Waiting replications are dropped; ones already copying finish on their own.
        c.execute(delete(t).where(t.c.backfill_id == backfill["replicationBackfillId"], t.c.status == "PENDING"))
        c.execute(update(b).where(b.c.id == backfill["replicationBackfillId"]).values(
            status="STOPPED", finished_at=time.time()))
    return {"registryId": ctx.account_id, "replicationBackfillId": backfill["replicationBackfillId"],
            "destination": backfill["destination"], "status": "STOPPED", "startedAt": backfill["startedAt"]}
