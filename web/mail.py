"""Account emails from the web: render in the recipient's language, write the outbox row, and
start an EmailWorkflow to deliver it (a route never talks to the mail server itself)."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

import i18n
from models.db import session_scope
from models.tables import OutboundEmail, utcnow
from settings import Settings
from web.templating import env
from workflows.email import EmailWorkflow

log = logging.getLogger("caseline.mail")
ACCOUNT_KEY_PREFIX = "account:"
MESSAGE_KEY_PREFIX = "message:"  # announcements of secure messages (models.messaging.message_email_key)
# Outbox rows the web writes and starts delivering itself (the worker's projection sends the rest).
WEB_KEY_PREFIXES = (ACCOUNT_KEY_PREFIX, MESSAGE_KEY_PREFIX)


def queue_account_email(
    db: Session, *, to: str, language: str, subject: str, template: str, context: dict, settings: Settings,
    key: str | None = None, receipt_number: str | None = None, subject_args: dict | None = None,
) -> OutboundEmail:
    """Add an outbox row (committed by the caller). ``subject`` is a msgid (filled in with
    ``subject_args``); ``template`` is under emails/; ``key`` (one of ``WEB_KEY_PREFIXES``) when
    the mail must exist once only, else a new account key."""
    if key is not None and not key.startswith(WEB_KEY_PREFIXES):
        raise ValueError("a web outbox key starts with one of WEB_KEY_PREFIXES")
    language = i18n.normalize_language(language)
    body = env.get_template(f"emails/{template}").render(lang=language, base_url=settings.base_url.rstrip("/"), **context)
    row = OutboundEmail(
        idempotency_key=key or f"{ACCOUNT_KEY_PREFIX}{template}:{secrets.token_hex(12)}",
        receipt_number=receipt_number,
        to_address=to,
        language=language,
        subject=i18n.gettext(language, subject, **(subject_args or {})),
        body_text=body,
    )
    db.add(row)
    db.flush()
    return row


async def dispatch(client: Client, *, email_id: int, settings: Settings) -> None:
    try:
        await client.start_workflow(
            EmailWorkflow.run,
            email_id,
            id=f"email-{email_id}",
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass


async def dispatch_soon(app_state, *, email_ids: list[int], settings: Settings) -> None:
    """Start delivery now if Temporal answers; otherwise the background loop does it later."""
    try:
        client = await app_state.temporal.get()
        for email_id in email_ids:
            await dispatch(client, email_id=email_id, settings=settings)
    except Exception:
        log.warning("could not start mail delivery now; it will be retried", exc_info=True)


async def dispatch_pending(client: Client, *, settings: Settings, older_than: timedelta) -> int:
    cutoff = utcnow() - older_than
    with session_scope(settings.database_url) as db:
        ids = db.exec(
            select(OutboundEmail.id).where(
                sa.or_(*(col(OutboundEmail.idempotency_key).startswith(p) for p in WEB_KEY_PREFIXES)),
                OutboundEmail.status == "pending",
                OutboundEmail.created_at <= cutoff,
                OutboundEmail.created_at >= cutoff - timedelta(days=1),
            )
        ).all()
    for email_id in ids:
        if email_id is not None:
            await dispatch(client, email_id=email_id, settings=settings)
    return len(ids)
