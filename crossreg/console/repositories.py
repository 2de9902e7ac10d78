"""Repositories: list (search, paging), create, detail with images and their replication status,
repository policy and lifecycle policy editors, settings, delete."""

from __future__ import annotations

from starlette.responses import Response

from crossreg.console.base import Ctx, NotFound, url
from crossreg.console.messages import (Message, failure_reason, lifecycle_error, policy_error, setting_error,
                                       setting_field)
from crossreg.domain.names import InvalidRepositoryName
from crossreg.iam.policy import PolicyError
from crossreg.replication import tasks as tq
from crossreg.replication.failures import FAILURE_CODES
from crossreg.services import errors as e
from crossreg.services import repository_settings as rs
from crossreg.services.models import RepoKey, Repository

PAGE_SIZE = 20
IMAGE_PAGE_SIZE = 50
TABS = ("images", "permissions", "lifecycle", "details")
# Config media types of ordinary images: their artifact type says nothing more.
IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                      "application/vnd.docker.container.image.v1+json")


def routes(route):
    return [
        route("/repositories", list_repositories),
        route("/create-repository", create_repository, methods=("GET", "POST")),
        route("/repositories/{name:path}", repository_detail),
        route("/repository/policy", save_repository_policy, methods=("POST",)),
        route("/repository/lifecycle", save_lifecycle_policy, methods=("POST",)),
        route("/repository/settings", save_settings, methods=("POST",)),
        route("/repository/delete", delete_repository, methods=("POST",)),
    ]


def _own_repository(ctx: Ctx, name: str) -> Repository:
    """A repository of the signed-in account in the selected region; nothing else is reachable."""
    if not name:
        raise NotFound()
    repo = ctx.core.registry.find_repository(RepoKey(ctx.account_id, ctx.region, name))
    if repo is None:
        raise NotFound()
    return repo


def _page_number(ctx: Ctx) -> int:
    try:
        return max(1, int(ctx.request.query_params.get("page", "1")))
    except ValueError:
        return 1


# -------------------------------------------------------------------- list
def list_repositories(ctx: Ctx) -> Response:
    query = ctx.request.query_params.get("q", "").strip()[:256]
    repos = ctx.core.registry.list_repositories(ctx.account_id, ctx.region)
    if query:
        repos = [r for r in repos if query.lower() in r.name]
    pages = max(1, -(-len(repos) // PAGE_SIZE))
    number = min(_page_number(ctx), pages)
    shown = repos[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
    rows = [{"repo": r, "uri": ctx.core.repository_uri(r.account_id, r.region, r.name)} for r in shown]
    return ctx.render("repositories.html", rows=rows, query=query, page=number, pages=pages, total=len(repos))


# -------------------------------------------------------------------- create
def exclusion_filters(text: str) -> list[dict]:
    """Tag mutability exclusion filters typed as a list separated by commas or new lines."""
    return [{"filterType": "WILDCARD", "filter": f.strip()} for f in text.replace("\n", ",").split(",") if f.strip()]


def create_repository(ctx: Ctx) -> Response:
    values = {"name": "", "tag_mutability": "MUTABLE", "exclusions": "", "scan_on_push": False,
              "encryption_type": "AES256", "kms_key": ""}
    errors: dict[str, Message] = {}
    if ctx.request.method == "POST":
        values = {"name": ctx.field("name").strip(), "tag_mutability": ctx.field("tag_mutability", "MUTABLE"),
                  "exclusions": ctx.field("exclusions"), "scan_on_push": ctx.field("scan_on_push") == "on",
                  "encryption_type": ctx.field("encryption_type", "AES256"), "kms_key": ctx.field("kms_key").strip()}
        key = RepoKey(ctx.account_id, ctx.region, values["name"])
        try:
            settings = rs.new_repository_settings(
                key, tag_mutability=values["tag_mutability"], exclusion_filters=exclusion_filters(values["exclusions"]),
                scan_on_push=values["scan_on_push"], encryption_type=values["encryption_type"],
                kms_key=(values["kms_key"] or None) if values["encryption_type"] != "AES256" else None)
            ctx.core.registry.create_repository(key, settings)
        except InvalidRepositoryName:
            errors["name"] = Message(ctx.t("repo.err.name"))
        except rs.InvalidSetting as err:
            errors[setting_field(err, "encryption_type" if "encryption" in err.key else "tag_mutability")] = \
                setting_error(ctx.t, err)
        except e.RepositoryAlreadyExists:
            errors["name"] = Message(ctx.t("repo.err.exists", name=values["name"]))
        else:
            return ctx.redirect(url(f"/repositories/{key.name}"), "repo.created", name=key.name)
    return ctx.render("repository_create.html", status=400 if errors else 200, values=values, errors=errors,
                      uri_prefix=ctx.core.repository_uri(ctx.account_id, ctx.region, ""))


# -------------------------------------------------------------------- detail
def repository_detail(ctx: Ctx) -> Response:
    repo = _own_repository(ctx, ctx.request.path_params["name"])
    tab = ctx.request.query_params.get("tab", "images")
    if tab not in TABS:
        tab = "images"
    context = {"repo": repo, "tab": tab, "uri": ctx.core.repository_uri(repo.account_id, repo.region, repo.name),
               "images": [], "next_after": None, "error": None, "text": None,
               "image_config_types": IMAGE_CONFIG_TYPES}
    if tab == "images":
        after = ctx.request.query_params.get("after") or None
        records = ctx.core.registry.list_images(repo, after=after, limit=IMAGE_PAGE_SIZE + 1)
        more = len(records) > IMAGE_PAGE_SIZE
        records = records[:IMAGE_PAGE_SIZE]
        records.sort(key=lambda r: r.manifest.pushed_at, reverse=True)
        images = []
        with ctx.core.db.read() as c:
            for rec in records:
                statuses = []
                for task in tq.image_status_details(c, repo.account_id, repo.region, repo.name, rec.manifest.digest):
                    statuses.append(_status_view(ctx, task))
                images.append({"record": rec, "statuses": statuses})
        context.update(images=images, next_after=records[-1].manifest.digest if more and records else None,
                       after=after)
        context["push_host"] = ctx.core.public_host(repo.account_id, repo.region)
    elif tab == "permissions":
        context["text"] = repo.policy_text or ""
    elif tab == "lifecycle":
        context["text"] = repo.lifecycle_policy_text or ""
    return ctx.render("repository.html", **context)


def _status_view(ctx: Ctx, task: dict) -> dict:
    status = tq.api_status(task["status"])
    code = task["failure_code"] if status == "FAILED" else None
    view = {"region": task["dest_region"], "account": task["dest_account"], "status": status, "code": code,
            "reason": None, "explanation": None, "action": None}
    if code:
        view["reason"] = failure_reason(ctx.t, task["failure_reason"])
        if code in FAILURE_CODES:
            view["explanation"] = ctx.t(f"failure.{code}.explanation")
            view["action"] = ctx.t(f"failure.{code}.action")
    elif status == "IN_PROGRESS" and task["failure_reason"]:
        view["reason"] = Message(ctx.t("status.retrying"))
    return view


# -------------------------------------------------------------------- policies
def _editor_error(ctx: Ctx, repo: Repository, tab: str, text: str, error: Message) -> Response:
    return ctx.render("repository.html", status=400, repo=repo, tab=tab, text=text, error=error, images=[],
                      next_after=None, uri=ctx.core.repository_uri(repo.account_id, repo.region, repo.name))


def save_repository_policy(ctx: Ctx) -> Response:
    repo = _own_repository(ctx, ctx.field("name"))
    target = url(f"/repositories/{repo.name}", tab="permissions")
    if ctx.field("action") == "delete":
        rs.delete_repository_policy(ctx.core.registry, repo)
        return ctx.redirect(target, "repo.policy.deleted")
    text = ctx.field("policy_text")
    try:
        rs.set_repository_policy(ctx.core.registry, repo, text)
    except PolicyError as err:
        return _editor_error(ctx, repo, "permissions", text, policy_error(ctx.t, err.reason))
    return ctx.redirect(target, "repo.policy.saved")


def save_lifecycle_policy(ctx: Ctx) -> Response:
    from crossreg.lifecycle.policy import LifecyclePolicyError

    repo = _own_repository(ctx, ctx.field("name"))
    target = url(f"/repositories/{repo.name}", tab="lifecycle")
    if ctx.field("action") == "delete":
        rs.delete_lifecycle_policy(ctx.core.registry, repo)
        return ctx.redirect(target, "repo.lifecycle.deleted")
    text = ctx.field("policy_text")
    try:
        rs.put_lifecycle_policy(ctx.core.registry, repo, text)
    except LifecyclePolicyError as err:
        return _editor_error(ctx, repo, "lifecycle", text, lifecycle_error(ctx.t, text, err))
    return ctx.redirect(target, "repo.lifecycle.saved")


# -------------------------------------------------------------------- settings, delete
def save_settings(ctx: Ctx) -> Response:
    repo = _own_repository(ctx, ctx.field("name"))
    mode = ctx.field("tag_mutability", repo.tag_mutability)
    try:
        repo = rs.set_tag_mutability(ctx.core.registry, repo, mode, exclusion_filters(ctx.field("exclusions")))
    except rs.InvalidSetting as err:
        return ctx.render("repository.html", status=400, repo=repo, tab="details", text=None,
                          error=setting_error(ctx.t, err), images=[], next_after=None,
                          uri=ctx.core.repository_uri(repo.account_id, repo.region, repo.name))
    rs.set_scan_on_push(ctx.core.registry, repo, ctx.field("scan_on_push") == "on")
    return ctx.redirect(url(f"/repositories/{repo.name}", tab="details"), "repo.settings.saved")


def delete_repository(ctx: Ctx) -> Response:
    repo = _own_repository(ctx, ctx.field("name"))
    if ctx.field("confirm").strip() != "delete":
        return ctx.render("repository.html", status=400, repo=repo, tab="details", text=None,
                          error=Message(ctx.t("repo.delete.confirm_error")), images=[], next_after=None,
                          uri=ctx.core.repository_uri(repo.account_id, repo.region, repo.name))
    ctx.core.registry.delete_repository(repo.key, force=True)
    return ctx.redirect(url("/repositories"), "repo.deleted", name=repo.name)
