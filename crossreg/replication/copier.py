"""Copies one image to one destination registry, in the order that keeps the destination
consistent: authorise, make sure the repository exists, then blobs, child manifests, the
manifest, and tags last. Every step is idempotent, so a retried task simply resumes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from crossreg.app import Crossreg
from crossreg.auth.access import Caller, is_allowed
from crossreg.domain.manifests import parse_manifest
from crossreg.replication.failures import ReplicationFailure
from crossreg.replication.tasks import Task
from crossreg.services import errors as e
from crossreg.services.models import RepoKey, Repository
from crossreg.services.registry_settings import registry_policy_text
from crossreg.services.templates import best_template, load_templates, settings_from_template

log = logging.getLogger("crossreg.replication")


@dataclass
class Outcome:
    bytes_copied: int = 0
    blobs_copied: int = 0
    blobs_linked: int = 0
    manifests_written: int = 0
    skipped_tags: list[str] = field(default_factory=list)


class LocalReplicator:
    """Replication between registries of this crossreg (same metadata and blob storage): blobs
    are linked, never copied, because storage is content-addressed."""

    def __init__(self, core: Crossreg):
        self.core = core
        self.reg = core.registry

    # -------------------------------------------------------------- authorisation
    def _authorise(self, task: Task, dest_key: RepoKey, *, create: bool) -> None:
        if task.dest_account == task.source_account:
            return  # same account, another region: ECR's service-linked role, no policy needed
        if self.core.accounts.get(task.dest_account) is None:
            raise ReplicationFailure("DESTINATION_REGISTRY_ACCESS_DENIED",
                                     f"destination account {task.dest_account} does not exist")
        with self.core.db.read() as c:
            policy = registry_policy_text(c, task.dest_account, task.dest_region)
        policies = [policy] if policy else []
        caller = Caller(task.source_account)
        arn = f"arn:aws:ecr:{dest_key.region}:{dest_key.account_id}:repository/{dest_key.name}"
        if not is_allowed(caller, "ecr:ReplicateImage", task.dest_account, arn, policies):
            raise ReplicationFailure(
                "DESTINATION_REGISTRY_ACCESS_DENIED",
                f"the registry policy of {task.dest_account} in {task.dest_region} does not allow "
                f"{caller.principal_arn} ecr:ReplicateImage on {arn}")
        if create and not is_allowed(caller, "ecr:CreateRepository", task.dest_account, arn, policies):
            raise ReplicationFailure(
                "DESTINATION_REPOSITORY_NOT_FOUND",
                f"repository {dest_key.name} does not exist in {task.dest_account} ({task.dest_region}) and "
                f"its registry policy does not allow {caller.principal_arn} ecr:CreateRepository")

    def _destination_repository(self, task: Task) -> Repository:
        key = RepoKey(task.dest_account, task.dest_region, task.repository_name)
        repo = self.reg.find_repository(key)
        self._authorise(task, key, create=repo is None)
        if repo is not None:
            return repo
        with self.core.db.write() as c:
            existing = self.reg.find_repository(key, conn=c)
            if existing is not None:  # created concurrently by another task
                return existing
            template = best_template(load_templates(c, key.account_id, key.region), key.name, "REPLICATION")
            log.info("creating %s in %s/%s for replication (template: %s)", key.name, key.account_id,
                     key.region, template["prefix"] if template else "none")
            return self.reg.create_repository(key, settings_from_template(template),
                                              created_by="REPLICATION", conn=c)

    # -------------------------------------------------------------- copying
    def replicate(self, task: Task, keep_lease: Callable[[], None]) -> Outcome:
        source = self.reg.find_repository(RepoKey(task.source_account, task.source_region, task.repository_name))
        if task.kind != "PUSH":
            return self._replicate_deletion(task)
        if source is None or self.reg.resolve(source, task.manifest_digest) is None:
            raise ReplicationFailure("SOURCE_IMAGE_NOT_FOUND",
                                     f"{task.repository_name}@{task.manifest_digest} is no longer in the source")
        dest = self._destination_repository(task)
        outcome = Outcome()
        # A later push may have moved a tag; that push's own task applies it, so the destination
        # never goes back in time when tasks finish out of order.
        tags = [t for t in task.tags if self.reg.resolve(source, t) == task.manifest_digest]
        self._copy_manifest(source, dest, task.manifest_digest, outcome, keep_lease, tags)
        return outcome

    def _copy_manifest(self, source: Repository, dest: Repository, digest: str, outcome: Outcome,
                       keep_lease: Callable[[], None], tags: list[str] = ()) -> None:
        """Children first, then blobs, then the manifest itself together with its tags."""
        manifest = None
        if self.reg.resolve(dest, digest) is None:
            manifest = self.reg.get_manifest(source, digest)
            parsed = parse_manifest(manifest.content, manifest.media_type)
            for child in parsed.manifests:
                if self.reg.resolve(source, str(child.digest)) is not None:
                    self._copy_manifest(source, dest, str(child.digest), outcome, keep_lease)
            keep_lease()
            outcome.blobs_linked += self.reg.link_blobs(dest, [str(b.digest) for b in parsed.blobs])
        elif not tags:
            return  # already there (an earlier attempt, or another push of the same content)
        for i, tag in enumerate(tags or [None]):
            if manifest is None:
                manifest = self.reg.get_manifest(source, digest)
            try:
                self.reg.put_manifest(dest.key, manifest.content, manifest.media_type, tag=tag,
                                      expected_digest=digest, replicated=True, require_children=False)
            except e.ImmutableTag:
                outcome.skipped_tags.append(tag)  # ECR: the image replicates without that tag
                self.reg.put_manifest(dest.key, manifest.content, manifest.media_type,
                                      expected_digest=digest, replicated=True, require_children=False)
        outcome.manifests_written += 1

    def _replicate_deletion(self, task: Task) -> Outcome:
        dest = self.reg.find_repository(RepoKey(task.dest_account, task.dest_region, task.repository_name))
        if dest is None:
            return Outcome()  # nothing to delete
        try:
            if task.kind == "DELETE":
                if self.reg.resolve(dest, task.manifest_digest) is not None:
                    self.reg.delete_manifest(dest, task.manifest_digest, replicated=True)
            else:  # UNTAG: remove the tags that still point at this image
                for tag in task.tags:
                    if self.reg.resolve(dest, tag) == task.manifest_digest:
                        self.reg.delete_tag(dest, tag, replicated=True)
        except e.ManifestNotFound:
            pass  # already gone
        return Outcome()
