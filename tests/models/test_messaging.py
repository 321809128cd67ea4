"""Secure messages (models.messaging), on SQLite and PostgreSQL: who may start and answer a thread,
what is refused field by field, how typed text is cleaned, the one-time form key, messages nobody can
change or delete (the triggers of migration 0006), unread counts, the staff inbox, who hears of a
message, attachments kept as case documents and who may open them."""

from __future__ import annotations

import itertools
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

import models.messaging as messaging
from models.db import get_engine, session_scope
from models.documents import EMPTY_FILE, WRONG_TYPE, LocalDocumentStore, store_upload, visible_document
from models.domain import Role
from models.messaging import (
    ALL_OPEN,
    AWAITING_PUBLIC,
    AWAITING_STAFF,
    BODY_MAX,
    BODY_REQUIRED,
    BODY_TOO_LONG,
    CLOSED,
    CLOSED_VIEW,
    FORM_EXPIRED,
    MINE,
    OPEN,
    STAFF_TOPIC,
    SUBJECT_MAX,
    SUBJECT_REQUIRED,
    SUBJECT_TOO_LONG,
    TOO_MANY_FILES,
    TOPIC_REQUIRED,
    UNASSIGNED,
    Attachment,
    MessageRefused,
    Sent,
    assign,
    clean_body,
    inbox,
    inbox_counts,
    inbox_staff,
    mark_read,
    messages_in,
    recipients,
    reply,
    set_status,
    start_thread,
    thread_for,
    threads_for_party,
    unread_for_party,
    unread_total,
    waiting_since,
)
from models.tables import Document, Filing, Message, MessageRead, MessageThread, User, utcnow
from tests.helpers import PDF, PNG, WINDOWS_EXE, file_i765

IMMUTABLE = "messages cannot be changed or deleted"

_emails = itertools.count(1)


def new_key() -> str:
    return uuid.uuid4().hex  # 32 characters of [0-9a-f]: a well-formed one-time form key


def add_user(db, name: str, role: Role = Role.APPLICANT) -> User:
    """An account that never signs in (no password hashing: argon2 is slow)."""
    user = User(email=f"{name}.{next(_emails)}@example.com", full_name=name.title(), role=role, password_hash="unused")
    db.add(user)
    db.flush()
    return user


@dataclass
class World:
    url: str
    store: LocalDocumentStore
    store_root: Path
    receipt: str  # the applicant's case, filed by the representative
    applicant: User
    representative: User
    stranger: User  # another applicant, no party to the case
    officer: User
    other_officer: User
    customer_service: User


def build_world(url: str, root: Path) -> World:
    with session_scope(url) as db:
        applicant = add_user(db, "applicant")
        representative = add_user(db, "representative", Role.REPRESENTATIVE)
        stranger = add_user(db, "stranger")
        officer = add_user(db, "officer", Role.OFFICER)
        other_officer = add_user(db, "other officer", Role.OFFICER)
        customer_service = add_user(db, "customer service", Role.CUSTOMER_SERVICE)
        filing = file_i765(db, applicant_id=applicant.id or 0, office="IOE")
        filing.representative_id = representative.id
        db.add(filing)
        receipt = filing.receipt_number
    return World(url, LocalDocumentStore(root), root, receipt, applicant, representative, stranger, officer,
                 other_officer, customer_service)


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return build_world(database_url, tmp_path / "documents")


def start(w: World, author: User, *, topic: str = "case_status", subject: str = "About my case",
          body: str = "When will my card arrive?", key: str | None = None, files=(), receipt: str | None = None) -> Sent:
    with session_scope(w.url) as db:
        filing = db.get(Filing, receipt or w.receipt)
        assert filing is not None
        return start_thread(db, w.store, filing=filing, author=author, topic=topic, subject=subject, body=body,
                            client_key=key or new_key(), files=files)


def answer(w: World, author: User, thread_id: int, *, body: str = "Thank you for your message.",
           key: str | None = None, files=()) -> Sent:
    with session_scope(w.url) as db:
        thread = db.get(MessageThread, thread_id)
        assert thread is not None
        return reply(db, w.store, thread=thread, author=author, body=body, client_key=key or new_key(), files=files)


def thread_row(w: World, thread_id: int) -> MessageThread:
    with session_scope(w.url) as db:
        thread = db.get(MessageThread, thread_id)
        assert thread is not None
        return thread


def count(url: str, model) -> int:
    with session_scope(url) as db:
        return db.exec(select(func.count()).select_from(model)).one()


def bodies(url: str) -> list[str]:
    with session_scope(url) as db:
        return list(db.exec(select(Message.body).order_by(Message.id)).all())


def set_thread(w: World, thread_id: int, **values) -> None:
    with session_scope(w.url) as db:
        thread = db.get(MessageThread, thread_id)
        assert thread is not None
        for name, value in values.items():
            setattr(thread, name, value)
        db.add(thread)


def another_case(w: World, applicant: User) -> str:
    with session_scope(w.url) as db:
        return file_i765(db, applicant_id=applicant.id or 0, office="IOE").receipt_number


# --- roles --------------------------------------------------------------------------------------


def test_customer_service_answers_messages_as_staff_but_does_not_adjudicate():
    assert Role("customer_service") is Role.CUSTOMER_SERVICE
    assert Role.CUSTOMER_SERVICE.is_staff and Role.CUSTOMER_SERVICE.answers_messages
    assert not Role.CUSTOMER_SERVICE.adjudicates
    assert {r for r in Role if r.answers_messages} == {Role.OFFICER, Role.SUPERVISOR, Role.CUSTOMER_SERVICE}


def test_the_inbox_staff_are_officers_supervisors_and_customer_service(world):
    with session_scope(world.url) as db:
        supervisor = add_user(db, "supervisor", Role.SUPERVISOR)
        add_user(db, "admin", Role.ADMIN)
    with session_scope(world.url) as db:
        ids = {u.id for u in inbox_staff(db)}
    assert ids == {world.officer.id, world.other_officer.id, world.customer_service.id, supervisor.id}


# --- starting a thread ----------------------------------------------------------------------------


def test_the_applicant_starts_a_thread_about_their_case(world):
    sent = start(world, world.applicant, topic="appointment", subject="My appointment", body="Can I move it?")
    assert sent.created and sent.attachments == []
    thread = thread_row(world, sent.thread.id)
    assert (thread.receipt_number, thread.topic, thread.subject, thread.started_by_id) == (
        world.receipt, "appointment", "My appointment", world.applicant.id)
    assert (thread.status, thread.awaiting, thread.assigned_to_id) == (OPEN, AWAITING_STAFF, None)
    with session_scope(world.url) as db:
        [message] = db.exec(select(Message)).all()
    assert (message.thread_id, message.author_id, message.from_staff, message.body) == (
        thread.id, world.applicant.id, False, "Can I move it?")


def test_the_representative_starts_a_thread_about_the_case_they_filed(world):
    sent = start(world, world.representative, topic="documents")
    thread = thread_row(world, sent.thread.id)
    assert (thread.receipt_number, thread.started_by_id, thread.topic) == (world.receipt, world.representative.id, "documents")
    assert sent.message.author_id == world.representative.id and sent.message.from_staff is False


def test_an_applicant_may_not_start_a_thread_about_someone_elses_case(world):
    with pytest.raises(PermissionError):
        start(world, world.stranger)
    assert count(world.url, MessageThread) == 0
    assert count(world.url, Message) == 0


@pytest.mark.parametrize("who", ["officer", "customer_service"])
def test_staff_start_a_thread_with_the_staff_topic_awaiting_the_public(world, who):
    author = getattr(world, who)
    sent = start(world, author, topic="no such topic", subject="Your interview", body="Please bring your passport.")
    thread = thread_row(world, sent.thread.id)
    assert (thread.topic, thread.awaiting, thread.status) == (STAFF_TOPIC, AWAITING_PUBLIC, OPEN)
    assert thread.assigned_to_id == author.id  # whoever writes first in an unassigned thread takes it
    assert sent.message.from_staff is True


# --- what is refused ------------------------------------------------------------------------------

REFUSALS = {
    "empty subject": ({"subject": "  \t "}, {"subject": SUBJECT_REQUIRED}),
    "subject too long": ({"subject": "s" * (SUBJECT_MAX + 1)}, {"subject": SUBJECT_TOO_LONG}),
    "empty body": ({"body": " \r\n \x00 "}, {"body": BODY_REQUIRED}),
    "body too long": ({"body": "b" * (BODY_MAX + 1)}, {"body": BODY_TOO_LONG}),
    "unknown topic": ({"topic": "lottery"}, {"topic": TOPIC_REQUIRED}),
    "no topic": ({"topic": ""}, {"topic": TOPIC_REQUIRED}),
    "the staff topic": ({"topic": STAFF_TOPIC}, {"topic": TOPIC_REQUIRED}),
    "four files": ({"files": [Attachment(PDF, f"page{i}.pdf") for i in range(4)]}, {"files": TOO_MANY_FILES}),
    "a program": ({"files": [Attachment(PDF, "ok.pdf"), Attachment(WINDOWS_EXE, "scan.pdf")]}, {"files": WRONG_TYPE}),
    "an empty file": ({"files": [Attachment(b"", "empty.pdf")]}, {"files": EMPTY_FILE}),
    "short key": ({"key": "abc123"}, {"body": FORM_EXPIRED}),
    "key with punctuation": ({"key": "0123456789abcdef!"}, {"body": FORM_EXPIRED}),
    "key too long": ({"key": "k" * 65}, {"body": FORM_EXPIRED}),
    "everything at once": ({"topic": "x", "subject": "", "files": [Attachment(WINDOWS_EXE, "a.exe")]},
                           {"topic": TOPIC_REQUIRED, "subject": SUBJECT_REQUIRED, "files": WRONG_TYPE}),
}


@pytest.mark.parametrize("given, errors", list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_new_thread_is_refused_field_by_field_and_nothing_is_written(world, given, errors):
    with pytest.raises(MessageRefused) as refused:
        start(world, world.applicant, **given)
    assert refused.value.errors == errors
    assert count(world.url, MessageThread) == 0
    assert count(world.url, Message) == 0
    assert count(world.url, Document) == 0
    assert not world.store_root.exists() or not any(p.is_file() for p in world.store_root.rglob("*"))


def test_the_longest_subject_and_body_are_accepted(world):
    sent = start(world, world.applicant, subject="s" * SUBJECT_MAX, body="b" * BODY_MAX,
                 files=[Attachment(PDF, f"{i}.pdf") for i in range(3)])
    assert thread_row(world, sent.thread.id).subject == "s" * SUBJECT_MAX
    assert bodies(world.url) == ["b" * BODY_MAX]
    assert count(world.url, Document) == 3


REPLY_REFUSALS = {
    "empty body": ({"body": "\r\n"}, {"body": BODY_REQUIRED}),
    "body too long": ({"body": "b" * (BODY_MAX + 1)}, {"body": BODY_TOO_LONG}),
    "four files": ({"files": [Attachment(PNG, "p.png")] * 4}, {"files": TOO_MANY_FILES}),
    "a program": ({"files": [Attachment(WINDOWS_EXE, "letter.pdf")]}, {"files": WRONG_TYPE}),
    "bad key": ({"key": "not a key"}, {"body": FORM_EXPIRED}),
}


@pytest.mark.parametrize("given, errors", list(REPLY_REFUSALS.values()), ids=list(REPLY_REFUSALS))
def test_a_reply_is_refused_field_by_field_and_nothing_is_written(world, given, errors):
    sent = start(world, world.applicant)
    before = thread_row(world, sent.thread.id)
    with pytest.raises(MessageRefused) as refused:
        answer(world, world.officer, sent.thread.id, **given)
    assert refused.value.errors == errors
    assert count(world.url, Message) == 1 and count(world.url, Document) == 0
    after = thread_row(world, sent.thread.id)
    assert (after.assigned_to_id, after.awaiting, after.last_message_at) == (None, AWAITING_STAFF, before.last_message_at)


def test_no_one_outside_the_case_may_reply(world):
    sent = start(world, world.applicant)
    with pytest.raises(PermissionError):
        answer(world, world.stranger, sent.thread.id)
    assert count(world.url, Message) == 1


# --- cleaning what was typed ------------------------------------------------------------------------


def test_typed_text_is_cleaned_before_it_is_stored(world):
    sent = start(world, world.applicant, subject="  My \t card\r\n  never\x07 came  ",
                 body="\r\n Line one  \r\nLine two\rLine three\x00\x1b[31m red\x7f\n\tindented\t\n\n")
    with session_scope(world.url) as db:
        thread = db.get(MessageThread, sent.thread.id)
        [body] = db.exec(select(Message.body)).all()
    assert thread is not None and thread.subject == "My card never came"
    assert body == "Line one\nLine two\nLine three[31m red\n\tindented"


def test_cleaning_removes_every_control_character_but_line_breaks_and_tabs():
    # The module promises "no other control characters"; C1 controls (U+0080 to U+009F, e.g. NEL
    # and the terminal escape CSI) are control characters too.
    cleaned = clean_body("before\x85after\x9b2J\x90end\tok\nnext")
    leftover = [hex(ord(c)) for c in cleaned if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    assert leftover == []


# --- the one-time form key ----------------------------------------------------------------------------


def test_the_same_new_thread_form_sent_twice_stores_one_message(world):
    key = new_key()
    first = start(world, world.applicant, key=key, files=[Attachment(PDF, "passport.pdf")])
    again = start(world, world.applicant, key=key, files=[Attachment(PDF, "passport.pdf")])
    assert first.created and not again.created
    assert (again.thread.id, again.message.id) == (first.thread.id, first.message.id)
    assert [d.id for d in again.attachments] == [d.id for d in first.attachments]
    assert (count(world.url, MessageThread), count(world.url, Message), count(world.url, Document)) == (1, 1, 1)


def test_the_same_reply_sent_twice_stores_one_message(world):
    thread_id = start(world, world.applicant).thread.id
    key = new_key()
    first = answer(world, world.officer, thread_id, key=key, body="We have your file.")
    again = answer(world, world.officer, thread_id, key=key, body="We have your file.")
    assert first.created and not again.created
    assert again.message.id == first.message.id and again.thread.id == thread_id
    assert bodies(world.url) == ["When will my card arrive?", "We have your file."]


def test_a_form_key_someone_else_used_is_refused(world):
    key = new_key()
    thread_id = start(world, world.applicant, key=key).thread.id
    with pytest.raises(MessageRefused) as refused:
        start(world, world.representative, key=key)
    assert refused.value.errors == {"body": FORM_EXPIRED}
    with pytest.raises(MessageRefused) as refused:
        answer(world, world.officer, thread_id, key=key)
    assert refused.value.errors == {"body": FORM_EXPIRED}
    assert (count(world.url, MessageThread), count(world.url, Message)) == (1, 1)
    assert thread_row(world, thread_id).assigned_to_id is None


def test_a_form_key_from_another_thread_is_refused_in_a_reply(world):
    key = new_key()
    start(world, world.applicant, key=key, subject="First")
    second = start(world, world.applicant, subject="Second").thread.id
    with pytest.raises(MessageRefused) as refused:
        answer(world, world.applicant, second, key=key)
    assert refused.value.errors == {"body": FORM_EXPIRED}
    assert count(world.url, Message) == 2


# --- replies and the thread's state -------------------------------------------------------------------


def test_a_staff_reply_takes_an_unassigned_thread_and_waits_for_the_public(world):
    sent = start(world, world.applicant)
    answered = answer(world, world.customer_service, sent.thread.id)
    thread = thread_row(world, sent.thread.id)
    assert (thread.assigned_to_id, thread.awaiting, thread.status) == (world.customer_service.id, AWAITING_PUBLIC, OPEN)
    assert answered.message.from_staff is True
    assert thread.last_message_at == answered.message.sent_at >= sent.message.sent_at


def test_a_staff_reply_leaves_a_thread_with_its_assignee(world):
    thread_id = start(world, world.applicant).thread.id
    with session_scope(world.url) as db:
        assign(db, thread=db.get(MessageThread, thread_id), assignee=world.other_officer)
    answer(world, world.officer, thread_id)
    assert thread_row(world, thread_id).assigned_to_id == world.other_officer.id


def test_an_applicant_reply_reopens_a_closed_thread_and_waits_for_staff(world):
    thread_id = start(world, world.applicant).thread.id
    answer(world, world.officer, thread_id)
    with session_scope(world.url) as db:
        set_status(db, thread=db.get(MessageThread, thread_id), status=CLOSED)
    assert (thread_row(world, thread_id).status, thread_row(world, thread_id).awaiting) == (CLOSED, AWAITING_PUBLIC)
    answer(world, world.applicant, thread_id, body="It still has not arrived.")
    thread = thread_row(world, thread_id)
    assert (thread.status, thread.awaiting, thread.assigned_to_id) == (OPEN, AWAITING_STAFF, world.officer.id)


def test_only_inbox_staff_can_be_assigned_and_only_known_statuses_set(world):
    thread_id = start(world, world.applicant).thread.id
    with session_scope(world.url) as db:
        thread = db.get(MessageThread, thread_id)
        with pytest.raises(ValueError):
            assign(db, thread=thread, assignee=world.applicant)
        with pytest.raises(ValueError):
            set_status(db, thread=thread, status="archived")
    thread = thread_row(world, thread_id)
    assert (thread.assigned_to_id, thread.status) == (None, OPEN)


# --- messages never change ------------------------------------------------------------------------


def test_the_database_refuses_an_orm_update_of_a_message(world):
    message_id = start(world, world.applicant, body="The original words").message.id
    with pytest.raises(sa.exc.DatabaseError, match=IMMUTABLE):
        with session_scope(world.url) as db:
            message = db.get(Message, message_id)
            message.body = "Words put in my mouth"
            db.add(message)
    assert bodies(world.url) == ["The original words"]


def test_the_database_refuses_an_orm_delete_of_a_message(world):
    message_id = start(world, world.applicant, body="The original words").message.id
    with pytest.raises(sa.exc.DatabaseError, match=IMMUTABLE):
        with session_scope(world.url) as db:
            db.delete(db.get(Message, message_id))
    assert bodies(world.url) == ["The original words"]


@pytest.mark.parametrize("statement", [
    "UPDATE message SET body = 'x'",
    "UPDATE message SET client_key = client_key || 'x'",
    "DELETE FROM message",
    "DELETE FROM message WHERE id = (SELECT MIN(id) FROM message)",
])
def test_the_database_refuses_sql_that_changes_or_deletes_messages(world, statement):
    thread_id = start(world, world.applicant, body="The original words").thread.id
    answer(world, world.officer, thread_id, body="Our answer")
    with pytest.raises(sa.exc.DatabaseError, match=IMMUTABLE):
        with get_engine(world.url).begin() as connection:
            connection.execute(sa.text(statement))
    assert bodies(world.url) == ["The original words", "Our answer"]


COPY_OF_MESSAGE = ("INTO message (id, thread_id, author_id, from_staff, body, client_key, sent_at) "
                   "SELECT id, thread_id, author_id, from_staff, 'forged', client_key, sent_at FROM message WHERE id = :id")


def test_the_database_refuses_an_upsert_over_a_message(world):
    message_id = start(world, world.applicant, body="The original words").message.id
    with pytest.raises(sa.exc.DatabaseError, match=IMMUTABLE):
        with get_engine(world.url).begin() as connection:
            connection.execute(sa.text(f"INSERT {COPY_OF_MESSAGE} ON CONFLICT (id) DO UPDATE SET body = 'forged'"),
                               {"id": message_id})
    assert bodies(world.url) == ["The original words"]


def test_sqlite_refuses_insert_or_replace_over_a_message(sqlite_url, tmp_path):
    # REPLACE deletes the row in its way without firing DELETE triggers (SQLite fires them only
    # with recursive_triggers on): the migration promises a message cannot be rewritten whatever tries.
    w = build_world(sqlite_url, tmp_path / "documents")
    message_id = start(w, w.applicant, body="The original words").message.id
    try:
        with get_engine(sqlite_url).begin() as connection:
            connection.execute(sa.text(f"INSERT OR REPLACE {COPY_OF_MESSAGE}"), {"id": message_id})
    except sa.exc.DatabaseError as refused:
        assert IMMUTABLE in str(refused)
    assert bodies(sqlite_url) == ["The original words"]


def test_postgresql_refuses_truncating_the_messages(postgres_url, tmp_path):
    # Row triggers do not fire on TRUNCATE; a statement trigger refuses it.
    w = build_world(postgres_url, tmp_path / "documents")
    start(w, w.applicant, body="The original words")
    with pytest.raises(sa.exc.DatabaseError, match=IMMUTABLE):
        with get_engine(postgres_url).begin() as connection:
            connection.execute(sa.text("TRUNCATE message CASCADE"))
    assert bodies(postgres_url) == ["The original words"]


def test_a_thread_state_still_changes_while_its_messages_do_not(world):
    thread_id = start(world, world.applicant).thread.id
    with session_scope(world.url) as db:
        set_status(db, thread=db.get(MessageThread, thread_id), status=CLOSED)
    assert thread_row(world, thread_id).status == CLOSED


# --- unread messages --------------------------------------------------------------------------------


def test_unread_messages_of_the_applicant_and_the_representative(world):
    thread_id = start(world, world.applicant).thread.id
    with session_scope(world.url) as db:
        assert unread_for_party(db, world.applicant) == {}
        assert unread_for_party(db, world.representative) == {thread_id: 1}
        assert unread_for_party(db, world.stranger) == {}
    answer(world, world.officer, thread_id)
    with session_scope(world.url) as db:
        assert unread_for_party(db, world.applicant) == {thread_id: 1}
        assert unread_for_party(db, world.representative) == {thread_id: 2}
        assert (unread_total(db, world.applicant), unread_total(db, world.representative)) == (1, 2)
        mark_read(db, thread=db.get(MessageThread, thread_id), user=world.applicant)
    with session_scope(world.url) as db:
        assert unread_total(db, world.applicant) == 0
        assert unread_total(db, world.representative) == 2
        mark_read(db, thread=db.get(MessageThread, thread_id), user=world.representative)
    with session_scope(world.url) as db:
        assert unread_for_party(db, world.representative) == {}
        assert unread_total(db, world.representative) == 0


def test_a_reply_counts_as_having_read_the_thread_up_to_it(world):
    thread_id = start(world, world.applicant).thread.id
    answer(world, world.officer, thread_id)
    answer(world, world.applicant, thread_id, body="Thanks!")
    with session_scope(world.url) as db:
        assert unread_total(db, world.applicant) == 0
        assert unread_for_party(db, world.representative) == {thread_id: 3}


def test_ones_own_messages_never_count_as_unread(world):
    thread_id = start(world, world.applicant).thread.id
    answer(world, world.applicant, thread_id, body="One more thing.")
    answer(world, world.applicant, thread_id, body="And another.")
    with session_scope(world.url) as db:  # without any read marker, still nothing unread
        db.exec(sa.delete(MessageRead))
    with session_scope(world.url) as db:
        assert count(world.url, MessageRead) == 0
        assert unread_for_party(db, world.applicant) == {}
        assert unread_total(db, world.applicant) == 0
        assert unread_total(db, world.representative) == 3


def test_marking_read_never_goes_back(world):
    first = start(world, world.representative)
    thread_id = first.thread.id
    answer(world, world.officer, thread_id)
    with session_scope(world.url) as db:
        mark_read(db, thread=db.get(MessageThread, thread_id), user=world.applicant)
    with session_scope(world.url) as db:
        mark_read(db, thread=db.get(MessageThread, thread_id), user=world.applicant, message_id=first.message.id)
    with session_scope(world.url) as db:
        marker = db.get(MessageRead, (world.applicant.id, thread_id))
        newest = db.exec(select(func.max(Message.id))).one()
        assert marker is not None and marker.last_read_message_id == newest
        assert unread_total(db, world.applicant) == 0


def make_inbox(w: World) -> dict[str, int]:
    """Four threads: unassigned, the officer's (two messages), the other officer's, and a closed one."""
    threads = {name: start(w, w.applicant, subject=name).thread.id for name in ("unassigned", "mine", "theirs", "closed")}
    answer(w, w.applicant, threads["mine"], body="Also, my address changed.")
    with session_scope(w.url) as db:
        assign(db, thread=db.get(MessageThread, threads["mine"]), assignee=w.officer)
        assign(db, thread=db.get(MessageThread, threads["theirs"]), assignee=w.other_officer)
        set_status(db, thread=db.get(MessageThread, threads["closed"]), status=CLOSED)
    return threads


def test_staff_unread_counts_open_threads_unassigned_or_assigned_to_them(world):
    threads = make_inbox(world)
    with session_scope(world.url) as db:
        assert unread_total(db, world.officer) == 1 + 2  # unassigned + mine; not theirs, not closed
        assert unread_total(db, world.other_officer) == 1 + 1
        assert unread_total(db, world.customer_service) == 1
        mark_read(db, thread=db.get(MessageThread, threads["mine"]), user=world.officer)
    with session_scope(world.url) as db:
        assert unread_total(db, world.officer) == 1
        assert unread_total(db, world.other_officer) == 2  # one person's reading is not another's


# --- the staff inbox -----------------------------------------------------------------------------


def test_the_inbox_views_and_their_counts(world):
    threads = make_inbox(world)
    with session_scope(world.url) as db:
        views = {view: inbox(db, world.officer, view=view) for view in (UNASSIGNED, MINE, ALL_OPEN, CLOSED_VIEW)}
        counts = inbox_counts(db, world.officer)
        other = inbox_counts(db, world.other_officer)
        unknown_view = inbox(db, world.officer, view="everything")
    ids = {view: {row.thread.id for row in rows} for view, (rows, _) in views.items()}
    assert ids == {
        UNASSIGNED: {threads["unassigned"]},
        MINE: {threads["mine"]},
        ALL_OPEN: {threads["unassigned"], threads["mine"], threads["theirs"]},
        CLOSED_VIEW: {threads["closed"]},
    }
    assert {view: total for view, (_, total) in views.items()} == counts == {
        UNASSIGNED: 1, MINE: 1, ALL_OPEN: 3, CLOSED_VIEW: 1}
    assert other == {UNASSIGNED: 1, MINE: 1, ALL_OPEN: 3, CLOSED_VIEW: 1}
    assert {row.thread.id for row in unknown_view[0]} == ids[ALL_OPEN]
    [mine] = views[MINE][0]
    assert (mine.message_count, mine.unread, mine.assignee.id) == (2, 2, world.officer.id)
    rows = {row.thread.id: row for row in views[ALL_OPEN][0]}
    assert rows[threads["theirs"]].assignee.id == world.other_officer.id
    assert rows[threads["unassigned"]].assignee is None


def test_the_inbox_puts_threads_waiting_for_staff_first_the_longest_waiting_first(world):
    now = utcnow()
    plan = {  # name: (awaiting, last message days ago)
        "public recent": (AWAITING_PUBLIC, 2),
        "staff recent": (AWAITING_STAFF, 1),
        "public old": (AWAITING_PUBLIC, 3),
        "staff old": (AWAITING_STAFF, 5),
        "staff oldest": (AWAITING_STAFF, 9),
    }
    ids = {}
    for name, (awaiting, days) in plan.items():
        ids[name] = start(world, world.applicant, subject=name).thread.id
        set_thread(world, ids[name], awaiting=awaiting, last_message_at=now - timedelta(days=days))
    with session_scope(world.url) as db:
        rows, total = inbox(db, world.officer, view=ALL_OPEN)
    assert total == 5
    assert [row.thread.subject for row in rows] == ["staff oldest", "staff old", "staff recent", "public recent", "public old"]
    assert [waiting_since(row.thread, now) for row in rows] == [9, 5, 1, 0, 0]


def test_the_inbox_comes_in_pages(world, monkeypatch):
    monkeypatch.setattr(messaging, "INBOX_PAGE_SIZE", 2)
    now = utcnow()
    ids = []
    for days in range(5):
        ids.append(start(world, world.applicant, subject=f"waiting {days} days").thread.id)
        set_thread(world, ids[-1], last_message_at=now - timedelta(days=days))
    with session_scope(world.url) as db:
        pages = [inbox(db, world.officer, view=UNASSIGNED, page=page) for page in (1, 2, 3, 4)]
        first_again, _ = inbox(db, world.officer, view=UNASSIGNED, page=0)
    assert [len(rows) for rows, _ in pages] == [2, 2, 1, 0]
    assert {total for _, total in pages} == {5}
    assert [row.thread.id for rows, _ in pages for row in rows] == list(reversed(ids))  # the longest waiting first
    assert [row.thread.id for row in first_again] == [row.thread.id for row in pages[0][0]]


# --- who hears of a message ---------------------------------------------------------------------------


@pytest.mark.parametrize("author, expected", [
    ("officer", {"applicant", "representative"}),
    ("customer_service", {"applicant", "representative"}),
    ("representative", {"applicant"}),
    ("applicant", {"representative"}),
])
def test_the_parties_other_than_the_author_hear_of_a_message(world, author, expected):
    sent = start(world, getattr(world, author))
    with session_scope(world.url) as db:
        people = recipients(db, sent)
    assert sorted(p.id for p in people) == sorted(getattr(world, name).id for name in expected)


def test_an_applicant_without_a_representative_hears_of_staff_replies_only(world):
    receipt = another_case(world, world.stranger)
    sent = start(world, world.stranger, receipt=receipt)
    with session_scope(world.url) as db:
        assert recipients(db, sent) == []
    answered = answer(world, world.officer, sent.thread.id)
    with session_scope(world.url) as db:
        assert [p.id for p in recipients(db, answered)] == [world.stranger.id]


# --- attachments ----------------------------------------------------------------------------------------


def test_attachments_are_kept_as_message_documents_of_the_case(world):
    sent = start(world, world.applicant, files=[Attachment(PDF, "../../etc/passport.pdf"), Attachment(PNG, "photo.png")])
    answered = answer(world, world.officer, sent.thread.id, body="Received, thank you.")
    with session_scope(world.url) as db:
        documents = list(db.exec(select(Document).order_by(Document.display_name)).all())
        listed = messages_in(db, db.get(MessageThread, sent.thread.id))
    assert [(d.kind, d.message_id, d.receipt_number, d.owner_id) for d in documents] == [
        ("message", sent.message.id, world.receipt, world.applicant.id)] * 2
    assert [(d.display_name, d.content_type) for d in documents] == [("passport.pdf", "application/pdf"),
                                                                     ("photo.png", "image/png")]
    assert {world.store.get(d.sha256) for d in documents} == {PDF, PNG}
    assert [(m.id, author.id, {d.id for d in files}) for m, author, files in listed] == [
        (sent.message.id, world.applicant.id, {d.id for d in documents}),
        (answered.message.id, world.officer.id, set()),
    ]
    assert {d.id for d in sent.attachments} == {d.id for d in documents}


def test_customer_service_opens_message_attachments_but_not_other_case_documents(world):
    sent = start(world, world.applicant, files=[Attachment(PDF, "letter.pdf")])
    [attachment] = sent.attachments
    with session_scope(world.url) as db:
        evidence = store_upload(db, world.store, data=PNG, raw_name="birth.png", owner_id=world.applicant.id or 0,
                                kind="evidence", receipt_number=world.receipt)
        admin = add_user(db, "admin", Role.ADMIN)
    with session_scope(world.url) as db:
        def sees(user: User, document: Document) -> bool:
            found = visible_document(db, document.id, user)
            assert found is None or found.id == document.id
            return found is not None

        assert sees(world.customer_service, attachment)
        assert not sees(world.customer_service, evidence)
        assert sees(world.officer, attachment) and sees(world.officer, evidence)
        assert sees(world.applicant, attachment) and sees(world.representative, attachment)
        assert not sees(world.stranger, attachment) and not sees(world.stranger, evidence)
        assert not sees(admin, attachment)


# --- finding a thread ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "", "1.5", "99999999999999999999", str(2**63), "424242"])
def test_a_malformed_or_unknown_thread_id_finds_nothing(world, raw):
    start(world, world.applicant)
    with session_scope(world.url) as db:
        assert thread_for(db, raw, world.officer) is None


def test_a_thread_is_found_only_by_those_who_may_see_it(world):
    thread_id = start(world, world.applicant).thread.id
    with session_scope(world.url) as db:
        for user in (world.applicant, world.representative, world.officer, world.customer_service):
            found = thread_for(db, str(thread_id), user)
            assert found is not None and found.id == thread_id
        assert thread_for(db, thread_id, world.applicant).id == thread_id
        assert thread_for(db, str(thread_id), world.stranger) is None


def test_a_party_lists_the_threads_of_their_cases_latest_first(world):
    now = utcnow()
    older = start(world, world.applicant, subject="older").thread.id
    newer = start(world, world.representative, subject="newer").thread.id
    set_thread(world, older, last_message_at=now - timedelta(days=2))
    elsewhere = another_case(world, world.stranger)
    start(world, world.stranger, receipt=elsewhere, subject="not yours")
    with session_scope(world.url) as db:
        rows = threads_for_party(db, world.applicant)
        theirs = threads_for_party(db, world.stranger)
        none = threads_for_party(db, world.applicant, receipt_number=elsewhere)
    assert [(r.thread.id, r.unread, r.message_count) for r in rows] == [(newer, 1, 1), (older, 0, 1)]
    assert [r.thread.subject for r in theirs] == ["not yours"]
    assert none == []
