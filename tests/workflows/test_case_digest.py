"""The daily case digest: the workflow on the time-skipping server with the real activities (the
projection writing the digest items, a SQLite database, a real SMTP sink), and its schedule on
the dev server."""

from __future__ import annotations

import asyncio
import mailbox
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import select
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.case import CaseActivities
from activities.digest import DigestActivities, DigestInput
from activities.mail import MailActivities
from models.db import session_scope
from models.documents import LocalDocumentStore
from models.email_prefs import DAILY, EACH, NONE, SCOPE_ALL, Unsubscriber
from models.tables import DigestItem, Filing, OutboundEmail, User, WatchedCase
from tests.helpers import FILED_AT, I765_ANSWERS
from workflows.digest import (
    SCHEDULE_ID,
    CaseDigestInput,
    CaseDigestResult,
    CaseDigestWorkflow,
    ensure_case_digest_schedule,
)

BASE_URL = "http://caseline.test"
SECRET = "test-secret-for-the-digest-0123456789abcdef"


class World:
    """Accounts, cases and their changes, written as the case workflow's activity writes them."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.case = CaseActivities(database_url=url, base_url=BASE_URL,
                                   documents=LocalDocumentStore(tmp_path / "documents"), secret_key=SECRET)
        self.seqs: dict[str, int] = {}
        self.n = 0

    def user(self, name: str, *, language: str = "en", frequency: str = DAILY) -> User:
        self.n += 1
        with session_scope(self.url) as db:
            user = User(email=f"{name}.{uuid.uuid4().hex[:8]}@example.com", full_name=f"{name.title()} Quispe",
                        language=language, password_hash="unused", case_email_frequency=frequency)
            db.add(user)
            db.flush()
            return user

    def filing(self, applicant: User) -> str:
        self.n += 1
        receipt_number = f"IOE27003{self.n:05d}"
        with session_scope(self.url) as db:
            db.add(Filing(receipt_number=receipt_number, form_type="I-765", applicant_id=applicant.id, office="IOE",
                          answers=dict(I765_ANSWERS), filed_at=FILED_AT))
        return receipt_number

    def watch(self, user: User, receipt_number: str, *, notify: bool = True) -> WatchedCase:
        with session_scope(self.url) as db:
            row = WatchedCase(user_id=user.id, receipt_number=receipt_number, nickname="Abuela's card", notify=notify)
            db.add(row)
            db.flush()
            return row

    def change(self, receipt_number: str, stage: str, status: str, at: datetime) -> None:
        from activities.types import TransitionInput

        seq = self.seqs[receipt_number] = self.seqs.get(receipt_number, 0) + 1
        ActivityEnvironment().run(self.case.record_transition, TransitionInput(
            receipt_number=receipt_number, seq=seq, occurred_at=at, stage=stage, stage_entered_at=at, status_code=status,
        ))


def received_mail(maildir: Path) -> list[tuple[EmailMessage, bytes]]:
    if not maildir.exists():
        return []
    box = mailbox.Maildir(str(maildir), create=False)
    found = []
    for key in box.keys():
        raw = box.get_bytes(key)
        found.append((message_from_bytes(raw, policy=policy.default), raw))
    return found


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


@asynccontextmanager
async def digest_worker(client: Client, database_url: str, smtp_port: int, task_queue: str) -> AsyncIterator[None]:
    digest = DigestActivities(database_url=database_url, base_url=BASE_URL, secret_key=SECRET)
    mail = MailActivities(database_url=database_url, smtp_host="127.0.0.1", smtp_port=smtp_port,
                          mail_from="Caseline <no-reply@caseline.test>", timeout=5)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[CaseDigestWorkflow],
                          activities=[digest.collect_case_digests, mail.deliver_email], activity_executor=executor):
            yield


async def run_digest(client: Client, task_queue: str) -> CaseDigestResult:
    return await client.execute_workflow(
        CaseDigestWorkflow.run, CaseDigestInput(), id=f"case-digest-{uuid.uuid4()}", task_queue=task_queue
    )


async def test_one_digest_per_person_listing_their_changes_sent_once(
    time_skipping_env, sqlite_url: str, smtp_sink: tuple[int, Path], tmp_path: Path
) -> None:
    port, maildir = smtp_sink
    env = time_skipping_env
    url = sqlite_url
    world = World(url, tmp_path)
    with env.auto_time_skipping_disabled():
        now = await env.get_current_time()
        maria = world.user("maria")  # the applicant of case A, daily
        lucia = world.user("lucia", language="es")  # follows A and B, daily
        pedro = world.user("pedro")  # follows B, daily, but stops following it before the digest
        nora = world.user("nora", frequency=NONE)  # had asked for a daily email, then for none
        ben = world.user("ben", frequency=EACH)  # the applicant of case B: mails at each change
        case_a, case_b = world.filing(maria), world.filing(ben)
        world.watch(lucia, case_a)
        world.watch(lucia, case_b)
        pedro_watch = world.watch(pedro, case_b)
        world.watch(nora, case_b)
        with session_scope(url) as db:
            db.get(User, nora.id).case_email_frequency = DAILY
        world.change(case_a, "intake", "case_received", now - timedelta(hours=20))
        world.change(case_a, "review", "actively_reviewed", now - timedelta(hours=2))
        world.change(case_b, "intake", "case_received", now - timedelta(hours=5))
        with session_scope(url) as db:
            db.get(WatchedCase, pedro_watch.id).notify = False
            db.get(User, nora.id).case_email_frequency = NONE
            immediate = len(db.exec(select(OutboundEmail)).all())
        assert immediate == 1  # ben's own mail about case B; everyone else asked for the digest

        task_queue = f"case-digest-{uuid.uuid4()}"
        async with digest_worker(env.client, url, port, task_queue):
            first = await run_digest(env.client, task_queue)
            assert first == CaseDigestResult(queued=2, items=5, dropped=2, delivered=2, undelivered=0)

            mails = {message["To"]: (message, raw) for message, raw in received_mail(maildir)}
            assert set(mails) == {maria.email, lucia.email}
            mine, theirs = body_of(mails[maria.email][0]), body_of(mails[lucia.email][0])
            # Maria: her case's latest status, its date, the case page, and that a notice is in her account.
            assert f"Case {case_a}\nCase Is Being Actively Reviewed By USCIS (" in mine
            assert "Case Was Received" not in mine and "2 changes since our last email." in mine
            assert "We issued a notice about this case. It is in your account." in mine
            assert f"{BASE_URL}/cases/{case_a}\n" in mine and "/documents/" not in mine
            assert mails[maria.email][0]["Subject"].startswith("Your cases changed: daily update of ")
            # Lucia (Spanish): both cases she follows, the public status page, never a notice.
            assert mails[lucia.email][0]["Content-Language"] == "es"
            assert f"Caso {case_a}\nUSCIS está revisando activamente el caso (" in theirs
            assert f"Caso {case_b}\nSe recibió el caso (" in theirs
            assert f"{BASE_URL}/status?receipt_number={case_a}\n" in theirs
            assert f"{BASE_URL}/status?receipt_number={case_b}\n" in theirs
            assert "/cases/" not in theirs and "/documents/" not in theirs and "notice" not in theirs
            assert theirs.index(case_a) < theirs.index(case_b)  # the latest change first
            for message, raw in mails.values():
                text = body_of(message)
                assert "Quispe" not in text and "Abuela" not in text and I765_ANSWERS["street"] not in text
                user_id = maria.id if message["To"] == maria.email else lucia.id
                link = Unsubscriber(BASE_URL, SECRET).url(user_id, SCOPE_ALL)
                assert text.rstrip().endswith(link)
                assert f"List-Unsubscribe: <{link}>\n".encode() in raw
                assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            with session_scope(url) as db:
                assert all(item.sent_at is not None for item in db.exec(select(DigestItem)).all())

            # Run again the same day: nothing new, nothing sent twice.
            assert await run_digest(env.client, task_queue) == CaseDigestResult()
            assert len(received_mail(maildir)) == 2

            # A day later, a new change: a digest with it alone, for those who follow it.
            await env.sleep(timedelta(days=1))
            world.change(case_b, "review", "actively_reviewed", await env.get_current_time())
            later = await run_digest(env.client, task_queue)
            assert later == CaseDigestResult(queued=1, items=1, delivered=1)  # no item for who opted out
            newest = [m for m, _ in received_mail(maildir) if m["To"] == lucia.email]
            assert len(newest) == 2
            assert sum(case_a in body_of(m) for m in newest) == 1  # case A did not change again


async def test_a_retried_collection_queues_nothing_twice_and_hands_over_what_it_queued(
    time_skipping_env, sqlite_url: str, smtp_sink: tuple[int, Path], tmp_path: Path
) -> None:
    port, maildir = smtp_sink
    env = time_skipping_env
    url = sqlite_url
    world = World(url, tmp_path)
    with env.auto_time_skipping_disabled():
        now = await env.get_current_time()
        maria = world.user("maria", language="es")
        case_a = world.filing(maria)
        world.change(case_a, "intake", "case_received", now - timedelta(hours=1))
        digest = DigestActivities(database_url=url, base_url=BASE_URL, secret_key=SECRET)

        # The activity queued the digest, then its result was lost: the retry finds no new item,
        # queues nothing, and hands over the digest queued by the first attempt.
        first = ActivityEnvironment().run(digest.collect_case_digests, DigestInput(now=now))
        retried = ActivityEnvironment().run(digest.collect_case_digests, DigestInput(now=now))
        assert (first.queued, len(first.email_ids)) == (1, 1)
        assert (retried.queued, retried.email_ids) == (0, first.email_ids)
        with session_scope(url) as db:
            [row] = db.exec(select(OutboundEmail).where(OutboundEmail.to_address == maria.email)).all()
            assert row.idempotency_key.startswith(f"digest:{maria.id}:") and row.status == "pending"
            assert row.subject.startswith("Sus casos cambiaron: resumen diario del ")
            assert "Se recibió el caso" in row.body_text

        task_queue = f"case-digest-{uuid.uuid4()}"
        async with digest_worker(env.client, url, port, task_queue):
            result = await run_digest(env.client, task_queue)
            assert result == CaseDigestResult(delivered=1)  # the digest left pending, nothing queued
            assert await run_digest(env.client, task_queue) == CaseDigestResult()
        assert [m["To"] for m, _ in received_mail(maildir)] == [maria.email]


async def test_schedule_is_created_once_daily_at_seven_in_new_york(dev_server_env) -> None:
    client = dev_server_env.client
    task_queue = f"case-digest-{uuid.uuid4()}"
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        created = await asyncio.gather(*(ensure_case_digest_schedule(client, task_queue=task_queue) for _ in range(3)))
        assert sorted(created) == [False, False, True]
        description = await handle.describe()
        schedule = description.schedule
        [calendar] = schedule.spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(7, 7)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        assert schedule.spec.time_zone_name == "America/New_York"
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert isinstance(schedule.action, ScheduleActionStartWorkflow)
        assert schedule.action.workflow == "CaseDigestWorkflow"
        assert schedule.action.task_queue == task_queue
        next_run = description.info.next_action_times[0]
        assert (next_run.hour, next_run.minute) in {(11, 0), (12, 0)}  # 07:00 in New York, in UTC

        # An existing schedule is left as it is (an operator paused it).
        await handle.pause(note="paused by an operator")
        assert await ensure_case_digest_schedule(client, task_queue="another-queue") is False
        kept = await handle.describe()
        assert kept.schedule.state.paused and kept.schedule.action.task_queue == task_queue
    finally:
        await handle.delete()
