"""Wires replication into a crossreg process (called from crossreg.app.build)."""

from __future__ import annotations

from crossreg.app import Crossreg
from crossreg.replication.planner import ReplicationPlanner


def install(core: Crossreg) -> None:
    planner = ReplicationPlanner()
    core.registry.push_hooks.append(planner.on_push)
    core.registry.delete_hooks.append(planner.on_delete)
    core.extensions["replication_planner"] = planner
    if core.settings.embedded_workers:
        from crossreg.replication.runner import BackgroundRunner

        runner = BackgroundRunner(core, core.settings.replication_concurrency)
        planner.wake = runner.wake
        core.extensions["background"] = runner
