"""Pages anyone can open: the home page, the language switch, health checks."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

import i18n
from web.deps import SessionDep, SettingsDep
from web.security import LANG_COOKIE, safe_next
from web.templating import render

router = APIRouter()


@router.get("/")
def home(request: Request) -> Response:
    return render(request, "public/home.html")


@router.post("/language")
def switch_language(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    lang: Annotated[str, Form()] = "en",
    next: Annotated[str, Form()] = "/",
) -> Response:
    language = i18n.normalize_language(lang)
    user = request.state.user
    if user is not None and user.language != language:
        user = db.merge(user)
        user.language = language  # emails follow the language the person reads the site in
        db.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request, db: SessionDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        db.exec(sa.text("SELECT 1"))  # type: ignore[call-overload]
        checks["database"] = "ok"
    except Exception as exc:  # report, do not crash
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        client = await request.app.state.temporal.get()
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
