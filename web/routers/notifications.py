"""Email about case changes: the account's choice (each change, a daily email, none) with the
cases it follows, and the unsubscribe links printed in those emails.

``/email/unsubscribe?token=...`` needs no sign-in: the token (``models.email_prefs``) says whose
emails to stop and which. GET only shows what would change, with one button (mail scanners open
links; they must not unsubscribe anybody); POST changes it. POST is also what mail programs send
for the ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` header (RFC 8058), without cookies
or a CSRF token: that route is a plain Starlette route, outside the app's CSRF dependency, and
the signed token is its only authority (it can only turn emails off for the person it names).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from i18n import N_
from models.db import get_engine
from models.email_prefs import (
    FREQUENCIES,
    FREQUENCY_LABELS,
    SCOPE_ALL,
    UNSUBSCRIBE_PATH,
    UnsubscribeTarget,
    apply_unsubscribe,
    describe_unsubscribe,
    read_unsubscribe_token,
    save_preferences,
    watched_cases,
)
from models.tables import User
from settings import Settings
from web.deps import CurrentUser, SessionDep
from web.templating import render

router = APIRouter()

SETTINGS_PATH = "/account/notifications"
MAX_WATCHED = 100  # a portfolio holds at most 100 cases


# --- the settings page ----------------------------------------------------------------------------


def _page(request: Request, db: Session, user: User, *, frequency: str, errors: dict[str, str],
          status_code: int = 200) -> Response:
    return render(
        request,
        "account/notifications.html",
        {
            "frequency": frequency,
            "frequencies": [(value, FREQUENCY_LABELS[value]) for value in FREQUENCIES],
            "watched": watched_cases(db, user_id=user.id or 0),
            "errors": errors,
            "saved": request.query_params.get("saved") == "1",
        },
        status_code=status_code,
    )


@router.get(SETTINGS_PATH)
def notifications_page(request: Request, db: SessionDep, user: CurrentUser) -> Response:
    row = db.get(User, user.id)
    return _page(request, db, user, frequency=(row or user).case_email_frequency, errors={})


@router.post(SETTINGS_PATH)
def save_notifications(
    request: Request,
    db: SessionDep,
    user: CurrentUser,
    frequency: Annotated[str, Form(max_length=10)] = "",
    watched: Annotated[list[str], Form(max_length=MAX_WATCHED * 2)] = [],  # noqa: B006 (FastAPI copies it)
    notify: Annotated[list[str], Form(max_length=MAX_WATCHED * 2)] = [],  # noqa: B006
) -> Response:
    if frequency not in FREQUENCIES:
        return _page(request, db, user, frequency="", status_code=422,
                     errors={"frequency": N_("Choose how often we email you when a case changes")})
    shown = {int(value) for value in watched if value.isdigit()}
    ticked = {int(value) for value in notify if value.isdigit()}
    save_preferences(db, user=user, frequency=frequency, notify={watch_id: watch_id in ticked for watch_id in shown})
    db.commit()
    return RedirectResponse(f"{SETTINGS_PATH}?saved=1", status_code=303)


# --- unsubscribe links ------------------------------------------------------------------------------


def _unsubscribe_page(request: Request, state: str, *, token: str = "", target: UnsubscribeTarget | None = None,
                      status_code: int = 200) -> Response:
    return render(
        request,
        "account/unsubscribe.html",
        {
            "state": state,
            "token": token,
            "scope_all": target is None or target.request.scope == SCOPE_ALL,
            "receipt_number": target.receipt_number if target else None,
            "settings_path": SETTINGS_PATH,
        },
        status_code=status_code,
    )


def _look_up(settings: Settings, token: str, *, change: bool) -> UnsubscribeTarget | None:
    request = read_unsubscribe_token(settings.secret_key, token)
    if request is None:
        return None
    with Session(get_engine(settings.database_url), expire_on_commit=False) as db:
        target = apply_unsubscribe(db, request) if change else describe_unsubscribe(db, request)
        db.commit()
        return target


def _state(target: UnsubscribeTarget, *, done: bool) -> str:
    if not target.exists:
        return "gone"
    if target.already and not done:
        return "already"
    return "done" if done else "confirm"


@router.get(UNSUBSCRIBE_PATH)
async def unsubscribe_page(request: Request, token: str = "") -> Response:
    """What the link would stop, with one button. Changes nothing."""
    target = await run_in_threadpool(_look_up, request.app.state.settings, token, change=False)
    if target is None:
        return _unsubscribe_page(request, "invalid", status_code=400)
    return _unsubscribe_page(request, _state(target, done=False), token=token, target=target)


async def unsubscribe(request: Request) -> Response:
    """Stop the emails the token names: from the confirmation page's button, or a mail program's
    one-click request (RFC 8058: ``List-Unsubscribe=One-Click`` posted to the link)."""
    token = request.query_params.get("token", "")
    if not token:
        form = await request.form()
        value = form.get("token")
        token = value if isinstance(value, str) else ""
    target = await run_in_threadpool(_look_up, request.app.state.settings, token, change=True)
    if target is None:
        return _unsubscribe_page(request, "invalid", status_code=400)
    return _unsubscribe_page(request, _state(target, done=True), token=token, target=target)


# A Starlette route, not a FastAPI one: the app's CSRF dependency does not apply (see the module's docstring).
router.add_route(UNSUBSCRIBE_PATH, unsubscribe, methods=["POST"], include_in_schema=False)
