"""Private registry → Features & Settings → Repository creation templates: list, create, view,
edit and delete. Templates are stored by crossreg.services.templates, whose validation is the
ECR API's (Create/UpdateRepositoryCreationTemplate); its problems are shown next to their
fields, in the page's language."""

from __future__ import annotations

from starlette.responses import Response

from crossreg.console.base import Ctx, NotFound, url
from crossreg.console.messages import Message, setting_field, template_error
from crossreg.console.repositories import exclusion_filters
from crossreg.services import repository_settings as rs
from crossreg.services import templates as store

BASE = "/private-registry/creation-templates"
SCOPES = ("prefix", "root")

# The form field of each template setting (by its ECR name, as check_template reports it).
_FORM_FIELDS = {"prefix": "prefix", "description": "description", "appliedFor": "applied_for",
                "imageTagMutability": "tag_mutability", "encryptionConfiguration": "encryption_type",
                "resourceTags": "tags", "repositoryPolicy": "repository_policy",
                "lifecyclePolicy": "lifecycle_policy", "customRoleArn": "custom_role_arn"}


def routes(route):
    return [
        route(BASE, list_templates),
        route(BASE + "/create", create_template, methods=("GET", "POST")),
        route(BASE + "/view", view_template),
        route(BASE + "/edit", edit_template, methods=("GET", "POST")),
        route(BASE + "/delete", delete_template, methods=("GET", "POST")),
    ]


def _view_url(prefix: str) -> str:
    return url(BASE + "/view", prefix=store.template_key(prefix))


def _own_template(ctx: Ctx, prefix: str | None) -> dict:
    """A template of the signed-in account in the selected region; nothing else is reachable."""
    template = store.get_template(ctx.core.db, ctx.account_id, ctx.region, prefix) if prefix else None
    if template is None:
        raise NotFound()
    return template


# -------------------------------------------------------------------- list, view, delete
def list_templates(ctx: Ctx) -> Response:
    return ctx.render("creation_templates.html",
                      templates=store.list_templates(ctx.core.db, ctx.account_id, ctx.region))


# The template's key is in the query of every page that shows it (the forms post back to the
# same URL), so that switching the language or region reloads the same page.
def _key(ctx: Ctx) -> str | None:
    return ctx.request.query_params.get("prefix")


def view_template(ctx: Ctx, error: Message | None = None) -> Response:
    template = _own_template(ctx, _key(ctx))
    return ctx.render("creation_template.html", status=400 if error else 200, tpl=template,
                      key=store.template_key(template["prefix"]), error=error)


def delete_template(ctx: Ctx) -> Response:
    template = _own_template(ctx, _key(ctx))
    if ctx.request.method == "GET":
        return view_template(ctx)
    if ctx.field("confirm").strip() != "delete":
        return view_template(ctx, Message(ctx.t("repo.delete.confirm_error")))
    try:
        store.delete_template(ctx.core.db, ctx.account_id, ctx.region, template["prefix"])
    except store.TemplateMissing:
        raise NotFound() from None
    return ctx.redirect(url(BASE), "templates.deleted", prefix=template["prefix"])


# -------------------------------------------------------------------- create, edit
def _values(template: dict | None) -> dict:
    """The form's values for a stored template (or a new one: ECR's defaults)."""
    template = template or {"prefix": "", "appliedFor": ["REPLICATION"]}
    encryption = template.get("encryptionConfiguration") or {}
    tags = [{"key": t["Key"], "value": t["Value"]} for t in template.get("resourceTags") or []]
    return {
        "scope": "root" if template["prefix"] == "ROOT" else "prefix",
        "prefix": "" if template["prefix"] == "ROOT" else template["prefix"],
        "description": template.get("description", ""),
        "applied_for": list(template.get("appliedFor") or []),
        "tag_mutability": template.get("imageTagMutability", "MUTABLE"),
        "exclusions": ", ".join(f["filter"] for f in template.get("imageTagMutabilityExclusionFilters") or []),
        "encryption_type": encryption.get("encryptionType", "AES256"),
        "kms_key": encryption.get("kmsKey", ""),
        "tags": tags or [{"key": "", "value": ""}],
        "repository_policy": template.get("repositoryPolicy", ""),
        "lifecycle_policy": template.get("lifecyclePolicy", ""),
        "custom_role_arn": template.get("customRoleArn", ""),
    }


def _form_values(ctx: Ctx) -> dict:
    tags = [{"key": k.strip(), "value": v.strip()} for k, v in zip(ctx.fields("tag_key"), ctx.fields("tag_value"))]
    return {
        "scope": ctx.field("scope") if ctx.field("scope") in SCOPES else "prefix",
        "prefix": ctx.field("prefix").strip(),
        "description": ctx.field("description").strip(),
        "applied_for": ctx.fields("applied_for"),
        "tag_mutability": ctx.field("tag_mutability", "MUTABLE"),
        "exclusions": ctx.field("exclusions"),
        "encryption_type": ctx.field("encryption_type", "AES256"),
        "kms_key": ctx.field("kms_key").strip(),
        "tags": tags or [{"key": "", "value": ""}],
        "repository_policy": _text(ctx.field("repository_policy")),
        "lifecycle_policy": _text(ctx.field("lifecycle_policy")),
        "custom_role_arn": ctx.field("custom_role_arn").strip(),
    }


def _text(value: str) -> str:
    """A policy as typed (stored byte for byte, as the API stores it); only blank means none."""
    return value if value.strip() else ""


def _document(values: dict) -> dict:
    """The template in ECR's shape, as the API would receive it (empty texts clear a field)."""
    encryption = {"encryptionType": values["encryption_type"]}
    if values["kms_key"]:
        encryption["kmsKey"] = values["kms_key"]
    return {
        "prefix": "ROOT" if values["scope"] == "root" else values["prefix"],
        "description": values["description"],
        "appliedFor": values["applied_for"],
        "imageTagMutability": values["tag_mutability"],
        "imageTagMutabilityExclusionFilters": exclusion_filters(values["exclusions"]) or None,
        "encryptionConfiguration": encryption,
        "resourceTags": [{"Key": t["key"], "Value": t["value"]} for t in values["tags"] if t["key"] or t["value"]],
        "repositoryPolicy": values["repository_policy"],
        "lifecyclePolicy": values["lifecycle_policy"],
        "customRoleArn": values["custom_role_arn"],
    }


def _errors(ctx: Ctx, problems: list[tuple[str, rs.InvalidSetting]], values: dict) -> dict[str, Message]:
    errors: dict[str, Message] = {}
    for setting, err in problems:
        field = setting_field(err, _FORM_FIELDS.get(setting, "form"))
        errors.setdefault(field, template_error(ctx.t, err, values["lifecycle_policy"]))
    return errors


def create_template(ctx: Ctx) -> Response:
    return _form(ctx, None)


def edit_template(ctx: Ctx) -> Response:
    return _form(ctx, _own_template(ctx, _key(ctx)))


def _form(ctx: Ctx, existing: dict | None) -> Response:
    if ctx.request.method == "GET":
        return _render(ctx, existing, _values(existing), {})
    values = _form_values(ctx)
    if existing is not None:  # the prefix names the template: it is not edited
        values["scope"], values["prefix"] = _values(existing)["scope"], _values(existing)["prefix"]
    op = ctx.field("op", "save")
    if op == "add_tag":
        values["tags"].append({"key": "", "value": ""})
        return _render(ctx, existing, values, {}, focus=f"tag_key_{len(values['tags']) - 1}")
    if op.startswith("remove_tag:"):
        i = op.partition(":")[2]
        if i.isdigit() and int(i) < len(values["tags"]):
            del values["tags"][int(i)]
        values["tags"] = values["tags"] or [{"key": "", "value": ""}]
        return _render(ctx, existing, values, {})
    document = _document(values)
    _, problems = store.check_template(document)
    errors = _errors(ctx, problems, values)
    if not errors:
        try:
            if existing is None:
                saved = store.create_template(ctx.core.db, ctx.account_id, ctx.region, document)
            else:
                given = {k: v for k, v in document.items() if k != "prefix"}
                saved = store.update_template(ctx.core.db, ctx.account_id, ctx.region, existing["prefix"], given)
        except store.TemplateExists:
            errors["prefix"] = Message(ctx.t("templates.err.exists", prefix=document["prefix"]))
        except store.TemplateMissing:
            raise NotFound() from None
        except rs.InvalidSetting as err:  # the checked document changed meanwhile (it cannot)
            errors = _errors(ctx, [("", err)], values)
        else:
            return ctx.redirect(_view_url(saved["prefix"]), "templates.created" if existing is None
                                else "templates.saved", prefix=saved["prefix"])
    return _render(ctx, existing, values, errors)


def _render(ctx: Ctx, existing: dict | None, values: dict, errors: dict, focus: str | None = None) -> Response:
    return ctx.render("creation_template_form.html", status=400 if errors else 200, existing=existing,
                      key=store.template_key(existing["prefix"]) if existing else None, values=values,
                      errors=errors, applied_for=store.APPLIED_FOR, focus=focus)
