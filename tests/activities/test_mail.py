"""deliver_email against a real SMTP sink and a real database, outside any workflow."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import pytest
from temporalio.testing import ActivityEnvironment

from activities.mail import MailActivities
from mailsink import read_mailbox
from models.db import session_scope
from models.tables import OutboundEmail
from tests.conftest import free_port

SUBJECT = "Your case IOE2700300001: Case Was Received"


def outbox_row(url: str, *, language: str = "en") -> int:
    with session_scope(url) as session:
        row = OutboundEmail(
            idempotency_key="status:IOE2700300001:1:1",
            receipt_number="IOE2700300001",
            to_address="ana@example.com",
            language=language,
            subject=SUBJECT,
            body_text="Your case has a new status.",
        )
        session.add(row)
        session.flush()
        return row.id


def row(url: str, email_id: int) -> OutboundEmail:
    with session_scope(url) as session:
        return session.get(OutboundEmail, email_id)


def mail_activities(url: str, port: int) -> MailActivities:
    return MailActivities(database_url=url, smtp_host="127.0.0.1", smtp_port=port,
                          mail_from="Caseline <no-reply@caseline.test>", timeout=5)


async def test_deliver_email_sends_a_row_once(sqlite_url: str, smtp_sink: tuple[int, Path]) -> None:
    port, maildir = smtp_sink
    email_id = outbox_row(sqlite_url)
    deliver = mail_activities(sqlite_url, port).deliver_email

    assert await ActivityEnvironment().run(deliver, email_id) is True
    assert await ActivityEnvironment().run(deliver, email_id) is False  # a retry after success
    assert await ActivityEnvironment().run(deliver, 999_999) is False  # no such row

    [mail] = read_mailbox(maildir)
    assert (mail.to, mail.subject, mail.body.strip()) == ("ana@example.com", SUBJECT, "Your case has a new status.")
    assert mail.message_id.endswith("@caseline.mail>")
    sent = row(sqlite_url, email_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.sent_at is not None


async def test_deliver_email_records_a_failed_attempt_and_raises(sqlite_url: str) -> None:
    email_id = outbox_row(sqlite_url)
    deliver = mail_activities(sqlite_url, free_port()).deliver_email  # nothing listens there

    with pytest.raises((aiosmtplib.SMTPException, OSError)):
        await ActivityEnvironment().run(deliver, email_id)

    failed = row(sqlite_url, email_id)
    assert (failed.status, failed.attempts, failed.sent_at) == ("pending", 1, None)
    assert failed.last_error


async def test_mail_declares_the_applicants_language(sqlite_url: str, smtp_sink: tuple[int, Path]) -> None:
    port, maildir = smtp_sink
    email_id = outbox_row(sqlite_url, language="es")
    await ActivityEnvironment().run(mail_activities(sqlite_url, port).deliver_email, email_id)

    [mail] = read_mailbox(maildir)
    assert mail.language == "es"
