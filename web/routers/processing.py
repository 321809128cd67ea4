"""Processing times: a public page (no sign-in) with how long each form's stages and whole cases
took over the last 12 months, from ``models.processing_times``. Aggregates only: no case, receipt
number or person is shown."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import Response

import i18n
from models.processing_times import ProcessingTimes, processing_times
from models.receipts import AGENCY_TIME_ZONE
from models.tables import utcnow
from web.deps import SessionDep
from web.templating import render

router = APIRouter()

# The figures move slowly; reading a year of timelines for every visitor would not. Each app keeps
# the last result this long (the page says when it was computed).
CACHE_TTL = timedelta(minutes=15)


@dataclass
class _Cache:
    lock: threading.Lock
    result: ProcessingTimes | None = None
    expires_at: datetime | None = None


def _cache(request: Request) -> _Cache:
    state = request.app.state
    cache = getattr(state, "processing_times_cache", None)
    if cache is None:
        cache = state.processing_times_cache = _Cache(lock=threading.Lock())
    return cache


def current_figures(request: Request, db: SessionDep) -> ProcessingTimes:
    cache = _cache(request)
    now = utcnow()
    with cache.lock:
        if cache.result is None or cache.expires_at is None or now >= cache.expires_at:
            cache.result = processing_times(db, now=now)
            cache.expires_at = now + CACHE_TTL
        return cache.result


def _days(lang: str):
    locale = i18n.normalize_language(lang)

    def days(value: float) -> str:
        return format_decimal(round(value, 1), format="#,##0.#", locale=locale)

    return days


@router.get("/processing-times")
def processing_times_page(request: Request, db: SessionDep) -> Response:
    figures = current_figures(request, db)
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    return render(
        request,
        "public/processing_times.html",
        {
            "figures": figures,
            "computed_on": figures.computed_at.astimezone(AGENCY_TIME_ZONE).date(),
            "window_start": figures.window_start.astimezone(AGENCY_TIME_ZONE).date(),
            "window_months": round(figures.window.days / 30.4),
            "days": _days(lang),
        },
        block="content",
    )
