"""Private registry → Features & Settings: Replication (configuration, rule wizard) and
Permissions (registry policy editor, Generate statement). Repository creation templates:
crossreg.console.creation_templates."""

from __future__ import annotations

import json
import re

from starlette.responses import Response

from crossreg.console.base import Ctx, NotFound, url
from crossreg.console.messages import Message, policy_error, replication_error, statement_error
from crossreg.iam import statements as st
from crossreg.iam.policy import PolicyError
from crossreg.replication.rules import MAX_FILTERS_PER_RULE, InvalidReplicationConfiguration, validate
from crossreg.services import policies
from crossreg.services.registry_settings import put_replication_configuration, read_replication_config

_ACCOUNT = re.compile(r"[0-9]{12}")                 # botocore's RegistryId
_REGION = re.compile(r"[0-9a-z-]{2,25}")            # botocore's Region
# botocore's RepositoryFilterValue (2..256 characters)
_FILTER = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*")
STEPS = ("types", "destinations", "filters", "review")


def routes(route):
    return [
        route("/private-registry", lambda ctx: ctx.redirect(url("/private-registry/replication"))),
        route("/private-registry/replication", replication_view),
        route("/private-registry/replication/edit", replication_edit),
        route("/private-registry/replication/rule", rule_wizard, methods=("GET", "POST")),
        route("/private-registry/replication/delete-rule", delete_rule, methods=("POST",)),
        route("/private-registry/permissions", permissions, methods=("GET", "POST")),
        route("/private-registry/permissions/generate", generate_statement, methods=("GET", "POST")),
    ]


# -------------------------------------------------------------------- replication configuration
def _config(ctx: Ctx) -> dict:
    return read_replication_config(ctx.core.db, ctx.account_id, ctx.region)


def replication_view(ctx: Ctx) -> Response:
    return ctx.render("replication.html", rules=_config(ctx)["rules"], editing=False)


def replication_edit(ctx: Ctx) -> Response:
    return ctx.render("replication.html", rules=_config(ctx)["rules"], editing=True)


def delete_rule(ctx: Ctx) -> Response:
    config = _config(ctx)
    index = _rule_index(ctx.field("rule"), config)
    if index is None:
        raise NotFound()
    rules = [r for i, r in enumerate(config["rules"]) if i != index]
    put_replication_configuration(ctx.core.db, ctx.account_id, ctx.region, {"rules": rules})
    return ctx.redirect(url("/private-registry/replication/edit"), "repl.rule_deleted", number=index + 1)


def _rule_index(value: str | None, config: dict) -> int | None:
    if value is None or not value.isdigit():
        return None
    index = int(value)
    return index if index < len(config["rules"]) else None


class RuleDraft:
    """The wizard's state, carried from step to step in the form itself."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.rule_index: int | None = None
        self.cross_region = False
        self.cross_account = False
        self.regions: list[str] = []
        self.accounts: list[dict] = []  # {"account", "region"}
        self.filters: list[str] = []
        self.delete_replication: bool | None = None

    @classmethod
    def from_rule(cls, ctx: Ctx, index: int | None, rule: dict | None) -> "RuleDraft":
        d = cls(ctx)
        d.rule_index = index
        if rule:
            for dest in rule.get("destinations", []):
                if dest["registryId"] == ctx.account_id:
                    d.regions.append(dest["region"])
                else:
                    d.accounts.append({"account": dest["registryId"], "region": dest["region"]})
            d.cross_region, d.cross_account = bool(d.regions), bool(d.accounts)
            d.filters = [f["filter"] for f in rule.get("repositoryFilters") or []]
            if rule.get("deleteReplication") is not None:
                d.delete_replication = bool(rule["deleteReplication"].get("enabled"))
        if not d.accounts:
            d.accounts = [{"account": "", "region": ctx.region}]
        return d

    @classmethod
    def from_form(cls, ctx: Ctx) -> "RuleDraft":
        d = cls(ctx)
        index = ctx.field("rule_index")
        d.rule_index = int(index) if index.isdigit() else None
        d.cross_region = ctx.field("cross_region") == "on"
        d.cross_account = ctx.field("cross_account") == "on"
        d.regions = [r for r in dict.fromkeys(ctx.fields("region_dest")) if r]
        accounts, regions = ctx.fields("dest_account"), ctx.fields("dest_region")
        d.accounts = [{"account": a.strip(), "region": r} for a, r in zip(accounts, regions)]
        if not d.accounts:
            d.accounts = [{"account": "", "region": ctx.region}]
        d.filters = [f for f in ctx.fields("filter") if f]
        dr = ctx.field("delete_replication")
        d.delete_replication = None if dr == "" else dr == "on"
        return d

    def rule(self) -> dict:
        destinations = []
        if self.cross_region:
            destinations += [{"region": r, "registryId": self.ctx.account_id} for r in self.regions]
        if self.cross_account:
            destinations += [{"region": a["region"], "registryId": a["account"]}
                             for a in self.accounts if a["account"]]
        rule: dict = {"destinations": destinations}
        if self.filters:
            rule["repositoryFilters"] = [{"filter": f, "filterType": "PREFIX_MATCH"} for f in self.filters]
        if self.delete_replication is not None:
            rule["deleteReplication"] = {"enabled": self.delete_replication}
        return rule

    def config(self, existing: dict) -> dict:
        rules = list(existing["rules"])
        if self.rule_index is not None and self.rule_index < len(rules):
            rules[self.rule_index] = self.rule()
        else:
            rules.append(self.rule())
        return {"rules": rules}


def rule_wizard(ctx: Ctx) -> Response:
    existing = _config(ctx)
    if ctx.request.method == "GET":
        index = _rule_index(ctx.request.query_params.get("rule"), existing)
        if ctx.request.query_params.get("rule") is not None and index is None:
            raise NotFound()
        draft = RuleDraft.from_rule(ctx, index, existing["rules"][index] if index is not None else None)
        return _wizard(ctx, draft, "types", {})
    draft = RuleDraft.from_form(ctx)
    step = ctx.field("step") if ctx.field("step") in STEPS else "types"
    op = ctx.field("op", "next")
    errors: dict = {}
    if op == "back":
        return _wizard(ctx, draft, STEPS[max(0, STEPS.index(step) - 1)], {})
    if op == "add_destination":
        draft.accounts.append({"account": "", "region": ctx.region})
        return _wizard(ctx, draft, "destinations", {})
    if op.startswith("remove_destination:"):
        i = op.partition(":")[2]
        if i.isdigit() and int(i) < len(draft.accounts):
            del draft.accounts[int(i)]
        if not draft.accounts:
            draft.accounts = [{"account": "", "region": ctx.region}]
        return _wizard(ctx, draft, "destinations", {})
    if op == "add_filter":
        value = ctx.field("new_filter").strip()
        error = _filter_error(ctx, value, draft)
        if error:
            return _wizard(ctx, draft, "filters", {"new_filter": error}, new_filter=value)
        if value not in draft.filters:
            draft.filters.append(value)
        return _wizard(ctx, draft, "filters", {})
    if op.startswith("remove_filter:"):
        i = op.partition(":")[2]
        if i.isdigit() and int(i) < len(draft.filters):
            del draft.filters[int(i)]
        return _wizard(ctx, draft, "filters", {})
    if step == "filters" and ctx.field("new_filter").strip():
        # A filter typed but not yet added is added by Next, as if Add had been pressed.
        value = ctx.field("new_filter").strip()
        error = _filter_error(ctx, value, draft)
        if error:
            return _wizard(ctx, draft, "filters", {"new_filter": error}, new_filter=value)
        if value not in draft.filters:
            draft.filters.append(value)
    # next / submit: check every step up to the current one, as the API would check the rule.
    for check_step in STEPS[: STEPS.index(step) + 1]:
        errors = _check(ctx, draft, check_step, existing)
        if errors:
            return _wizard(ctx, draft, check_step, errors)
    if op == "submit" and step == "review":
        try:
            put_replication_configuration(ctx.core.db, ctx.account_id, ctx.region, draft.config(existing))
        except InvalidReplicationConfiguration as err:
            return _wizard(ctx, draft, "review", {"rule": replication_error(ctx.t, err.reason)})
        return ctx.redirect(url("/private-registry/replication"), "repl.rule_submitted")
    following = STEPS[min(len(STEPS) - 1, STEPS.index(step) + 1)]
    return _wizard(ctx, draft, following, {})


def _filter_error(ctx: Ctx, value: str, draft: RuleDraft) -> Message | None:
    if not 2 <= len(value) <= 256 or not _FILTER.fullmatch(value):
        return Message(ctx.t("repl.err.filter_pattern"))
    if len(draft.filters) >= MAX_FILTERS_PER_RULE and value not in draft.filters:
        return Message(ctx.t("repl.err.max_filters", max=MAX_FILTERS_PER_RULE))
    return None


def _check(ctx: Ctx, draft: RuleDraft, step: str, existing: dict) -> dict:
    errors: dict = {}
    if step == "types":
        if not draft.cross_region and not draft.cross_account:
            errors["types"] = Message(ctx.t("repl.err.choose_type"))
    elif step == "destinations":
        if draft.cross_region:
            bad = [r for r in draft.regions if not _REGION.fullmatch(r) or r not in ctx.console.regions()]
            if bad:
                errors["regions"] = Message(ctx.t("repl.err.region", region=bad[0]))
            elif not draft.regions:
                errors["regions"] = Message(ctx.t("repl.err.choose_region"))
            elif ctx.region in draft.regions:
                errors["regions"] = Message(ctx.t("repl.err.same_as_source"))
        if draft.cross_account:
            for i, a in enumerate(draft.accounts):
                if a["account"] and not _ACCOUNT.fullmatch(a["account"]):
                    errors[f"account{i}"] = Message(ctx.t("repl.err.account_id"))
                elif not _REGION.fullmatch(a["region"]) or a["region"] not in ctx.console.regions():
                    errors[f"account{i}"] = Message(ctx.t("repl.err.region", region=a["region"]))
            if not errors and not any(a["account"] for a in draft.accounts):
                errors["account0"] = Message(ctx.t("repl.err.account_required"))
        if not errors:
            errors = _rules_check(ctx, draft, existing, "destinations")
    elif step == "filters":
        for f in draft.filters:
            error = _filter_error(ctx, f, draft)
            if error:
                errors["new_filter"] = error
                break
        if not errors:
            errors = _rules_check(ctx, draft, existing, "new_filter")
    return errors


def _rules_check(ctx: Ctx, draft: RuleDraft, existing: dict, where: str) -> dict:
    """ECR's rules on the whole configuration this rule would give (the service's own check)."""
    try:
        validate(draft.config(existing), ctx.account_id, ctx.region)
    except InvalidReplicationConfiguration as err:
        return {where: replication_error(ctx.t, err.reason)}
    return {}


def _wizard(ctx: Ctx, draft: RuleDraft, step: str, errors: dict, new_filter: str = "") -> Response:
    return ctx.render("replication_rule.html", status=400 if errors else 200, draft=draft, step=step,
                      steps=STEPS, errors=errors, new_filter=new_filter,
                      other_regions=[r for r in ctx.console.regions() if r != ctx.region])


# -------------------------------------------------------------------- permissions
def _statements(text: str | None) -> list[dict]:
    """A summary of a stored policy's statements for the table above the editor."""
    if not text:
        return []
    try:
        doc = json.loads(text)
        stmts = doc.get("Statement", [])
        stmts = [stmts] if isinstance(stmts, dict) else stmts
    except (ValueError, AttributeError):
        return []
    out = []
    for s in stmts:
        if not isinstance(s, dict):
            continue
        principal = s.get("Principal", s.get("NotPrincipal", ""))
        if isinstance(principal, dict):
            principal = [v for vals in principal.values() for v in (vals if isinstance(vals, list) else [vals])]
        as_list = lambda v: v if isinstance(v, list) else [v] if v else []  # noqa: E731
        out.append({"sid": s.get("Sid", ""), "effect": s.get("Effect", ""), "principal": as_list(principal),
                    "action": as_list(s.get("Action", s.get("NotAction"))),
                    "resource": as_list(s.get("Resource", s.get("NotResource")))})
    return out


def permissions(ctx: Ctx) -> Response:
    text = policies.registry_policy(ctx.core.db, ctx.account_id, ctx.region)
    if ctx.request.method == "POST":
        if ctx.field("action") == "delete":
            policies.set_registry_policy(ctx.core.db, ctx.account_id, ctx.region, None)
            return ctx.redirect(url("/private-registry/permissions"), "perm.deleted")
        new_text = ctx.field("policy_text")
        try:
            policies.put_registry_policy(ctx.core.db, ctx.account_id, ctx.region, new_text)
        except PolicyError as err:
            return ctx.render("permissions.html", status=400, text=new_text, statements=_statements(text),
                              error=policy_error(ctx.t, err.reason), stored=text is not None)
        return ctx.redirect(url("/private-registry/permissions"), "perm.saved")
    return ctx.render("permissions.html", text=text or "", statements=_statements(text), error=None,
                      stored=text is not None)


def generate_statement(ctx: Ctx) -> Response:
    values = {"policy_type": "replication", "sid": "", "accounts": "", "principals": "", "namespace": "",
              "repositories": ""}
    errors: dict = {}
    if ctx.request.method == "POST":
        values = {k: ctx.field(k).strip() for k in values}
        if not values["sid"]:
            errors["sid"] = Message(ctx.t("statement.err.sid_required"))
        elif not re.fullmatch(r"[A-Za-z0-9]+", values["sid"]):
            errors["sid"] = Message(ctx.t("statement.err.sid_pattern"))
        statement = None
        if not errors:
            try:
                if values["policy_type"] == "pull_through_cache":
                    statement = st.pull_through_cache_statement(
                        values["sid"], values["principals"], ctx.region, ctx.account_id, values["namespace"],
                        values["repositories"])
                else:
                    values["policy_type"] = "replication"
                    statement = st.replication_statement(values["sid"], values["accounts"], ctx.region,
                                                         ctx.account_id)
            except ValueError as err:
                field = _statement_field(str(err), values["policy_type"])
                errors[field] = statement_error(ctx.t, str(err))
        if statement is not None:
            current = policies.registry_policy(ctx.core.db, ctx.account_id, ctx.region)
            try:
                merged = st.merge_statement(current, statement)
                policies.put_registry_policy(ctx.core.db, ctx.account_id, ctx.region, merged)
            except PolicyError as err:
                errors["sid" if "Sid" in err.reason else "form"] = statement_error(ctx.t, err.reason)
            else:
                return ctx.redirect(url("/private-registry/permissions"), "perm.statement_created",
                                    sid=values["sid"])
    return ctx.render("generate_statement.html", status=400 if errors else 200, values=values, errors=errors)


def _statement_field(reason: str, policy_type: str) -> str:
    if "cache namespace" in reason:
        return "namespace"
    if "repository name" in reason:
        return "repositories"
    if "principal" in reason.lower():
        return "principals"
    if "account" in reason:
        return "accounts" if policy_type == "replication" else "form"
    return "form"

