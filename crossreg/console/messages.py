"""Turns the English messages of the service layer (ECR's wording, the policy parser's, the
replication engine's) into console messages in the page's language. Each known message shape
maps to a catalogue key with its parameters; anything else is shown under a translated lead
with the original text as a quoted technical detail."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from crossreg.console.i18n import Translator


@dataclass(frozen=True)
class Message:
    text: str                 # in the page's language
    detail: str | None = None  # the original (English) technical text, shown quoted, if useful


def _match(table, text: str):
    for pattern, key in table:
        m = re.fullmatch(pattern, text, re.S)
        if m:
            return key, m.groupdict()
    return None, {}


# ---------------------------------------------------------------- policy documents
_POLICY = [
    (r"policy is not valid JSON: (?P<msg>.*?): line (?P<line>\d+) column (?P<column>\d+).*", "policy.err.json_at"),
    (r"policy is not valid JSON: .*", "policy.err.json"),
    (r"(?P<name>\S+) is not valid JSON", "policy.err.json"),
    (r"policy text must be a string", "policy.err.json"),
    (r"policy text is longer than (?P<max>\d+) characters", "policy.err.too_long"),
    (r"policy must be a JSON object", "policy.err.not_object"),
    (r"duplicate key '(?P<key>[^']*)' in a JSON object", "policy.err.duplicate_key"),
    (r"unknown top-level element '(?P<element>[^']*)'", "policy.err.unknown_top"),
    (r"Version is required", "policy.err.version_missing"),
    (r"Version: .* is not one of .*", "policy.err.version_invalid"),
    (r"Statement is required", "policy.err.statement_missing"),
    (r"Statement: must not be empty", "policy.err.statement_empty"),
    (r"Statement\[(?P<index>\d+)\]\.Sid: duplicate Sid '(?P<sid>[^']*)'", "policy.err.duplicate_sid"),
    (r"(?P<where>[^:]+)\.Effect: .*", "policy.err.effect"),
    (r"(?P<where>[^:]+): '(?P<value>[^']*)' is not a valid AWS principal.*", "policy.err.principal"),
    (r"(?P<where>[^:]+): '(?P<value>[^']*)' is not a valid action.*", "policy.err.action"),
    (r"(?P<where>[^:]+): '(?P<value>[^']*)' is not a known ECR action", "policy.err.unknown_action"),
    (r"(?P<where>[^:]+): '(?P<value>[^']*)' is not allowed in a registry policy.*", "policy.err.registry_action"),
    (r"(?P<where>[^:]+): '(?P<value>[^']*)' is not a valid ARN.*", "policy.err.arn"),
    (r"(?P<where>[^:]+): unknown element '(?P<element>[^']*)'", "policy.err.unknown_element"),
    (r"(?P<where>[^:]+): (?P<key>\w+) or (?P<not_key>\w+) is required", "policy.err.required"),
    (r"a statement with Sid '(?P<sid>[^']*)' already exists in the policy", "policy.err.sid_exists"),
    (r"existing policy is not valid JSON.*", "policy.err.existing_invalid"),
]


def policy_error(t: Translator, reason: str) -> Message:
    key, params = _match(_POLICY, reason)
    if key:
        # The parser's own words stay available for JSON syntax errors (what it expected).
        return Message(t(key, **params), reason if key.startswith("policy.err.json") else None)
    return Message(t("policy.err.other"), reason)


# ---------------------------------------------------------------- replication configuration
_REPLICATION = [
    (r"Replication configuration cannot contain more than (?P<max>\d+) rules", "repl.err.max_rules"),
    (r"Replication rule must contain at least one destination", "repl.err.no_destination"),
    (r"Replication rule cannot contain more than (?P<max>\d+) repository filters", "repl.err.max_filters"),
    (r"Replication destination cannot be the same as the source registry", "repl.err.same_as_source"),
    (r"Replication rule contains duplicate destination (?P<account>\d+) in (?P<region>\S+)", "repl.err.duplicate"),
    (r"Replication configuration cannot contain more than (?P<max>\d+) unique destinations",
     "repl.err.max_destinations"),
    (r"Member must satisfy enum value set: \[PREFIX_MATCH\]", "repl.err.filter_type"),
]


def replication_error(t: Translator, reason: str) -> Message:
    key, params = _match(_REPLICATION, reason)
    if key:
        return Message(t(key, **params))
    return Message(t("repl.err.other"), reason)


# ---------------------------------------------------------------- replication failures
_FAILURE_REASONS = [
    (r"the registry policy of (?P<account>\d+) in (?P<region>\S+) does not allow (?P<principal>\S+) "
     r"(?P<action>\S+) on (?P<arn>\S+)", "failure.reason.policy_denies"),
    (r"destination account (?P<account>\d+) does not exist", "failure.reason.no_account"),
    (r"repository (?P<name>\S+) does not exist in (?P<account>\d+) \((?P<region>[^)]+)\) and its registry "
     r"policy does not allow (?P<principal>\S+) ecr:CreateRepository", "failure.reason.no_create"),
    (r"(?P<image>\S+) is no longer in the source", "failure.reason.source_gone"),
    (r"region (?P<region>\S+) is not served here and no endpoint is configured for it", "failure.reason.no_endpoint"),
    (r"tags skipped \(immutable at the destination\): (?P<tags>.*)", "failure.reason.tags_skipped"),
]


def failure_reason(t: Translator, reason: str | None) -> Message | None:
    if not reason:
        return None
    key, params = _match(_FAILURE_REASONS, reason)
    if key:
        return Message(t(key, **params))
    return Message(t("failure.reason.other"), reason)


# ---------------------------------------------------------------- repository settings
def setting_error(t: Translator, err) -> Message:
    """An InvalidSetting from crossreg.services.repository_settings."""
    key = "repo.err." + err.key
    if t.has(key):
        return Message(t(key, **err.params))
    return Message(t("repo.err.other"), str(err))


def setting_field(err, default: str) -> str:
    """The form field an InvalidSetting is shown at: its exclusion filters and KMS key have
    fields of their own; everything else belongs to `default`."""
    if err.key.startswith("exclusion"):
        return "exclusions"
    if err.key.startswith("kms_key"):
        return "kms_key"
    return default


# ---------------------------------------------------------------- lifecycle policies
def lifecycle_error(t: Translator, text: str, err) -> Message:
    """A LifecyclePolicyError of `text`: where the JSON breaks, or the validator's own words."""
    try:
        json.loads(text)
    except ValueError as exc:
        return Message(t("policy.err.json_at", line=getattr(exc, "lineno", 0), column=getattr(exc, "colno", 0)),
                       err.message)
    return Message(t("lifecycle.err.invalid"), err.message)


# ---------------------------------------------------------------- creation templates
def template_error(t: Translator, err, lifecycle_text: str = "") -> Message:
    """An error of crossreg.services.templates.check_template: an embedded policy's own error
    when it has one, the template's rule, or the repository setting's."""
    from crossreg.iam.policy import PolicyError
    from crossreg.lifecycle.policy import LifecyclePolicyError

    cause = getattr(err, "cause", None)
    if isinstance(cause, PolicyError):
        return policy_error(t, cause.reason)
    if isinstance(cause, LifecyclePolicyError):
        return lifecycle_error(t, lifecycle_text, cause)
    key = "templates.err." + err.key
    if t.has(key):
        return Message(t(key, **err.params))
    return setting_error(t, err)


# ---------------------------------------------------------------- generated statements
_STATEMENT = [
    (r"'(?P<value>[^']*)' is not a 12-digit account id", "statement.err.account"),
    (r"at least one source account id is required", "statement.err.accounts_required"),
    (r"the statement id must be a non-empty string", "statement.err.sid_required"),
    (r"'(?P<value>[^']*)' is not an IAM principal ARN", "statement.err.principal"),
    (r"at least one IAM principal ARN is required", "statement.err.principals_required"),
    (r"'(?P<value>[^']*)' is not a valid cache namespace", "statement.err.namespace"),
    (r"'(?P<value>[^']*)' is not a valid repository name", "statement.err.repository"),
    (r"'(?P<value>[^']*)' is not a region", "statement.err.region"),
]


def statement_error(t: Translator, reason: str) -> Message:
    key, params = _match(_STATEMENT, reason)
    if key:
        return Message(t(key, **params))
    return policy_error(t, reason)
