"""Fixed-window rate limits shared by every web replica, kept in the ``RateLimitWindow`` table.

One row per key (a purpose and a client, such as ``status:203.0.113.7``) holds when its current
window started and how many requests it has counted. ``hit`` counts one request with a single
atomic statement, ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING``, on SQLite and on
PostgreSQL alike: concurrent requests for one key are serialised by the database on that row, so
however many arrive at once, no more than ``limit`` of them are allowed in a window.

A window starts with the first request after the previous one ended and lasts ``window``; the
requests refused in it are counted too (the count only says "over the limit" sooner).

No web imports: the web app and the tools share this module.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models.tables import RateLimitWindow, UTCDateTime, utcnow

KEY_MAX_LENGTH = 120
_TABLE = RateLimitWindow.__table__  # type: ignore[attr-defined]


def client_key(purpose: str, host: str | None) -> str:
    """The key for one client of ``purpose``: its IPv4 address, or the /64 network of an IPv6
    address (one subscriber gets a whole /64, so each of its addresses is not a new client).
    Anything else (a test client's name, no address at all) is used as it is."""
    host = (host or "").strip() or "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        client = host
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if isinstance(address, ipaddress.IPv6Address):
            client = str(ipaddress.IPv6Network((address, 64), strict=False))
        else:
            client = str(address)
    return f"{purpose}:{client}"[:KEY_MAX_LENGTH]


def _upsert(dialect: str, *, key: str, now: datetime, window: timedelta) -> sa.Insert:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise ValueError(f"rate limits are kept in SQLite or PostgreSQL only, not {dialect}")
    started = _TABLE.c.window_started_at
    # Typed as the column, so the value is stored (and compared) exactly as the column stores it.
    now_value = sa.literal(now, type_=UTCDateTime())
    expired = started <= sa.literal(now - window, type_=UTCDateTime())
    statement = insert(_TABLE).values(key=key, window_started_at=now, count=1)
    return statement.on_conflict_do_update(
        index_elements=[_TABLE.c.key],
        set_={
            "count": sa.case((expired, 1), else_=_TABLE.c.count + 1),
            "window_started_at": sa.case((expired, now_value), else_=started),
        },
    ).returning(_TABLE.c.count, _TABLE.c.window_started_at)


def hit(
    session: Session, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> tuple[bool, int]:
    """Count one request for ``key``: (allowed, seconds until the window ends when refused, else 0).

    The row stays locked until the session's transaction ends: commit at once (before any slow
    work) so other requests for the key do not wait. On SQLite, call it before anything else in
    the transaction reads, so the transaction starts as a writer."""
    if limit < 1 or window <= timedelta(0):
        raise ValueError("a rate limit needs a positive limit and window")
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given to a rate limit")
    key = key[:KEY_MAX_LENGTH]
    dialect = session.get_bind().dialect.name
    statement = _upsert(dialect, key=key, now=now, window=window)
    count, started = session.exec(statement).one()  # type: ignore[call-overload]
    if count <= limit:
        return True, 0
    remaining = (started + window - now).total_seconds()
    return False, max(1, math.ceil(remaining))


def purge_expired(session: Session, *, purpose: str, window: timedelta, now: datetime | None = None) -> int:
    """Delete the rows of ``purpose`` whose window has ended (they would start afresh anyway);
    returns how many. Safe at any time: a request counted meanwhile just starts a new window."""
    now = now or utcnow()
    result = session.exec(  # type: ignore[call-overload]
        sa.delete(_TABLE).where(
            _TABLE.c.key.startswith(f"{purpose}:", autoescape=True),
            _TABLE.c.window_started_at <= sa.literal(now - window, type_=UTCDateTime()),
        )
    )
    return result.rowcount or 0


__all__ = ["KEY_MAX_LENGTH", "client_key", "hit", "purge_expired"]
