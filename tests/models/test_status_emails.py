"""Status emails to everyone concerned by a change (applicant, representative, watchers who opted
in), each in their language, once even when the projection is retried; the per-account choice
(each change, a daily digest item, none); the unsubscribe tokens; delivery with List-Unsubscribe."""

from __future__ import annotations

import itertools
import mailbox
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from temporalio.testing import ActivityEnvironment

from activities.case import CaseActivities
from activities.mail import MailActivities
from activities.types import TransitionInput
from models.db import session_scope
from models.documents import LocalDocumentStore
from models.domain import Stage, StatusCode
from models.email_prefs import (
    DAILY,
    EACH,
    NONE,
    SCOPE_ALL,
    UnsubscribeRequest,
    Unsubscriber,
    apply_unsubscribe,
    change_recipients,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url_in,
    watch_scope,
)
from models.projection import RenderedEmail, apply_transition
from models.tables import DigestItem, Filing, Notice, OutboundEmail, User, WatchedCase
from tests.helpers import FILED_AT, I765_ANSWERS

BASE_URL = "https://caseline.test"
SECRET = "test-secret-for-unsubscribe-links-0123456789"
WHEN = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
_receipts = itertools.count(1)
ADDRESS_PARTS = (I765_ANSWERS["street"], I765_ANSWERS["city"], I765_ANSWERS["zip_code"])


def add_user(url: str, name: str, *, language: str = "en", frequency: str = EACH) -> User:
    with session_scope(url) as db:
        user = User(email=f"{name}.{next(_receipts)}@example.com", full_name=f"{name.title()} Rivera-Quispe",
                    language=language, password_hash="unused", case_email_frequency=frequency)
        db.add(user)
        db.flush()
        return user


def file_case(url: str, applicant: User, *, representative: User | None = None) -> str:
    receipt_number = f"IOE27003{next(_receipts):05d}"
    with session_scope(url) as db:
        db.add(Filing(receipt_number=receipt_number, form_type="I-765", applicant_id=applicant.id or 0, office="IOE",
                      answers=dict(I765_ANSWERS), filed_at=FILED_AT,
                      representative_id=representative.id if representative else None))
    return receipt_number


def watch(url: str, user: User, receipt_number: str, *, notify: bool = True) -> WatchedCase:
    with session_scope(url) as db:
        row = WatchedCase(user_id=user.id or 0, receipt_number=receipt_number, nickname="Tía Rosa's permit",
                          notify=notify)
        db.add(row)
        db.flush()
        return row


def activities(url: str, tmp_path: Path) -> CaseActivities:
    return CaseActivities(database_url=url, base_url=BASE_URL, documents=LocalDocumentStore(tmp_path / "documents"),
                          secret_key=SECRET)


def received(receipt_number: str, seq: int = 1, status: StatusCode = StatusCode.CASE_RECEIVED,
             stage: Stage = Stage.INTAKE) -> TransitionInput:
    return TransitionInput(receipt_number=receipt_number, seq=seq, occurred_at=WHEN, stage=stage.value,
                           stage_entered_at=WHEN, status_code=status.value)


def mails(url: str, receipt_number: str) -> list[OutboundEmail]:
    with session_scope(url) as db:
        return list(db.exec(select(OutboundEmail).where(OutboundEmail.receipt_number == receipt_number)
                            .order_by(OutboundEmail.id)).all())


def count(url: str, table: type, **where: Any) -> int:
    with session_scope(url) as db:
        query = select(func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        return db.exec(query).one()


def token_of(body: str) -> UnsubscribeRequest | None:
    url = unsubscribe_url_in(body)
    assert url is not None, body
    return read_unsubscribe_token(SECRET, url.split("token=", 1)[1])


# --- who gets what ---------------------------------------------------------------------------------


def test_a_change_mails_the_applicant_and_each_opted_in_watcher_once_in_their_language(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    applicant = add_user(url, "maria")
    receipt = file_case(url, applicant)
    ana, lucia, ben = add_user(url, "ana"), add_user(url, "lucia", language="es"), add_user(url, "ben")
    quiet = add_user(url, "quiet")
    watches = {user.id: watch(url, user, receipt) for user in (ana, lucia, ben)}
    watch(url, quiet, receipt, notify=False)
    case = activities(url, tmp_path)

    first = ActivityEnvironment().run(case.record_transition, received(receipt))
    retried = ActivityEnvironment().run(case.record_transition, received(receipt))  # the activity retried

    assert first.applied and not retried.applied
    assert retried.email_ids == first.email_ids and len(first.email_ids) == 4
    rows = mails(url, receipt)
    assert [row.id for row in rows] == first.email_ids
    by_address = {row.to_address: row for row in rows}
    assert set(by_address) == {applicant.email, ana.email, lucia.email, ben.email}  # not the watcher who opted out
    assert {row.idempotency_key for row in rows} == {
        f"status:{receipt}:1:{user.id}" for user in (applicant, ana, lucia, ben)
    }
    assert [by_address[u.email].language for u in (applicant, ana, lucia, ben)] == ["en", "en", "es", "en"]

    with session_scope(url) as db:
        [notice] = db.exec(select(Notice).where(Notice.receipt_number == receipt)).all()
    mine = by_address[applicant.email]
    assert mine.subject == f"Your case {receipt}: Case Was Received"
    assert f"{BASE_URL}/documents/{notice.document_id}\n" in mine.body_text  # only the applicant gets the notice
    assert f"{BASE_URL}/cases/{receipt}\n" in mine.body_text
    assert token_of(mine.body_text) == UnsubscribeRequest(applicant.id, SCOPE_ALL)

    assert by_address[ana.email].subject == f"Case {receipt}: Case Was Received"
    assert by_address[lucia.email].subject == f"Caso {receipt}: Se recibió el caso"
    assert "Recibimos su caso" in by_address[lucia.email].body_text
    for watcher in (ana, lucia, ben):
        body = by_address[watcher.email].body_text
        assert f"{BASE_URL}/status?receipt_number={receipt}\n" in body
        assert "/documents/" not in body and "/cases/" not in body and notice.verification_code not in body
        assert token_of(body) == UnsubscribeRequest(watcher.id, watch_scope(watches[watcher.id].id))
    for row in rows:  # no personal data: no name, no address, no nickname
        text = row.subject + row.body_text
        assert "Rivera" not in text and "Tía Rosa" not in text
        assert not any(part in text for part in ADDRESS_PARTS)
        assert row.body_text.rstrip().endswith(unsubscribe_url_in(row.body_text))

    # The next change: everyone again, once.
    second = ActivityEnvironment().run(case.record_transition, received(receipt, 2, StatusCode.ACTIVELY_REVIEWED,
                                                                        Stage.REVIEW))
    assert len(second.email_ids) == 4 and count(url, OutboundEmail, receipt_number=receipt) == 8


def test_the_representative_gets_the_applicants_version_and_nobody_gets_two(database_url: str, tmp_path: Path) -> None:
    url = database_url
    applicant = add_user(url, "maria", language="es")
    lawyer = add_user(url, "daniel")
    receipt = file_case(url, applicant, representative=lawyer)
    # The representative and the applicant also follow the case, opted in: still one mail each.
    watch(url, lawyer, receipt)
    watch(url, applicant, receipt)
    friend = add_user(url, "friend")
    watch(url, friend, receipt)

    result = ActivityEnvironment().run(activities(url, tmp_path).record_transition, received(receipt))

    rows = {row.to_address: row for row in mails(url, receipt)}
    assert len(result.email_ids) == 3 and set(rows) == {applicant.email, lawyer.email, friend.email}
    assert rows[applicant.email].subject.startswith(f"Su caso {receipt}")
    assert rows[lawyer.email].subject == f"Your case {receipt}: Case Was Received"
    for person in (applicant, lawyer):
        assert "/documents/" in rows[person.email].body_text
        assert token_of(rows[person.email].body_text) == UnsubscribeRequest(person.id, SCOPE_ALL)
    assert "/documents/" not in rows[friend.email].body_text


def test_daily_people_get_a_digest_item_and_none_get_nothing(database_url: str, tmp_path: Path) -> None:
    url = database_url
    applicant = add_user(url, "maria", frequency=DAILY)
    receipt = file_case(url, applicant)
    daily = add_user(url, "daily", frequency=DAILY)
    silent = add_user(url, "silent", frequency=NONE)
    each = add_user(url, "each")
    for user in (daily, silent, each):
        watch(url, user, receipt)
    case = activities(url, tmp_path)

    first = ActivityEnvironment().run(case.record_transition, received(receipt))
    again = ActivityEnvironment().run(case.record_transition, received(receipt))

    assert [row.to_address for row in mails(url, receipt)] == [each.email]
    assert first.email_ids == again.email_ids and len(first.email_ids) == 1
    with session_scope(url) as db:
        items = db.exec(select(DigestItem).order_by(DigestItem.id)).all()
    assert [(i.user_id, i.receipt_number, i.seq, i.status_code, i.occurred_at, i.sent_at) for i in items] == [
        (applicant.id, receipt, 1, "case_received", WHEN, None),
        (daily.id, receipt, 1, "case_received", WHEN, None),
    ]
    assert count(url, DigestItem, user_id=silent.id) == 0


def test_a_step_without_a_new_status_mails_nobody(database_url: str, tmp_path: Path) -> None:
    url = database_url
    applicant = add_user(url, "maria")
    receipt = file_case(url, applicant)
    watch(url, add_user(url, "ana"), receipt)
    case = activities(url, tmp_path)
    ActivityEnvironment().run(case.record_transition, received(receipt))
    step = TransitionInput(receipt_number=receipt, seq=2, occurred_at=WHEN, stage="biometrics", stage_entered_at=WHEN)
    assert ActivityEnvironment().run(case.record_transition, step).email_ids == []
    assert count(url, OutboundEmail) == 2 and count(url, DigestItem) == 0


def test_a_deadline_reminder_goes_to_the_applicant_whatever_their_choice(database_url: str, tmp_path: Path) -> None:
    url = database_url
    applicant = add_user(url, "maria", frequency=NONE)
    receipt = file_case(url, applicant)
    watch(url, add_user(url, "ana"), receipt)
    case = activities(url, tmp_path)
    assert ActivityEnvironment().run(case.record_transition, received(receipt)).email_ids != []  # the watcher's
    reminder = TransitionInput(receipt_number=receipt, seq=2, occurred_at=WHEN, stage="evidence_requested",
                               stage_entered_at=WHEN, reminder_due=datetime(2027, 2, 18, 4, 59, tzinfo=UTC))
    [email_id] = ActivityEnvironment().run(case.record_transition, reminder).email_ids
    with session_scope(url) as db:
        row = db.get(OutboundEmail, email_id)
    assert row.to_address == applicant.email and "due" in row.subject
    assert unsubscribe_url_in(row.body_text) is None  # not a case-change mail: the unsubscribe link would not stop it


def test_renderers_that_know_only_the_applicant_keep_working(database_url: str) -> None:
    """A renderer written for the applicant alone (three arguments) still works without watchers."""
    url = database_url
    applicant = add_user(url, "maria", language="es")
    receipt = file_case(url, applicant)

    def render(language: str, status: StatusCode, receipt_number: str) -> RenderedEmail:
        return RenderedEmail(subject=f"[{language}] {receipt_number}", body_text=status.value)

    with session_scope(url) as db:
        applied, [email_id] = apply_transition(
            db, receipt_number=receipt, seq=1, occurred_at=WHEN, stage="intake", stage_entered_at=WHEN,
            status_code="case_received", actor_id=None, note=None, assigned_officer_id=None, decision=None,
            overdue=False, open_task=None, task_due_at=None, close_task_kinds=[], render_email=render,
        )
    assert applied
    with session_scope(url) as db:
        assert db.get(OutboundEmail, email_id).subject == f"[es] {receipt}"


def test_concurrent_attempts_of_one_change_queue_each_mail_once(postgres_url: str, tmp_path: Path) -> None:
    """Two attempts of the same transition at once: the case row's lock (or the unique keys) make
    the second find the work done and report the same mails."""
    url = postgres_url
    applicant = add_user(url, "maria")
    receipt = file_case(url, applicant)
    for name in ("ana", "ben"):
        watch(url, add_user(url, name), receipt)
    daily = add_user(url, "daily", frequency=DAILY)
    watch(url, daily, receipt)
    case = activities(url, tmp_path)
    ActivityEnvironment().run(case.record_transition, received(receipt))
    barrier = threading.Barrier(2)

    def attempt(_: int):
        barrier.wait(timeout=30)
        return ActivityEnvironment().run(case.record_transition,
                                         received(receipt, 2, StatusCode.ACTIVELY_REVIEWED, Stage.REVIEW))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(attempt, range(2)))
    assert sorted(r.applied for r in results) == [False, True]
    assert results[0].email_ids == results[1].email_ids and len(results[0].email_ids) == 3
    assert count(url, OutboundEmail) == 6
    assert count(url, DigestItem, user_id=daily.id) == 2


def test_change_recipients_lists_each_person_once(database_url: str) -> None:
    url = database_url
    applicant = add_user(url, "maria")
    lawyer = add_user(url, "daniel", frequency=DAILY)
    receipt = file_case(url, applicant, representative=lawyer)
    friend = add_user(url, "friend", language="es")
    friend_watch = watch(url, friend, receipt)
    watch(url, lawyer, receipt)
    watch(url, add_user(url, "quiet"), receipt, notify=False)
    watch(url, add_user(url, "elsewhere"), "IOE2799999999")
    with session_scope(url) as db:
        people = change_recipients(db, receipt_number=receipt, applicant_id=applicant.id, representative_id=lawyer.id)
    assert [(p.user_id, p.language, p.frequency, p.audience, p.scope) for p in people] == [
        (applicant.id, "en", EACH, "applicant", SCOPE_ALL),
        (lawyer.id, "en", DAILY, "applicant", SCOPE_ALL),
        (friend.id, "es", EACH, "watcher", watch_scope(friend_watch.id)),
    ]


# --- unsubscribe tokens ------------------------------------------------------------------------------


def test_unsubscribe_tokens_are_signed_versioned_and_scoped() -> None:
    token = unsubscribe_token(SECRET, user_id=42, scope=SCOPE_ALL)
    assert token.startswith("v1.42.all.")
    assert read_unsubscribe_token(SECRET, token) == UnsubscribeRequest(42, SCOPE_ALL)
    one = unsubscribe_token(SECRET, user_id=42, scope=watch_scope(7))
    assert read_unsubscribe_token(SECRET, one) == UnsubscribeRequest(42, "w7")
    assert read_unsubscribe_token(SECRET, one).watched_case_id == 7

    version, user_id, scope, signature = token.split(".")
    forged = [
        f"{version}.43.{scope}.{signature}",  # another person
        f"{version}.{user_id}.w7.{signature}",  # another scope
        f"v2.{user_id}.{scope}.{signature}",  # a version we do not know
        f"{version}.{user_id}.{scope}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        token[:-3],  # cut
        "",
        "v1.42.all",
        f"{token}\n",
    ]
    assert [read_unsubscribe_token(SECRET, t) for t in forged] == [None] * len(forged)
    assert read_unsubscribe_token("another-secret", token) is None
    with pytest.raises(ValueError):
        unsubscribe_token(SECRET, user_id=42, scope="everything")


def test_unsubscribing_turns_off_what_the_token_names_and_only_that(database_url: str) -> None:
    url = database_url
    applicant = add_user(url, "maria")
    receipt = file_case(url, applicant)
    friend = add_user(url, "friend")
    first, second = watch(url, friend, receipt), watch(url, friend, file_case(url, applicant))
    with session_scope(url) as db:
        assert apply_unsubscribe(db, UnsubscribeRequest(friend.id, watch_scope(first.id))).already is False
        assert apply_unsubscribe(db, UnsubscribeRequest(friend.id, watch_scope(first.id))).already is True
        # Somebody else's watched case: nothing.
        assert apply_unsubscribe(db, UnsubscribeRequest(applicant.id, watch_scope(second.id))).exists is False
    with session_scope(url) as db:
        assert (db.get(WatchedCase, first.id).notify, db.get(WatchedCase, second.id).notify) == (False, True)
        assert db.get(User, friend.id).case_email_frequency == EACH
        apply_unsubscribe(db, UnsubscribeRequest(applicant.id, SCOPE_ALL))
    with session_scope(url) as db:
        assert db.get(User, applicant.id).case_email_frequency == NONE


# --- delivery ------------------------------------------------------------------------------------------


async def test_status_mails_are_delivered_once_with_one_click_unsubscribe_headers(
    sqlite_url: str, tmp_path: Path, smtp_sink: tuple[int, Path]
) -> None:
    url = sqlite_url
    port, maildir = smtp_sink
    applicant = add_user(url, "maria")
    receipt = file_case(url, applicant)
    friend = add_user(url, "friend", language="es")
    friend_watch = watch(url, friend, receipt)
    result = ActivityEnvironment().run(activities(url, tmp_path).record_transition, received(receipt))
    deliver = MailActivities(database_url=url, smtp_host="127.0.0.1", smtp_port=port,
                             mail_from="Caseline <no-reply@caseline.test>", timeout=5).deliver_email
    for email_id in result.email_ids:
        assert await ActivityEnvironment().run(deliver, email_id) is True
        assert await ActivityEnvironment().run(deliver, email_id) is False  # a retry sends nothing

    box = mailbox.Maildir(str(maildir), create=False)
    raw = {k: box.get_bytes(k) for k in box.keys()}
    messages = {m["To"]: (m, raw[k]) for k in raw if (m := message_from_bytes(raw[k], policy=policy.default))}
    assert set(messages) == {applicant.email, friend.email}
    unsubscriber = Unsubscriber(BASE_URL, SECRET)
    expected = {applicant.email: unsubscriber.url(applicant.id, SCOPE_ALL),
                friend.email: unsubscriber.url(friend.id, watch_scope(friend_watch.id))}
    for address, (message, sent) in messages.items():
        assert message["List-Unsubscribe"] == f"<{expected[address]}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"List-Unsubscribe: <{expected[address]}>\n".encode() in sent  # one line, not encoded-words
    assert messages[friend.email][0]["Content-Language"] == "es"
