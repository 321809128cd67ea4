"""How long drafts are kept: deleted 30 days after their last change, with warnings by email before.

``sweep_drafts`` is run once a day (``workflows.housekeeping``). It queues the due warnings in the
outbox and deletes the drafts that have expired, with their uploads and unpaid payments. It is
safe to repeat: a warning is claimed by a conditional update of ``Draft.expiry_warning_days`` and
keyed in the outbox by draft, warning and last change, so a retried sweep never queues it twice;
a draft changed while the sweep runs is neither warned about an old state nor deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

import i18n
from models.projection import RenderedEmail
from models.tables import Document, Draft, OutboundEmail, Payment, User

log = logging.getLogger("caseline.drafts")

DRAFT_LIFETIME = timedelta(days=30)
# Warnings before deletion, by days left; each is sent once per change of the draft, and a draft
# found late gets only the tightest one due (29.5 days after its last change: the 1-day warning).
WARN_DAYS = (7, 1)
BATCH_SIZE = 500
EMAIL_KEY_PREFIX = "draft-expiry:"
PAID = "succeeded"  # models.payments.SUCCEEDED
# Mails an interrupted sweep queued but did not hand over for delivery are handed over by the
# next attempt when they are at most this old (a retry); older ones are left alone.
RETRY_WINDOW = timedelta(days=1)


@dataclass
class ExpiryWarning:
    """What a warning says: no answers, no personal data."""

    form_type: str
    days: int  # the warning: 7 or 1 (days left at most)
    changed_at: datetime  # the draft's last change
    expires_at: datetime  # when it is due for deletion


# (recipient's language, warning) -> subject and body
WarningRenderer = Callable[[str, ExpiryWarning], RenderedEmail]


@dataclass
class SweepResult:
    email_ids: list[int] = field(default_factory=list)  # outbox rows to deliver (see ``sweep_drafts``)
    queued: int = 0  # warnings this sweep queued
    deleted: int = 0  # drafts deleted
    kept_paid: int = 0  # expired drafts kept because a payment on them succeeded


def draft_expires_at(draft: Draft) -> datetime:
    """When the draft is due for deletion (it goes at the first sweep after)."""
    return draft.updated_at + DRAFT_LIFETIME


def warning_due(*, updated_at: datetime, last_warning: int | None, now: datetime) -> int | None:
    """The warning to send now (7 or 1), or None: the tightest one whose time has come, unless
    it or a tighter one was sent since the last change. None once the draft has expired."""
    left = updated_at + DRAFT_LIFETIME - now
    if left <= timedelta(0):
        return None
    due = [days for days in WARN_DAYS if left <= timedelta(days=days)]
    if not due:
        return None
    days = min(due)
    if last_warning is not None and last_warning <= days:
        return None
    return days


def warning_key(draft_id: str, days: int, updated_at: datetime) -> str:
    return f"{EMAIL_KEY_PREFIX}{draft_id}:{days}:{updated_at.isoformat()}"


def _candidates(now: datetime):
    """Drafts that have expired or have a warning due (the same rules as ``warning_due``)."""
    updated = col(Draft.updated_at)
    warned = col(Draft.expiry_warning_days)
    clauses = [updated <= now - DRAFT_LIFETIME]
    for days in WARN_DAYS:
        clauses.append(
            sa.and_(updated <= now - DRAFT_LIFETIME + timedelta(days=days), sa.or_(warned.is_(None), warned > days))
        )
    return sa.or_(*clauses)


def sweep_drafts(
    session: Session,
    *,
    now: datetime,
    render: WarningRenderer,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[SweepResult], None] | None = None,
) -> SweepResult:
    """Queue the due warnings to the drafts' owners (in their language) and delete the expired drafts.

    Works through the drafts concerned in batches, committing the session after each one, so a
    sweep holds no long transaction and can be repeated after failing part way. ``email_ids`` are
    the outbox rows to deliver: the warnings queued now, and any that an interrupted sweep queued
    in the last day and that are still pending. ``progress`` is called after each batch."""
    result = SweepResult()
    after: tuple[datetime, str] | None = None
    while True:
        statement = (
            select(Draft.id, Draft.form_type, Draft.updated_at, Draft.expiry_warning_days, User.email, User.language)
            .join(User, col(User.id) == col(Draft.user_id))
            .where(_candidates(now))
            .order_by(col(Draft.updated_at), col(Draft.id))
            .limit(batch_size)
        )
        if after is not None:
            statement = statement.where(
                sa.or_(
                    col(Draft.updated_at) > after[0],
                    sa.and_(col(Draft.updated_at) == after[0], col(Draft.id) > after[1]),
                )
            )
        rows = session.exec(statement).all()
        if not rows:
            break
        expired: list[str] = []
        for draft_id, form_type, updated_at, last_warning, address, language in rows:
            if updated_at + DRAFT_LIFETIME <= now:
                expired.append(draft_id)
                continue
            days = warning_due(updated_at=updated_at, last_warning=last_warning, now=now)
            if days is None:
                continue
            email_id = _queue_warning(
                session, draft_id=draft_id, updated_at=updated_at, days=days, now=now, to=address,
                language=language, render=render,
                warning=ExpiryWarning(form_type=form_type, days=days, changed_at=updated_at,
                                      expires_at=updated_at + DRAFT_LIFETIME),
            )
            if email_id is not None:
                result.email_ids.append(email_id)
                result.queued += 1
        if expired:
            deleted, kept = _delete_expired(session, expired, now=now)
            result.deleted += deleted
            result.kept_paid += kept
        session.commit()
        if progress is not None:
            progress(result)
        after = (rows[-1][2], rows[-1][0])
        if len(rows) < batch_size:
            break
    result.email_ids += _pending_from_retry(session, now=now, exclude=set(result.email_ids))
    return result


def _queue_warning(
    session: Session,
    *,
    draft_id: str,
    updated_at: datetime,
    days: int,
    now: datetime,
    to: str,
    language: str,
    render: WarningRenderer,
    warning: ExpiryWarning,
) -> int | None:
    """Claim the warning on the draft (unless the draft changed or was warned meanwhile) and add
    its outbox row; the row's id, or None when there was nothing to send."""
    table = Draft.__table__
    claimed = session.exec(
        sa.update(table)
        .where(
            table.c.id == draft_id,
            table.c.updated_at == updated_at,
            sa.or_(table.c.expiry_warning_days.is_(None), table.c.expiry_warning_days > days),
        )
        .values(expiry_warning_days=days)
    ).rowcount
    if not claimed:
        return None
    key = warning_key(draft_id, days, updated_at)
    if session.exec(select(OutboundEmail.id).where(OutboundEmail.idempotency_key == key)).first() is not None:
        return None  # queued before, by a sweep whose claim was undone since; never twice
    language = i18n.normalize_language(language)
    mail = render(language, warning)
    row = OutboundEmail(
        idempotency_key=key,
        to_address=to,
        language=language,
        subject=mail.subject,
        body_text=mail.body_text,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _delete_expired(session: Session, draft_ids: list[str], *, now: datetime) -> tuple[int, int]:
    """Delete expired drafts with their uploads (``Document`` rows only: the stored bytes are
    content-addressed and may be shared) and their payments that did not succeed. A draft with a
    succeeded payment is kept and logged: it should have been submitted, and its payment must not
    disappear silently. Returns (deleted, kept)."""
    paid = set(
        session.exec(
            select(Payment.draft_id).where(col(Payment.draft_id).in_(draft_ids), Payment.status == PAID).distinct()
        ).all()
    )
    for draft_id in sorted(d for d in paid if d is not None):
        log.warning("draft %s has expired but a payment on it succeeded: kept for a person to look at", draft_id)
    candidates = [d for d in draft_ids if d not in paid]
    if not candidates:
        return 0, len(paid)
    drafts = Draft.__table__
    documents = Document.__table__
    payments = Payment.__table__
    paid_payment = sa.exists().where(payments.c.draft_id == drafts.c.id, payments.c.status == PAID)
    # Still expired (not saved meanwhile) and still unpaid, checked again by the statement itself.
    deleted = session.exec(
        sa.delete(drafts).where(
            drafts.c.id.in_(candidates), drafts.c.updated_at <= now - DRAFT_LIFETIME, ~paid_payment
        )
    ).rowcount
    if deleted:
        gone = ~sa.exists().where(drafts.c.id == documents.c.draft_id)
        session.exec(
            sa.delete(documents).where(
                documents.c.draft_id.in_(candidates), documents.c.receipt_number.is_(None), gone
            )
        )
        session.exec(
            sa.delete(payments).where(
                payments.c.draft_id.in_(candidates),
                payments.c.status != PAID,
                ~sa.exists().where(drafts.c.id == payments.c.draft_id),
            )
        )
    return deleted, len(paid)


def _pending_from_retry(session: Session, *, now: datetime, exclude: set[int]) -> list[int]:
    ids = session.exec(
        select(OutboundEmail.id)
        .where(
            col(OutboundEmail.idempotency_key).startswith(EMAIL_KEY_PREFIX),
            OutboundEmail.status == "pending",
            col(OutboundEmail.created_at) > now - RETRY_WINDOW,
            col(OutboundEmail.created_at) <= now,
        )
        .order_by(col(OutboundEmail.id))
    ).all()
    return [i for i in ids if i is not None and i not in exclude]


__all__ = [
    "BATCH_SIZE", "DRAFT_LIFETIME", "WARN_DAYS", "ExpiryWarning", "SweepResult", "WarningRenderer",
    "draft_expires_at", "sweep_drafts", "warning_due", "warning_key",
]
