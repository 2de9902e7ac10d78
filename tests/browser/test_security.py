"""Console security: one account's session never reaches another account's data, every form
needs the session's own CSRF token, cookies are HTTP-only and SameSite, signed-out or tampered
sessions are refused, and invalid policies are reported and never stored."""

from __future__ import annotations

import base64
import json
import re

import pytest

from crossreg.app import build
from crossreg.config import Settings
from crossreg.services import policies
from crossreg.services.models import RepoKey
from tests.browser.console import REGION, Console

pytestmark = pytest.mark.browser


@pytest.fixture
def core(seed_server):
    """The installation's own service layer, to check what was (not) stored."""
    c = build(Settings(data_dir=seed_server.data_dir,
                       database_url=seed_server.env.get("CROSSREG_DATABASE_URL")), migrate=False)
    yield c
    c.db.dispose()


def csrf_of(page) -> str:
    return page.locator('input[name="csrf_token"]').first.get_attribute("value")


def test_session_cookie_flags(seed_server, page_factory):
    c = Console(page_factory(), seed_server).sign_in(seed_server.accounts["provider"])
    cookie = next(k for k in c.page.context.cookies() if k["name"] == "crossreg_console_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert c.page.evaluate("document.cookie") == ""  # nothing readable by scripts


def test_account_isolation(seed_server, page_factory, core):
    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    a = Console(page_factory(), seed_server).sign_in(provider_acct)
    b = Console(page_factory(), seed_server).sign_in(owner_acct)
    b.create_repository("owner-secret")
    b_policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:*"}]}'
    core.registry.update_repository(RepoKey(owner_acct.account_id, REGION, "owner-secret"), policy_text=b_policy)

    # A cannot list, open, or probe B's repository.
    a.nav("nav.repositories")
    assert "owner-secret" not in a.page.content()
    a.page.goto(a.url("/repositories?q=owner"))
    assert a.page.locator("#repositories-table").count() == 0
    for tab in ("images", "permissions", "lifecycle", "details"):
        resp = a.page.goto(a.url(f"/repositories/owner-secret?tab={tab}"))
        assert resp.status == 404
        assert b_policy not in a.page.content()

    # A cannot change or delete it, whatever the form says.
    a.nav("nav.repositories")
    token = csrf_of(a.page)
    for path, form in [
        ("/repository/policy", {"name": "owner-secret", "action": "save", "policy_text": "{}"}),
        ("/repository/policy", {"name": "owner-secret", "action": "delete"}),
        ("/repository/lifecycle", {"name": "owner-secret", "action": "delete"}),
        ("/repository/settings", {"name": "owner-secret", "tag_mutability": "IMMUTABLE"}),
        ("/repository/delete", {"name": "owner-secret", "confirm": "delete"}),
        ("/repository/delete", {"name": "../222222222222/owner-secret", "confirm": "delete"}),
    ]:
        resp = a.page.request.post(a.url(path), form={"csrf_token": token, **form}, max_redirects=0)
        assert resp.status == 404, (path, form, resp.status)
    repo = core.registry.find_repository(RepoKey(owner_acct.account_id, REGION, "owner-secret"))
    assert repo is not None and repo.policy_text == b_policy and repo.tag_mutability == "MUTABLE"

    # Registry-level pages only ever show and change the signed-in account's own registry.
    b.generate_replication_statement("OwnerOnly", provider_acct.account_id)
    a.nav("nav.permissions")
    assert "OwnerOnly" not in a.page.content()
    resp = a.page.request.post(a.url("/private-registry/permissions"),
                               form={"csrf_token": token, "action": "delete", "registryId": owner_acct.account_id},
                               max_redirects=0)
    assert resp.status == 303
    assert "OwnerOnly" in (policies.registry_policy(core.db, owner_acct.account_id, REGION) or "")
    a.nav("nav.activity")
    assert "owner-secret" not in a.page.content()


def test_forms_need_the_sessions_own_csrf_token(seed_server, page_factory, core):
    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    a = Console(page_factory(), seed_server).sign_in(provider_acct)
    b = Console(page_factory(), seed_server).sign_in(owner_acct)
    a.nav("nav.repositories")
    b.nav("nav.repositories")
    own, foreign = csrf_of(a.page), csrf_of(b.page)
    assert own != foreign

    def create(name: str, **extra):
        return a.page.request.post(a.url("/create-repository"), max_redirects=0,
                                   form={"name": name, "tag_mutability": "MUTABLE", "encryption_type": "AES256", **extra})

    assert create("no-token").status == 403
    assert create("foreign-token", csrf_token=foreign).status == 403
    assert create("forged-token", csrf_token="x" * 43).status == 403
    resp = a.page.request.post(a.url("/create-repository"), max_redirects=0,
                               headers={"Origin": "http://attacker.example"},
                               form={"csrf_token": own, "name": "cross-site", "tag_mutability": "MUTABLE",
                                     "encryption_type": "AES256"})
    assert resp.status == 403
    for name in ("no-token", "foreign-token", "forged-token", "cross-site"):
        assert core.registry.find_repository(RepoKey(provider_acct.account_id, REGION, name)) is None
    refused = a.page.request.post(a.url("/private-registry/permissions"), max_redirects=0,
                                  form={"csrf_token": foreign, "action": "save", "policy_text": "{}"})
    assert refused.status == 403
    assert a.t("error.forbidden.title") in refused.text()
    assert create("with-token", csrf_token=own).status == 303
    assert core.registry.find_repository(RepoKey(provider_acct.account_id, REGION, "with-token")) is not None

    # Sign-out needs the token too, and once signed out the old cookie opens nothing.
    cookie = next(k for k in a.page.context.cookies() if k["name"] == "crossreg_console_session")
    assert a.page.request.post(a.url("/signout"), form={}, max_redirects=0).status == 403
    a.sign_out()
    ctx = a.page.context
    ctx.add_cookies([cookie])
    resp = a.page.goto(a.url("/repositories"))
    assert "/console/signin" in a.page.url and resp.status == 200


def test_tampered_session_is_refused(seed_server, page_factory):
    a = Console(page_factory(), seed_server).sign_in(seed_server.accounts["provider"])
    ctx = a.page.context
    cookie = next(k for k in ctx.cookies() if k["name"] == "crossreg_console_session")
    version, payload, mac = cookie["value"].split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["a"] = seed_server.accounts["owner"].account_id  # claim to be the other account
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    ctx.add_cookies([{**cookie, "value": f"{version}.{forged}.{mac}"}])
    a.page.goto(a.url("/repositories"))
    assert re.search(r"/console/signin", a.page.url)


def test_wrong_secret_is_refused(seed_server, page_factory):
    page = page_factory()
    c = Console(page, seed_server)
    page.goto(c.url("/signin"))
    page.get_by_label(c.t("signin.access_key_id")).fill(seed_server.accounts["provider"].access_key_id)
    page.get_by_label(c.t("signin.secret_access_key")).fill("not-the-secret")
    page.get_by_role("button", name=c.t("signin.submit")).click()
    assert page.locator("#signin-error").inner_text() == c.t("signin.err.invalid")
    assert not any(k["name"] == "crossreg_console_session" for k in page.context.cookies())


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_invalid_policies_show_an_error_and_store_nothing(lang, seed_server, page_factory, core, screenshots):
    acct = seed_server.accounts["owner"]
    c = Console(page_factory(), seed_server, lang).sign_in(acct)
    page = c.page

    # Registry policy: broken JSON, then valid JSON that is not a valid registry policy.
    c.nav("nav.permissions")
    broken = '{"Version": "2012-10-17", "Statement": ['
    try:
        json.loads(broken)
    except ValueError as exc:
        where = {"line": exc.lineno, "column": exc.colno}
    page.locator("#policy_text").fill(broken)
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    error = page.locator("#policy-error")
    assert c.t("policy.err.json_at", **where) in error.inner_text()
    assert page.locator("#policy_text").get_attribute("aria-invalid") == "true"
    assert page.locator("#policy_text").input_value() == '{"Version": "2012-10-17", "Statement": ['  # kept for fixing
    c.assert_one_language()
    page.screenshot(path=str(screenshots / f"{lang}-permissions-invalid-json.png"), full_page=True)
    assert policies.registry_policy(core.db, acct.account_id, REGION) is None

    page.locator("#policy_text").fill(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "s3:GetObject", "Resource": "*"}]}))
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    assert page.locator("#policy-error").count() == 1
    assert policies.registry_policy(core.db, acct.account_id, REGION) is None

    # Repository policy and lifecycle policy of a repository.
    c.create_repository("models")
    page.get_by_role("navigation", name=c.t("repo.tabs")).get_by_role("link", name=c.t("repo.tab.permissions")).click()
    page.locator("#policy_text").fill("not json")
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    assert c.t("policy.err.json_at", line=1, column=1) in page.locator("#policy-error").inner_text()
    page.get_by_role("navigation", name=c.t("repo.tabs")).get_by_role("link", name=c.t("repo.tab.lifecycle")).click()
    page.locator("#lifecycle_text").fill(json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 5},
        "action": {"type": "expire"}}]}))
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    assert c.t("lifecycle.err.invalid") in page.locator("#lifecycle-error").inner_text()
    c.assert_one_language()
    page.screenshot(path=str(screenshots / f"{lang}-lifecycle-invalid.png"), full_page=True)
    repo = core.registry.find_repository(RepoKey(acct.account_id, REGION, "models"))
    assert repo.policy_text is None and repo.lifecycle_policy_text is None

    # A valid lifecycle policy is stored as written.
    valid = json.dumps({"rules": [{"rulePriority": 1, "description": "keep 5", "selection": {
        "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5},
        "action": {"type": "expire"}}]})
    page.locator("#lifecycle_text").fill(valid)
    page.get_by_role("button", name=c.t("common.save"), exact=True).click()
    assert c.flash() == c.t("repo.lifecycle.saved")
    assert core.registry.find_repository(RepoKey(acct.account_id, REGION, "models")).lifecycle_policy_text == valid


def test_replication_rule_validation_is_shown_inline(seed_server, page_factory, core):
    """The wizard applies the API's rules: a 12-digit account, not the source registry itself,
    filters matching ECR's pattern; nothing is stored until a valid rule is submitted."""
    acct = seed_server.accounts["provider"]
    c = Console(page_factory(), seed_server).sign_in(acct)
    page = c.page
    page.goto(c.url("/private-registry/replication/rule"))
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    assert page.locator("#types-error").inner_text().strip() == c.t("repl.err.choose_type")
    page.get_by_role("switch", name=re.compile(re.escape(c.t("repl.type.cross_account")))).check()
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    page.get_by_label(c.t("repl.wizard.dest_account")).fill("12345")
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    assert page.locator("#account-error-0").inner_text() == c.t("repl.err.account_id")
    page.get_by_label(c.t("repl.wizard.dest_account")).fill(acct.account_id)  # the source itself
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    assert page.locator("#destinations-error").inner_text().strip() == c.t("repl.err.same_as_source")
    page.get_by_label(c.t("repl.wizard.dest_account")).fill("222222222222")
    page.get_by_role("button", name=c.t("common.next"), exact=True).click()
    page.get_by_label(c.t("repl.wizard.filter"), exact=True).fill("Bad Filter!")
    page.get_by_role("button", name=c.t("common.add"), exact=True).click()
    assert page.locator("#filter-error").inner_text() == c.t("repl.err.filter_pattern")
    with core.db.read() as conn:
        from crossreg.services.registry_settings import replication_config

        assert replication_config(conn, acct.account_id, REGION) is None


def test_creation_templates_are_the_accounts_own_and_need_the_csrf_token(seed_server, page_factory, core):
    """Another account's session can neither see, open, change nor delete this account's
    templates (its own template of the same prefix is a different one); no template form is
    accepted without the session's own CSRF token."""
    from crossreg.services import templates as store

    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    secret = {"prefix": "breast-cancer", "appliedFor": ["REPLICATION"], "imageTagMutability": "IMMUTABLE",
              "description": "owner-only-template"}
    store.create_template(core.db, owner_acct.account_id, REGION, secret)
    before = store.get_template(core.db, owner_acct.account_id, REGION, "breast-cancer")

    a = Console(page_factory(), seed_server).sign_in(provider_acct)
    a.nav("nav.creation_templates")
    assert "owner-only-template" not in a.page.content()
    assert a.page.locator("#templates-table").count() == 0
    for path in ("/view", "/edit", "/delete"):
        resp = a.page.goto(a.url(f"/private-registry/creation-templates{path}?prefix=breast-cancer"))
        assert resp.status == 404, path
        assert "owner-only-template" not in a.page.content()
    a.nav("nav.creation_templates")
    token = csrf_of(a.page)
    form = {"csrf_token": token, "description": "taken over", "applied_for": "REPLICATION",
            "tag_mutability": "MUTABLE", "encryption_type": "AES256", "op": "save"}
    for path, extra in [("/edit?prefix=breast-cancer", {}), ("/delete?prefix=breast-cancer", {"confirm": "delete"}),
                        ("/edit?prefix=" + owner_acct.account_id + "/breast-cancer", {}),
                        ("/delete?prefix=../" + owner_acct.account_id + "/breast-cancer", {"confirm": "delete"})]:
        resp = a.page.request.post(a.url("/private-registry/creation-templates" + path), form={**form, **extra},
                                   max_redirects=0)
        assert resp.status == 404, (path, resp.status)
    assert store.get_template(core.db, owner_acct.account_id, REGION, "breast-cancer") == before

    # The same prefix in A's registry is A's own template: B's is neither seen nor touched.
    resp = a.page.request.post(a.url("/private-registry/creation-templates/create"), max_redirects=0,
                               form={**form, "scope": "prefix", "prefix": "breast-cancer"})
    assert resp.status == 303
    assert store.get_template(core.db, provider_acct.account_id, REGION, "breast-cancer")["description"] == "taken over"
    assert store.get_template(core.db, owner_acct.account_id, REGION, "breast-cancer") == before

    # Without the session's own token (none, another session's, forged) or from another site: refused.
    b = Console(page_factory(), seed_server).sign_in(owner_acct)
    b.nav("nav.creation_templates")
    own, foreign = csrf_of(b.page), token
    base = b.url("/private-registry/creation-templates")
    new = {"scope": "prefix", "prefix": "no-token", "applied_for": "REPLICATION", "tag_mutability": "MUTABLE",
           "encryption_type": "AES256", "op": "save"}
    for csrf in (None, foreign, "x" * 43):
        with_token = {} if csrf is None else {"csrf_token": csrf}
        for path, fields in [("/create", new), ("/edit?prefix=breast-cancer", {**new, "description": "changed"}),
                             ("/delete?prefix=breast-cancer", {"confirm": "delete"})]:
            resp = b.page.request.post(base + path, form={**with_token, **fields}, max_redirects=0)
            assert resp.status == 403, (path, csrf, resp.status)
            assert b.t("error.forbidden.title") in resp.text()
    resp = b.page.request.post(base + "/delete?prefix=breast-cancer", headers={"Origin": "http://attacker.example"},
                               form={"csrf_token": own, "confirm": "delete"}, max_redirects=0)
    assert resp.status == 403
    assert store.get_template(core.db, owner_acct.account_id, REGION, "breast-cancer") == before
    assert store.get_template(core.db, owner_acct.account_id, REGION, "no-token") is None
    # With it, the owner deletes the template.
    resp = b.page.request.post(base + "/delete?prefix=breast-cancer", form={"csrf_token": own, "confirm": "delete"},
                               max_redirects=0)
    assert resp.status == 303
    assert store.get_template(core.db, owner_acct.account_id, REGION, "breast-cancer") is None
