"""FastAPI dependencies: database session, the signed-in user, the Temporal client, CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session
from temporalio.client import Client

from models.db import get_engine
from models.domain import Role
from models.tables import User
from settings import Settings, get_settings
from web.security import CSRF_FIELD, CSRF_HEADER, csrf_valid

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """Raised for pages that need a signed-in user; answered with a redirect to sign in.
    ``saved``: the session had timed out and what the page posted was saved first."""

    def __init__(self, *, saved: bool = False) -> None:
        super().__init__()
        self.saved = saved


class SecondFactorRequired(Exception):
    """The password was right; the authentication code is still to come."""


class TwoFactorSetupRequired(Exception):
    """Staff accounts must set up a second factor before anything else."""


def required_assurance(user: User) -> int:
    return 2 if user.totp_enabled_at is not None else 1


def get_db(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def any_factor_user(request: Request) -> User:
    """Signed in with every factor the account has (pages that set up a second factor use this)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise SignInRequired()
    return user


def current_user(user: Annotated[User, Depends(any_factor_user)]) -> User:
    """Signed in, and a staff account has its second factor set up."""
    if Role(user.role).is_staff and user.totp_enabled_at is None:
        raise TwoFactorSetupRequired()
    return user


SignedInUser = Annotated[User, Depends(any_factor_user)]
CurrentUser = Annotated[User, Depends(current_user)]


def adjudicator(user: CurrentUser) -> User:
    if not Role(user.role).adjudicates:
        raise HTTPException(status_code=403)
    return user


OfficerUser = Annotated[User, Depends(adjudicator)]


def supervisor(user: CurrentUser) -> User:
    if Role(user.role) != Role.SUPERVISOR:
        raise HTTPException(status_code=403)
    return user


SupervisorUser = Annotated[User, Depends(supervisor)]


def administrator(user: CurrentUser) -> User:
    """An admin signed in with two-step verification (``CurrentUser`` makes staff set it up)."""
    if Role(user.role) != Role.ADMIN:
        raise HTTPException(status_code=403)
    return user


AdminUser = Annotated[User, Depends(administrator)]


async def temporal_client(request: Request) -> Client:
    return await request.app.state.temporal.get()


TemporalClientDep = Annotated[Client, Depends(temporal_client)]


async def csrf_protect(request: Request, settings: SettingsDep) -> None:
    """Refuse every unsafe request whose CSRF token (form field or header) does not match."""
    if request.method not in UNSAFE_METHODS:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if not submitted:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not csrf_valid(submitted, secret=getattr(request.state, "csrf_secret", None), key=settings.secret_key):
        raise HTTPException(status_code=403, detail="csrf")
