"""Private registry → Repository creation templates, done in the console: the data owner creates
a REPLICATION template for the prefix `breast-cancer` with immutable tags, edits it, meets the
API's validation (shown next to the field, in English and in Chinese, with the input kept),
and deletes it. The template is the one the ECR API describes, and a replication from the model
provider creates `breast-cancer/classifier` in the owner's registry with immutable tags."""

from __future__ import annotations

import json
import re
import time

import pytest

from crossreg.iam.statements import merge_statement, replication_statement
from tests.browser.console import REGION, Console, push_image

pytestmark = pytest.mark.browser

PREFIX = "breast-cancer"
DESCRIPTION = "Classifier replicas from the model provider"
BROKEN_JSON = '{"rules": [{"rulePriority": 1,'


def json_error_at(text: str) -> dict:
    try:
        json.loads(text)
    except ValueError as exc:
        return {"line": exc.lineno, "column": exc.colno}
    raise AssertionError("valid JSON")


def open_templates(c: Console) -> None:
    c.nav("nav.creation_templates")
    c.page.wait_for_url(re.compile(r".*/console/private-registry/creation-templates$"))


def save(c: Console, key: str = "common.save_changes") -> None:
    c.page.get_by_role("button", name=c.t(key), exact=True).click()
    c.page.wait_for_load_state()


def described(client) -> list[dict]:
    return client.describe_repository_creation_templates()["repositoryCreationTemplates"]


def wait_for_repository(client, name: str, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while True:
        found = [r for p in client.get_paginator("describe_repositories").paginate()
                 for r in p["repositories"] if r["repositoryName"] == name]
        if found:
            return found[0]
        if time.time() > deadline:
            raise AssertionError(f"replication did not create {name}")
        time.sleep(0.3)


def test_creation_template_create_edit_validate_delete(seed_server, page_factory, screenshots):
    provider_acct, owner_acct = seed_server.accounts["provider"], seed_server.accounts["owner"]
    owner_api = seed_server.boto3(owner_acct, region=REGION)
    c = Console(page_factory(), seed_server).sign_in(owner_acct)
    page = c.page
    shot = lambda name: page.screenshot(path=str(screenshots / f"{c.lang}-{name}.png"), full_page=True)  # noqa: E731

    # Create: a specific prefix, applied for replication, immutable tags.
    open_templates(c)
    assert c.t("templates.none") in page.locator("main").inner_text()
    page.get_by_role("link", name=c.t("templates.create"), exact=True).click()
    page.get_by_role("radio", name=c.t("templates.scope.prefix")).check()
    page.get_by_label(c.t("templates.col.prefix"), exact=True).fill(PREFIX)
    page.get_by_label(c.t("templates.col.description")).fill("Classifier replicas")
    page.get_by_role("checkbox", name=c.t("templates.applied.REPLICATION")).check()
    page.get_by_role("radio", name=c.t("mutability.IMMUTABLE"), exact=True).check()
    c.assert_one_language()
    shot("creation-template-create")
    save(c, "templates.create")
    page.wait_for_url(re.compile(r".*/creation-templates/view\?prefix=breast-cancer$"))
    assert c.flash() == c.t("templates.created", prefix=PREFIX)
    shot("creation-template-view")

    # Listed, with what it applies for and its tag mutability.
    open_templates(c)
    row = page.locator(f'#templates-table tr[data-prefix="{PREFIX}"]')
    assert c.t("templates.applied.REPLICATION") in row.inner_text()
    assert c.t("mutability.IMMUTABLE") in row.inner_text()
    shot("creation-templates-list")

    # Edit its description.
    row.get_by_role("link", name=c.t("templates.edit_named", prefix=PREFIX)).click()
    assert page.locator("#fixed-prefix").inner_text() == PREFIX  # the prefix names it: not editable
    page.get_by_label(c.t("templates.col.description")).fill(DESCRIPTION)
    save(c)
    assert c.flash() == c.t("templates.saved", prefix=PREFIX)
    assert page.locator("#template-description").inner_text() == DESCRIPTION

    # The API's validation, next to the field; what was typed stays for fixing; nothing is stored.
    page.get_by_role("link", name=c.t("common.edit"), exact=True).click()
    page.get_by_label(c.t("templates.col.description")).fill("not saved")
    page.get_by_label(c.t("templates.form.lifecycle_policy")).fill(BROKEN_JSON)
    save(c)
    error = page.locator("#lifecycle-policy-error")
    assert c.t("policy.err.json_at", **json_error_at(BROKEN_JSON)) in error.inner_text()
    assert page.locator("#lifecycle_policy").get_attribute("aria-invalid") == "true"
    assert page.locator("#lifecycle_policy").input_value() == BROKEN_JSON
    assert page.get_by_label(c.t("templates.col.description")).input_value() == "not saved"
    assert page.get_by_role("radio", name=c.t("mutability.IMMUTABLE"), exact=True).is_checked()
    assert page.locator("#form-errors").inner_text().strip() == c.t("templates.err.summary")
    c.assert_one_language()
    shot("creation-template-invalid-lifecycle")
    # Valid JSON that is not a valid lifecycle policy: the validator's words, under a translated lead.
    page.get_by_label(c.t("templates.form.lifecycle_policy")).fill('{"rules": [{"rulePriority": 1}]}')
    save(c)
    assert c.t("lifecycle.err.invalid") in error.inner_text()
    assert "Lifecycle policy validation failure" in error.locator("code").inner_text()

    # The same in Chinese.
    c.switch_language("zh-CN")
    page.get_by_label(c.t("templates.form.lifecycle_policy")).fill(BROKEN_JSON)
    page.get_by_label(c.t("templates.form.role_arn")).fill("not-a-role")
    save(c)
    assert c.t("policy.err.json_at", **json_error_at(BROKEN_JSON)) in error.inner_text()
    assert page.locator("#role-error").inner_text() == c.t("templates.err.role_arn_invalid")
    c.assert_one_language()
    shot("creation-template-invalid-lifecycle")

    # A bad prefix on a new template, and nothing chosen to apply it for: each error at its field.
    open_templates(c)
    page.get_by_role("link", name=c.t("templates.create"), exact=True).click()
    page.get_by_label(c.t("templates.col.prefix"), exact=True).fill("Breast_Cancer")
    page.get_by_role("checkbox", name=c.t("templates.applied.REPLICATION")).uncheck()
    save(c, "templates.create")
    assert page.locator("#prefix-error").inner_text() == c.t("templates.err.prefix_pattern")
    assert page.locator("#applied-for-error").inner_text() == c.t("templates.err.applied_for_required")
    assert page.get_by_label(c.t("templates.col.prefix"), exact=True).input_value() == "Breast_Cancer"
    c.assert_one_language()
    shot("creation-template-invalid-prefix")
    # The prefix of an existing template is refused as taken ("breast-cancer/" names the same one).
    page.get_by_label(c.t("templates.col.prefix"), exact=True).fill(PREFIX + "/")
    page.get_by_role("checkbox", name=c.t("templates.applied.REPLICATION")).check()
    save(c, "templates.create")
    assert page.locator("#prefix-error").inner_text() == c.t("templates.err.exists", prefix=PREFIX + "/")
    c.switch_language("en")

    # It is the template the ECR API sees, with the edited description and none of the refused input.
    [template] = described(owner_api)
    assert template["prefix"] == PREFIX and template["appliedFor"] == ["REPLICATION"]
    assert template["imageTagMutability"] == "IMMUTABLE" and template["description"] == DESCRIPTION
    assert template["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert "lifecyclePolicy" not in template and "customRoleArn" not in template

    # Replication from the model provider creates the owner's repository from it: immutable tags.
    # ECR assumes a trailing "/" on the prefix: breast-cancer-classifier gets the defaults.
    source = seed_server.boto3(provider_acct, region=REGION)
    owner_api.put_registry_policy(policyText=merge_statement(None, replication_statement(
        "ReplicationAccessCrossAccount", [provider_acct.account_id], REGION, owner_acct.account_id)))
    source.put_replication_configuration(replicationConfiguration={"rules": [{
        "destinations": [{"region": REGION, "registryId": owner_acct.account_id}],
        "repositoryFilters": [{"filter": PREFIX, "filterType": "PREFIX_MATCH"}]}]})
    for i, name in enumerate(("breast-cancer/classifier", "breast-cancer-classifier")):
        source.create_repository(repositoryName=name)
        push_image(seed_server, provider_acct, name, "v1", seed=40 + i)
    assert wait_for_repository(owner_api, "breast-cancer/classifier")["imageTagMutability"] == "IMMUTABLE"
    assert wait_for_repository(owner_api, "breast-cancer-classifier")["imageTagMutability"] == "MUTABLE"
    c.nav("nav.repositories")
    replica = page.locator('#repositories-table tr[data-repository="breast-cancer/classifier"]')
    assert c.t("mutability.IMMUTABLE") in replica.inner_text()
    shot("creation-template-replica")

    # Delete it: the confirmation is asked for first.
    open_templates(c)
    page.locator(f'#templates-table tr[data-prefix="{PREFIX}"]').get_by_role(
        "link", name=c.t("templates.delete_named", prefix=PREFIX)).click()
    page.get_by_role("button", name=c.t("templates.delete.submit")).click()
    assert page.locator("#confirm-error").inner_text() == c.t("repo.delete.confirm_error")
    assert len(described(owner_api)) == 1
    shot("creation-template-delete-confirm")
    page.get_by_label(c.t("repo.delete.confirm_label")).fill("delete")
    page.get_by_role("button", name=c.t("templates.delete.submit")).click()
    page.wait_for_url(re.compile(r".*/creation-templates$"))
    assert c.flash() == c.t("templates.deleted", prefix=PREFIX)
    assert page.locator("#templates-table").count() == 0
    assert described(owner_api) == []


def test_creation_template_every_setting_and_root(seed_server, page_factory, screenshots):
    """ROOT, all three purposes, exclusions, KMS with a key, tags, both policies and a role:
    stored as the ECR API stores them; an edit that switches to MUTABLE drops the filters."""
    owner_acct = seed_server.accounts["owner"]
    owner_api = seed_server.boto3(owner_acct, region=REGION)
    c = Console(page_factory(), seed_server, "zh-CN").sign_in(owner_acct)
    page = c.page
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    lifecycle = json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]})
    kms = f"arn:aws:kms:{REGION}:{owner_acct.account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    role = f"arn:aws:iam::{owner_acct.account_id}:role/ecr-templates"

    page.goto(c.url("/private-registry/creation-templates/create"))
    page.get_by_role("radio", name=c.t("templates.scope.root")).check()
    assert page.locator("#prefix-field").is_hidden()  # no prefix to type for ROOT
    for purpose in ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"):
        page.get_by_role("checkbox", name=c.t(f"templates.applied.{purpose}")).check()
    page.get_by_role("radio", name=c.t("mutability.IMMUTABLE_WITH_EXCLUSION")).check()
    page.get_by_label(c.t("create.exclusions"), exact=True).fill("latest, dev-*")
    page.get_by_role("radio", name=c.t("encryption.KMS"), exact=True).check()
    page.get_by_label(c.t("create.kms_key"), exact=True).fill("alias/mine")
    page.get_by_label(c.t("templates.form.repository_policy")).fill(policy)
    page.get_by_label(c.t("templates.form.lifecycle_policy")).fill(lifecycle)
    page.get_by_label(c.t("templates.form.tag_key"), exact=True).fill("team")
    page.get_by_label(c.t("templates.form.tag_value"), exact=True).fill("ml")
    page.get_by_role("button", name=c.t("templates.form.add_tag")).click()
    assert page.evaluate("document.activeElement.id") == "tag_key_1"
    page.keyboard.type("aws:owner")
    page.keyboard.press("Tab")
    page.keyboard.type("x")
    page.get_by_label(c.t("templates.form.role_arn")).fill(role)
    save(c, "templates.create")
    # The KMS key must be a key ARN here (the model's pattern); aws: tags are reserved.
    assert page.locator("#kms-error").inner_text() == c.t("templates.err.kms_key_pattern")
    assert page.locator("#tags-error").inner_text() == c.t("repo.err.tag_key_reserved")
    assert page.locator("#prefix-field").is_hidden()
    assert page.get_by_role("radio", name=c.t("templates.scope.root")).is_checked()
    c.assert_one_language()
    page.screenshot(path=str(screenshots / "zh-CN-creation-template-all-settings-errors.png"), full_page=True)
    page.get_by_label(c.t("create.kms_key"), exact=True).fill(kms)
    page.get_by_role("button", name=c.t("templates.form.remove_tag", number=2)).click()
    assert page.locator("#tag_key_1").count() == 0
    save(c, "templates.create")
    assert c.flash() == c.t("templates.created", prefix="ROOT")

    [template] = described(owner_api)
    assert {k: v for k, v in template.items() if k not in ("createdAt", "updatedAt")} == {
        "prefix": "ROOT", "appliedFor": ["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"},
                                               {"filterType": "WILDCARD", "filter": "dev-*"}],
        "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": kms},
        "resourceTags": [{"Key": "team", "Value": "ml"}], "repositoryPolicy": policy,
        "lifecyclePolicy": lifecycle, "customRoleArn": role}
    assert page.locator("#template-lifecycle-policy").inner_text() == lifecycle

    # Edit: MUTABLE needs the filters gone (the API's rule), then clears the policies and the role.
    page.get_by_role("link", name=c.t("common.edit"), exact=True).click()
    page.get_by_role("radio", name=c.t("mutability.MUTABLE"), exact=True).check()
    save(c)
    assert page.locator("#exclusions-error").inner_text() == c.t(
        "repo.err.exclusions_not_allowed", mode="MUTABLE")
    page.get_by_label(c.t("create.exclusions"), exact=True).fill("")
    page.get_by_label(c.t("templates.form.repository_policy")).fill("")
    page.get_by_label(c.t("templates.form.role_arn")).fill("")
    save(c)
    assert c.flash() == c.t("templates.saved", prefix="ROOT")
    [template] = described(owner_api)
    assert template["imageTagMutability"] == "MUTABLE" and "imageTagMutabilityExclusionFilters" not in template
    assert "repositoryPolicy" not in template and "customRoleArn" not in template
    assert template["lifecyclePolicy"] == lifecycle and template["resourceTags"] == [{"Key": "team", "Value": "ml"}]


def test_creation_template_narrow_window_and_keyboard(seed_server, page_factory, screenshots):
    owner_acct = seed_server.accounts["owner"]
    narrow = Console(page_factory(width=390, height=844), seed_server, "zh-CN").sign_in(owner_acct)
    narrow.page.goto(narrow.url("/private-registry/creation-templates/create"))
    assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 391
    narrow.page.screenshot(path=str(screenshots / "zh-CN-narrow-creation-template-form.png"), full_page=True)

    # With the keyboard alone: the prefix has focus, arrows choose the tag mutability, Tab moves
    # from a tag's key to its value, Enter saves.
    kb = Console(page_factory(), seed_server, "en").sign_in(owner_acct)
    page = kb.page
    page.goto(kb.url("/private-registry/creation-templates/create"))
    assert page.evaluate("document.activeElement.id") == "prefix"
    page.keyboard.type("team/ml")
    page.focus('input[name="tag_mutability"][value="MUTABLE"]')
    page.keyboard.press("ArrowDown")
    assert page.is_checked('input[name="tag_mutability"][value="IMMUTABLE"]')
    page.focus("#tag_key_0")
    page.keyboard.type("team")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "tag_value_0"
    page.keyboard.type("ml")
    page.keyboard.press("Enter")  # the form's default action: save
    page.wait_for_url(re.compile(r".*/creation-templates/view\?prefix=team%2Fml$"))
    assert kb.flash() == kb.t("templates.created", prefix="team/ml")
    [template] = described(seed_server.boto3(owner_acct, region=REGION))
    assert template["imageTagMutability"] == "IMMUTABLE"
    assert template["resourceTags"] == [{"Key": "team", "Value": "ml"}]

    narrow.page.goto(narrow.url("/private-registry/creation-templates"))
    assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 391
    narrow.page.screenshot(path=str(screenshots / "zh-CN-narrow-creation-templates.png"), full_page=True)
    narrow.page.goto(narrow.url("/private-registry/creation-templates/view?prefix=team/ml"))
    assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 391
    narrow.page.screenshot(path=str(screenshots / "zh-CN-narrow-creation-template-view.png"), full_page=True)
