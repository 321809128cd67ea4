"""Account security services: emailed single-use links, sign-in throttling, the activity log,
the staff audit log and session management. Keyword-only functions over a caller's session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from models.tables import AccountEvent, AccountToken, AuditEvent, SignInThrottle, User, WebSession, utcnow

VERIFY_EMAIL_LIFETIME = timedelta(hours=24)
RESET_PASSWORD_LIFETIME = timedelta(minutes=30)
LIFETIMES = {"verify_email": VERIFY_EMAIL_LIFETIME, "reset_password": RESET_PASSWORD_LIFETIME}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- single-use emailed links ------------------------------------------------------------


def issue_token(db: Session, *, user: User, purpose: str, email: str, now: datetime | None = None) -> str:
    """A new link token (returned once, stored hashed). Earlier unused tokens of the purpose die."""
    now = now or utcnow()
    for old in db.exec(
        select(AccountToken).where(
            AccountToken.user_id == user.id, AccountToken.purpose == purpose, col(AccountToken.used_at).is_(None)
        )
    ).all():
        old.used_at = now
        db.add(old)
    token = secrets.token_urlsafe(32)
    db.add(
        AccountToken(
            id=_digest(token), user_id=user.id or 0, purpose=purpose, email=email, created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return token


def redeem_token(db: Session, *, token: str, purpose: str, now: datetime | None = None) -> AccountToken | None:
    """The token's record, now marked used; None when unknown, used, expired or of another purpose."""
    now = now or utcnow()
    if not token or len(token) > 100:
        return None
    record = db.get(AccountToken, _digest(token), with_for_update=True)
    if record is None or record.purpose != purpose or record.used_at is not None or now >= record.expires_at:
        return None
    record.used_at = now
    db.add(record)
    return record


def peek_token(db: Session, *, token: str, purpose: str, now: datetime | None = None) -> AccountToken | None:
    """Like redeem_token but without using it up (to show the form a link leads to)."""
    now = now or utcnow()
    if not token or len(token) > 100:
        return None
    record = db.get(AccountToken, _digest(token))
    if record is None or record.purpose != purpose or record.used_at is not None or now >= record.expires_at:
        return None
    return record


# --- throttling --------------------------------------------------------------------------

THROTTLE_WINDOW = timedelta(minutes=15)
FREE_FAILURES = 3  # then 1 s, 2 s, 4 s ... between attempts
MAX_DELAY = timedelta(seconds=60)
LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=30)
ADDRESS_LIMIT = 50  # failures per client address per window before it must wait


@dataclass
class ThrottleState:
    allowed: bool
    retry_after: timedelta = timedelta(0)
    locked: bool = False


def account_key(email: str) -> str:
    """Keyed by the address typed, known account or not, so throttling tells nothing about existence."""
    return "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:64]


def address_key(client_address: str) -> str:
    return f"address:{client_address[:64]}"


def _state(row: SignInThrottle | None, now: datetime) -> ThrottleState:
    if row is None:
        return ThrottleState(True)
    if row.locked_until and now < row.locked_until:
        return ThrottleState(False, row.locked_until - now, locked=True)
    if row.next_allowed_at and now < row.next_allowed_at:
        return ThrottleState(False, row.next_allowed_at - now)
    return ThrottleState(True)


def throttle_check(db: Session, *, keys: list[str], now: datetime | None = None) -> ThrottleState:
    now = now or utcnow()
    worst = ThrottleState(True)
    for key in keys:
        state = _state(db.get(SignInThrottle, key), now)
        if not state.allowed and (worst.allowed or state.retry_after > worst.retry_after):
            worst = state
    return worst


def record_failure(db: Session, *, key: str, per_address: bool = False, now: datetime | None = None) -> SignInThrottle:
    """Count a failure; returns the row so the caller can tell whether it has just been locked."""
    now = now or utcnow()
    row = db.get(SignInThrottle, key, with_for_update=True)
    if row is None or now - row.window_started_at > THROTTLE_WINDOW and not (row.locked_until and now < row.locked_until):
        row = row or SignInThrottle(key=key)
        row.failures = 0
        row.window_started_at = now
        row.next_allowed_at = None
    row.failures += 1
    if per_address:
        if row.failures >= ADDRESS_LIMIT:
            row.next_allowed_at = now + THROTTLE_WINDOW
    else:
        if row.failures > FREE_FAILURES:
            row.next_allowed_at = now + min(timedelta(seconds=2 ** (row.failures - FREE_FAILURES - 1)), MAX_DELAY)
        if row.failures >= LOCK_AFTER:
            row.locked_until = now + LOCK_FOR
    db.add(row)
    return row


def clear_failures(db: Session, *, key: str) -> None:
    db.exec(delete(SignInThrottle).where(SignInThrottle.key == key))  # type: ignore[call-overload]


# --- activity log and audit ----------------------------------------------------------------


def log_event(
    db: Session, *, user_id: int, kind: str, client_address: str = "", user_agent: str = "", detail: str = ""
) -> None:
    db.add(
        AccountEvent(
            user_id=user_id, kind=kind, client_address=client_address[:64], user_agent=user_agent[:300],
            detail=detail[:200],
        )
    )


def recent_events(db: Session, *, user_id: int, limit: int = 100) -> list[AccountEvent]:
    return list(
        db.exec(
            select(AccountEvent)
            .where(AccountEvent.user_id == user_id)
            .order_by(col(AccountEvent.occurred_at).desc(), col(AccountEvent.id).desc())
            .limit(limit)
        ).all()
    )


def audit(
    db: Session, *, key: str, actor_id: int | None, action: str, receipt_number: str | None = None, detail: str = "",
    occurred_at: datetime | None = None,
) -> None:
    """Append one staff action; a repeated key (a retried activity) adds nothing."""
    if db.exec(select(AuditEvent.id).where(AuditEvent.idempotency_key == key)).first() is not None:
        return
    db.add(
        AuditEvent(
            idempotency_key=key, actor_id=actor_id, action=action, receipt_number=receipt_number,
            occurred_at=occurred_at or utcnow(), detail=detail[:2000],
        )
    )


# --- sessions --------------------------------------------------------------------------------


def active_sessions(db: Session, *, user_id: int) -> list[WebSession]:
    now = utcnow()
    return [
        s
        for s in db.exec(
            select(WebSession).where(WebSession.user_id == user_id).order_by(col(WebSession.last_seen_at).desc())
        ).all()
        if s.expires_at > now
    ]


def end_other_sessions(db: Session, *, user_id: int, keep_session_id: str | None) -> int:
    sessions = db.exec(select(WebSession).where(WebSession.user_id == user_id)).all()
    ended = 0
    for record in sessions:
        if record.id != keep_session_id:
            db.delete(record)
            ended += 1
    return ended
