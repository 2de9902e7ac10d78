"""What every console page shares: the request context (session, language, region, CSRF),
rendering, redirects with flash messages, and the security headers."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from crossreg.app import Crossreg
from crossreg.auth.tokens import server_secret
from crossreg.console import session as sess
from crossreg.console.i18n import LANGUAGES, Translator, negotiate

HERE = Path(__file__).parent
MOUNT = "/console"
MAX_FORM_BYTES = 256 * 1024

# Regions the console offers; a crossreg server restricted to some regions offers only those.
KNOWN_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
                 "ap-northeast-1", "ap-southeast-1", "ap-southeast-2", "ap-east-1", "cn-north-1",
                 "cn-northwest-1")
_REGION_RE = re.compile(r"[0-9a-z-]{2,25}")  # botocore's Region shape

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


_REVOKED = "console_signed_out:"


def select_revoked():
    from sqlalchemy import select

    from crossreg.metadata import schema as s

    return select(s.settings.c.key, s.settings.c.value).where(s.settings.c.key.startswith(_REVOKED))


class Forbidden(Exception):
    """A request the console refuses (bad CSRF token, foreign origin)."""


class NotFound(Exception):
    pass


class Console:
    def __init__(self, core: Crossreg):
        self.core = core
        self.signer = sess.Signer(server_secret(core.db, "console_session_key"))
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(size=human_size, when=format_time, short_digest=short_digest,
                                duration=format_duration)
        self.secure_cookies = core.settings.public_scheme == "https"
        self._failures: dict[str, list[float]] = {}

    # ---------------------------------------------------------------- signed-out sessions
    # Session cookies are self-contained; signing out records the session id until the cookie
    # would have expired anyway, so a copy of a signed-out cookie is refused by every process.
    def revoke(self, session: sess.Session) -> None:
        from sqlalchemy import delete, insert

        from crossreg.metadata import schema as s

        now = time.time()
        with self.core.db.write() as c:
            for key, value in c.execute(select_revoked()).all():
                if float(value) < now:
                    c.execute(delete(s.settings).where(s.settings.c.key == key))
            c.execute(delete(s.settings).where(s.settings.c.key == _REVOKED + session.session_id))
            c.execute(insert(s.settings).values(key=_REVOKED + session.session_id, value=str(session.expires_at)))

    def is_revoked(self, session: sess.Session) -> bool:
        from sqlalchemy import select

        from crossreg.metadata import schema as s

        with self.core.db.read() as c:
            return c.execute(select(s.settings.c.key).where(
                s.settings.c.key == _REVOKED + session.session_id)).first() is not None

    def regions(self) -> list[str]:
        st = self.core.settings
        if st.regions.strip() == "*":
            return list(KNOWN_REGIONS)
        found = [r.strip() for r in st.regions.split(",") if r.strip()]
        for item in (st.region_endpoints or "").split(","):
            name = item.strip().partition("=")[0]
            if name and name not in found:
                found.append(name)
        return found

    def valid_region(self, region: str | None) -> bool:
        return bool(region) and _REGION_RE.fullmatch(region) is not None and region in self.regions()

    # ---------------------------------------------------------------- sign-in throttling
    def too_many_failures(self, client: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if now - t < 300]
        self._failures[client] = recent
        return len(recent) >= 10

    def record_failure(self, client: str) -> None:
        if len(self._failures) > 10000:
            self._failures.clear()
        self._failures.setdefault(client, []).append(time.monotonic())


@dataclass
class Ctx:
    """One console request."""

    request: Request
    console: Console
    session: sess.Session | None
    lang: str
    region: str
    csrf: str
    form: FormData | None = None
    cookies: list[tuple[str, str | None, dict]] = field(default_factory=list)
    flash: dict | None = None

    @property
    def core(self) -> Crossreg:
        return self.console.core

    @property
    def account_id(self) -> str:
        assert self.session is not None
        return self.session.account_id

    @functools.cached_property
    def t(self) -> Translator:
        return Translator(self.lang)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default) if self.form is not None else default
        return value if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)] if self.form is not None else []

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        tpl = self.console.env.get_template(template)
        if isinstance(context.get("errors"), dict):
            context["errors"] = _Errors(context["errors"])
        html = tpl.render(t=self.t, lang=self.lang, url=url, session=self.session, region=self.region,
                          regions=self.console.regions(), csrf=self.csrf, flash=self.flash,
                          path=self.request.url.path, current=self.current_url(),
                          languages=LANGUAGES, **context)
        return HTMLResponse(html, status_code=status)

    def current_url(self) -> str:
        q = self.request.url.query
        return self.request.url.path + (f"?{q}" if q else "")

    def redirect(self, location: str, flash_key: str | None = None, kind: str = "success", /,
                 **params: Any) -> RedirectResponse:
        if flash_key:
            value = self.console.signer.sign("flash", {"k": flash_key, "p": params, "c": kind,
                                                       "e": int(time.time()) + 60})
            self.cookies.append((sess.FLASH_COOKIE, value, {"max_age": 60}))
        return RedirectResponse(location, status_code=303)


class _Errors(dict):
    """Field errors: a field without one reads as None in templates."""

    def __missing__(self, key):
        return None


def url(path: str, **query: Any) -> str:
    """A console URL: `url("/repositories", q="x")` -> "/console/repositories?q=x"."""
    q = {k: v for k, v in query.items() if v not in (None, "")}
    return MOUNT + path + (f"?{urlencode(q)}" if q else "")


def safe_next(value: str | None, default: str = MOUNT + "/repositories") -> str:
    """Only console-relative paths are followed after sign-in or a preference change."""
    if not value or not value.startswith(MOUNT + "/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return default
    return value


def page(console: Console, handler: Callable[[Ctx], Response], *, auth: bool = True) -> Callable:
    """Wrap a synchronous page handler: session, language, region, CSRF on every POST, security
    headers; the handler itself runs in the thread pool (it uses the synchronous services)."""

    async def endpoint(request: Request) -> Response:
        signer = console.signer
        new_cookies: list[tuple[str, str | None, dict]] = []
        session = signer.session(request.cookies.get(sess.SESSION_COOKIE))
        if session is not None:
            acct = await run_in_threadpool(console.core.accounts.by_access_key, session.access_key_id)
            if (acct is None or acct.account_id != session.account_id
                    or await run_in_threadpool(console.is_revoked, session)):
                session = None
                new_cookies.append((sess.SESSION_COOKIE, None, {}))
        if session is not None:
            binding = "session:" + session.session_id
        else:
            anon = request.cookies.get(sess.ANON_COOKIE)
            if not anon or not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", anon):
                anon = sess.new_anonymous_id()
                new_cookies.append((sess.ANON_COOKIE, anon, {"max_age": None}))
            binding = "anon:" + anon
        lang = request.cookies.get(sess.LANG_COOKIE)
        if lang not in LANGUAGES:
            lang = negotiate(request.headers.get("accept-language"))
        region = request.cookies.get(sess.REGION_COOKIE)
        if not console.valid_region(region):
            region = "us-east-1" if "us-east-1" in console.regions() else console.regions()[0]
        ctx = Ctx(request, console, session, lang, region, signer.csrf_token(binding))
        flash = signer.unsign("flash", request.cookies.get(sess.FLASH_COOKIE))
        if request.cookies.get(sess.FLASH_COOKIE):
            new_cookies.append((sess.FLASH_COOKIE, None, {}))
            if flash and flash.get("e", 0) >= time.time() and Translator(lang).has(str(flash.get("k"))):
                ctx.flash = {"text": ctx.t(flash["k"], **(flash.get("p") or {})), "kind": flash.get("c")}
        try:
            if request.method == "POST":
                _check_origin(request)
                if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
                    raise Forbidden("form too large")
                ctx.form = await request.form(max_files=0, max_fields=2000, max_part_size=MAX_FORM_BYTES)
                if not signer.csrf_ok(binding, ctx.field("csrf_token")):
                    raise Forbidden("csrf")
            if auth and session is None:
                if request.method == "GET":
                    response = RedirectResponse(url("/signin", next=ctx.current_url()), status_code=303)
                else:
                    raise Forbidden("not signed in")
            else:
                response = await run_in_threadpool(handler, ctx)
        except Forbidden:
            response = ctx.render("error.html", status=403, title=ctx.t("error.forbidden.title"),
                                  message=ctx.t("error.forbidden.body"))
        except NotFound:
            response = ctx.render("error.html", status=404, title=ctx.t("error.notfound.title"),
                                  message=ctx.t("error.notfound.body"))
        for name, value, opts in new_cookies + ctx.cookies:
            set_cookie(console, response, name, value, **opts)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    return endpoint


def _check_origin(request: Request) -> None:
    """Browsers send Origin on every POST; one from another site is refused outright."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = urlsplit(origin).netloc
        if host != request.headers.get("host"):
            raise Forbidden("origin")
    elif origin == "null":
        raise Forbidden("origin")


def set_cookie(console: Console, response: Response, name: str, value: str | None, *,
               max_age: int | None = None) -> None:
    if value is None:
        response.delete_cookie(name, path=MOUNT, secure=console.secure_cookies, httponly=True, samesite="strict")
        return
    response.set_cookie(name, value, max_age=max_age, path=MOUNT, secure=console.secure_cookies,
                        httponly=True, samesite="strict")


# -------------------------------------------------------------------- formatting
def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"


def format_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def short_digest(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest
