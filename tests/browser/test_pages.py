"""The other console pages: repository list search and paging, repository creation rules shown
inline, settings, delete; editing and deleting replication rules; pull-through-cache statements;
creation templates."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import insert

from crossreg.app import build
from crossreg.config import Settings
from crossreg.metadata import schema as s
from crossreg.services import policies
from crossreg.services.models import RepoKey
from crossreg.services.registry_settings import read_replication_config
from tests.browser.console import REGION, Console

pytestmark = pytest.mark.browser


@pytest.fixture
def core(seed_server):
    c = build(Settings(data_dir=seed_server.data_dir,
                       database_url=seed_server.env.get("CROSSREG_DATABASE_URL")), migrate=False)
    yield c
    c.db.dispose()


def test_repository_pages(seed_server, page_factory, core, screenshots):
    acct = seed_server.accounts["provider"]
    for i in range(23):
        core.registry.create_repository(RepoKey(acct.account_id, REGION, f"svc/app-{i:02d}"))
    c = Console(page_factory(), seed_server).sign_in(acct)
    page = c.page

    # Paging and search.
    assert page.locator("#repositories-table tbody tr").count() == 20
    assert c.t("common.page_of", page=1, pages=2) in page.inner_text("main")
    page.get_by_role("link", name=c.t("common.next"), exact=True).click()
    assert page.locator("#repositories-table tbody tr").count() == 3
    page.get_by_label(c.t("repos.search_label")).fill("app-1")
    page.get_by_role("button", name=c.t("common.search"), exact=True).click()
    names = page.locator("#repositories-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.repository)")
    assert names == [f"svc/app-1{i}" for i in range(10)]
    page.screenshot(path=str(screenshots / "en-repositories-search.png"), full_page=True)

    # Creation applies ECR's rules, shown next to the field.
    page.goto(c.url("/create-repository"))
    page.get_by_label(c.t("create.name"), exact=True).fill("Bad_Name")
    page.get_by_role("button", name=c.t("create.submit"), exact=True).click()
    assert page.locator("#name-error").inner_text() == c.t("repo.err.name")
    page.get_by_label(c.t("create.name"), exact=True).fill("releases")
    page.get_by_role("radio", name=c.t("mutability.IMMUTABLE_WITH_EXCLUSION")).check()
    page.get_by_role("button", name=c.t("create.submit"), exact=True).click()
    assert page.locator("#exclusions-error").inner_text() == c.t(
        "repo.err.exclusions_required", mode="IMMUTABLE_WITH_EXCLUSION")
    page.screenshot(path=str(screenshots / "en-create-repository-error.png"), full_page=True)
    page.get_by_label(c.t("create.exclusions"), exact=True).fill("latest, dev-*")
    page.get_by_role("checkbox", name=c.t("create.scan_on_push")).check()
    page.get_by_role("radio", name=c.t("encryption.KMS"), exact=True).check()
    page.get_by_role("button", name=c.t("create.submit"), exact=True).click()
    page.wait_for_url(re.compile(r".*/repositories/releases.*"))
    repo = core.registry.find_repository(RepoKey(acct.account_id, REGION, "releases"))
    assert repo.tag_mutability == "IMMUTABLE_WITH_EXCLUSION" and repo.scan_on_push
    assert [f["filter"] for f in repo.tag_mutability_exclusions] == ["latest", "dev-*"]
    assert repo.encryption_type == "KMS" and repo.kms_key == f"arn:aws:kms:{REGION}:{acct.account_id}:alias/aws/ecr"

    # Settings and delete.
    tabs = page.get_by_role("navigation", name=c.t("repo.tabs"))
    tabs.get_by_role("link", name=c.t("repo.tab.details")).click()
    page.get_by_role("radio", name=c.t("mutability.MUTABLE"), exact=True).check()
    page.get_by_label(c.t("create.exclusions"), exact=True).fill("")
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    assert c.flash() == c.t("repo.settings.saved")
    assert core.registry.find_repository(RepoKey(acct.account_id, REGION, "releases")).tag_mutability == "MUTABLE"
    page.get_by_role("button", name=c.t("repo.delete.submit")).click()
    assert c.t("repo.delete.confirm_error") in page.locator("#settings-error").inner_text()
    page.get_by_label(c.t("repo.delete.confirm_label")).fill("delete")
    page.get_by_role("button", name=c.t("repo.delete.submit")).click()
    assert c.flash() == c.t("repo.deleted", name="releases")
    assert core.registry.find_repository(RepoKey(acct.account_id, REGION, "releases")) is None


def test_replication_rules_edit_and_delete(seed_server, page_factory, core):
    acct = seed_server.accounts["provider"]
    c = Console(page_factory(), seed_server, "zh-CN").sign_in(acct)
    page = c.page
    c.add_replication_rule("222222222222", REGION, filters=("breast-cancer-classifier",))

    # Edit rule 1: add a cross-Region destination of the same account and a second filter.
    c.nav("nav.replication")
    page.get_by_role("link", name=c.t("common.edit"), exact=True).click()
    page.locator('tr[data-rule="0"]').get_by_role("link", name=c.t("common.edit")).click()
    assert page.get_by_role("switch", name=re.compile(c.t("repl.type.cross_account"))).is_checked()
    page.get_by_role("switch", name=re.compile(c.t("repl.type.cross_region"))).check()
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    assert page.get_by_label(c.t("repl.wizard.dest_account")).input_value() == "222222222222"
    page.get_by_role("checkbox", name=re.compile("us-west-2")).check()
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    page.get_by_label(c.t("repl.wizard.filter"), exact=True).fill("models/")
    page.get_by_role("button", name=c.t("common.add"), exact=True).click()
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    page.get_by_role("button", name=c.t("repl.wizard.submit")).click()
    assert c.flash() == c.t("repl.rule_submitted")
    config = read_replication_config(core.db, acct.account_id, REGION)
    assert config == {"rules": [{
        "destinations": [{"region": "us-west-2", "registryId": acct.account_id},
                         {"region": REGION, "registryId": "222222222222"}],
        "repositoryFilters": [{"filter": "breast-cancer-classifier", "filterType": "PREFIX_MATCH"},
                              {"filter": "models/", "filterType": "PREFIX_MATCH"}]}]}
    c.assert_one_language()

    # Delete it (the confirmation dialog is accepted).
    page.get_by_role("link", name=c.t("common.edit"), exact=True).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-rule="0"]').get_by_role("button", name=c.t("common.delete")).click()
    page.wait_for_selector("#flash")
    assert c.flash() == c.t("repl.rule_deleted", number=1)
    assert read_replication_config(core.db, acct.account_id, REGION) == {"rules": []}


def test_pull_through_cache_statement_and_templates(seed_server, page_factory, core, screenshots):
    acct = seed_server.accounts["owner"]
    now = time.time()
    with core.db.write() as conn:
        conn.execute(insert(s.creation_templates).values(
            account_id=acct.account_id, region=REGION, prefix="ROOT", created_at=now, updated_at=now,
            document=json.dumps({"prefix": "ROOT", "appliedFor": ["REPLICATION"], "description": "replicas",
                                 "imageTagMutability": "IMMUTABLE"})))
    c = Console(page_factory(), seed_server).sign_in(acct)
    page = c.page
    c.nav("nav.permissions")
    page.get_by_role("link", name=c.t("perm.generate")).click()
    page.get_by_role("radio", name=c.t("statement.type.pull_through_cache")).check()
    assert page.get_by_label(c.t("statement.accounts"), exact=True).is_hidden()  # only this type's fields
    page.get_by_label(c.t("statement.sid"), exact=True).fill("PullThroughCache")
    page.get_by_label(c.t("statement.principals"), exact=True).fill("arn:aws:iam::222222222222:role/puller")
    page.get_by_label(c.t("statement.namespace"), exact=True).fill("docker-hub")
    page.get_by_label(c.t("statement.repositories"), exact=True).fill("library/alpine")
    page.get_by_role("button", name=c.t("statement.save")).click()
    assert c.flash() == c.t("perm.statement_created", sid="PullThroughCache")
    stored = json.loads(policies.registry_policy(core.db, acct.account_id, REGION))
    assert stored["Statement"] == [{
        "Sid": "PullThroughCache", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:role/puller"},
        "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
        "Resource": [f"arn:aws:ecr:{REGION}:{acct.account_id}:repository/docker-hub/library/alpine"]}]

    # The same Sid again is refused, and nothing changes.
    page.get_by_role("link", name=c.t("perm.generate")).click()
    page.get_by_label(c.t("statement.sid"), exact=True).fill("PullThroughCache")
    page.get_by_label(c.t("statement.accounts"), exact=True).fill("111111111111")
    page.get_by_role("button", name=c.t("statement.save")).click()
    assert page.locator("#sid-error").inner_text() == c.t("policy.err.sid_exists", sid="PullThroughCache")
    assert json.loads(policies.registry_policy(core.db, acct.account_id, REGION)) == stored
    page.screenshot(path=str(screenshots / "en-generate-statement-error.png"), full_page=True)

    c.nav("nav.creation_templates")
    row = page.locator('#templates-table tr[data-prefix="ROOT"]')
    assert c.t("templates.applied.REPLICATION") in row.inner_text()
    assert c.t("mutability.IMMUTABLE") in row.inner_text()
    page.screenshot(path=str(screenshots / "en-creation-templates.png"), full_page=True)
