"""The daily draft housekeeping: the workflow on the time-skipping server with the real activities
(a SQLite database, a real SMTP sink), and its schedule on the dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.worker import Worker

from activities.housekeeping import HousekeepingActivities
from activities.mail import MailActivities
from mailsink import read_mailbox
from models.db import session_scope
from models.tables import Document, Draft, OutboundEmail, User
from tests.helpers import wait_until
from workflows.housekeeping import (
    SCHEDULE_ID,
    DraftHousekeepingWorkflow,
    HousekeepingInput,
    HousekeepingResult,
    ensure_housekeeping_schedule,
)

BASE_URL = "http://caseline.test"


def add_user(url: str, name: str, *, language: str = "en") -> User:
    with session_scope(url) as db:
        user = User(email=f"{name}.{uuid.uuid4().hex[:8]}@example.com", full_name=name.title(), language=language,
                    password_hash="unused")
        db.add(user)
        db.flush()
        return user


def add_draft(url: str, user: User, *, changed: datetime) -> str:
    with session_scope(url) as db:
        draft = Draft(id=str(uuid.uuid4()), user_id=user.id, form_type="I-765", answers={"family_name": "Rivera"},
                      updated_at=changed)
        db.add(draft)
        return draft.id


def add_document(url: str, user: User, draft_id: str) -> str:
    with session_scope(url) as db:
        document = Document(id=str(uuid.uuid4()), sha256="0" * 64, draft_id=draft_id, owner_id=user.id,
                            display_name="passport.pdf", content_type="application/pdf", size=10)
        db.add(document)
        return document.id


def exists(url: str, model, key: str) -> bool:
    with session_scope(url) as db:
        return db.get(model, key) is not None


@asynccontextmanager
async def housekeeping_worker(client: Client, database_url: str, smtp_port: int, task_queue: str) -> AsyncIterator[None]:
    housekeeping = HousekeepingActivities(database_url=database_url, base_url=BASE_URL)
    mail = MailActivities(database_url=database_url, smtp_host="127.0.0.1", smtp_port=smtp_port,
                          mail_from="Caseline <no-reply@caseline.test>", timeout=5)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[DraftHousekeepingWorkflow],
                          activities=[housekeeping.sweep_drafts, mail.deliver_email], activity_executor=executor):
            yield


async def run_housekeeping(client: Client, task_queue: str) -> HousekeepingResult:
    return await client.execute_workflow(
        DraftHousekeepingWorkflow.run, HousekeepingInput(), id=f"housekeeping-{uuid.uuid4()}", task_queue=task_queue
    )


async def test_housekeeping_warns_once_and_deletes_on_time(
    time_skipping_env, sqlite_url: str, smtp_sink: tuple[int, Path]
) -> None:
    port, maildir = smtp_sink
    env = time_skipping_env
    # The clock moves only when this test says so: left to itself, the test server also jumps to
    # the timeouts of activities that completed long ago (this run's or other tests').
    with env.auto_time_skipping_disabled():
        now = await env.get_current_time()
        ana = add_user(sqlite_url, "ana")
        lucia = add_user(sqlite_url, "lucia", language="es")
        seven_left = add_draft(sqlite_url, ana, changed=now - timedelta(days=23, hours=12))
        one_left = add_draft(sqlite_url, lucia, changed=now - timedelta(days=29, hours=12))
        expired = add_draft(sqlite_url, ana, changed=now - timedelta(days=31))
        upload = add_document(sqlite_url, ana, expired)
        fresh = add_draft(sqlite_url, ana, changed=now - timedelta(days=2))
        task_queue = f"housekeeping-{uuid.uuid4()}"

        async with housekeeping_worker(env.client, sqlite_url, port, task_queue):
            first = await run_housekeeping(env.client, task_queue)
            assert first == HousekeepingResult(queued=2, deleted=1, kept_paid=0, delivered=2, undelivered=0)
            assert not exists(sqlite_url, Draft, expired) and not exists(sqlite_url, Document, upload)

            received = {m.to: m for m in read_mailbox(maildir)}
            assert set(received) == {ana.email, lucia.email}
            assert received[ana.email].subject.startswith("Your draft Form I-765 will be deleted on ")
            assert received[lucia.email].language == "es"
            assert " de " in received[lucia.email].subject  # a date in Spanish
            assert f"{BASE_URL}/account" in received[ana.email].body
            with session_scope(sqlite_url) as db:
                assert {row.status for row in db.exec(select(OutboundEmail)).all()} == {"sent"}

            # Run again the same day: nothing new, nothing sent twice.
            again = await run_housekeeping(env.client, task_queue)
            assert again == HousekeepingResult()
            assert len(read_mailbox(maildir)) == 2

            # A day later on the server's clock: the draft that had one day left is gone, without
            # another mail; the one that had seven days left waits for its last warning.
            await env.sleep(timedelta(days=1))
            later = await run_housekeeping(env.client, task_queue)
            assert later == HousekeepingResult(deleted=1)
            assert not exists(sqlite_url, Draft, one_left)
            assert exists(sqlite_url, Draft, seven_left) and exists(sqlite_url, Draft, fresh)
            assert len(read_mailbox(maildir)) == 2


async def test_a_run_continued_as_new_delivers_what_is_left_without_sweeping_again(
    time_skipping_env, sqlite_url: str, smtp_sink: tuple[int, Path]
) -> None:
    port, maildir = smtp_sink
    env = time_skipping_env
    with env.auto_time_skipping_disabled():
        now = await env.get_current_time()
        ana = add_user(sqlite_url, "ana")
        expired = add_draft(sqlite_url, ana, changed=now - timedelta(days=31))
        with session_scope(sqlite_url) as db:
            left = OutboundEmail(idempotency_key=f"draft-expiry:{uuid.uuid4()}:7:x", to_address=ana.email,
                                 subject="Your draft Form I-765 will be deleted on July 22, 2026", body_text="...")
            db.add(left)
            db.flush()
            email_id = left.id
        task_queue = f"housekeeping-{uuid.uuid4()}"
        carried = HousekeepingResult(queued=3, deleted=2, delivered=2)

        async with housekeeping_worker(env.client, sqlite_url, port, task_queue):
            result = await env.client.execute_workflow(
                DraftHousekeepingWorkflow.run, HousekeepingInput(email_ids=[email_id], totals=carried),
                id=f"housekeeping-{uuid.uuid4()}", task_queue=task_queue,
            )

    assert result == HousekeepingResult(queued=3, deleted=2, delivered=3)
    assert [m.to for m in read_mailbox(maildir)] == [ana.email]
    assert exists(sqlite_url, Draft, expired)  # the sweep was done before continuing as new


async def test_schedule_is_created_once_and_runs_the_housekeeping(
    dev_server_env, sqlite_url: str, smtp_sink: tuple[int, Path]
) -> None:
    client = dev_server_env.client
    task_queue = f"housekeeping-{uuid.uuid4()}"
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        # Several workers starting at once: one creates it.
        created = await asyncio.gather(*(ensure_housekeeping_schedule(client, task_queue=task_queue) for _ in range(3)))
        assert sorted(created) == [False, False, True]
        assert await ensure_housekeeping_schedule(client, task_queue=task_queue) is False

        description = await handle.describe()
        schedule = description.schedule
        [calendar] = schedule.spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(6, 6)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        assert schedule.spec.time_zone_name == "America/New_York"
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert isinstance(schedule.action, ScheduleActionStartWorkflow)
        assert schedule.action.workflow == "DraftHousekeepingWorkflow"
        assert schedule.action.task_queue == task_queue
        next_run = description.info.next_action_times[0]
        assert (next_run.hour, next_run.minute) in {(10, 0), (11, 0)}  # 06:00 in New York, in UTC

        # An existing schedule is left as it is (an operator paused it).
        await handle.pause(note="paused by an operator")
        assert await ensure_housekeeping_schedule(client, task_queue="another-queue") is False
        kept = await handle.describe()
        assert kept.schedule.state.paused and kept.schedule.action.task_queue == task_queue

        # What the schedule starts is the housekeeping, with the real activities.
        await handle.unpause()
        port, maildir = smtp_sink
        ana = add_user(sqlite_url, "ana")
        now = datetime.now(UTC)
        add_draft(sqlite_url, ana, changed=now - timedelta(days=29, hours=12))
        async with housekeeping_worker(client, sqlite_url, port, task_queue):
            await handle.trigger()

            async def delivered() -> bool:
                return len(read_mailbox(maildir)) == 1

            await wait_until(delivered, timeout=30, what="the warning from the scheduled run")
            runs = (await handle.describe()).info.recent_actions
            assert len(runs) == 1
            result = await client.get_workflow_handle_for(DraftHousekeepingWorkflow.run, runs[0].action.workflow_id).result()
            assert (result.queued, result.delivered) == (1, 1)
        [mail] = read_mailbox(maildir)
        assert mail.to == ana.email
    finally:
        await handle.delete()
