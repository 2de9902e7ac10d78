"""Running lifecycle policies: the job that expires images, and what schedules it.

* `apply_policy(core, repo_key)` evaluates one repository's policy now and deletes what it
  expires, through `RegistryService.delete_manifest`, so every expiry fires the delete hooks
  (events, and replication's deleteReplication, which propagates lifecycle expiry as ECR does).
  Tests and operators call it directly; `now` may be given to evaluate at another time.
* `run_due(core)` is what a background loop calls periodically: it runs every policy that is
  due -- never run, changed since its last run, or last run `interval` seconds ago (ECR promises
  that affected images expire within 24 hours; crossreg runs hourly by default and right after
  a policy changes). A database-backed claim makes sure one process runs a given repository
  even when several run the loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from crossreg.app import Crossreg
from crossreg.lifecycle.evaluate import Expiry, deletion_order, evaluate
from crossreg.lifecycle.policy import LifecyclePolicyError, parse_policy
from crossreg.services import errors as e
from crossreg.services import lifecycle as store
from crossreg.services.models import RepoKey, Repository

log = logging.getLogger("crossreg.lifecycle")

DEFAULT_INTERVAL = 3600.0  # seconds between two runs of an unchanged policy


@dataclass
class LifecycleRun:
    """What one run of a repository's policy did."""

    repository: Repository | None
    expired: list[Expiry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # digests that changed or vanished meanwhile
    error: str | None = None


def preview(core: Crossreg, repo: Repository, policy_text: str, now: float | None = None) -> list[Expiry]:
    """What `policy_text` would expire in `repo` now (raises LifecyclePolicyError)."""
    policy = parse_policy(policy_text)
    return evaluate(policy, store.lifecycle_images(core.db, repo), time.time() if now is None else now)


def apply_policy(core: Crossreg, repo: RepoKey | Repository, *, now: float | None = None,
                 record: bool = True) -> LifecycleRun:
    """Run the repository's lifecycle policy now: evaluate it and delete the expired images."""
    key = repo.key if isinstance(repo, Repository) else repo
    now = time.time() if now is None else now
    current = core.registry.find_repository(key)
    run = LifecycleRun(current)
    if current is None or not current.lifecycle_policy_text:
        return run
    if record:
        store.record_evaluation(core.db, current, time.time())
    try:
        policy = parse_policy(current.lifecycle_policy_text)
    except LifecyclePolicyError as err:
        # Stored before validation existed, or written around the API: never guess.
        run.error = err.message
        log.warning("lifecycle policy of %s is invalid, not applied: %s", current.arn, err.message)
        return run
    images = store.lifecycle_images(core.db, current)
    for expiry in deletion_order(evaluate(policy, images, now)):
        # The image may have been re-tagged, deleted or pushed again since it was evaluated;
        # only what was evaluated is expired.
        if store.current_tags(core.db, current, expiry.digest) != tuple(sorted(expiry.image.tags)):
            run.skipped.append(expiry.digest)
            continue
        try:
            core.registry.delete_manifest(current, expiry.digest)
        except (e.ManifestNotFound, e.ManifestReferencedByIndex):
            run.skipped.append(expiry.digest)
            continue
        run.expired.append(expiry)
        log.info("lifecycle: expired %s@%s (tags %s) by rule %d", current.arn, expiry.digest,
                 ",".join(expiry.image.tags) or "-", expiry.rule_priority)
    return run


def run_due(core: Crossreg, *, now: float | None = None, interval: float = DEFAULT_INTERVAL) -> int:
    """Run every lifecycle policy that is due; returns how many images expired. Safe to call
    from several processes at once, and often (it does nothing when nothing is due)."""
    total = 0
    for repo, updated_at in store.repositories_with_policies(core.db):
        started = time.time()
        if not store.claim_evaluation(core.db, repo, updated_at, started, interval):
            continue
        try:
            total += len(apply_policy(core, repo, now=now, record=False).expired)
        except Exception:  # one broken repository must not stop the others
            log.exception("lifecycle run of %s failed", repo.arn)
    store.prune_evaluations(core.db)
    return total
