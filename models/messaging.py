"""Secure messages: threads about one case between its applicant (or their representative) and staff.

Who takes part:
- the case's parties, its applicant and the representative on its filing (``models.casefile.is_party``),
  start threads about the case and answer in them;
- staff who answer messages (officers, supervisors and customer service, ``Role.answers_messages``)
  work a shared inbox: unassigned threads, threads assigned to them, and all open or closed ones.
  They answer, take a thread, hand it back, assign it (supervisors), close it, and may start a
  thread about a case themselves.

A message is written once and never changes: no code path edits or deletes one, and the database
refuses it too (triggers from migration 0006). Messages and their attachments (``Document`` rows of
kind ``message`` in the document store) are part of the case's record: the officer's workspace shows
the threads of the case.

A form carries a one-time key (``Message.client_key``); sending the same form twice (a double click,
a retry after a lost answer) stores one message. Every new message is announced by email to the
case's parties other than its author, in each one's language, with the receipt number and a link,
never the message itself (``announce``). Staff are not emailed: their inbox shows what is waiting.

A person's unread messages are those in threads they may see, written by someone else after the
last message they have read there (``MessageRead``).

No web imports: the web app and the tests share this module.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from i18n import N_
from models.casefile import is_party
from models.documents import DocumentStore, UploadRejected, check_upload, store_upload
from models.domain import Role
from models.tables import Document, Filing, Message, MessageRead, MessageThread, User, utcnow

TOPICS: dict[str, str] = {
    "case_status": N_("The status of my case"),
    "appointment": N_("An appointment"),
    "documents": N_("Documents or evidence"),
    "notice": N_("A notice about my case"),
    "address": N_("A change of address"),
    "website": N_("A problem with this website"),
    "other": N_("Something else"),
}
STAFF_TOPIC = "from_staff"  # threads staff start
TOPIC_LABELS: dict[str, str] = {**TOPICS, STAFF_TOPIC: N_("A message from Caseline")}

SUBJECT_MAX = 120
BODY_MAX = 5000
MAX_ATTACHMENTS = 3
THREAD_ID_RE = re.compile(r"^[1-9][0-9]{0,17}\Z")
CLIENT_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}\Z")

OPEN = "open"
CLOSED = "closed"
AWAITING_STAFF = "staff"
AWAITING_PUBLIC = "public"

# Inbox views for staff.
UNASSIGNED = "unassigned"
MINE = "mine"
ALL_OPEN = "open"
CLOSED_VIEW = "closed"
INBOX_VIEWS: dict[str, str] = {
    UNASSIGNED: N_("Unassigned"),
    MINE: N_("Assigned to me"),
    ALL_OPEN: N_("All open"),
    CLOSED_VIEW: N_("Closed"),
}

# Field messages (msgids: translated where they are shown).
TOPIC_REQUIRED = N_("Select what your message is about")
SUBJECT_REQUIRED = N_("Enter a subject")
SUBJECT_TOO_LONG = N_("The subject must be 120 characters or fewer")
BODY_REQUIRED = N_("Enter your message")
BODY_TOO_LONG = N_("Your message must be 5,000 characters or fewer")
TOO_MANY_FILES = N_("You can attach up to 3 files to one message")
FORM_EXPIRED = N_("This form has expired. Copy your message, reload the page and send it again")


class MessageRefused(ValueError):
    """What a person can fix, field by field: ``errors`` maps a field name to a msgid."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Attachment:
    """A file as received: its bytes and the (untrusted) name it came with."""

    data: bytes
    name: str


@dataclass
class Sent:
    """What sending did: the message, and whether it is new (``False``: the same form again)."""

    thread: MessageThread
    message: Message
    created: bool
    attachments: list[Document] = field(default_factory=list)


# --- who may see what ------------------------------------------------------------------------


def works_inbox(user: User) -> bool:
    return Role(user.role).answers_messages


def may_see_thread(db: Session, thread: MessageThread, user: User) -> bool:
    if works_inbox(user):
        return True
    filing = db.get(Filing, thread.receipt_number)
    return filing is not None and is_party(filing, user)


def thread_for(db: Session, thread_id: object, user: User) -> MessageThread | None:
    """The thread when ``user`` may see it; ``None`` for an unknown, malformed or someone else's id."""
    if not isinstance(thread_id, (str, int)) or not THREAD_ID_RE.match(str(thread_id)):
        return None  # "+1", "01" or other digits are not how a link writes an id
    thread = db.get(MessageThread, int(thread_id))
    if thread is None or not may_see_thread(db, thread, user):
        return None
    return thread


def party_filings(db: Session, user: User) -> list[Filing]:
    """The cases ``user`` is a party to (applicant or representative), newest first."""
    uid = user.id or 0
    return list(
        db.exec(
            select(Filing)
            .where(sa.or_(Filing.applicant_id == uid, Filing.representative_id == uid))
            .order_by(col(Filing.filed_at).desc())
        ).all()
    )


# --- checking what was typed ------------------------------------------------------------------


def _clean_text(value: str | None) -> str:
    """Line breaks as ``\\n``, no other control characters, no trailing space on a line."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def clean_subject(value: str | None) -> str:
    return " ".join(_clean_text(value).split())


def clean_body(value: str | None) -> str:
    return _clean_text(value)


def check_body(body: str, errors: dict[str, str]) -> None:
    if not body:
        errors["body"] = BODY_REQUIRED
    elif len(body) > BODY_MAX:
        errors["body"] = BODY_TOO_LONG


def check_new_thread(*, topic: str, subject: str, body: str, staff: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not staff and topic not in TOPICS:
        errors["topic"] = TOPIC_REQUIRED
    if not subject:
        errors["subject"] = SUBJECT_REQUIRED
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = SUBJECT_TOO_LONG
    check_body(body, errors)
    return errors


def _check_attachments(files: Sequence[Attachment], errors: dict[str, str]) -> None:
    if len(files) > MAX_ATTACHMENTS:
        errors["files"] = TOO_MANY_FILES
        return
    for attachment in files:
        try:
            check_upload(attachment.data)
        except UploadRejected as refused:
            errors["files"] = refused.message
            return


def _check_key(client_key: str, errors: dict[str, str]) -> None:
    if not CLIENT_KEY_RE.match(client_key or ""):
        errors["body"] = FORM_EXPIRED


# --- writing ----------------------------------------------------------------------------------


def _existing(db: Session, client_key: str) -> Message | None:
    return db.exec(select(Message).where(Message.client_key == client_key)).first()


def _resend(db: Session, message: Message, author: User) -> Sent | None:
    """The message a form already sent, when this author sent it (``None``: a key someone else used)."""
    if message.author_id != author.id:
        return None
    thread = db.get(MessageThread, message.thread_id)
    assert thread is not None
    attachments = list(db.exec(select(Document).where(Document.message_id == message.id)).all())
    return Sent(thread=thread, message=message, created=False, attachments=attachments)


def _checked_or_already_sent(
    db: Session, *, errors: dict[str, str], files: Sequence[Attachment], client_key: str, author: User,
    thread_id: int | None = None,
) -> Sent | None:
    """Finish the checks (attachments, the form key) and raise ``MessageRefused`` with every
    problem found; then the message this form already sent (a double click), if any. A key used by
    someone else, or in another thread, is refused as an expired form."""
    _check_attachments(files, errors)
    _check_key(client_key, errors)
    if errors:
        raise MessageRefused(errors)
    existing = _existing(db, client_key)
    if existing is None:
        return None
    sent = _resend(db, existing, author)
    if sent is None or (thread_id is not None and sent.thread.id != thread_id):
        raise MessageRefused({"body": FORM_EXPIRED})
    return sent


def _write(
    db: Session, store: DocumentStore, *, thread: MessageThread, author: User, body: str, client_key: str,
    files: Sequence[Attachment],
) -> Sent:
    staff = works_inbox(author)
    now = utcnow()
    message = Message(
        thread_id=thread.id or 0, author_id=author.id or 0, from_staff=staff, body=body, client_key=client_key, sent_at=now
    )
    db.add(message)
    db.flush()
    documents = [
        store_upload(
            db, store, data=a.data, raw_name=a.name, owner_id=author.id or 0, kind="message",
            receipt_number=thread.receipt_number, message_id=message.id,
        )
        for a in files
    ]
    thread.last_message_at = now
    if staff:
        thread.awaiting = AWAITING_PUBLIC
        if thread.assigned_to_id is None:
            thread.assigned_to_id = author.id  # whoever answers an unassigned thread takes it
    else:
        thread.awaiting = AWAITING_STAFF
        thread.status = OPEN  # a new question reopens a closed thread
    db.add(thread)
    mark_read(db, thread=thread, user=author, message_id=message.id or 0)
    return Sent(thread=thread, message=message, created=True, attachments=documents)


def start_thread(
    db: Session, store: DocumentStore, *, filing: Filing, author: User, topic: str, subject: str, body: str,
    client_key: str, files: Sequence[Attachment] = (),
) -> Sent:
    """Open a thread about ``filing`` with its first message (flushed, not committed).

    ``MessageRefused`` for what the person can fix; ``PermissionError`` when ``author`` is neither a
    party to the case nor staff who answer messages (callers answer 404)."""
    staff = works_inbox(author)
    if not staff and not is_party(filing, author):
        raise PermissionError("not a party to this case")
    subject, body = clean_subject(subject), clean_body(body)
    if staff:
        topic = STAFF_TOPIC
    errors = check_new_thread(topic=topic, subject=subject, body=body, staff=staff)
    already = _checked_or_already_sent(db, errors=errors, files=files, client_key=client_key, author=author)
    if already is not None:
        return already
    now = utcnow()
    thread = MessageThread(
        receipt_number=filing.receipt_number, topic=topic, subject=subject, started_by_id=author.id or 0,
        assigned_to_id=None, status=OPEN, awaiting=AWAITING_STAFF, created_at=now, last_message_at=now,
    )
    db.add(thread)
    db.flush()
    return _write(db, store, thread=thread, author=author, body=body, client_key=client_key, files=files)


def reply(
    db: Session, store: DocumentStore, *, thread: MessageThread, author: User, body: str, client_key: str,
    files: Sequence[Attachment] = (),
) -> Sent:
    """Add a message to ``thread`` (flushed, not committed). Same refusals as ``start_thread``."""
    if not may_see_thread(db, thread, author):
        raise PermissionError("may not write in this thread")
    body = clean_body(body)
    errors: dict[str, str] = {}
    check_body(body, errors)
    already = _checked_or_already_sent(
        db, errors=errors, files=files, client_key=client_key, author=author, thread_id=thread.id
    )
    if already is not None:
        return already
    # Serialise writers of one thread on PostgreSQL (SQLite writes one at a time anyway).
    db.exec(select(MessageThread.id).where(MessageThread.id == thread.id).with_for_update())
    return _write(db, store, thread=thread, author=author, body=body, client_key=client_key, files=files)


# --- the thread's state (staff) ---------------------------------------------------------------


def assign(db: Session, *, thread: MessageThread, assignee: User | None) -> None:
    if assignee is not None and not works_inbox(assignee):
        raise ValueError("only staff who answer messages can be assigned a thread")
    thread.assigned_to_id = assignee.id if assignee else None
    db.add(thread)


def set_status(db: Session, *, thread: MessageThread, status: str) -> None:
    if status not in (OPEN, CLOSED):
        raise ValueError(f"unknown thread status {status!r}")
    thread.status = status
    db.add(thread)


def inbox_staff(db: Session) -> list[User]:
    """Everyone a thread can be assigned to, by name."""
    roles = [r.value for r in Role if r.answers_messages]
    return list(db.exec(select(User).where(col(User.role).in_(roles)).order_by(User.full_name, User.id)).all())


# --- reading ----------------------------------------------------------------------------------


def messages_in(db: Session, thread: MessageThread) -> list[tuple[Message, User | None, list[Document]]]:
    """The thread's messages, oldest first, each with its author and attachments."""
    messages = list(
        db.exec(select(Message).where(Message.thread_id == thread.id).order_by(col(Message.id))).all()
    )
    ids = [m.id for m in messages]
    attachments: dict[int, list[Document]] = {}
    if ids:
        for document in db.exec(
            select(Document).where(col(Document.message_id).in_(ids)).order_by(col(Document.uploaded_at), col(Document.id))
        ).all():
            attachments.setdefault(document.message_id or 0, []).append(document)
    authors = {u.id: u for u in db.exec(select(User).where(col(User.id).in_({m.author_id for m in messages}))).all()}
    return [(m, authors.get(m.author_id), attachments.get(m.id or 0, [])) for m in messages]


def mark_read(db: Session, *, thread: MessageThread, user: User, message_id: int | None = None) -> None:
    """``user`` has read ``thread`` up to ``message_id`` (default: its newest message)."""
    if message_id is None:
        message_id = db.exec(select(func.max(Message.id)).where(Message.thread_id == thread.id)).one() or 0
    marker = db.get(MessageRead, (user.id, thread.id))
    if marker is None:
        db.add(MessageRead(user_id=user.id or 0, thread_id=thread.id or 0, last_read_message_id=message_id))
    elif marker.last_read_message_id < message_id:
        marker.last_read_message_id = message_id
        db.add(marker)


def _unread_counts(db: Session, user: User, thread_filter) -> dict[int, int]:
    """Unread messages per thread for ``user`` among the threads ``thread_filter`` selects."""
    read = (
        select(MessageRead.last_read_message_id)
        .where(MessageRead.user_id == user.id, MessageRead.thread_id == Message.thread_id)
        .scalar_subquery()
    )
    rows = db.exec(
        select(Message.thread_id, func.count(Message.id))
        .join(MessageThread, col(MessageThread.id) == col(Message.thread_id))
        .where(thread_filter, Message.author_id != user.id, Message.id > func.coalesce(read, 0))
        .group_by(Message.thread_id)
    ).all()
    return {thread_id: count for thread_id, count in rows}


def _party_filter(user: User):
    uid = user.id or 0
    cases = select(Filing.receipt_number).where(sa.or_(Filing.applicant_id == uid, Filing.representative_id == uid))
    return col(MessageThread.receipt_number).in_(cases)


def unread_for_party(db: Session, user: User) -> dict[int, int]:
    return _unread_counts(db, user, _party_filter(user))


def unread_total(db: Session, user: User) -> int:
    """What the navigation shows: unread messages in the person's cases, or, for staff who answer
    messages, in open threads unassigned or assigned to them."""
    if works_inbox(user):
        thread_filter = sa.and_(
            MessageThread.status == OPEN,
            sa.or_(col(MessageThread.assigned_to_id).is_(None), MessageThread.assigned_to_id == user.id),
        )
    else:
        thread_filter = _party_filter(user)
    return sum(_unread_counts(db, user, thread_filter).values())


@dataclass(frozen=True)
class ThreadRow:
    thread: MessageThread
    unread: int
    assignee: User | None
    message_count: int


def _rows(db: Session, user: User, threads: list[MessageThread], unread: dict[int, int]) -> list[ThreadRow]:
    ids = [t.id for t in threads]
    counts: dict[int, int] = {}
    if ids:
        counts = dict(
            db.exec(select(Message.thread_id, func.count(Message.id)).where(col(Message.thread_id).in_(ids)).group_by(Message.thread_id)).all()
        )
    assignee_ids = {t.assigned_to_id for t in threads if t.assigned_to_id}
    assignees = {u.id: u for u in db.exec(select(User).where(col(User.id).in_(assignee_ids))).all()} if assignee_ids else {}
    return [
        ThreadRow(thread=t, unread=unread.get(t.id or 0, 0), assignee=assignees.get(t.assigned_to_id), message_count=counts.get(t.id or 0, 0))
        for t in threads
    ]


def threads_for_party(db: Session, user: User, *, receipt_number: str | None = None) -> list[ThreadRow]:
    """The threads of the person's cases (or of one of them), latest activity first."""
    statement = select(MessageThread).where(_party_filter(user))
    if receipt_number is not None:
        statement = statement.where(MessageThread.receipt_number == receipt_number)
    threads = list(db.exec(statement.order_by(col(MessageThread.last_message_at).desc(), col(MessageThread.id).desc())).all())
    return _rows(db, user, threads, unread_for_party(db, user))


def threads_for_case(db: Session, user: User, receipt_number: str) -> list[ThreadRow]:
    """Every thread of one case, for staff (the case's record), latest activity first."""
    threads = list(
        db.exec(
            select(MessageThread)
            .where(MessageThread.receipt_number == receipt_number)
            .order_by(col(MessageThread.last_message_at).desc(), col(MessageThread.id).desc())
        ).all()
    )
    return _rows(db, user, threads, _unread_counts(db, user, MessageThread.receipt_number == receipt_number))


INBOX_PAGE_SIZE = 50


def _inbox_filter(user: User, view: str):
    if view == UNASSIGNED:
        return sa.and_(MessageThread.status == OPEN, col(MessageThread.assigned_to_id).is_(None))
    if view == MINE:
        return sa.and_(MessageThread.status == OPEN, MessageThread.assigned_to_id == user.id)
    if view == CLOSED_VIEW:
        return MessageThread.status == CLOSED
    return MessageThread.status == OPEN


def inbox(db: Session, user: User, *, view: str, page: int = 1) -> tuple[list[ThreadRow], int]:
    """One page of a staff inbox view and how many threads the view holds. Threads waiting for
    staff come first, the longest waiting first; then the rest, latest activity first."""
    thread_filter = _inbox_filter(user, view if view in INBOX_VIEWS else ALL_OPEN)
    total = db.exec(select(func.count(MessageThread.id)).where(thread_filter)).one()
    waiting_first = sa.case((MessageThread.awaiting == AWAITING_STAFF, 0), else_=1)
    oldest_waiting_first = sa.case(
        (MessageThread.awaiting == AWAITING_STAFF, col(MessageThread.last_message_at)), else_=None
    )
    threads = list(
        db.exec(
            select(MessageThread)
            .where(thread_filter)
            .order_by(waiting_first, oldest_waiting_first.asc(), col(MessageThread.last_message_at).desc(), col(MessageThread.id))
            .offset((max(page, 1) - 1) * INBOX_PAGE_SIZE)
            .limit(INBOX_PAGE_SIZE)
        ).all()
    )
    ids = [t.id for t in threads]
    unread = _unread_counts(db, user, col(MessageThread.id).in_(ids)) if ids else {}
    return _rows(db, user, threads, unread), total


def inbox_counts(db: Session, user: User) -> dict[str, int]:
    """How many threads each inbox view holds."""
    return {view: db.exec(select(func.count(MessageThread.id)).where(_inbox_filter(user, view))).one() for view in INBOX_VIEWS}


# --- announcing ------------------------------------------------------------------------------


def recipients(db: Session, sent: Sent) -> list[User]:
    """Who hears of a new message by email: the case's parties other than its author."""
    filing = db.get(Filing, sent.thread.receipt_number)
    if filing is None:
        return []
    ids = [i for i in (filing.applicant_id, filing.representative_id) if i is not None and i != sent.message.author_id]
    people = [db.get(User, i) for i in dict.fromkeys(ids)]
    return [p for p in people if p is not None]


def message_email_key(message_id: int, user_id: int) -> str:
    return f"message:{message_id}:{user_id}"


def waiting_since(thread: MessageThread, now: datetime | None = None) -> int:
    """Whole days the thread has waited for staff (0 when it waits for the public)."""
    if thread.awaiting != AWAITING_STAFF:
        return 0
    return max(((now or utcnow()) - thread.last_message_at).days, 0)


__all__ = [
    "ALL_OPEN", "AWAITING_PUBLIC", "AWAITING_STAFF", "Attachment", "BODY_MAX", "CLOSED", "CLOSED_VIEW", "INBOX_PAGE_SIZE",
    "INBOX_VIEWS", "MAX_ATTACHMENTS", "MINE", "MessageRefused", "OPEN", "STAFF_TOPIC", "SUBJECT_MAX", "Sent", "TOPICS",
    "TOPIC_LABELS", "ThreadRow", "UNASSIGNED", "assign", "inbox", "inbox_counts", "inbox_staff", "mark_read",
    "message_email_key", "messages_in", "may_see_thread", "party_filings", "recipients", "reply", "set_status",
    "start_thread", "thread_for", "threads_for_case", "threads_for_party", "unread_for_party", "unread_total",
    "waiting_since", "works_inbox",
]
