"""The web console, mounted by crossreg.server under /console: server-rendered pages in the ECR
console's structure, in English and Simplified Chinese, using the same service layer as the
APIs."""

from __future__ import annotations

import hmac

from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crossreg.app import Crossreg
from crossreg.console import activity, creation_templates, registry, repositories
from crossreg.console import session as sess
from crossreg.console.base import HERE, Console, Ctx, page, safe_next, url
from crossreg.console.i18n import LANGUAGES


def console_app(core: Crossreg) -> Starlette:
    console = Console(core)

    def route(path: str, handler, methods=("GET",), auth: bool = True) -> Route:
        return Route(path, page(console, handler, auth=auth), methods=list(methods))

    routes = [
        route("/", home, auth=False),
        route("/signin", signin, methods=("GET", "POST"), auth=False),
        route("/signout", signout, methods=("POST",)),
        route("/preferences", preferences, methods=("POST",), auth=False),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        *repositories.routes(route),
        *registry.routes(route),
        *creation_templates.routes(route),
        *activity.routes(route),
    ]
    return Starlette(routes=routes)


def home(ctx: Ctx) -> Response:
    return RedirectResponse(url("/repositories") if ctx.session else url("/signin"), status_code=303)


def signin(ctx: Ctx) -> Response:
    next_url = safe_next(ctx.request.query_params.get("next") or ctx.field("next"))
    if ctx.request.method == "GET":
        if ctx.session is not None:
            return RedirectResponse(next_url, status_code=303)
        return ctx.render("signin.html", next_url=next_url, access_key_id="", error=None)
    access_key_id = ctx.field("access_key_id").strip()
    secret = ctx.field("secret_access_key")
    client = ctx.request.client.host if ctx.request.client else "?"
    if ctx.console.too_many_failures(client):
        return ctx.render("signin.html", status=429, next_url=next_url, access_key_id=access_key_id,
                          error=ctx.t("signin.err.throttled"))
    acct = ctx.core.accounts.by_access_key(access_key_id) if access_key_id else None
    if acct is None or not hmac.compare_digest(acct.secret_access_key.encode(), secret.encode()):
        ctx.console.record_failure(client)
        return ctx.render("signin.html", status=401, next_url=next_url, access_key_id=access_key_id,
                          error=ctx.t("signin.err.invalid"))
    _, cookie = ctx.console.signer.new_session(acct.account_id, acct.access_key_id)
    ctx.cookies.append((sess.SESSION_COOKIE, cookie, {"max_age": sess.SESSION_SECONDS}))
    ctx.cookies.append((sess.ANON_COOKIE, None, {}))
    return RedirectResponse(next_url, status_code=303)


def signout(ctx: Ctx) -> Response:
    ctx.console.revoke(ctx.session)
    ctx.cookies.append((sess.SESSION_COOKIE, None, {}))
    return ctx.redirect(url("/signin"), "signin.signed_out")


def preferences(ctx: Ctx) -> Response:
    """Language and region: kept in cookies, so they persist across sessions."""
    lang = ctx.field("lang")
    if lang in LANGUAGES:
        ctx.cookies.append((sess.LANG_COOKIE, lang, {"max_age": 365 * 86400}))
    region = ctx.field("region")
    if region and ctx.console.valid_region(region):
        ctx.cookies.append((sess.REGION_COOKIE, region, {"max_age": 365 * 86400}))
    return RedirectResponse(safe_next(ctx.field("next")), status_code=303)
