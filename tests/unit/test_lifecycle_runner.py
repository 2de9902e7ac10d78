"""The lifecycle job on a real (temporary) crossreg store, in process: what it deletes, the
run_due schedule and its claim, and how it treats images that change under it."""

from __future__ import annotations

import json
import time

import pytest

from crossreg.app import build
from crossreg.config import Settings
from crossreg.lifecycle import runner
from crossreg.services import lifecycle as store
from crossreg.services import repository_settings as rs
from crossreg.services.models import RepoKey
from tests.support.images import build_image

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture()
def core(tmp_path):
    c = build(Settings(data_dir=tmp_path, embedded_workers=False))
    c.accounts.create("test", ACCOUNT)
    yield c
    c.db.dispose()


def push(core, key, seed, tag=None) -> str:
    image = build_image(layers=1, layer_size=256, seed=seed)
    repo = core.registry.get_repository(key)
    for digest, data in image.blobs.items():
        core.registry.store_blob(repo, digest, data)
    pushed = core.registry.put_manifest(key, image.manifest, image.media_type, tag=tag)
    time.sleep(0.002)
    return pushed.digest


def text(*rules) -> str:
    return json.dumps({"rules": [{"rulePriority": p, "selection": sel, "action": {"type": "expire"}}
                                 for p, sel in rules]})


KEEP_ONE_UNTAGGED = text((1, {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}))


def repo_with(core, name, policy=KEEP_ONE_UNTAGGED):
    key = RepoKey(ACCOUNT, REGION, name)
    repo = core.registry.create_repository(key)
    if policy:
        rs.put_lifecycle_policy(core.registry, repo, policy)
    return key


def digests(core, key) -> set[str]:
    return {i.digest for i in store.lifecycle_images(core.db, core.registry.get_repository(key))}


def test_apply_policy_deletes_and_fires_delete_hooks(core):
    key = repo_with(core, "app")
    old, mid, new = (push(core, key, s) for s in (1, 2, 3))
    tagged = push(core, key, 4, tag="v1")
    seen = []
    core.registry.delete_hooks.append(lambda conn, deleted: seen.append(deleted))
    run = runner.apply_policy(core, key)
    assert [e.digest for e in run.expired] == [old, mid]
    assert digests(core, key) == {new, tagged}
    assert [(d.digest, d.image_deleted) for d in seen] == [(old, True), (mid, True)]
    assert store.last_evaluated(core.db, core.registry.get_repository(key)) is not None


def test_no_policy_or_no_repository_does_nothing(core):
    key = repo_with(core, "plain", policy=None)
    push(core, key, 1)
    push(core, key, 2)
    assert runner.apply_policy(core, key).expired == []
    assert runner.apply_policy(core, RepoKey(ACCOUNT, REGION, "absent")).repository is None


def test_an_invalid_stored_policy_is_reported_not_guessed(core):
    key = repo_with(core, "broken", policy=None)
    core.registry.update_repository(key, lifecycle_policy_text='{"rules": "nope"}')
    push(core, key, 1)
    run = runner.apply_policy(core, key)
    assert run.expired == [] and run.error.startswith("Lifecycle policy validation failure:")


def test_an_image_tagged_after_evaluation_is_spared(core, monkeypatch):
    key = repo_with(core, "race")
    old = push(core, key, 1)
    push(core, key, 2)
    real = runner.evaluate

    def evaluate_then_tag(policy, images, now):
        result = real(policy, images, now)
        image = build_image(layers=1, layer_size=256, seed=1)
        core.registry.put_manifest(key, image.manifest, image.media_type, tag="keep-me")
        return result

    monkeypatch.setattr(runner, "evaluate", evaluate_then_tag)
    run = runner.apply_policy(core, key)
    assert run.expired == [] and run.skipped == [old]
    assert old in digests(core, key)


def test_run_due_claims_each_repository_once_per_interval(core):
    a, b = repo_with(core, "a"), repo_with(core, "b")
    for key in (a, b):
        push(core, key, 1 if key is a else 11)
        push(core, key, 2 if key is a else 12)
    assert runner.run_due(core) == 2
    push(core, a, 3)
    assert runner.run_due(core) == 0  # not due yet
    assert runner.run_due(core, interval=0) == 1  # due again once the interval passed
    # A changed policy is due at once.
    push(core, b, 13)
    rs.put_lifecycle_policy(core.registry, core.registry.get_repository(b), KEEP_ONE_UNTAGGED + " ")
    assert runner.run_due(core) == 1


def test_claims_are_exclusive(core):
    key = repo_with(core, "claimed")
    repo = core.registry.get_repository(key)
    now = time.time()
    assert store.claim_evaluation(core.db, repo, None, now, 3600)
    assert not store.claim_evaluation(core.db, repo, None, now + 1, 3600)
    assert store.claim_evaluation(core.db, repo, now + 2, now + 3, 3600)  # policy changed since


def test_a_recreated_repository_does_not_inherit_the_old_record(core):
    key = repo_with(core, "again")
    runner.apply_policy(core, key)
    core.registry.delete_repository(key, force=True)
    assert store.prune_evaluations(core.db) == 1
    key = repo_with(core, "again")
    assert store.last_evaluated(core.db, core.registry.get_repository(key)) is None
