"""The seed scenario, done only through the console by the two signed-in accounts, in English and
in Simplified Chinese: the provider creates `breast-cancer-classifier` and the replication rule
with the wizard, the data owner generates the cross-account statement, the provider pushes, and
the image appears in the data owner's console while the provider's shows COMPLETE."""

from __future__ import annotations

import pytest

from tests.browser.console import REGION, REPOSITORY, Console, push_image

pytestmark = pytest.mark.browser

# The registry policy ECR's console generates for this input (ecr-semantics §2.2).
EXPECTED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "ReplicationAccessCrossAccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": ["arn:aws:ecr:us-east-1:222222222222:repository/*"],
    }],
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_seed_workflow(lang, seed_server, page_factory, screenshots):
    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    provider = Console(page_factory(), seed_server, lang).sign_in(provider_acct)
    owner = Console(page_factory(), seed_server, lang).sign_in(owner_acct)
    shot = lambda c, name: c.page.screenshot(path=str(screenshots / f"{lang}-{name}.png"), full_page=True)  # noqa: E731

    # Model provider: the repository, then the replication rule (seed steps 1-8).
    provider.create_repository(REPOSITORY)
    provider.assert_one_language()
    provider.add_replication_rule(owner_acct.account_id, REGION, shots=screenshots)
    provider.assert_one_language()
    shot(provider, "provider-replication-configuration")

    # Data owner: Permissions → Generate statement (cross-account replication, the provider's id).
    owner.generate_replication_statement("ReplicationAccessCrossAccount", provider_acct.account_id)
    assert owner.registry_policy_in_editor() == EXPECTED_POLICY
    row = owner.page.locator('#statements-table tr[data-sid="ReplicationAccessCrossAccount"]')
    assert "arn:aws:iam::111111111111:root" in row.inner_text()
    owner.assert_one_language()
    shot(owner, "owner-permissions")

    # The provider pushes the model image (outside the console, as in the lab).
    image = push_image(seed_server, provider_acct, REPOSITORY, "latest_eif")

    # Provider: the image's replication status reaches COMPLETE for the data owner's registry.
    provider.open_repository(REPOSITORY)
    provider.wait_for_replication(image.manifest_digest, f"{owner_acct.account_id}/{REGION}", "COMPLETE")
    row = provider.page.locator(f'tr[data-digest="{image.manifest_digest}"]')
    assert row.locator('[data-tag="latest_eif"]').count() == 1
    assert row.locator(".badge.status-COMPLETE").inner_text() == provider.t("status.COMPLETE")
    provider.assert_one_language()
    shot(provider, "provider-image-replication-complete")

    # Data owner: the replicated repository and image are in its own registry.
    owner.nav("nav.repositories")
    owner.page.locator(f'#repositories-table tr[data-repository="{REPOSITORY}"]').wait_for()
    owner.assert_one_language()
    shot(owner, "owner-repositories")
    owner.open_repository(REPOSITORY)
    replica = owner.page.locator(f'tr[data-digest="{image.manifest_digest}"]')
    assert replica.locator('[data-tag="latest_eif"]').count() == 1
    assert owner.t("image.replicated_here") in replica.inner_text()
    owner.assert_one_language()
    shot(owner, "owner-replicated-image")

    # Both see the replication in the activity page: outgoing for one, incoming for the other.
    provider.nav("nav.activity")
    task = provider.page.locator(f'#activity-table tr[data-repository="{REPOSITORY}"]').first
    assert task.get_attribute("data-status") == "COMPLETE"
    assert provider.t("activity.outgoing") in task.inner_text()
    provider.assert_one_language()
    shot(provider, "provider-replication-activity")
    owner.nav("nav.activity")
    assert owner.t("activity.incoming") in owner.page.locator("#activity-table").inner_text()


def test_failure_without_permission_shows_reason(seed_server, page_factory, screenshots):
    """Without the data owner's registry permission the replication fails, and both the image's
    status and the activity page say why and what to do; after the statement, it works."""
    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    provider = Console(page_factory(), seed_server, "en").sign_in(provider_acct)
    provider.create_repository(REPOSITORY)
    provider.add_replication_rule(owner_acct.account_id, REGION)

    image = push_image(seed_server, provider_acct, REPOSITORY, "v1", seed=1)
    provider.open_repository(REPOSITORY)
    destination = f"{owner_acct.account_id}/{REGION}"
    provider.wait_for_replication(image.manifest_digest, destination, "FAILED")
    status = provider.page.locator(
        f'tr[data-digest="{image.manifest_digest}"] .replication-status[data-destination="{destination}"]')
    text = status.inner_text()
    assert "DESTINATION_REGISTRY_ACCESS_DENIED" in text
    assert provider.t("failure.reason.policy_denies", account=owner_acct.account_id, region=REGION,
                      principal="arn:aws:iam::111111111111:root", action="ecr:ReplicateImage",
                      arn=f"arn:aws:ecr:{REGION}:{owner_acct.account_id}:repository/{REPOSITORY}") in text
    assert provider.t("failure.DESTINATION_REGISTRY_ACCESS_DENIED.action") in text
    provider.page.screenshot(path=str(screenshots / "en-provider-image-replication-failed.png"), full_page=True)

    provider.nav("nav.activity")
    failed = provider.page.locator('#activity-table tr[data-status="FAILED"]').first
    assert "DESTINATION_REGISTRY_ACCESS_DENIED" in failed.inner_text()
    assert provider.t("failure.DESTINATION_REGISTRY_ACCESS_DENIED.action") in failed.inner_text()
    provider.assert_one_language()
    provider.page.screenshot(path=str(screenshots / "en-provider-activity-failed.png"), full_page=True)

    # The same failure, read in Chinese: reason and advice are translated.
    provider.switch_language("zh-CN")
    failed = provider.page.locator('#activity-table tr[data-status="FAILED"]').first
    assert provider.t("failure.DESTINATION_REGISTRY_ACCESS_DENIED.action") in failed.inner_text()
    assert provider.t("status.FAILED") in failed.inner_text()
    provider.assert_one_language()
    provider.page.screenshot(path=str(screenshots / "zh-CN-provider-activity-failed.png"), full_page=True)
    provider.switch_language("en")

    # The data owner grants the permission; the next push replicates.
    owner = Console(page_factory(), seed_server, "en").sign_in(owner_acct)
    owner.generate_replication_statement("ReplicationAccessCrossAccount", provider_acct.account_id)
    image2 = push_image(seed_server, provider_acct, REPOSITORY, "v2", seed=2)
    provider.open_repository(REPOSITORY)
    provider.wait_for_replication(image2.manifest_digest, destination, "COMPLETE")


def test_narrow_window_and_keyboard(seed_server, page_factory, screenshots):
    """The console works at a phone-sized width, and the rule wizard can be done with the
    keyboard alone."""
    provider_acct = seed_server.accounts["provider"]
    narrow = Console(page_factory(width=390, height=844), seed_server, "zh-CN").sign_in(provider_acct)
    narrow.create_repository("team/app")
    width = narrow.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"page is {width}px wide in a 390px window"
    narrow.page.screenshot(path=str(screenshots / "zh-CN-narrow-repository.png"), full_page=True)
    narrow.nav("nav.repositories")
    assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 391
    narrow.page.screenshot(path=str(screenshots / "zh-CN-narrow-repositories.png"), full_page=True)

    kb = Console(page_factory(), seed_server, "en").sign_in(provider_acct)
    page = kb.page
    page.goto(kb.url("/private-registry/replication/rule"))
    page.keyboard.press("Tab")  # skip link first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.focus("#cross_region")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "cross_account"
    page.keyboard.press("Space")
    assert page.is_checked("#cross_account")
    page.keyboard.press("Enter")  # submits the step with its default action, Next
    page.wait_for_selector("#dest_account_0")
    page.focus("#dest_account_0")
    page.keyboard.type("222222222222")
    page.keyboard.press("Enter")
    page.wait_for_selector("#new_filter")
    page.keyboard.type("team/")
    page.keyboard.press("Enter")  # Add
    page.locator("#filters code.filter", has_text="team/").wait_for()
    page.focus("#wizard-next")
    page.keyboard.press("Enter")
    page.focus("#submit-rule")
    page.keyboard.press("Enter")
    page.wait_for_url("**/private-registry/replication")
    assert page.locator('#rules-table [data-destination="222222222222/us-east-1"]').count() == 1
