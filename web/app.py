"""The FastAPI application: middleware (sessions, CSRF cookie, language, security headers),
error pages, static assets and the routers."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

import i18n
from models.db import get_engine
from models.domain import RECEIPT_RE
from observability import CasesCollector, bind_case, observe_request, route_template
from settings import PROJECT_ROOT, Settings, get_settings
from web import security
from web.deps import SecondFactorRequired, SignInRequired, TwoFactorSetupRequired, csrf_protect, required_assurance
from web.filing import keep_starting_pending_work
from web.routers import (
    account, admin, cases, codec, dev, documents, efile, messages, notifications, officer, portfolio, processing,
    public, registration, status, supervisor, workspace,
)
from web.routers import security as security_pages
from web.temporal import LazyTemporalClient
from web.templating import is_htmx_fragment, render

log = logging.getLogger("caseline.web")

NODE_MODULES = PROJECT_ROOT / "node_modules"


def _load_session(settings: Settings, token: str | None, touch: bool):
    """(user and session, or None; the user id of a session that has just ended, or None)."""
    if not token:
        return None, None
    expired: list[int] = []
    with Session(get_engine(settings.database_url), expire_on_commit=False) as db:
        found = security.load_session(db, token=token, settings=settings, touch=touch, expired=expired)
        db.commit()
        return found, (expired[0] if expired else None)


def _choose_language(request: Request, user) -> str:
    cookie = request.cookies.get(security.LANG_COOKIE)
    if cookie in i18n.LANGUAGES:
        return cookie
    if user is not None:
        return i18n.normalize_language(user.language)
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in i18n.LANGUAGES:
            return code
    return i18n.DEFAULT_LANGUAGE


async def bind_case_to_logs(request: Request) -> None:
    """A route about one case (a ``receipt_number`` path parameter) puts it on the request's log lines."""
    receipt = request.path_params.get("receipt_number")
    if isinstance(receipt, str) and RECEIPT_RE.fullmatch(receipt):
        bind_case(receipt)  # the case's workflow id is its receipt number


def metrics_allowed(request: Request, settings: Settings) -> int | None:
    """None when the request may read /metrics, else the status to answer: with a token set, a
    request without that bearer token gets 401; without one, only dev and test serve the metrics
    (anything else gets 404, as if there were no such page)."""
    if settings.metrics_token:
        supplied = request.headers.get("authorization", "").encode()
        return None if hmac.compare_digest(supplied, f"Bearer {settings.metrics_token}".encode()) else 401
    return None if settings.is_dev else 404


def create_app(settings: Settings | None = None, *, temporal_client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(keep_starting_pending_work(app.state, settings))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Caseline",
        lifespan=lifespan,
        dependencies=[Depends(bind_case_to_logs), Depends(csrf_protect)],
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.temporal = LazyTemporalClient(settings.temporal_address, settings.temporal_namespace, settings.payload_keys)
    if temporal_client is not None:
        app.state.temporal.set(temporal_client)
    app.dependency_overrides[get_settings] = lambda: settings

    headers = security.security_headers(settings)

    @app.middleware("http")
    async def request_context(request: Request, call_next) -> Response:
        static = request.url.path.startswith("/static/")
        # Assets need no session: no database round trip for each stylesheet, script and font.
        token = None if static else request.cookies.get(security.SESSION_COOKIE)
        # A page polling by itself is not the person being active: it must not keep the session alive.
        polling = request.headers.get("HX-Request") == "true" and "since" in request.query_params
        found, expired_user_id = await run_in_threadpool(_load_session, settings, token, not polling) if token else (None, None)
        user, web_session = found if found else (None, None)
        request.state.session = web_session
        # Whose session this request's cookie held until it timed out: a form posted then is saved first.
        request.state.expired_user_id = expired_user_id
        # Pages see a person as signed in only once every factor they have is checked.
        request.state.user = user if user is not None and web_session.assurance >= required_assurance(user) else None
        request.state.partial_user = user
        request.state.lang = _choose_language(request, user)
        csrf_secret = request.cookies.get(security.CSRF_COOKIE)
        new_secret = None
        if not csrf_secret or len(csrf_secret) > 100:
            csrf_secret = new_secret = security.new_csrf_secret()
        request.state.csrf_secret = csrf_secret
        request.state.csrf_token = security.csrf_token_for(csrf_secret, key=settings.secret_key)
        response = await call_next(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if static:
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        else:
            response.headers.setdefault("Cache-Control", "no-store")
        if new_secret and not static:
            response.set_cookie(
                security.CSRF_COOKIE, new_secret, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/"
            )
        if token and found is None and not getattr(request.state, "session_replaced", False):
            response.delete_cookie(security.SESSION_COOKIE, path="/")
        return response

    @app.middleware("http")
    async def measure_request(request: Request, call_next) -> Response:
        """The outermost middleware: every request's latency, labelled with the route template the
        router matched (``request.scope["route"]``, set in this same scope), never the raw path."""
        started = time.perf_counter()
        status = 500  # an exception that escapes becomes the 500 page
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            observe_request(request.method, route_template(request.scope), status, time.perf_counter() - started)

    # caseline_cases for this app's database, on a registry of the app's own: tests make many apps.
    cases_registry = CollectorRegistry()
    cases_registry.register(CasesCollector(settings.database_url))

    def _exposition() -> bytes:
        return generate_latest(REGISTRY) + generate_latest(cases_registry)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (text exposition): request latency, cases per stage, and the counters of
        this process. No session and no CSRF token: a GET, read with a bearer token outside dev."""
        refused = metrics_allowed(request, settings)
        if refused == 401:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        if refused:
            raise StarletteHTTPException(status_code=refused)
        return Response(await run_in_threadpool(_exposition), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if getattr(request.state, "partial_user", None) is not None:
            return await second_factor_required(request, SecondFactorRequired())
        query = {"next": security.safe_next(request.url.path, "/account")}
        if exc.saved:
            query["saved"] = "1"
        return _redirect(request, "/sign-in?" + _urlencode(query))

    @app.exception_handler(SecondFactorRequired)
    async def second_factor_required(request: Request, exc: SecondFactorRequired) -> Response:
        return _redirect(request, "/sign-in/two-factor?" + _urlencode({"next": security.safe_next(request.url.path, "")}))

    @app.exception_handler(TwoFactorSetupRequired)
    async def two_factor_setup_required(request: Request, exc: TwoFactorSetupRequired) -> Response:
        return _redirect(request, "/account/two-factor")

    @app.exception_handler(registration.VerifyEmailFirst)
    async def verify_email_first(request: Request, exc: registration.VerifyEmailFirst) -> Response:
        return registration.verify_first_page(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "csrf" if exc.detail == "csrf" else "temporal" if exc.detail == "temporal" else str(exc.status_code)
        return _error_page(request, kind, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, "invalid", 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if not hasattr(request.state, "lang"):
            request.state.lang = i18n.DEFAULT_LANGUAGE
        response = _error_page(request, "500", 500)
        response.headers.update(headers)
        return response

    app.mount("/static/uswds", StaticFiles(directory=NODE_MODULES / "@uswds" / "uswds" / "dist", check_dir=False), name="uswds")
    app.mount("/static/htmx", StaticFiles(directory=NODE_MODULES / "htmx.org" / "dist", check_dir=False), name="htmx")
    app.mount("/static/app", StaticFiles(directory=PROJECT_ROOT / "web" / "static"), name="app-static")

    app.include_router(public.router)
    app.include_router(account.router)
    app.include_router(registration.router)
    app.include_router(security_pages.router)
    app.include_router(efile.router)
    app.include_router(cases.router)
    app.include_router(officer.router)
    app.include_router(workspace.router)
    app.include_router(admin.router)
    app.include_router(documents.router)
    app.include_router(status.router)
    app.include_router(portfolio.router)
    app.include_router(processing.router)
    app.include_router(notifications.router)
    app.include_router(messages.router)
    app.include_router(codec.router)
    app.include_router(supervisor.router)
    if settings.is_dev:
        app.include_router(dev.router)
    return app


def _redirect(request: Request, target: str) -> Response:
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _error_page(request: Request, kind: str, status: int) -> Response:
    """A whole error page. A boosted request shows it; a partial update (a poll) keeps the page."""
    response = render(request, "errors/error.html", {"kind": kind, "status": status}, status_code=status)
    if is_htmx_fragment(request):
        response.headers["HX-Reswap"] = "none"
    return response


def _urlencode(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)
