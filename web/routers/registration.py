"""Creating an account, confirming its email address, and resetting a forgotten password.

No page here tells whether an email address has an account: registering a used address and
asking to reset the password of an unknown one get the same answers as the ordinary cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

import i18n
from i18n import N_
from models.account_security import (
    account_key,
    clear_failures,
    end_other_sessions,
    issue_token,
    peek_token,
    redeem_token,
)
from models.accounts import create_user, get_user_by_email, hash_password, normalize_email
from models.domain import Role
from models.forms import US_STATES, Choice, FieldSpec, validate_answers
from models.passwords import check_password
from models.tables import OutboundEmail, User, utcnow
from settings import Settings
from web.deps import SessionDep, SettingsDep, SignedInUser
from web.mail import ACCOUNT_KEY_PREFIX, dispatch_soon, queue_account_email
from web.security import SESSION_COOKIE, log_request_event
from web.templating import render

router = APIRouter()


class VerifyEmailFirst(Exception):
    """Raised where a confirmed email address is needed (filing); answered by ``verify_first_page``."""


# --- the registration form ---------------------------------------------------------------

_NAME_HINT = N_("As it appears on your passport or other identity document.")

NAME_FIELDS = (
    FieldSpec("given_name", N_("Given name (first name)"), hint=_NAME_HINT, autocomplete="given-name", max_length=99),
    FieldSpec("family_name", N_("Family name (last name)"), autocomplete="family-name", max_length=99),
)
BIRTH_FIELDS = (
    FieldSpec("date_of_birth", N_("Date of birth"), kind="date", hint=N_("For example: 4 27 1990"), autocomplete="bday"),
)
ADDRESS_FIELDS = (
    FieldSpec("street", N_("Street number and name"), autocomplete="address-line1", max_length=120),
    FieldSpec("apartment", N_("Apartment, suite or floor"), required=False, autocomplete="address-line2", max_length=40),
    FieldSpec("city", N_("City or town"), autocomplete="address-level2"),
    FieldSpec("state", N_("State"), kind="select", choices=tuple(Choice(s, s) for s in US_STATES),
              autocomplete="address-level1"),
    FieldSpec("zip_code", N_("ZIP code"), kind="postal_code", hint=N_("5 digits, or 5 + 4 digits"), max_length=10,
              autocomplete="postal-code"),
)
A_NUMBER_FIELD = FieldSpec(
    "a_number", N_("A-Number"), required=False, max_length=20,
    hint=N_("Your Alien Registration Number, if you have one: the letter A and 8 or 9 digits, like A123456789. "
            "It is on your green card, work permit or notices from USCIS."),
)


@dataclass(frozen=True)
class _Fields:
    """What ``validate_answers`` needs of a form: its fields."""

    fields: tuple[FieldSpec, ...]


REGISTRATION_FORM = _Fields(NAME_FIELDS + BIRTH_FIELDS + ADDRESS_FIELDS + (A_NUMBER_FIELD,))

LABELS = {spec.name: spec.label for spec in REGISTRATION_FORM.fields} | {
    "language": N_("Language"),
    "email": N_("Email address"),
    "password": N_("Password"),
}

EMAIL_MAX_LENGTH = 254
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_A_NUMBER_RE = re.compile(r"^A?(\d{8,9})$")
_A_NUMBER_SEPARATORS = re.compile(r"[\s\-]")

# Sent at most this often to one address, so these forms cannot be used to flood someone's mailbox.
MAIL_LIMITS: dict[str, tuple[int, timedelta]] = {
    "registration_attempt.txt": (1, timedelta(hours=1)),
    "reset_password.txt": (5, timedelta(hours=1)),
    "verify_email.txt": (5, timedelta(hours=1)),
}


def normalize_a_number(value: str) -> str | None:
    """``A123456789`` from what people type ("a-123 456 789", "12345678"), or None when it is not one.

    USCIS writes an 8-digit A-Number with a 0 in front, so it is stored with 9 digits."""
    match = _A_NUMBER_RE.fullmatch(_A_NUMBER_SEPARATORS.sub("", value).upper())
    return f"A{match.group(1).zfill(9)}" if match else None


def valid_email(email: str) -> bool:
    return len(email) <= EMAIL_MAX_LENGTH and _EMAIL_RE.fullmatch(email) is not None


def _email_error(email: str) -> str | None:
    if not email:
        return N_("Enter your email address")
    if not valid_email(email):
        return N_("Enter an email address in the right form, like name@example.com")
    return None


def validate_registration(data: dict[str, str], *, today: date) -> tuple[dict[str, str], dict[str, str]]:
    """Clean the registration form. Returns (answers, errors by field name); errors are msgids.
    The password is checked but never returned among the answers."""
    answers, errors = validate_answers(REGISTRATION_FORM, data, today=today)  # type: ignore[arg-type]
    if answers.get("a_number") and "a_number" not in errors:
        a_number = normalize_a_number(answers["a_number"])
        if a_number is None:
            errors["a_number"] = N_("Enter an A-Number as the letter A and 8 or 9 digits, like A123456789")
        else:
            answers["a_number"] = a_number
    language = str(data.get("language", "") or "")
    answers["language"] = language
    if language not in i18n.LANGUAGES:
        errors["language"] = N_("Select a language")
    email = normalize_email(str(data.get("email", "") or ""))
    answers["email"] = email
    if (problem := _email_error(email)) is not None:
        errors["email"] = problem
    full_name = full_name_of(answers)
    problems = check_password(str(data.get("password", "") or ""), email=email, full_name=full_name)
    if problems:
        errors["password"] = problems[0]
    # The summary lists the errors in the order of the page.
    order = list(LABELS)
    return answers, dict(sorted(errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99))


def full_name_of(answers: dict[str, str]) -> str:
    return " ".join(part for part in (answers.get("given_name", ""), answers.get("family_name", "")) if part)


# --- helpers -----------------------------------------------------------------------------


def _link(settings: Settings, path: str) -> str:
    return f"{settings.base_url.rstrip('/')}{path}"


def _mail_allowed(db: Session, *, to: str, template: str) -> bool:
    """Whether another mail of this kind may go to this address now (see MAIL_LIMITS)."""
    limit = MAIL_LIMITS.get(template)
    if limit is None:
        return True
    count, window = limit
    sent = db.exec(
        select(func.count()).select_from(OutboundEmail).where(
            OutboundEmail.to_address == to,
            col(OutboundEmail.idempotency_key).startswith(f"{ACCOUNT_KEY_PREFIX}{template}:"),
            OutboundEmail.created_at >= utcnow() - window,
        )
    ).one()
    return sent < count


def _queue(db: Session, settings: Settings, *, to: str, language: str, subject: str, template: str,
           context: dict | None = None) -> int | None:
    """Queue one account email (committed by the caller); None when the address has had enough of them."""
    if not _mail_allowed(db, to=to, template=template):
        return None
    row = queue_account_email(db, to=to, language=language, subject=subject, template=template,
                              context=context or {}, settings=settings)
    return row.id


async def _send(request: Request, settings: Settings, email_ids: list[int | None]) -> None:
    ids = [i for i in email_ids if i is not None]
    if ids:
        await dispatch_soon(request.app.state, email_ids=ids, settings=settings)


def queue_verification(db: Session, settings: Settings, user: User, *, email: str | None = None) -> int | None:
    """Mail a confirmation link for ``email`` (a new address when changing it; else the account's)."""
    email = email or user.email
    if not _mail_allowed(db, to=email, template="verify_email.txt"):
        return None
    token = issue_token(db, user=user, purpose="verify_email", email=email)
    return _queue(db, settings, to=email, language=user.language,
                  subject=N_("Confirm your email address for Caseline"), template="verify_email.txt",
                  context={"token": token, "link": _link(settings, f"/verify-email/{token}")})


def _link_page(request: Request, state: str, *, status_code: int = 200, **context) -> Response:
    return render(request, "account/verify_result.html", {"state": state, **context}, status_code=status_code)


def verify_first_page(request: Request) -> Response:
    """What a person who has not confirmed their email address sees instead of the filing pages."""
    return _link_page(request, "verify_first", status_code=403)


# --- registration ------------------------------------------------------------------------

ACCOUNT_TYPES = {"applicant": Role.APPLICANT, "representative": Role.REPRESENTATIVE}


def _register_page(request: Request, *, answers: dict, errors: dict, status_code: int = 200) -> Response:
    return render(
        request,
        "account/register.html",
        {
            "answers": answers, "errors": errors, "labels": LABELS,
            "name_fields": NAME_FIELDS, "birth_fields": BIRTH_FIELDS, "address_fields": ADDRESS_FIELDS,
            "a_number_field": A_NUMBER_FIELD,
        },
        status_code=status_code,
    )


@router.get("/register")
def register_page(request: Request) -> Response:
    if request.state.user is not None:
        return RedirectResponse("/account", status_code=303)
    return _register_page(request, answers={"language": request.state.lang}, errors={})


@router.post("/register")
async def register(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    answers, errors = validate_registration(data, today=utcnow().date())
    # Attorneys and accredited representatives file for clients; everyone else applies for themselves.
    answers["account_type"] = data.get("account_type") or "applicant"
    if answers["account_type"] not in ACCOUNT_TYPES:
        errors["account_type"] = N_("Select who the account is for")
    if errors:
        return _register_page(request, answers=answers, errors=errors, status_code=422)
    password = data.get("password", "")
    email = answers["email"]
    existing = get_user_by_email(db, email=email)
    if existing is None:
        try:
            user = create_user(db, email=email, password=password, full_name=full_name_of(answers),
                               role=ACCOUNT_TYPES[answers["account_type"]], language=answers["language"])
        except IntegrityError:  # registered a moment ago by another request
            db.rollback()
            existing = get_user_by_email(db, email=email)
        else:
            user.date_of_birth = date.fromisoformat(answers["date_of_birth"])
            user.a_number = answers.get("a_number") or None
            user.mailing_address = {name: answers.get(name, "") for name in ("street", "apartment", "city", "state", "zip_code")}
            db.add(user)
            log_request_event(request, db, user, "account_created")
            email_id = queue_verification(db, settings, user)
            db.commit()
            await _send(request, settings, [email_id])
            return RedirectResponse("/register/check-email", status_code=303)
    # The address has an account already. Say nothing of it here (the same page as a new account,
    # after the same hashing work); tell the owner instead, at the address they proved.
    hash_password(password)
    email_id = None
    if existing is not None:
        email_id = _queue(db, settings, to=existing.email, language=existing.language,
                          subject=N_("Someone tried to create a Caseline account with your email address"),
                          template="registration_attempt.txt", context={"when": utcnow()})
    db.commit()
    await _send(request, settings, [email_id])
    return RedirectResponse("/register/check-email", status_code=303)


@router.get("/register/check-email")
def check_email_page(request: Request) -> Response:
    return render(request, "account/check_email.html", {})


# --- confirming an email address -----------------------------------------------------------


@router.get("/verify-email/{token}")
async def verify_email(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    record = redeem_token(db, token=token, purpose="verify_email")
    user = db.get(User, record.user_id) if record is not None else None
    if record is None or user is None:
        db.rollback()
        return _link_page(request, "expired", status_code=410)
    email_ids: list[int | None] = []
    changed = record.email != user.email
    if changed:
        # The change-email flow: the new address is proved; move the account to it if it is still free.
        other = get_user_by_email(db, email=record.email)
        if other is not None and other.id != user.id:
            db.commit()  # the link is used up either way
            return _link_page(request, "email_taken", status_code=409)
        old_email = user.email
        user.email = normalize_email(record.email)
        # Like a password change: every other session of the account is signed out.
        current = getattr(request.state, "session", None)
        keep = current.id if current is not None and current.user_id == user.id else None
        end_other_sessions(db, user_id=user.id or 0, keep_session_id=keep)
        log_request_event(request, db, user, "email_changed")
        email_ids.append(_queue(
            db, settings, to=old_email, language=user.language,
            subject=N_("The email address of your Caseline account was changed"), template="security_notice.txt",
            context={"message": N_("The email address of your Caseline account was changed, and from now on we send "
                                   "mail to the new address. If you did not do this, someone may know your password: "
                                   "contact Caseline customer service at once.")},
        ))
    if user.email_verified_at is None or changed:
        user.email_verified_at = utcnow()
    db.add(user)
    log_request_event(request, db, user, "email_verified")
    try:
        db.commit()
    except IntegrityError:  # the new address was taken in the same moment
        db.rollback()
        return _link_page(request, "email_taken", status_code=409)
    await _send(request, settings, email_ids)
    return _link_page(request, "verified")


@router.post("/account/verify-email/resend")
async def resend_verification(request: Request, user: SignedInUser, db: SessionDep, settings: SettingsDep) -> Response:
    record = db.get(User, user.id)
    if record is None or record.email_verified_at is not None:
        return RedirectResponse("/account", status_code=303)
    email_id = queue_verification(db, settings, record)
    db.commit()
    if email_id is None:
        return RedirectResponse("/account?verification_wait=1", status_code=303)
    await _send(request, settings, [email_id])
    return RedirectResponse("/account?verification_sent=1", status_code=303)


# --- forgotten passwords -------------------------------------------------------------------


@router.get("/forgot-password")
def forgot_password_page(request: Request) -> Response:
    return render(request, "account/forgot_password.html", {"email": "", "errors": {}, "sent": False})


@router.post("/forgot-password")
async def forgot_password(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form()
    raw = form.get("email")
    email = normalize_email(raw if isinstance(raw, str) else "")[: EMAIL_MAX_LENGTH + 1]
    problem = _email_error(email)
    if problem is not None:
        return render(request, "account/forgot_password.html", {"email": email, "errors": {"email": problem}, "sent": False},
                      status_code=422)
    user = get_user_by_email(db, email=email)
    email_id = None
    if user is not None and _mail_allowed(db, to=user.email, template="reset_password.txt"):
        token = issue_token(db, user=user, purpose="reset_password", email=user.email)
        email_id = _queue(db, settings, to=user.email, language=user.language,
                          subject=N_("Reset your Caseline password"), template="reset_password.txt",
                          context={"token": token, "link": _link(settings, f"/reset-password/{token}")})
    db.commit()
    await _send(request, settings, [email_id])
    # The same answer whether or not an account uses the address.
    return RedirectResponse("/forgot-password/sent", status_code=303)


@router.get("/forgot-password/sent")
def forgot_password_sent(request: Request) -> Response:
    return render(request, "account/forgot_password.html", {"email": "", "errors": {}, "sent": True})


def _reset_page(request: Request, token: str, *, errors: dict, status_code: int = 200) -> Response:
    return render(request, "account/reset_password.html", {"token": token, "errors": errors}, status_code=status_code)


@router.get("/reset-password/{token}")
def reset_password_page(request: Request, token: str, db: SessionDep) -> Response:
    if peek_token(db, token=token, purpose="reset_password") is None:
        return _link_page(request, "reset_expired", status_code=410)
    return _reset_page(request, token, errors={})


@router.post("/reset-password/{token}")
async def reset_password(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    record = peek_token(db, token=token, purpose="reset_password")
    user = db.get(User, record.user_id) if record is not None else None
    if record is None or user is None:
        return _link_page(request, "reset_expired", status_code=410)
    form = await request.form()
    raw = form.get("password")
    password = raw if isinstance(raw, str) else ""
    problems = check_password(password, email=user.email, full_name=user.full_name)
    if problems:
        return _reset_page(request, token, errors={"password": problems[0]}, status_code=422)
    if redeem_token(db, token=token, purpose="reset_password") is None:  # used in the same moment
        db.rollback()
        return _link_page(request, "reset_expired", status_code=410)
    now = utcnow()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    if user.email_verified_at is None and record.email == user.email:
        user.email_verified_at = now  # the link proved the address
        log_request_event(request, db, user, "email_verified")
    db.add(user)
    ended = end_other_sessions(db, user_id=user.id or 0, keep_session_id=None)
    clear_failures(db, key=account_key(user.email))
    log_request_event(request, db, user, "password_reset", detail=str(ended))
    email_id = _queue(db, settings, to=user.email, language=user.language,
                      subject=N_("Your Caseline password was changed"), template="password_changed.txt",
                      context={"when": now})
    db.commit()
    await _send(request, settings, [email_id])
    response = RedirectResponse("/sign-in?reset=1", status_code=303)
    web_session = getattr(request.state, "session", None)
    if web_session is not None and web_session.user_id == user.id:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response
