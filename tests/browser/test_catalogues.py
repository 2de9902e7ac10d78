"""The console's string catalogues: one per language, the same keys and placeholders in each,
every key the pages use present, and the service layer's messages mapped to translated text.
(No browser needed.)"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from crossreg.console import base, creation_templates, messages, registry, repositories
from crossreg.console.i18n import LANGUAGES, Translator, catalogue, negotiate
from crossreg.iam.policy import PolicyError, parse_policy
from crossreg.replication.failures import FAILURE_CODES
from crossreg.replication.rules import InvalidReplicationConfiguration, validate
from crossreg.services import repository_settings as rs
from crossreg.services import templates as tpl

CONSOLE = Path(base.__file__).parent
CJK = re.compile(r"[\u3400-\u9fff]")
# Keys whose text is the same in every language: names and identifiers.
SAME_EVERYWHERE = {"app.name", "encryption.AES256", "encryption.KMS", "repos.col.uri", "repo.uri",
                   "repo.details.arn"}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys_and_placeholders():
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert set(en) == set(zh), sorted(set(en) ^ set(zh))
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key


def test_chinese_catalogue_is_translated():
    en, zh = catalogue("en"), catalogue("zh-CN")
    for key, text in zh.items():
        if key in SAME_EVERYWHERE:
            continue
        assert CJK.search(text), f"{key}: {text!r} has no Chinese"
        assert text != en[key], key
    for key, text in en.items():
        assert not CJK.search(text), key


def _used_keys() -> set[str]:
    found = set()
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"""\bt\(\s*["']([a-z][a-zA-Z0-9_.-]*[a-zA-Z0-9_])["']""", source))
        found |= set(re.findall(r"""(?:ctx\.redirect\([^,]+,|flash_key=)\s*["']([a-z][a-z_.]+)["']""", source))
        found |= set(re.findall(r"""\(r"[^"]*",\s*"([a-z][a-z_.]+)"\)""", source))  # message tables
    return found


def test_every_key_the_pages_use_exists():
    en = catalogue("en")
    used = _used_keys()
    assert len(used) > 200
    missing = sorted(k for k in used if k not in en)
    assert not missing, missing


def test_key_families_are_complete():
    en = catalogue("en")
    families = {
        "status.": ["COMPLETE", "IN_PROGRESS", "FAILED"],
        "mutability.": rs.TAG_MUTABILITY_MODES,
        "encryption.": rs.ENCRYPTION_TYPES,
        "region.": base.KNOWN_REGIONS,
        "activity.kind.": ["PUSH", "DELETE", "UNTAG"],
        "activity.direction.": ["all", "outgoing", "incoming"],
        "repl.wizard.step.": registry.STEPS,
        "repo.tab.": repositories.TABS,
        "perm.effect.": ["Allow", "Deny"],
        "templates.applied.": tpl.APPLIED_FOR,
        "templates.scope.": creation_templates.SCOPES,
        "created_by.": ["API", "REPLICATION"],
    }
    for prefix, values in families.items():
        for value in values:
            assert prefix + value in en, prefix + value
    for code in FAILURE_CODES:
        assert f"failure.{code}.explanation" in en and f"failure.{code}.action" in en, code
    setting_keys = re.findall(r'"([a-z_0-9]+)"(?:, \{[^}]*\})?\)', Path(rs.__file__).read_text())
    for key in setting_keys:
        if key.islower() and "_" in key:
            assert f"repo.err.{key}" in en, key


@pytest.mark.parametrize("text", [
    "not json", '{"Version": "2012-10-17"}', '{"Version": "2012-10-17", "Statement": []}', "[1]",
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "ecr:*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:Nope"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*"}]}',
    '{"Version": "2012-10-17", "Statemnt": []}',
])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_policy_errors_are_translated(text, lang):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "registry")
    msg = messages.policy_error(Translator(lang), err.value.reason)
    assert msg.text != Translator(lang)("policy.err.other"), err.value.reason
    if lang == "zh-CN":
        assert CJK.search(msg.text)


@pytest.mark.parametrize("config", [
    {"rules": [{"destinations": []}]},
    {"rules": [{"destinations": [{"region": "us-east-1", "registryId": "111111111111"}]}]},
    {"rules": [{"destinations": [{"region": "us-east-1", "registryId": "2" * 12}] * 2}]},
    {"rules": [{"destinations": [{"region": "us-west-2", "registryId": "2" * 12}]}] * 11},
])
def test_replication_errors_are_translated(config):
    with pytest.raises(InvalidReplicationConfiguration) as err:
        validate(config, "111111111111", "us-east-1")
    for lang in LANGUAGES:
        msg = messages.replication_error(Translator(lang), err.value.reason)
        assert msg.detail is None and msg.text != Translator(lang)("repl.err.other"), err.value.reason


def test_failure_reasons_of_the_copier_are_translated():
    reasons = [
        "the registry policy of 222222222222 in us-east-1 does not allow arn:aws:iam::111111111111:root "
        "ecr:ReplicateImage on arn:aws:ecr:us-east-1:222222222222:repository/app",
        "destination account 333333333333 does not exist",
        "repository app does not exist in 222222222222 (us-east-1) and its registry policy does not allow "
        "arn:aws:iam::111111111111:root ecr:CreateRepository",
    ]
    for reason in reasons:
        msg = messages.failure_reason(Translator("zh-CN"), reason)
        assert msg.detail is None and CJK.search(msg.text), reason


@pytest.mark.parametrize("fields", [
    {"prefix": ""}, {"prefix": "p" * 257}, {"prefix": "Bad_Prefix"}, {"description": "d" * 257},
    {"appliedFor": []}, {"appliedFor": ["SOMETIMES"]},
    {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
     "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": f"v{i}"} for i in range(6)]},
    {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "alias/mine"}},
    {"resourceTags": [{"Key": "aws:x", "Value": ""}]},
    {"repositoryPolicy": "x" * 10241}, {"repositoryPolicy": '{"Statement": "nope"}'},
    {"lifecyclePolicy": "x" * 30721}, {"lifecyclePolicy": "{"}, {"lifecyclePolicy": '{"rules": [{"rulePriority": 1}]}'},
    {"customRoleArn": "r" * 2049}, {"customRoleArn": "not-a-role"},
])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_creation_template_errors_are_translated(fields, lang):
    """Every problem the service's template validation reports reads as a sentence of the page's
    language (never the generic fallback)."""
    t = Translator(lang)
    _, problems = tpl.check_template({"prefix": "ok", "appliedFor": ["REPLICATION"], **fields})
    assert len(problems) == 1
    msg = messages.template_error(t, problems[0][1], fields.get("lifecyclePolicy", ""))
    assert msg.text not in (t("repo.err.other"), t("policy.err.other")), problems
    if lang == "zh-CN":
        assert CJK.search(msg.text)


def test_language_negotiation():
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("fr-FR, zh-TW;q=0.5") == "zh-CN"
    assert negotiate(None) == "en"


def test_safe_next_stays_in_the_console():
    assert base.safe_next("/console/repositories?q=x") == "/console/repositories?q=x"
    for bad in ("https://evil.example/", "//evil.example/console/", "/other", "/console/\\evil", None):
        assert base.safe_next(bad) == "/console/repositories"
