"""deliver_email's counters (caseline_mail_sent_total, caseline_mail_failed_total) and its log lines,
which never carry the recipient's address. The counters are process-wide: the tests read deltas."""

from __future__ import annotations

import logging
from pathlib import Path

import aiosmtplib
import pytest
from prometheus_client import REGISTRY
from temporalio.testing import ActivityEnvironment

from tests.activities.test_mail import mail_activities, outbox_row
from tests.conftest import free_port


def activity_lines(caplog: pytest.LogCaptureFixture) -> str:
    """What the activity and the SDK logged (the in-process SMTP sink logs its own traffic)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("temporalio", "caseline", "activities")))


def counted() -> tuple[float, float]:
    return (REGISTRY.get_sample_value("caseline_mail_sent_total") or 0.0,
            REGISTRY.get_sample_value("caseline_mail_failed_total") or 0.0)


async def test_one_real_send_counts_once_and_a_retry_after_it_counts_nothing(
    sqlite_url: str, smtp_sink: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = smtp_sink
    email_id = outbox_row(sqlite_url)
    deliver = mail_activities(sqlite_url, port).deliver_email
    sent, failed = counted()

    with caplog.at_level(logging.DEBUG):
        assert await ActivityEnvironment().run(deliver, email_id) is True
        assert counted() == (sent + 1, failed)
        assert await ActivityEnvironment().run(deliver, email_id) is False  # found sent: no second mail
        assert await ActivityEnvironment().run(deliver, 999_999) is False  # no such row

    assert counted() == (sent + 1, failed)
    assert f"delivered email {email_id}" in activity_lines(caplog)
    assert "ana@example.com" not in activity_lines(caplog)


async def test_each_failed_attempt_counts_as_failed(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    email_id = outbox_row(sqlite_url)
    deliver = mail_activities(sqlite_url, free_port()).deliver_email  # nothing listens there
    sent, failed = counted()

    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            with pytest.raises((aiosmtplib.SMTPException, OSError)):
                await ActivityEnvironment().run(deliver, email_id)

    assert counted() == (sent, failed + 2)
    assert "ana@example.com" not in activity_lines(caplog)
