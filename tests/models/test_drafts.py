"""Drafts expire 30 days after their last change, with warnings 7 days and 1 day before (on SQLite
and PostgreSQL)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

import i18n
from activities.housekeeping import EXPIRY_SUBJECT, HousekeepingActivities
from models.db import session_scope
from models.documents import LocalDocumentStore, store_upload
from models.drafts import (
    BATCH_SIZE,
    DRAFT_LIFETIME,
    WARN_DAYS,
    ExpiryWarning,
    SweepResult,
    _delete_expired,
    _queue_warning,
    draft_expires_at,
    sweep_drafts,
    warning_due,
)
from models.tables import Document, Draft, OutboundEmail, Payment, User

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)  # 06:00 in New York, when the schedule runs
BASE_URL = "https://caseline.test"
RENDER = HousekeepingActivities(database_url="unused", base_url=BASE_URL + "/").render_expiry_email
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
ANSWERS = {"family_name": "Rivera", "given_name": "Ana", "date_of_birth": "1990-04-27", "eligibility_category": "c8"}


def add_user(url: str, name: str, *, language: str = "en") -> int:
    """An account that never signs in (no password hashing)."""
    with session_scope(url) as db:
        user = User(email=f"{name}.{uuid.uuid4().hex[:8]}@example.com", full_name=name.title(), language=language,
                    password_hash="unused")
        db.add(user)
        db.flush()
        return user.id


def add_draft(url: str, user_id: int, *, changed: datetime, warned: int | None = None, form_type: str = "I-765") -> str:
    with session_scope(url) as db:
        draft = Draft(id=str(uuid.uuid4()), user_id=user_id, form_type=form_type, answers=dict(ANSWERS),
                      created_at=changed - timedelta(days=1), updated_at=changed, expiry_warning_days=warned)
        db.add(draft)
        return draft.id


def add_payment(url: str, user_id: int, draft_id: str, *, status: str) -> str:
    with session_scope(url) as db:
        payment = Payment(id=str(uuid.uuid4()), idempotency_key=f"fee:{uuid.uuid4().hex}", user_id=user_id,
                          draft_id=draft_id, form_type="I-765", amount_cents=47000,
                          provider_intent_id=f"pi_{uuid.uuid4().hex}", status=status)
        db.add(payment)
        return payment.id


def add_upload(url: str, store: LocalDocumentStore, user_id: int, draft_id: str, data: bytes = PDF) -> str:
    with session_scope(url) as db:
        return store_upload(db, store, data=data, raw_name="passport.pdf", owner_id=user_id, kind="evidence",
                            draft_id=draft_id).id


def save(url: str, draft_id: str, *, at: datetime) -> None:
    """What the e-filing pages do when a draft is saved."""
    with session_scope(url) as db:
        draft = db.get(Draft, draft_id)
        draft.updated_at = at
        draft.expiry_warning_days = None


def sweep(url: str, now: datetime, **kw) -> SweepResult:
    with session_scope(url) as db:
        return sweep_drafts(db, now=now, render=RENDER, **kw)


def draft(url: str, draft_id: str) -> Draft | None:
    with session_scope(url) as db:
        return db.get(Draft, draft_id)


def mails(url: str) -> list[OutboundEmail]:
    with session_scope(url) as db:
        return list(db.exec(select(OutboundEmail).order_by(col(OutboundEmail.id))).all())


def mark_sent(url: str) -> None:
    with session_scope(url) as db:
        for row in db.exec(select(OutboundEmail)).all():
            row.status = "sent"


def warnings_sent(url: str, draft_id: str) -> list[int]:
    """The warnings queued for a draft, by days left, in order."""
    return [int(m.idempotency_key.split(":")[2]) for m in mails(url) if m.idempotency_key.split(":")[1] == draft_id]


def test_constants_and_expiry_date() -> None:
    assert DRAFT_LIFETIME == timedelta(days=30)
    assert WARN_DAYS == (7, 1)
    assert BATCH_SIZE == 500
    assert draft_expires_at(Draft(id="d", user_id=1, form_type="I-765", updated_at=NOW)) == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    ("age", "last_warning", "due"),
    [
        (timedelta(days=22, hours=23), None, None),
        (timedelta(days=23), None, 7),
        (timedelta(days=25), None, 7),
        (timedelta(days=25), 7, None),
        (timedelta(days=28, hours=23), 7, None),
        (timedelta(days=29), 7, 1),
        (timedelta(days=29, hours=12), None, 1),  # found late: only the 1-day warning
        (timedelta(days=29, hours=12), 1, None),
        (timedelta(days=30), None, None),  # expired: deleted, not warned
    ],
)
def test_warning_due(age: timedelta, last_warning: int | None, due: int | None) -> None:
    assert warning_due(updated_at=NOW - age, last_warning=last_warning, now=NOW) == due


def test_warnings_at_seven_days_and_one_day_left_then_deletion(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    changed = NOW - timedelta(days=40)
    draft_id = add_draft(database_url, owner, changed=changed)

    def at(days: float) -> SweepResult:
        return sweep(database_url, changed + timedelta(days=days))

    assert at(22.99).queued == 0
    first = at(23)  # 7 days left
    assert (first.queued, first.deleted) == (1, 0)
    assert draft(database_url, draft_id).expiry_warning_days == 7
    assert at(23.5).queued == 0 and at(28.99).queued == 0
    second = at(29)  # 1 day left
    assert (second.queued, second.deleted) == (1, 0)
    assert draft(database_url, draft_id).expiry_warning_days == 1
    assert at(29.5).queued == 0
    assert at(29.99).deleted == 0
    assert warnings_sent(database_url, draft_id) == [7, 1]

    last = at(30)
    assert (last.queued, last.deleted) == (0, 1)
    assert draft(database_url, draft_id) is None
    assert len(mails(database_url)) == 2  # no mail about the deletion itself


def test_a_draft_found_within_the_last_day_gets_only_the_one_day_warning(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    draft_id = add_draft(database_url, owner, changed=NOW - timedelta(days=29, hours=12))

    result = sweep(database_url, NOW)

    assert result.queued == 1
    assert warnings_sent(database_url, draft_id) == [1]
    assert draft(database_url, draft_id).expiry_warning_days == 1
    assert sweep(database_url, NOW + timedelta(hours=6)).queued == 0
    assert warnings_sent(database_url, draft_id) == [1]


def test_a_sweep_run_twice_queues_each_warning_once(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    changed = NOW - timedelta(days=24)
    draft_id = add_draft(database_url, owner, changed=changed)

    first = sweep(database_url, NOW)
    mark_sent(database_url)  # delivered by the workflow
    again = sweep(database_url, NOW)

    assert (first.queued, len(first.email_ids)) == (1, 1)
    assert (again.queued, again.email_ids) == (0, [])
    [mail] = mails(database_url)
    assert mail.id == first.email_ids[0]
    assert mail.idempotency_key == f"draft-expiry:{draft_id}:7:{changed.isoformat()}"


def test_a_retried_sweep_hands_over_the_mail_an_interrupted_one_queued(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    add_draft(database_url, owner, changed=NOW - timedelta(days=24))
    first = sweep(database_url, NOW)  # ...and the run failed before delivering

    retried = sweep(database_url, NOW + timedelta(minutes=5))
    assert (retried.queued, retried.email_ids) == (0, first.email_ids)
    # Tomorrow's sweep does not pick up yesterday's mail again.
    assert sweep(database_url, NOW + timedelta(days=1, minutes=1)).email_ids == []


def test_a_save_starts_a_new_cycle(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    changed = NOW - timedelta(days=30)
    draft_id = add_draft(database_url, owner, changed=changed)
    assert sweep(database_url, changed + timedelta(days=23)).queued == 1  # 7 days left
    assert sweep(database_url, changed + timedelta(days=29)).queued == 1  # 1 day left

    saved_at = changed + timedelta(days=29, hours=6)
    save(database_url, draft_id, at=saved_at)

    assert sweep(database_url, changed + timedelta(days=30)).deleted == 0  # the old deadline has passed
    assert sweep(database_url, saved_at + timedelta(days=22)).queued == 0
    assert sweep(database_url, saved_at + timedelta(days=23)).queued == 1
    assert sweep(database_url, saved_at + timedelta(days=29)).queued == 1
    assert warnings_sent(database_url, draft_id) == [7, 1, 7, 1]
    assert len({m.idempotency_key for m in mails(database_url)}) == 4
    assert sweep(database_url, saved_at + timedelta(days=30)).deleted == 1


def test_deletion_takes_the_uploads_and_unpaid_payments(database_url: str, tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "store")
    owner = add_user(database_url, "ana")
    draft_id = add_draft(database_url, owner, changed=NOW - timedelta(days=30, minutes=1), warned=1)
    uploads = [add_upload(database_url, store, owner, draft_id), add_upload(database_url, store, owner, draft_id, PDF + b" ")]
    declined = add_payment(database_url, owner, draft_id, status="requires_payment")
    # The same bytes kept for another draft of the same person, which is still fresh.
    fresh = add_draft(database_url, owner, changed=NOW - timedelta(days=2))
    shared = add_upload(database_url, store, owner, fresh)
    fresh_payment = add_payment(database_url, owner, fresh, status="requires_payment")

    with session_scope(database_url) as db:
        deleted_sha = [db.get(Document, doc).sha256 for doc in uploads]

    result = sweep(database_url, NOW)

    assert (result.deleted, result.kept_paid, result.queued) == (1, 0, 0)
    with session_scope(database_url) as db:
        assert db.get(Draft, draft_id) is None
        assert all(db.get(Document, doc) is None for doc in uploads)
        assert db.get(Payment, declined) is None
        assert db.get(Draft, fresh) is not None
        assert db.get(Document, shared) is not None
        assert db.get(Payment, fresh_payment) is not None
        sha = db.get(Document, shared).sha256
    assert store.get(sha) == PDF  # the stored bytes stay: they are content-addressed and shared
    assert store.get(deleted_sha[1]) == PDF + b" "


def test_a_paid_draft_is_kept_and_logged(database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LocalDocumentStore(tmp_path / "store")
    owner = add_user(database_url, "ana")
    draft_id = add_draft(database_url, owner, changed=NOW - timedelta(days=45), warned=1)
    upload = add_upload(database_url, store, owner, draft_id)
    paid = add_payment(database_url, owner, draft_id, status="succeeded")
    retried = add_payment(database_url, owner, draft_id, status="requires_payment")

    with caplog.at_level(logging.WARNING, logger="caseline.drafts"):
        result = sweep(database_url, NOW)

    assert (result.deleted, result.kept_paid) == (0, 1)
    assert draft_id in caplog.text and "payment" in caplog.text
    with session_scope(database_url) as db:
        assert db.get(Draft, draft_id) is not None
        assert db.get(Document, upload) is not None
        assert db.get(Payment, paid).status == "succeeded"
        assert db.get(Payment, retried) is not None


def test_the_warning_goes_to_the_owner_without_answers(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    add_draft(database_url, owner, changed=datetime(2026, 6, 22, 6, 0, tzinfo=UTC))  # 23 days 4 hours before NOW

    sweep(database_url, NOW)

    [mail] = mails(database_url)
    with session_scope(database_url) as db:
        assert mail.to_address == db.get(User, owner).email
    assert mail.language == "en"
    assert mail.subject == "Your draft Form I-765 will be deleted on July 22, 2026"
    assert "Application for Employment Authorization" in mail.body_text
    assert "last changed on June 22, 2026" in mail.body_text
    assert f"{BASE_URL}/account\n" in mail.body_text
    assert "last reminder" not in mail.body_text
    for answer in ANSWERS.values():
        assert answer not in mail.body_text and answer not in mail.subject
    assert mail.receipt_number is None and mail.status == "pending"


def test_the_last_warning_says_so(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    add_draft(database_url, owner, changed=NOW - timedelta(days=29, hours=3), warned=7)

    sweep(database_url, NOW)

    [mail] = mails(database_url)
    assert "This is the last reminder we send about this draft." in mail.body_text


def test_a_spanish_speaker_gets_the_warning_in_spanish(database_url: str) -> None:
    owner = add_user(database_url, "lucia", language="es")
    add_draft(database_url, owner, changed=datetime(2026, 6, 22, 6, 0, tzinfo=UTC))

    sweep(database_url, NOW)

    [mail] = mails(database_url)
    assert mail.language == "es"
    assert mail.subject == i18n.gettext("es", EXPIRY_SUBJECT, form="I-765", date="22 de julio de 2026")
    assert "22 de julio de 2026" in mail.body_text and "22 de junio de 2026" in mail.body_text
    assert "Solicitud de Autorización de Empleo" in mail.body_text
    assert i18n.gettext("es", "We send this email automatically. It holds no personal information. Do not reply to it.") in mail.body_text
    assert "No lo responda" in mail.body_text


def test_other_drafts_are_untouched(database_url: str, tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "store")
    ana = add_user(database_url, "ana")
    ben = add_user(database_url, "ben")
    expired = add_draft(database_url, ana, changed=NOW - timedelta(days=31))
    ben_fresh = add_draft(database_url, ben, changed=NOW - timedelta(days=10))
    ben_warned = add_draft(database_url, ben, changed=NOW - timedelta(days=25), warned=7)
    ben_upload = add_upload(database_url, store, ben, ben_fresh)
    ben_payment = add_payment(database_url, ben, ben_fresh, status="requires_payment")
    ben_before = {d: draft(database_url, d) for d in (ben_fresh, ben_warned)}

    result = sweep(database_url, NOW)

    assert (result.deleted, result.queued) == (1, 0)
    assert draft(database_url, expired) is None
    for draft_id, before in ben_before.items():
        after = draft(database_url, draft_id)
        assert (after.updated_at, after.expiry_warning_days, after.answers) == (
            before.updated_at, before.expiry_warning_days, before.answers)
    with session_scope(database_url) as db:
        assert db.get(Document, ben_upload) is not None
        assert db.get(Payment, ben_payment) is not None
    assert mails(database_url) == []


def test_many_drafts_are_swept_in_batches(database_url: str) -> None:
    owner = add_user(database_url, "ana")
    expired = [add_draft(database_url, owner, changed=NOW - timedelta(days=31, minutes=i)) for i in range(5)]
    warned = [add_draft(database_url, owner, changed=NOW - timedelta(days=24, minutes=i)) for i in range(4)]
    fresh = add_draft(database_url, owner, changed=NOW - timedelta(days=3))
    batches: list[tuple[int, int]] = []

    result = sweep(database_url, NOW, batch_size=2, progress=lambda r: batches.append((r.queued, r.deleted)))

    assert (result.deleted, result.queued, len(result.email_ids)) == (5, 4, 4)
    assert len(batches) == 5 and batches[-1] == (4, 5)
    assert all(draft(database_url, d) is None for d in expired)
    assert all(draft(database_url, d).expiry_warning_days == 7 for d in warned)
    assert draft(database_url, fresh).expiry_warning_days is None


def test_a_draft_changed_after_the_sweep_read_it_is_neither_warned_nor_deleted(database_url: str) -> None:
    """The sweep reads a batch, then writes with conditions: a save in between wins."""
    owner = add_user(database_url, "ana")
    stale = NOW - timedelta(days=31)
    old = add_draft(database_url, owner, changed=stale)
    warned = add_draft(database_url, owner, changed=NOW - timedelta(days=24))
    save(database_url, old, at=NOW - timedelta(minutes=1))
    save(database_url, warned, at=NOW - timedelta(minutes=1))

    with session_scope(database_url) as db:  # what the sweep read before the saves
        assert _delete_expired(db, [old], now=NOW) == (0, 0)
        assert _queue_warning(
            db, draft_id=warned, updated_at=NOW - timedelta(days=24), days=7, now=NOW, to="ana@example.com",
            language="en", render=RENDER,
            warning=ExpiryWarning(form_type="I-765", days=7, changed_at=NOW - timedelta(days=24),
                                  expires_at=NOW + timedelta(days=6)),
        ) is None

    assert draft(database_url, old) is not None
    assert draft(database_url, warned).expiry_warning_days is None
    assert mails(database_url) == []
