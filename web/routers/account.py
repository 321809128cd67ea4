"""Signing in and out, and the applicant's dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from i18n import N_
from models.accounts import authenticate
from models.domain import Role
from models.forms import FORMS
from models.queries import cases_for_applicant, drafts_for_user
from web.deps import CurrentUser, SessionDep, SettingsDep
from web.security import SESSION_COOKIE, create_session, end_session, safe_next
from web.templating import render

router = APIRouter()


def _home_for(role: str) -> str:
    return "/officer" if Role(role).adjudicates else "/account"


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "") -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(next, _home_for(request.state.user.role)), status_code=303)
    return render(request, "account/sign_in.html", {"next": safe_next(next, ""), "email": "", "errors": {}})


@router.post("/sign-in")
def sign_in(
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
    user = None
    if not errors:
        user = authenticate(db, email=email, password=password)
        if user is None:
            # The same words whether or not the account exists.
            errors["email"] = N_("The email address or password is not right")
    if errors or user is None:
        db.rollback()
        return render(
            request, "account/sign_in.html", {"next": safe_next(next, ""), "email": email, "errors": errors}, status_code=422
        )
    old_token = request.cookies.get(SESSION_COOKIE)
    end_session(db, token=old_token)
    token = create_session(
        db,
        user=user,
        settings=settings,
        user_agent=request.headers.get("user-agent", ""),
        client_address=request.client.host if request.client else "",
    )
    db.commit()
    request.state.session_replaced = True
    target = safe_next(next, _home_for(user.role))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, db: SessionDep) -> Response:
    end_session(db, token=request.cookies.get(SESSION_COOKIE))
    db.commit()
    request.state.session_replaced = True
    response = RedirectResponse("/?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
def dashboard(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    if Role(user.role).adjudicates:
        return RedirectResponse("/officer", status_code=303)
    return render(
        request,
        "account/dashboard.html",
        {
            "cases": cases_for_applicant(db, user_id=user.id or 0),
            "drafts": drafts_for_user(db, user_id=user.id or 0),
            "forms": list(FORMS.values()),
        },
    )
