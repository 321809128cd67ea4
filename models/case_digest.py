"""The daily digest of case changes, for the accounts that asked for one (``case_email_frequency``
"daily", ``models.email_prefs``).

The projection writes a ``DigestItem`` per change and person instead of a mail; once a day
(``workflows.digest``) ``collect_digests`` turns each person's unsent items into ONE outbox mail
that lists every case that changed with its latest status, and marks the items sent in the same
transaction as that mail. The mail is keyed by the person and the items it lists
(``digest:{user id}:{hash of the item ids}``), and the items are claimed by a conditional update,
so a retried or repeated run never queues two digests for the same items.

Items of someone who chose "none" since, or of a case they stopped following (or no longer
receive mail for), are marked sent without a mail. Someone who went back to "each" gets the
items collected meanwhile in one last digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

import i18n
from models.email_prefs import NONE
from models.projection import RenderedEmail
from models.tables import DigestItem, Filing, Notice, OutboundEmail, User, WatchedCase

DIGEST_KEY_PREFIX = "digest:"
BATCH_SIZE = 200  # people per batch
# Digests an interrupted run queued but did not hand over for delivery are handed over by the
# next attempt (or run) when they are at most this old.
RETRY_WINDOW = timedelta(days=1)


@dataclass
class DigestEntry:
    """One case in a digest: its latest status among the changes listed."""

    receipt_number: str
    status_code: str
    occurred_at: datetime
    own: bool  # the person's own case (applicant or representative): the case page; else the public page
    notice: bool = False  # one of the changes issued a notice (own cases only)
    changes: int = 1


@dataclass
class Digest:
    user_id: int
    language: str
    entries: list[DigestEntry]


# digest -> subject and body (in the digest's language)
DigestRenderer = Callable[[Digest], RenderedEmail]


@dataclass
class DigestRunResult:
    email_ids: list[int] = field(default_factory=list)  # outbox rows to deliver: queued now, and left by a retry
    queued: int = 0  # digests queued by this run
    items: int = 0  # changes they list
    dropped: int = 0  # changes marked sent without a mail (the person opted out meanwhile)


def digest_key(user_id: int, item_ids: list[int]) -> str:
    digest = hashlib.sha256(",".join(str(i) for i in sorted(item_ids)).encode()).hexdigest()[:32]
    return f"{DIGEST_KEY_PREFIX}{user_id}:{digest}"


def collect_digests(
    session: Session,
    *,
    now: datetime,
    render: DigestRenderer,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[DigestRunResult], None] | None = None,
) -> DigestRunResult:
    """Queue one digest per person with unsent items; returns the mails to deliver. Each person
    is one transaction (committed here), so a run can be repeated after failing part way."""
    result = DigestRunResult()
    after = 0
    while True:
        user_ids = list(
            session.exec(
                select(DigestItem.user_id)
                .where(col(DigestItem.sent_at).is_(None), DigestItem.user_id > after)
                .group_by(col(DigestItem.user_id))
                .order_by(col(DigestItem.user_id))
                .limit(batch_size)
            ).all()
        )
        session.commit()
        if not user_ids:
            break
        for user_id in user_ids:
            _collect_for(session, user_id=user_id, now=now, render=render, result=result)
        if progress is not None:
            progress(result)
        after = user_ids[-1]
        if len(user_ids) < batch_size:
            break
    result.email_ids += _pending_from_retry(session, now=now, exclude=set(result.email_ids))
    return result


def _collect_for(session: Session, *, user_id: int, now: datetime, render: DigestRenderer, result: DigestRunResult) -> None:
    user = session.get(User, user_id)
    items = list(
        session.exec(
            select(DigestItem)
            .where(DigestItem.user_id == user_id, col(DigestItem.sent_at).is_(None))
            .order_by(col(DigestItem.id))
        ).all()
    )
    if user is None or not items:
        session.rollback()
        return
    receipts = sorted({item.receipt_number for item in items})
    own: set[str] = set()
    followed: set[str] = set()
    if user.case_email_frequency != NONE:
        for receipt_number, applicant_id, representative_id in session.exec(
            select(Filing.receipt_number, Filing.applicant_id, Filing.representative_id).where(
                col(Filing.receipt_number).in_(receipts)
            )
        ).all():
            if user_id in (applicant_id, representative_id):
                own.add(receipt_number)
        followed = set(
            session.exec(
                select(WatchedCase.receipt_number).where(
                    WatchedCase.user_id == user_id, col(WatchedCase.notify).is_(True),
                    col(WatchedCase.receipt_number).in_(receipts),
                )
            ).all()
        )
    keep = [item for item in items if item.receipt_number in own or item.receipt_number in followed]
    ids = [item.id or 0 for item in items]
    table = DigestItem.__table__
    claimed = session.exec(
        sa.update(table).where(table.c.id.in_(ids), table.c.sent_at.is_(None)).values(sent_at=now)
    ).rowcount
    if claimed != len(ids):
        session.rollback()  # another run took some of them: it sends them
        return
    email: OutboundEmail | None = None
    if keep:
        key = digest_key(user_id, [item.id or 0 for item in keep])
        language = i18n.normalize_language(user.language)
        mail = render(Digest(user_id=user_id, language=language,
                             entries=_entries(session, keep, own=own)))
        email = OutboundEmail(idempotency_key=key, to_address=user.email, language=language, subject=mail.subject,
                              body_text=mail.body_text, created_at=now)
        session.add(email)
    try:
        session.flush()
        session.commit()
    except IntegrityError:
        session.rollback()  # the same digest was queued meanwhile
        return
    result.dropped += len(items) - len(keep)
    if email is not None:
        result.email_ids.append(email.id or 0)
        result.queued += 1
        result.items += len(keep)


def _entries(session: Session, items: list[DigestItem], *, own: set[str]) -> list[DigestEntry]:
    with_notice: set[tuple[str, int]] = set()
    own_items = [item for item in items if item.receipt_number in own]
    if own_items:
        with_notice = {
            (receipt_number, seq)
            for receipt_number, seq in session.exec(
                select(Notice.receipt_number, Notice.seq).where(
                    col(Notice.receipt_number).in_(sorted({item.receipt_number for item in own_items}))
                )
            ).all()
        }
    entries: dict[str, DigestEntry] = {}
    for item in sorted(items, key=lambda i: (i.receipt_number, i.seq)):
        notice = item.receipt_number in own and (item.receipt_number, item.seq) in with_notice
        entry = entries.get(item.receipt_number)
        if entry is None:
            entries[item.receipt_number] = DigestEntry(
                receipt_number=item.receipt_number, status_code=item.status_code, occurred_at=item.occurred_at,
                own=item.receipt_number in own, notice=notice,
            )
            continue
        entry.status_code, entry.occurred_at = item.status_code, item.occurred_at  # the latest (by seq)
        entry.notice = entry.notice or notice
        entry.changes += 1
    # The latest changes first.
    return sorted(entries.values(), key=lambda e: (-e.occurred_at.timestamp(), e.receipt_number))


def _pending_from_retry(session: Session, *, now: datetime, exclude: set[int]) -> list[int]:
    rows = session.exec(
        select(OutboundEmail.id)
        .where(
            col(OutboundEmail.idempotency_key).startswith(DIGEST_KEY_PREFIX),
            OutboundEmail.status == "pending",
            col(OutboundEmail.created_at) >= now - RETRY_WINDOW,
        )
        .order_by(col(OutboundEmail.id))
    ).all()
    return [row for row in rows if row is not None and row not in exclude]


__all__ = [
    "BATCH_SIZE", "DIGEST_KEY_PREFIX", "Digest", "DigestEntry", "DigestRenderer", "DigestRunResult",
    "collect_digests", "digest_key",
]
