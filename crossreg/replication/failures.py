"""Stable failure codes reported in DescribeImageReplicationStatus.failureCode, each with what
it means and what the user can do about it (the console and the CLI show both)."""

from __future__ import annotations

FAILURE_CODES: dict[str, tuple[str, str]] = {
    "DESTINATION_REGISTRY_ACCESS_DENIED": (
        "The destination registry's policy does not allow the source account to replicate into it "
        "(ecr:ReplicateImage on the destination repository), or the destination account does not exist.",
        "In the destination account, add a registry permissions statement (Private registry → "
        "Permissions → Generate statement → cross-account replication) naming the source account."),
    "DESTINATION_REPOSITORY_NOT_FOUND": (
        "The destination repository does not exist and the destination registry's policy does not "
        "allow the source account ecr:CreateRepository.",
        "Create the repository in the destination account, or add ecr:CreateRepository to the "
        "destination's registry permissions statement."),
    "SOURCE_IMAGE_NOT_FOUND": (
        "The image was deleted from the source repository before it could be replicated.",
        "Push the image again."),
    "DESTINATION_REGION_UNAVAILABLE": (
        "The crossreg server that hosts the destination region could not be reached.",
        "Check the region endpoint configuration and that the destination server is running; the "
        "next push (or a replication backfill) replicates again."),
    "INTERNAL_ERROR": (
        "Replication failed repeatedly with an unexpected error (see the failure reason).",
        "Check the server log for the task id; push again once the cause is fixed."),
}


class ReplicationFailure(Exception):
    """A permanent failure: retrying cannot help, so the task fails at once with `code`."""

    def __init__(self, code: str, reason: str):
        assert code in FAILURE_CODES, code
        super().__init__(reason)
        self.code, self.reason = code, reason


class LeaseLost(Exception):
    """Another worker took the task over (this one was presumed dead): stop without writing."""
