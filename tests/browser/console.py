"""What a person does in the console, as reusable steps, plus the push that triggers replication.

Steps find elements by their role and their text in the page's language (from the console's own
catalogues), so each step also checks that the page shows the translated wording."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from crossreg.console.i18n import catalogue
from tests.support.images import OCI_MANIFEST, BuiltImage, build_image
from tests.support.server import Account, Server

REGION = "us-east-1"
REPOSITORY = "breast-cancer-classifier"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def T(lang: str, key: str, /, **params) -> str:
    text = catalogue(lang)[key]
    return text.format(**params) if params else text


def exact(text: str) -> re.Pattern:
    return re.compile(r"^\s*" + re.escape(text) + r"\s*$")


class Console:
    """One signed-in user of the console in one browser context."""

    def __init__(self, page, server: Server, lang: str = "en"):
        self.page, self.server, self.lang = page, server, lang

    def t(self, key: str, /, **params) -> str:
        return T(self.lang, key, **params)

    def url(self, path: str) -> str:
        return f"{self.server.url}/console{path}"

    # ------------------------------------------------------------------ session
    def sign_in(self, account: Account) -> "Console":
        page = self.page
        page.goto(self.url("/"))
        if self.lang != "en" or page.locator("html").get_attribute("lang") != self.lang:
            self.switch_language(self.lang)
        page.get_by_label(self.t("signin.access_key_id")).fill(account.access_key_id)
        page.get_by_label(self.t("signin.secret_access_key")).fill(account.secret_access_key)
        page.get_by_role("button", name=self.t("signin.submit")).click()
        page.wait_for_url(re.compile(r".*/console/repositories.*"))
        assert page.locator("[data-account]").get_attribute("data-account") == account.account_id
        return self

    def switch_language(self, lang: str) -> None:
        name = "English" if lang == "en" else "中文"
        self.page.get_by_role("button", name=name, exact=True).click()
        self.page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        self.lang = lang

    def sign_out(self) -> None:
        self.page.get_by_role("button", name=self.t("nav.signout")).click()
        self.page.wait_for_url(re.compile(r".*/console/signin.*"))

    def nav(self, key: str) -> None:
        self.page.get_by_role("navigation", name=self.t("nav.main")).get_by_role(
            "link", name=self.t(key), exact=True).click()
        self.page.wait_for_load_state()

    def flash(self) -> str:
        return self.page.locator("#flash").inner_text()

    # ------------------------------------------------------------------ provider's steps
    def create_repository(self, name: str = REPOSITORY) -> None:
        page = self.page
        self.nav("nav.repositories")
        page.get_by_role("link", name=self.t("repos.create")).click()
        page.get_by_label(self.t("create.name"), exact=True).fill(name)
        page.get_by_role("button", name=self.t("create.submit"), exact=True).click()
        page.wait_for_url(re.compile(rf".*/console/repositories/{re.escape(name)}.*"))
        assert self.flash() == self.t("repo.created", name=name)

    def add_replication_rule(self, account_id: str, region: str = REGION, filters=(REPOSITORY,),
                             shots: Path | None = None) -> None:
        """The seed's steps 2-8: Replication → Edit → Add rule → cross-account on, cross-Region
        off → Next → account + Region → Next → filter, Add → Next → Submit rule."""
        page = self.page
        self.nav("nav.replication")
        page.get_by_role("link", name=self.t("common.edit"), exact=True).click()
        page.get_by_role("link", name=self.t("repl.add_rule")).click()
        cross_account = page.get_by_role("switch", name=re.compile(re.escape(self.t("repl.type.cross_account"))))
        cross_region = page.get_by_role("switch", name=re.compile(re.escape(self.t("repl.type.cross_region"))))
        cross_account.check()
        cross_region.uncheck()
        if shots:
            page.screenshot(path=str(shots / f"{self.lang}-provider-rule-step1-destination-types.png"))
        page.get_by_role("button", name=self.t("common.next"), exact=True).click()
        page.get_by_label(self.t("repl.wizard.dest_account")).fill(account_id)
        page.get_by_label(self.t("repl.wizard.dest_region")).select_option(region)
        if shots:
            page.screenshot(path=str(shots / f"{self.lang}-provider-rule-step2-destinations.png"))
        page.get_by_role("button", name=self.t("common.next"), exact=True).click()
        for f in filters:
            page.get_by_label(self.t("repl.wizard.filter"), exact=True).fill(f)
            page.get_by_role("button", name=self.t("common.add"), exact=True).click()
            page.locator("#filters code.filter", has_text=f).wait_for()
        if shots:
            page.screenshot(path=str(shots / f"{self.lang}-provider-rule-step3-filters.png"))
        page.get_by_role("button", name=self.t("common.next"), exact=True).click()
        page.get_by_role("button", name=self.t("repl.wizard.submit")).click()
        page.wait_for_url(re.compile(r".*/console/private-registry/replication$"))
        assert self.flash() == self.t("repl.rule_submitted")
        page.locator(f'#rules-table [data-destination="{account_id}/{region}"]').wait_for()

    # ------------------------------------------------------------------ data owner's steps
    def generate_replication_statement(self, sid: str, source_account: str) -> None:
        """Private registry → Permissions → Generate statement (cross-account replication)."""
        page = self.page
        self.nav("nav.permissions")
        page.get_by_role("link", name=self.t("perm.generate")).click()
        page.get_by_role("radio", name=self.t("statement.type.replication")).check()
        page.get_by_label(self.t("statement.sid"), exact=True).fill(sid)
        page.get_by_label(self.t("statement.accounts"), exact=True).fill(source_account)
        page.get_by_role("button", name=self.t("statement.save")).click()
        page.wait_for_url(re.compile(r".*/console/private-registry/permissions$"))
        assert self.flash() == self.t("perm.statement_created", sid=sid)

    def registry_policy_in_editor(self) -> dict:
        return json.loads(self.page.locator("#policy_text").input_value())

    # ------------------------------------------------------------------ reading
    def open_repository(self, name: str = REPOSITORY) -> None:
        self.nav("nav.repositories")
        self.page.get_by_role("link", name=name, exact=True).click()
        self.page.wait_for_url(re.compile(rf".*/console/repositories/{re.escape(name)}.*"))

    def wait_for_replication(self, digest: str, destination: str, status: str, timeout: float = 60) -> None:
        """Refresh the repository page (as a person would) until the image shows `status`."""
        page = self.page
        deadline = time.time() + timeout
        cell = page.locator(f'tr[data-digest="{digest}"] .replication-status[data-destination="{destination}"]')
        while True:
            if cell.count() and cell.get_attribute("data-status") == status:
                return
            if time.time() > deadline:
                raise AssertionError(f"replication to {destination} is "
                                     f"{cell.get_attribute('data-status') if cell.count() else 'absent'}, not {status}")
            time.sleep(0.5)
            page.get_by_role("link", name=self.t("common.refresh"), exact=True).click()
            page.wait_for_load_state()

    def visible_text(self) -> str:
        """The page's text, leaving out elements that declare another language (the language
        switch's own names, quoted technical details)."""
        return self.page.evaluate("""(lang) => {
            const body = document.body.cloneNode(true);
            body.querySelectorAll('[lang]').forEach(el => { if (el.lang !== lang) el.remove(); });
            body.querySelectorAll('code, pre, textarea, input, select, script').forEach(el => el.remove());
            return body.innerText; }""", self.lang)

    def assert_one_language(self) -> None:
        """No mixed-language pages: English pages have no Chinese; Chinese pages show none of
        the English catalogue's phrases."""
        text = self.visible_text()
        if self.lang == "en":
            assert not CJK.search(text), f"Chinese text on an English page: {CJK.findall(text)[:10]}"
            return
        zh, en = catalogue("zh-CN"), catalogue("en")
        phrases = {v for k, v in en.items() if v != zh.get(k) and " " in v and "{" not in v
                   and not k.startswith("region.") and len(v) > 8}
        leaked = sorted(p for p in phrases if p in text)
        assert not leaked, f"English phrases on a Chinese page: {leaked[:5]}"
        assert CJK.search(text)


# ---------------------------------------------------------------------- pushing
def registry_password(server: Server, account: Account) -> str:
    """An ECR authorization token for `account` (what `aws ecr get-login-password` returns),
    signed with the installation's key from its database."""
    from crossreg.auth.tokens import TokenSigner, server_secret
    from crossreg.metadata.db import Database

    db = Database(server.env.get("CROSSREG_DATABASE_URL")
                  or f"sqlite:///{(server.data_dir / 'crossreg.db').resolve()}")
    try:
        return TokenSigner(server_secret(db)).issue(account.account_id)[0]
    finally:
        db.dispose()


def push_image(server: Server, account: Account, repository: str, tag: str, seed: int = 0) -> BuiltImage:
    """Push a real OCI image over the Distribution API, as a client would: blobs, then the
    manifest under `tag`."""
    image = build_image(layers=2, layer_size=64 * 1024, seed=seed)
    base = f"{server.url}/v2/{account.account_id}/{REGION}/{repository}"
    with httpx.Client(auth=("AWS", registry_password(server, account)), timeout=30) as client:
        for blob in (image.config, *image.layers):
            digest = "sha256:" + __import__("hashlib").sha256(blob).hexdigest()
            if client.head(f"{base}/blobs/{digest}").status_code == 200:
                continue
            started = client.post(f"{base}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["location"]
            if location.startswith("/"):
                location = server.url + location
            sep = "&" if "?" in location else "?"
            done = client.put(f"{location}{sep}digest={digest}", content=blob,
                              headers={"content-type": "application/octet-stream"})
            assert done.status_code == 201, done.text
        put = client.put(f"{base}/manifests/{tag}", content=image.manifest,
                         headers={"content-type": OCI_MANIFEST})
        assert put.status_code == 201, put.text
    return image
