"""Submitting a filing: issue the receipt number, save what was filed, start the case workflow."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.db import session_scope
from models.forms import FORMS
from models.receipts import issue_receipt_number
from models.tables import Document, Draft, Filing, Payment, utcnow
from settings import Settings
from web.mail import dispatch_pending
from workflows.client import start_case
from workflows.types import CaseInput

log = logging.getLogger("caseline.filing")


class SubmissionError(RuntimeError):
    """The draft is no longer there to submit: it was submitted (or deleted) meanwhile."""


def submit_draft(db: Session, *, draft: Draft, office: str, payment: Payment | None = None) -> Filing:
    """Turn a draft into a filing with a new receipt number, in one transaction: its documents and
    payment move to the case. The draft row is deleted first, so of two submissions racing only the
    one that deleted it goes on (``SubmissionError`` for the other) and a draft makes one case."""
    now = utcnow()
    deleted = db.execute(delete(Draft).where(col(Draft.id) == draft.id))
    if deleted.rowcount != 1:
        db.rollback()
        raise SubmissionError(draft.id)
    receipt_number = issue_receipt_number(db, office=office, now=now)
    form = FORMS[draft.form_type]
    waiver = draft.fee_option == "waiver" and form.fee_waiver
    filing = Filing(
        receipt_number=receipt_number,
        form_type=draft.form_type,
        applicant_id=draft.client_id or draft.user_id,
        representative_id=draft.user_id if draft.client_id else None,
        draft_id=draft.id,
        office=office,
        answers=dict(draft.answers),
        filed_at=now,
        fee_cents=0 if waiver else form.fee_for(draft.answers),
        fee_waiver_requested=waiver,
        waiver_reason=draft.waiver_reason if waiver else "",
        waiver_explanation=draft.waiver_explanation if waiver else "",
        payment_id=payment.id if payment is not None else None,
        signature=draft.signature,
    )
    db.add(filing)
    db.flush()
    db.execute(
        update(Document)
        .where(col(Document.draft_id) == draft.id)
        .values(receipt_number=receipt_number, draft_id=None)
    )
    if payment is not None:
        payment.receipt_number = receipt_number
        db.add(payment)
    db.commit()
    return filing


def case_input(filing: Filing) -> CaseInput:
    form = FORMS[filing.form_type]
    return CaseInput(
        receipt_number=filing.receipt_number,
        form_type=filing.form_type,
        office=filing.office,
        applicant_id=filing.applicant_id,
        filed_at=filing.filed_at,
        plan=form.stage_plan(filing.answers),
        sla_days=dict(form.sla_days),
        interview=form.interview,
        after_approval=form.after_approval(filing.answers),
        representative_id=filing.representative_id,
    )


async def start_workflow(client: Client, *, filing: Filing, settings: Settings) -> None:
    """Start the case; a case already started counts as started. Marks the filing."""
    try:
        await start_case(client, case_input(filing), task_queue=settings.temporal_task_queue)
    except WorkflowAlreadyStartedError:
        pass
    with session_scope(settings.database_url) as db:
        saved = db.get(Filing, filing.receipt_number)
        if saved is not None:
            saved.workflow_started = True


async def start_pending_filings(client: Client, *, settings: Settings, older_than: timedelta) -> int:
    """Start the workflows of filings saved while Temporal was unreachable."""
    cutoff = utcnow() - older_than
    with session_scope(settings.database_url) as db:
        pending = db.exec(
            select(Filing).where(Filing.workflow_started == False, Filing.filed_at <= cutoff).limit(100)  # noqa: E712
        ).all()
    for filing in pending:
        await start_workflow(client, filing=filing, settings=settings)
        log.info("started the workflow of %s after a delay", filing.receipt_number)
    return len(pending)


def purge_rate_limit_windows(settings: Settings) -> int:
    """Delete the rate-limit rows whose window has ended (a client seen once would otherwise keep
    its row for good); returns how many."""
    from models.ratelimit import purge_expired
    from web.routers.messages import MESSAGE_WINDOW, RATE_PURPOSE
    from web.routers.status import LOOKUP_WINDOW, THROTTLE_PURPOSE

    with session_scope(settings.database_url) as db:
        return sum(
            purge_expired(db, purpose=purpose, window=window)
            for purpose, window in ((THROTTLE_PURPOSE, LOOKUP_WINDOW), (RATE_PURPOSE, MESSAGE_WINDOW))
        )


PURGE_EVERY_ROUNDS = 20  # rate-limit rows are purged every 20 rounds (5 minutes at the usual 15 s)


async def keep_starting_pending_work(app_state, settings: Settings, every: float = 15.0) -> None:
    """Start what was saved while Temporal was unreachable: case workflows and account mail; and
    now and then purge the rate-limit windows that have ended."""
    rounds = 0
    while True:
        await asyncio.sleep(every)
        rounds += 1
        if rounds % PURGE_EVERY_ROUNDS == 0:
            try:
                purged = await asyncio.to_thread(purge_rate_limit_windows, settings)
                if purged:
                    log.info("purged %d ended rate-limit windows", purged)
            except Exception:
                log.warning("could not purge rate-limit windows", exc_info=True)
        try:
            client = await app_state.temporal.get()
            await start_pending_filings(client, settings=settings, older_than=timedelta(seconds=10))
            await dispatch_pending(client, settings=settings, older_than=timedelta(seconds=30))
        except Exception:  # Temporal still down or a database hiccup: try again next round
            log.warning("could not start pending filings yet", exc_info=True)
