"""Rendering pages: whole pages for browsers, the named block for htmx requests."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

import i18n
from sqlmodel import Session

from models.db import get_engine
from models.domain import STAGE_LABELS, Role, Stage, StatusCode
from models.messaging import unread_total
from models.forms import FORMS, evidence_label
from models.notices import NOTICE_TITLES, NoticeKind
from models.payments import format_amount
from settings import get_settings

env = i18n.make_environment()


def status_title(code: str | None) -> str:
    return StatusCode(code).text.title if code else ""


def status_explanation(code: str | None) -> str:
    return StatusCode(code).text.explanation if code else ""


def stage_label(stage: str | None) -> str:
    return STAGE_LABELS[Stage(stage)] if stage else ""


def format_date(value, lang: str = "en") -> str:
    from datetime import date

    from babel.dates import format_date as babel_format_date

    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return babel_format_date(value, format="long", locale=i18n.normalize_language(lang))


def format_datetime(value, lang: str = "en") -> str:
    from babel.dates import format_datetime as babel_format_datetime

    return babel_format_datetime(value, format="medium", tzinfo="America/New_York", locale=i18n.normalize_language(lang))


def format_money(cents: int, lang: str = "en") -> str:
    return format_amount(cents, lang)


env.globals.update(
    status_title=status_title,
    status_explanation=status_explanation,
    stage_label=stage_label,
    languages=i18n.LANGUAGES,
    forms_catalog=FORMS,
    evidence_label=evidence_label,
    notice_title=lambda kind: NOTICE_TITLES[NoticeKind(kind)],  # a msgid: pages translate it with _()
)
env.filters.update(date=format_date, datetime=format_datetime, money=format_money)


def _unread_messages(settings, user) -> int:
    """The navigation's count of unread secure messages (0 for accounts without messages)."""
    if Role(user.role) == Role.ADMIN:
        return 0
    with Session(get_engine(settings.database_url)) as db:
        return unread_total(db, user)


def is_htmx_fragment(request: Request) -> bool:
    """An htmx request that swaps part of a page. Boosted navigation and htmx's history restore
    (the Back button after a swap) want the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    settings = get_settings()
    ctx: dict[str, Any] = {
        "request": request,
        "lang": getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE),
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "is_dev": settings.is_dev,
        "session_idle_minutes": settings.session_idle_minutes,
        "temporal_ui_url": settings.temporal_ui_url,
        "current_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    ctx.update(context or {})
    template = env.get_template(template_name)
    if block and is_htmx_fragment(request):
        body = "".join(template.blocks[block](template.new_context(ctx)))
    else:
        if ctx["user"] is not None:  # the navigation's count: whole pages only, not the 5-second fragments
            ctx["unread_messages"] = _unread_messages(getattr(request.app.state, "settings", settings), ctx["user"])
        body = template.render(ctx)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    response.headers["Vary"] = "HX-Request, Cookie, Accept-Language"
    return response
