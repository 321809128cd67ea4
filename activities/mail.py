"""Mail delivery through aiosmtplib, at most once per outbox row.

A case email (a status change, a daily digest) ends with its recipient's unsubscribe link
(``models.email_prefs``); the message gets it as ``List-Unsubscribe`` too, with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), so mail programs can offer
their own unsubscribe button.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from temporalio import activity

from models.db import session_scope
from models.email_prefs import unsubscribe_url_in
from models.tables import OutboundEmail, utcnow
from observability import MAIL_FAILED, MAIL_SENT

# Outbox keys of the mails that may carry an unsubscribe link (models.projection, models.case_digest).
UNSUBSCRIBABLE_PREFIXES = ("status:", "digest:")


class _OneLineHeader(str):
    """A header value written as it is, on one line. The email package would fold a long URL
    into RFC 2047 encoded-words, which mail programs do not read as a List-Unsubscribe link;
    the value is ASCII without spaces or line breaks (``UNSUBSCRIBE_URL_RE``), well under the
    998 characters a line may have."""

    name: str

    def __new__(cls, name: str, value: str) -> "_OneLineHeader":
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy) -> str:  # called by the generator (email.policy.EmailPolicy.fold)
        return f"{self.name}: {self}{policy.linesep}"


def add_unsubscribe_headers(message: EmailMessage, row: OutboundEmail) -> None:
    if not row.idempotency_key.startswith(UNSUBSCRIBABLE_PREFIXES):
        return
    url = unsubscribe_url_in(row.body_text)
    if url is None:
        return
    message["List-Unsubscribe"] = _OneLineHeader("List-Unsubscribe", f"<{url}>")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


class MailActivities:
    def __init__(
        self,
        *,
        database_url: str,
        smtp_host: str,
        smtp_port: int,
        mail_from: str,
        username: str = "",
        password: str = "",
        start_tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self._database_url = database_url
        self._host = smtp_host
        self._port = smtp_port
        self._from = mail_from
        self._username = username or None
        self._password = password or None
        self._start_tls = start_tls
        self._timeout = timeout

    @activity.defn(name="deliver_email")
    async def deliver_email(self, email_id: int) -> bool:
        """Send one outbox row. Returns False when it had been sent already (a retry)."""
        with session_scope(self._database_url) as session:
            row = session.get(OutboundEmail, email_id)
            if row is None:
                activity.logger.warning("outbound email %s does not exist", email_id)
                return False
            if row.status == "sent":
                return False
            message = EmailMessage()
            message["From"] = self._from
            message["To"] = row.to_address
            message["Subject"] = row.subject
            message["Date"] = formatdate(localtime=False)
            digest = hashlib.sha256(row.idempotency_key.encode()).hexdigest()[:32]
            message["Message-ID"] = f"<{digest}@caseline.mail>"
            message.set_content(row.body_text)
            message["Content-Language"] = row.language  # after set_content, which clears Content-* headers
            add_unsubscribe_headers(message, row)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            MAIL_FAILED.inc()
            with session_scope(self._database_url) as session:
                failed = session.get(OutboundEmail, email_id)
                if failed is not None:
                    failed.attempts += 1
                    failed.last_error = f"{type(exc).__name__}: {exc}"[:500]
            raise
        MAIL_SENT.inc()  # once per message handed over: a retry that finds the row sent returns above
        with session_scope(self._database_url) as session:
            sent = session.get(OutboundEmail, email_id)
            if sent is not None:
                sent.status = "sent"
                sent.attempts += 1
                sent.sent_at = utcnow()
        activity.logger.info("delivered email %s", email_id)
        return True
