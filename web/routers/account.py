"""Signing in (password, then the authentication code when the account has one), signing out,
and the applicant's dashboard."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select

from i18n import N_
from models import totp
from models.account_security import (
    LOCK_AFTER,
    account_key,
    address_key,
    clear_failures,
    record_failure,
    throttle_check,
)
from models.accounts import authenticate, get_user_by_email
from models.domain import Role
from models.forms import FORMS
from models.drafts import draft_expires_at
from models.queries import cases_for_applicant, drafts_for_user
from models.tables import RecoveryCode, User, utcnow
from web.deps import CurrentUser, SessionDep, SettingsDep
from web.mail import dispatch_soon, queue_account_email
from web.security import SESSION_COOKIE, client_of, create_session, end_session, log_request_event, safe_next
from web.templating import render

router = APIRouter()


def _home_for(role: str) -> str:
    if Role(role) == Role.ADMIN:
        return "/admin/offices"
    if Role(role) == Role.CUSTOMER_SERVICE:
        return "/inbox"
    return "/officer" if Role(role).adjudicates else "/account"


def _throttled(db, keys: list[str]) -> dict[str, object] | None:
    """None when a sign-in attempt may go ahead, else what the page says about waiting."""
    state = throttle_check(db, keys=keys)
    if state.allowed:
        return None
    seconds = state.retry_after.total_seconds()
    if seconds < 60:
        return {"wait": N_("Too many attempts. Wait a minute and try again."), "minutes": 1}
    return {"wait": N_("Too many attempts. Wait %(minutes)s minutes and try again."), "minutes": int(seconds // 60) + 1}


def _sign_in_page(request: Request, *, next: str, email: str, errors: dict, status_code: int = 200, **extra) -> Response:
    return render(
        request, "account/sign_in.html", {"next": safe_next(next, ""), "email": email, "errors": errors, **extra},
        status_code=status_code,
    )


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "") -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(next, _home_for(request.state.user.role)), status_code=303)
    return _sign_in_page(request, next=next, email="", errors={})


def _start_session(request: Request, db, settings, user: User, *, assurance: int, next: str) -> Response:
    """A new session id (and cookie) at every step up: sign-in and the second factor."""
    address, agent = client_of(request)
    end_session(db, token=request.cookies.get(SESSION_COOKIE))
    token = create_session(db, user=user, settings=settings, user_agent=agent, client_address=address, assurance=assurance)
    db.commit()
    request.state.session_replaced = True
    response = RedirectResponse(next, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/")
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = N_("Enter your email address")
    if not password:
        errors["password"] = N_("Enter your password")
    if errors:
        return _sign_in_page(request, next=next, email=email, errors=errors, status_code=422)
    keys = [account_key(email), address_key(client_of(request)[0])]
    if wait := _throttled(db, keys):
        return _sign_in_page(request, next=next, email=email, errors={}, status_code=429, **wait)
    user = authenticate(db, email=email, password=password)
    if user is None:
        row = record_failure(db, key=keys[0])
        record_failure(db, key=keys[1], per_address=True)
        known = get_user_by_email(db, email=email)
        email_ids = []
        if known is not None:
            log_request_event(request, db, known, "sign_in_failed")
            if row.failures == LOCK_AFTER:
                log_request_event(request, db, known, "account_locked")
                mail = queue_account_email(
                    db, to=known.email, language=known.language, subject=N_("Your Caseline account is locked for now"),
                    template="account_locked.txt", context={}, settings=settings,
                )
                email_ids.append(mail.id or 0)
        db.commit()
        if email_ids:
            await dispatch_soon(request.app.state, email_ids=email_ids, settings=settings)
        # The same words whether or not the account exists.
        return _sign_in_page(
            request, next=next, email=email, errors={"email": N_("The email address or password is not right")},
            status_code=422,
        )
    clear_failures(db, key=keys[0])
    if user.totp_enabled_at is not None:
        return _start_session(request, db, settings, user, assurance=1,
                              next="/sign-in/two-factor?next=" + quote(safe_next(next, ""), safe=""))
    log_request_event(request, db, user, "signed_in")
    return _start_session(request, db, settings, user, assurance=1, next=safe_next(next, _home_for(user.role)))


def _challenge_page(request: Request, *, next: str, errors: dict, status_code: int = 200, **extra) -> Response:
    return render(request, "account/two_factor_challenge.html", {"next": safe_next(next, ""), "errors": errors, **extra},
                  status_code=status_code)


def _partial_user(request: Request) -> User | None:
    user = getattr(request.state, "partial_user", None)
    return user if user is not None and user.totp_enabled_at is not None else None


@router.get("/sign-in/two-factor")
def two_factor_page(request: Request, next: str = "") -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(next, _home_for(request.state.user.role)), status_code=303)
    if _partial_user(request) is None:
        return RedirectResponse("/sign-in", status_code=303)
    return _challenge_page(request, next=next, errors={})


@router.post("/sign-in/two-factor")
async def two_factor(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=40)] = "",
    recovery_code: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    partial = _partial_user(request)
    if partial is None:
        return RedirectResponse("/sign-in", status_code=303)
    user = db.get(User, partial.id)
    if user is None or user.totp_secret is None:
        return RedirectResponse("/sign-in", status_code=303)
    address = client_of(request)[0]
    key = f"second-factor:{user.id}"
    if wait := _throttled(db, [key, address_key(address)]):
        return _challenge_page(request, next=next, errors={}, status_code=429, **wait)
    home = safe_next(next, _home_for(user.role))
    if recovery_code.strip():
        hashes = db.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
        index = totp.match_recovery_code(recovery_code, [h.code_hash if h.used_at is None else "" for h in hashes])
        if index is not None:
            hashes[index].used_at = utcnow()
            db.add(hashes[index])
            left = sum(1 for h in hashes if h.used_at is None)
            log_request_event(request, db, user, "recovery_code_used", detail=str(left))
            mail = queue_account_email(
                db, to=user.email, language=user.language, subject=N_("A recovery code was used on your Caseline account"),
                template="recovery_code_used.txt", context={"left": left}, settings=settings,
            )
            clear_failures(db, key=key)
            response = _start_session(request, db, settings, user, assurance=2, next="/account/two-factor?recovered=1")
            await dispatch_soon(request.app.state, email_ids=[mail.id or 0], settings=settings)
            return response
        errors = {"recovery_code": N_("This recovery code is not right or was used already")}
    else:
        step = totp.verify_code(secret=user.totp_secret, code=code, last_used_step=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            db.add(user)
            clear_failures(db, key=key)
            log_request_event(request, db, user, "signed_in", detail="two-factor")
            return _start_session(request, db, settings, user, assurance=2, next=home)
        errors = {"code": N_("This code is not right. Enter the 6-digit code your app shows now.")}
    record_failure(db, key=key)
    record_failure(db, key=address_key(address), per_address=True)
    log_request_event(request, db, user, "second_factor_failed")
    db.commit()
    return _challenge_page(request, next=next, errors=errors, status_code=422)


@router.post("/sign-out")
def sign_out(request: Request, db: SessionDep) -> Response:
    user = getattr(request.state, "partial_user", None)
    if user is not None:
        log_request_event(request, db, user, "signed_out")
    end_session(db, token=request.cookies.get(SESSION_COOKIE))
    db.commit()
    request.state.session_replaced = True
    response = RedirectResponse("/?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
def dashboard(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    if Role(user.role).is_staff:
        return RedirectResponse(_home_for(user.role), status_code=303)
    return render(
        request,
        "account/dashboard.html",
        {
            "cases": cases_for_applicant(db, user_id=user.id or 0),
            "drafts": [(d, draft_expires_at(d)) for d in drafts_for_user(db, user_id=user.id or 0)],
            "forms": list(FORMS.values()),
        },
    )
