"""Push and delete hooks: decide, inside the transaction of the push itself, which replication
tasks it causes. A push is thus never acknowledged without its tasks, and a rolled-back push
leaves none."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Connection

from crossreg.events import record_event
from crossreg.metadata.db import Database
from crossreg.replication import tasks as tq
from crossreg.replication.rules import destinations_for
from crossreg.services.models import DeletedImage, PushedImage
from crossreg.services.registry_settings import replication_config


class ReplicationPlanner:
    def __init__(self, wake: Callable[[], None] = lambda: None):
        self.wake = wake

    def on_push(self, conn: Connection, pushed: PushedImage) -> None:
        repo = pushed.repository
        detail = {"result": "SUCCESS", "repository-name": repo.name, "image-digest": pushed.digest,
                  "action-type": "PUSH"}
        if pushed.tag:
            detail["image-tag"] = pushed.tag
        if not pushed.replicated:  # replicated writes report "ECR Replication Action" instead
            record_event(conn, repo.account_id, repo.region, "ECR Image Action", detail)
        if pushed.replicated:
            return  # no chaining: a replica never replicates onwards
        destinations = destinations_for(replication_config(conn, repo.account_id, repo.region), repo.name)
        for dest in sorted(destinations):
            tq.enqueue(conn, kind="PUSH", source_account=repo.account_id, source_region=repo.region,
                       repository_name=repo.name, digest=pushed.digest,
                       tags=[pushed.tag] if pushed.tag else [], dest_account=dest.registry_id,
                       dest_region=dest.region)
        if destinations:
            Database.after_commit(conn, self.wake)

    def on_delete(self, conn: Connection, deleted: DeletedImage) -> None:
        repo = deleted.repository
        if not deleted.replicated:
            record_event(conn, repo.account_id, repo.region, "ECR Image Action", {
                "result": "SUCCESS", "repository-name": repo.name, "image-digest": deleted.digest,
                "action-type": "DELETE", **({"image-tag": ",".join(deleted.tags_removed)} if deleted.tags_removed else {})})
        if deleted.replicated:
            return
        destinations = destinations_for(replication_config(conn, repo.account_id, repo.region), repo.name)
        targets = [d for d, deletes in sorted(destinations.items()) if deletes]
        for dest in targets:
            tq.enqueue(conn, kind="DELETE" if deleted.image_deleted else "UNTAG",
                       source_account=repo.account_id, source_region=repo.region,
                       repository_name=repo.name, digest=deleted.digest, tags=list(deleted.tags_removed),
                       dest_account=dest.registry_id, dest_region=dest.region)
        if targets:
            Database.after_commit(conn, self.wake)
