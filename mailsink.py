"""The development SMTP sink: an aiosmtpd server that keeps every message in a Maildir.

`caseline dev` runs it on 127.0.0.1:1025; the dev-only mailbox page of the web app reads the
Maildir. Integration tests run one on a free port and read the same folder.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class MaildirHandler:
    def __init__(self, directory: Path) -> None:
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(str(directory), create=True)

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd API)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        message = mailbox.MaildirMessage(content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.maildir.add(message)
        return "250 Message accepted for delivery"


def start_sink(directory: Path, *, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    controller = Controller(MaildirHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


@dataclass
class StoredMail:
    key: str
    to: str
    subject: str
    date: datetime
    body: str
    language: str
    message_id: str


def read_mailbox(directory: Path) -> list[StoredMail]:
    """Every message in the Maildir, newest first."""
    if not directory.exists():
        return []
    box = mailbox.Maildir(str(directory), create=False)
    mails: list[StoredMail] = []
    for key in box.keys():
        try:
            raw = box.get_bytes(key)
        except KeyError:  # removed meanwhile
            continue
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        body_part = parsed.get_body(preferencelist=("plain",))
        body = body_part.get_content() if body_part is not None else ""
        try:
            sent = parsedate_to_datetime(parsed["Date"]) if parsed["Date"] else datetime.now(UTC)
        except (TypeError, ValueError):
            sent = datetime.now(UTC)
        mails.append(
            StoredMail(
                key=key,
                to=str(parsed["To"] or ""),
                subject=str(parsed["Subject"] or "").strip(),
                date=sent,
                body=body,
                language=str(parsed["Content-Language"] or ""),
                message_id=str(parsed["Message-ID"] or ""),
            )
        )
    mails.sort(key=lambda m: m.date, reverse=True)
    return mails
