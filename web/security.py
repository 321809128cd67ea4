"""Server-side sessions, CSRF tokens, safe redirects and security headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import Request
from sqlmodel import Session, delete

from models.account_security import log_event
from models.tables import User, WebSession, utcnow
from settings import Settings

SESSION_COOKIE = "caseline_session"
CSRF_COOKIE = "caseline_csrf"
LANG_COOKIE = "caseline_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SEEN_RESOLUTION = timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- sessions ---------------------------------------------------------------------------


def session_id_for(token: str) -> str:
    return _digest(token)


def create_session(
    db: Session, *, user: User, settings: Settings, user_agent: str, client_address: str, assurance: int = 1
) -> str:
    """A new session (a new id at every sign-in and at the second factor); returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        WebSession(
            id=_digest(token),
            user_id=user.id or 0,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            user_agent=user_agent[:300],
            client_address=client_address[:64],
            assurance=assurance,
        )
    )
    return token


def load_session(
    db: Session, *, token: str | None, settings: Settings, touch: bool = True, expired: list[int] | None = None
) -> tuple[User, WebSession] | None:
    """The user and session record of a live session; ``touch`` restarts its idle timer. A session
    found ended is deleted, and its user's id appended to ``expired`` when given."""
    if not token:
        return None
    record = db.get(WebSession, _digest(token))
    if record is None:
        return None
    now = utcnow()
    idle_limit = record.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= record.expires_at or now >= idle_limit:
        if expired is not None:
            expired.append(record.user_id)
        db.delete(record)
        return None
    if touch and now - record.last_seen_at >= SEEN_RESOLUTION:
        record.last_seen_at = now
        db.add(record)
    user = db.get(User, record.user_id)
    return (user, record) if user is not None else None


def end_session(db: Session, *, token: str | None) -> None:
    if token:
        db.exec(delete(WebSession).where(WebSession.id == _digest(token)))  # type: ignore[call-overload]


def client_of(request: Request) -> tuple[str, str]:
    """The client address and user agent, as the activity log and the sessions page show them."""
    return (request.client.host if request.client else ""), request.headers.get("user-agent", "")[:300]


def log_request_event(request: Request, db: Session, user: User, kind: str, detail: str = "") -> None:
    """Add an entry to ``user``'s activity log, with where the request came from."""
    address, agent = client_of(request)
    log_event(db, user_id=user.id or 0, kind=kind, client_address=address, user_agent=agent, detail=detail)


# --- CSRF (signed double-submit cookie) ---------------------------------------------------


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token_for(secret: str, *, key: str) -> str:
    return hmac.new(key.encode(), f"csrf:{secret}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(submitted: str | None, *, secret: str | None, key: str) -> bool:
    if not submitted or not secret:
        return False
    return hmac.compare_digest(submitted, csrf_token_for(secret, key=key))


# --- redirects -----------------------------------------------------------------------------


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site absolute paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target


# --- headers -------------------------------------------------------------------------------

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers
