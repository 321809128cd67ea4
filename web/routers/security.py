"""Security settings a signed-in person manages: the second factor and recovery codes, the
password, the email address, active sessions and the account activity log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import delete

from i18n import N_
from models import totp
from models.account_security import active_sessions, end_other_sessions, recent_events
from models.accounts import get_user_by_email, hash_password, verify_password
from models.tables import RecoveryCode, User, WebSession, utcnow
from web.deps import SessionDep, SettingsDep, SignedInUser
from web.mail import dispatch_soon, queue_account_email
from web.routers.registration import queue_verification
from web.security import log_request_event
from web.templating import render

router = APIRouter()


def _own_row(db, user: User) -> User:
    """The signed-in person's row in this request's database session (the middleware's is closed)."""
    record = db.get(User, user.id)
    if record is None:  # deleted while signed in
        raise HTTPException(status_code=404)
    return record


def _current_session_id(request: Request) -> str | None:
    record = getattr(request.state, "session", None)
    return record.id if record is not None else None


async def _notify(request: Request, db, settings, user: User, *, subject: str, message: str, to: str | None = None) -> None:
    mail = queue_account_email(
        db, to=to or user.email, language=user.language, subject=subject, template="security_notice.txt",
        context={"message": message}, settings=settings,
    )
    db.commit()
    await dispatch_soon(request.app.state, email_ids=[mail.id or 0], settings=settings)


# --- overview ------------------------------------------------------------------------------


def _security_page(request: Request, user: User, *, errors: dict | None = None, values: dict | None = None,
                   status_code: int = 200) -> Response:
    return render(request, "account/security.html", {"errors": errors or {}, "values": values or {}},
                  status_code=status_code)


@router.get("/account/security")
def security_page(request: Request, user: SignedInUser) -> Response:
    return _security_page(request, user)


@router.post("/account/password")
async def change_password(
    request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    from models.passwords import check_password

    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, current_password):
        errors["current_password"] = N_("Your current password is not right")
    problems = check_password(new_password, email=user.email, full_name=user.full_name)
    if problems:
        errors["new_password"] = problems[0]
    if errors:
        return _security_page(request, user, errors=errors, status_code=422)
    record = _own_row(db, user)
    record.password_hash = hash_password(new_password)
    record.password_changed_at = utcnow()
    db.add(record)
    ended = end_other_sessions(db, user_id=record.id or 0, keep_session_id=_current_session_id(request))
    log_request_event(request, db, record, "password_changed", detail=str(ended))
    await _notify(request, db, settings, record, subject=N_("Your Caseline password was changed"),
                  message=N_("The password of your Caseline account was changed, and every other session was signed out. If you did not do this, reset your password now."))
    return RedirectResponse("/account/security?changed=password", status_code=303)


@router.post("/account/email")
async def change_email(
    request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    errors: dict[str, str] = {}
    new_email = new_email.strip().lower()
    if not verify_password(user.password_hash, current_password):
        errors["email_current_password"] = N_("Your current password is not right")
    if "@" not in new_email or len(new_email) > 254 or " " in new_email or new_email.startswith("@") or new_email.endswith("@"):
        errors["new_email"] = N_("Enter an email address in the right form, like name@example.com")
    if errors:
        return _security_page(request, user, errors=errors, values={"new_email": new_email}, status_code=422)
    record = _own_row(db, user)
    email_id = None
    if get_user_by_email(db, email=new_email) is None and new_email != record.email:
        email_id = queue_verification(db, settings, record, email=new_email)
    log_request_event(request, db, record, "email_change_requested")
    db.commit()
    if email_id is not None:
        await dispatch_soon(request.app.state, email_ids=[email_id], settings=settings)
    # The same answer whether or not another account uses the address.
    return RedirectResponse("/account/security?changed=email_sent", status_code=303)


# --- second factor -------------------------------------------------------------------------


@router.get("/account/two-factor")
def two_factor_setup(request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep) -> Response:
    record = _own_row(db, user)
    if record.totp_enabled_at is None and record.totp_secret is None:
        record.totp_secret = totp.new_secret()
        db.add(record)
        db.commit()
    return _two_factor_page(request, record, errors={})


def _two_factor_page(request: Request, user: User, *, errors: dict, status_code: int = 200) -> Response:
    context: dict[str, object] = {"errors": errors, "enabled": user.totp_enabled_at is not None}
    if user.totp_enabled_at is None and user.totp_secret:
        uri = totp.provisioning_uri(secret=user.totp_secret, email=user.email)
        context.update(qr=totp.qr_svg_data_uri(uri), secret=totp.format_secret_for_humans(user.totp_secret))
    return render(request, "account/two_factor_setup.html", context, status_code=status_code)


@router.post("/account/two-factor")
async def two_factor_confirm(
    request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep,
    code: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    record = _own_row(db, user)
    if record.totp_enabled_at is not None or not record.totp_secret:
        return RedirectResponse("/account/two-factor", status_code=303)
    step = totp.verify_code(secret=record.totp_secret, code=code, last_used_step=record.totp_last_step)
    if step is None:
        return _two_factor_page(
            request, record, errors={"code": N_("This code is not right. Enter the 6-digit code your app shows now.")},
            status_code=422,
        )
    record.totp_enabled_at = utcnow()
    record.totp_last_step = step
    db.add(record)
    codes = _new_recovery_codes(db, record)
    session_record = db.get(WebSession, _current_session_id(request) or "")
    if session_record is not None:
        session_record.assurance = 2  # this session has just proved the new factor
        db.add(session_record)
    log_request_event(request, db, record, "two_factor_enabled")
    await _notify(request, db, settings, record, subject=N_("Two-step verification was set up on your Caseline account"),
                  message=N_("An authentication app was set up as the second step of signing in to your Caseline account. If you did not do this, reset your password now."))
    return render(request, "account/recovery_codes.html", {"codes": codes})


def _new_recovery_codes(db, user: User) -> list[str]:
    db.exec(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))  # type: ignore[call-overload]
    codes = totp.new_recovery_codes()
    for code in codes:
        db.add(RecoveryCode(user_id=user.id or 0, code_hash=totp.hash_recovery_code(code)))
    return codes


@router.post("/account/recovery-codes")
async def regenerate_recovery_codes(
    request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    record = _own_row(db, user)
    if record.totp_enabled_at is None:
        return RedirectResponse("/account/two-factor", status_code=303)
    if not verify_password(record.password_hash, current_password):
        return _two_factor_page(request, record, errors={"codes_password": N_("Your current password is not right")},
                                status_code=422)
    codes = _new_recovery_codes(db, record)
    log_request_event(request, db, record, "recovery_codes_replaced")
    await _notify(request, db, settings, record, subject=N_("New recovery codes were made for your Caseline account"),
                  message=N_("New recovery codes were made for your Caseline account; the old ones no longer work. If you did not do this, reset your password now."))
    return render(request, "account/recovery_codes.html", {"codes": codes})


@router.post("/account/two-factor/replace")
async def replace_device(
    request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A lost or new device: forget the old app and set up a new one (staff must finish before working)."""
    record = _own_row(db, user)
    if not verify_password(record.password_hash, current_password):
        return _two_factor_page(request, record, errors={"replace_password": N_("Your current password is not right")},
                                status_code=422)
    record.totp_enabled_at = None
    record.totp_secret = totp.new_secret()
    record.totp_last_step = None
    db.add(record)
    db.exec(delete(RecoveryCode).where(RecoveryCode.user_id == record.id))  # type: ignore[call-overload]
    log_request_event(request, db, record, "two_factor_removed")
    await _notify(request, db, settings, record, subject=N_("Two-step verification was removed from your Caseline account"),
                  message=N_("The authentication app of your Caseline account was removed so a new one can be set up. If you did not do this, reset your password now."))
    return RedirectResponse("/account/two-factor", status_code=303)


# --- sessions and activity -----------------------------------------------------------------


@router.get("/account/sessions")
def sessions_page(request: Request, user: SignedInUser, db: SessionDep) -> Response:
    return render(request, "account/sessions.html",
                  {"sessions": active_sessions(db, user_id=user.id or 0), "current_id": _current_session_id(request)})


@router.post("/account/sessions/{session_id}/revoke")
def revoke_session(request: Request, session_id: str, user: SignedInUser, db: SessionDep) -> Response:
    record = db.get(WebSession, session_id[:64])
    if record is None or record.user_id != user.id:
        raise HTTPException(status_code=404)
    db.delete(record)
    log_request_event(request, db, user, "session_revoked")
    db.commit()
    target = "/sign-in" if session_id == _current_session_id(request) else "/account/sessions?revoked=1"
    return RedirectResponse(target, status_code=303)


@router.get("/account/activity")
def activity_page(request: Request, user: SignedInUser, db: SessionDep) -> Response:
    return render(request, "account/activity.html", {"events": recent_events(db, user_id=user.id or 0)})


@router.post("/session/keep-alive")
def keep_alive(request: Request, user: SignedInUser, db: SessionDep) -> Response:
    """The 'stay signed in' button: touching the session restarts its idle timer."""
    record = db.get(WebSession, _current_session_id(request) or "")
    if record is not None:
        record.last_seen_at = utcnow()
        db.add(record)
        db.commit()
    return Response(status_code=204)


