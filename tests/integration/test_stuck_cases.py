"""The stuck-case finder against cases made stuck on purpose, on the real Temporal dev server.

Each test breaks one thing for real and checks what the finder (``web.supervision.look``, and the
supervisor's pages that combine it with the database) reports:

- a status mail whose SMTP server is a closed port: ``deliver_email`` fails and retries, and the
  finder lists it with its attempt count and the error decoded through the codec (the server only
  holds ciphertext);
- a case whose database row says it entered its stage 40 days ago and is past its target;
- a worker that has stopped: the pollers go stale and the case stays where it is;
- a case open in the database whose workflow was terminated, and a running workflow whose case
  the database shows closed;
- a Temporal that cannot answer;
- workflows whose workflow tasks keep failing, which the server marks with
  ``TemporalReportedProblems``.

Every test runs its own worker on its own task queue, and terminates the workflows it starts.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx2
import pyotp
import pytest
from sqlmodel import select
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from models.db import session_scope
from models.domain import Role, Stage
from models.tables import Case, OutboundEmail, utcnow
from settings import Settings
from tests.conftest import free_port
from tests.helpers import case_input, file_i765, make_user, unique_office, wait_until
from web import supervision
from web.app import create_app
from worker import build_worker
from workflows.client import data_converter, start_case
from workflows.codec import ENCODING, new_key_setting

STRAIGHT_TO_REVIEW = "c3C"  # (c)(3)(C): no biometrics, so no system step; the case waits for an officer
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- a workflow whose workflow task always fails -------------------------------------------


@workflow.defn(name="StuckTestBrokenWorkflow")
class BrokenWorkflow:
    """A plain exception (not an ApplicationError) fails the workflow *task*, which the server
    retries for ever: the shape of a faulty worker release."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in the workflow code")


# --- the system under test: a database, a worker on a queue of its own, cases -------------


@dataclass
class Stack:
    client: Client
    settings: Settings
    tmp_path: Path
    handles: list[WorkflowHandle] = field(default_factory=list)

    @property
    def queue(self) -> str:
        return self.settings.temporal_task_queue

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        """The worker as worker.py builds it, against this database and SMTP port."""
        with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
            async with build_worker(self.client, self.settings, executor) as running:
                yield running

    async def start_case(self) -> WorkflowHandle:
        """File an I-765 that goes straight to review, as the web does, and start its workflow."""
        with session_scope(self.database_url) as session:
            applicant = make_user(session, "applicant")
            filing = file_i765(session, applicant_id=applicant.id, office=unique_office(),
                               category=STRAIGHT_TO_REVIEW, filed_at=utcnow())
        inp = case_input(filing.receipt_number, category=STRAIGHT_TO_REVIEW, applicant_id=applicant.id,
                         office=filing.office, filed_at=filing.filed_at)
        handle = await start_case(self.client, inp, task_queue=self.queue)
        self.handles.append(handle)
        return handle

    async def start_case_nobody_runs(self) -> WorkflowHandle:
        """A case workflow on another task queue that no worker polls (it stays Running)."""
        receipt = f"{unique_office()}{random.randrange(10**10):010d}"
        other_queue = f"{self.queue}-elsewhere"
        handle = await start_case(self.client, case_input(receipt, office=receipt[:3]), task_queue=other_queue)
        self.handles.append(handle)
        return handle

    def case(self, receipt: str) -> Case | None:
        with session_scope(self.database_url) as session:
            return session.get(Case, receipt)

    async def in_review(self, handle: WorkflowHandle) -> None:
        """Wait until the workflow has projected the case into the database, waiting in review."""
        await wait_until(lambda: (c := self.case(handle.id)) is not None and c.stage == Stage.REVIEW,
                         timeout=20, interval=0.1, what=f"case {handle.id} in review in the database")

    async def look(self, **kw) -> supervision.TemporalPicture:
        return await supervision.look(self.client, namespace=self.client.namespace, task_queue=self.queue,
                                      now=utcnow(), **kw)

    async def terminate_all(self) -> None:
        for handle in self.handles:
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            except RPCError:  # never started, or gone
                pass


@asynccontextmanager
async def _stack(client: Client, database_url: str, tmp_path: Path, smtp_port: int) -> AsyncIterator[Stack]:
    """A stack on its own task queue; every workflow it started is terminated afterwards."""
    settings = Settings(
        _env_file=None, env="test", data_dir=tmp_path, DATABASE_URL=database_url, base_url="http://caseline.test",
        smtp_host="127.0.0.1", smtp_port=smtp_port, temporal_task_queue=f"stuck-{uuid.uuid4()}",
    )
    built = Stack(client, settings, tmp_path)
    try:
        yield built
    finally:
        await built.terminate_all()


@pytest.fixture
async def stack(dev_server_env, sqlite_url: str, smtp_sink: tuple[int, Path], tmp_path: Path) -> AsyncIterator[Stack]:
    """SQLite, mail going to a real SMTP sink."""
    async with _stack(dev_server_env.client, sqlite_url, tmp_path, smtp_sink[0]) as built:
        yield built


@pytest.fixture
async def db_stack(dev_server_env, database_url: str, smtp_sink: tuple[int, Path], tmp_path: Path) -> AsyncIterator[Stack]:
    """The same on SQLite and on PostgreSQL."""
    async with _stack(dev_server_env.client, database_url, tmp_path, smtp_sink[0]) as built:
        yield built


@pytest.fixture
async def mail_down_stack(dev_server_env, sqlite_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """SQLite, and an SMTP port nothing listens on: every delivery is refused."""
    async with _stack(dev_server_env.client, sqlite_url, tmp_path, free_port()) as built:
        yield built


# --- the supervisor's pages, through the real app ------------------------------------------


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@asynccontextmanager
async def supervisor_browser(stack: Stack) -> AsyncIterator[httpx2.AsyncClient]:
    """The web app on the stack's database and task queue, talking to the dev server, with a
    supervisor (two-step verification on) signed in. Same event loop as the Temporal client."""
    secret = pyotp.random_base32()
    with session_scope(stack.database_url) as session:
        supervisor = make_user(session, "supervisor", role=Role.SUPERVISOR)
        supervisor.email_verified_at = utcnow()
        supervisor.totp_secret = secret
        supervisor.totp_enabled_at = utcnow()
        email = supervisor.email
    app = create_app(stack.settings, temporal_client=stack.client)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver", follow_redirects=False) as http:
        page = await http.get("/sign-in")
        answer = await http.post("/sign-in", data={"csrf_token": _csrf(page.text), "email": email,
                                                   "password": "correct horse battery staple"})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].startswith("/sign-in/two-factor")
        page = await http.get(answer.headers["location"])
        answer = await http.post("/sign-in/two-factor", data={"csrf_token": _csrf(page.text),
                                                              "code": pyotp.TOTP(secret).now()})
        assert answer.status_code == 303, answer.text
        yield http


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*\bid="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"no section #{section_id} on the page"
    return match.group(1)


def row_of(html: str, receipt: str) -> str | None:
    """The table row (its text, tags removed) that links this case, or None."""
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if f">{receipt}<" in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return None


async def _get(http: httpx2.AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text[:2000]
    return response.text


# --- 1. an activity failing again and again -------------------------------------------------


def _pending(description, activity_type: str):
    return next((p for p in description.raw_description.pending_activities
                 if p.activity_type.name == activity_type), None)


async def test_an_activity_failing_again_and_again_is_listed_with_its_decoded_error(
    mail_down_stack: Stack,
) -> None:
    stack = mail_down_stack
    port = stack.settings.smtp_port
    async with stack.worker():
        handle = await stack.start_case()

        async def third_attempt():
            pending = _pending(await handle.describe(), "deliver_email")
            return pending if pending is not None and pending.attempt >= 3 else None

        # MAIL_RETRY (2 s, then 4 s): two failures, and attempt 3 scheduled, about 2 s after the first.
        raw = await wait_until(third_attempt, timeout=30, interval=0.25, what="deliver_email on its third attempt")

        # What the server stores is ciphertext: the message reads "Encoded failure" and the real text is encrypted.
        assert raw.last_failure.message == "Encoded failure"
        assert raw.last_failure.encoded_attributes.metadata["encoding"] == ENCODING
        assert b"Connect call failed" not in raw.last_failure.SerializeToString()

        picture = await stack.look(min_attempts=2)
        assert picture.reachable
        assert picture.described == 1 and picture.running == {handle.id}
        [failing] = picture.failing
        assert (failing.receipt_number, failing.activity_type) == (handle.id, "deliver_email")
        assert failing.attempt >= 3
        # The codec decoded it: the real error, as the activity saw it (and wrote it in the outbox).
        assert "Connect call failed" in failing.last_error and f"port {port}" in failing.last_error
        with session_scope(stack.database_url) as session:
            [mail] = session.exec(select(OutboundEmail).where(OutboundEmail.receipt_number == handle.id)).all()
            assert mail.status != "sent" and mail.attempts >= 2
            assert failing.last_error == mail.last_error
            mail_id = mail.id
        assert failing.last_failed_at is not None and failing.next_attempt_at is not None
        assert failing.last_failed_at < failing.next_attempt_at

        # The threshold counts failures: attempt N has N - 1 failures behind it, as the outbox
        # counts them. Exactly that many is listed; one more is not. (Read while the activity
        # waits for its next attempt: retried if it moved on meanwhile.)
        for _ in range(3):
            before = _pending(await handle.describe(), "deliver_email").attempt
            exactly = await stack.look(min_attempts=before - 1)
            beyond = await stack.look(min_attempts=before)
            with session_scope(stack.database_url) as session:
                outbox_failures = session.get(OutboundEmail, mail_id).attempts
            if _pending(await handle.describe(), "deliver_email").attempt == before:
                break
        else:
            pytest.fail("deliver_email kept moving on to its next attempt")
        assert outbox_failures == before - 1
        assert [(a.receipt_number, a.attempt) for a in exactly.failing] == [(handle.id, before)]
        assert beyond.reachable and beyond.failing == [] and beyond.described == 1
        # The dashboard's quick look describes nothing.
        quick = await stack.look()
        assert quick.failing == [] and quick.described == 0

        # A web app without the key the worker encrypted with (say, an old key dropped too soon)
        # cannot read it, and says so rather than show ciphertext.
        wrong_key = Client(stack.client.service_client, namespace=stack.client.namespace,
                           data_converter=data_converter(new_key_setting("other")))
        blind = await supervision.look(wrong_key, namespace=wrong_key.namespace, task_queue=stack.queue,
                                       now=utcnow(), min_attempts=2)
        assert [(a.receipt_number, a.last_error) for a in blind.failing] == [(handle.id, "(could not be decoded)")]


# --- 2. a case waiting too long, past its target --------------------------------------------


async def test_a_case_forty_days_in_its_stage_is_found_waiting_and_past_its_target(db_stack: Stack) -> None:
    stack = db_stack
    async with stack.worker():
        handle = await stack.start_case()
        await stack.in_review(handle)
        # Temporal has the case, with the (recent) moment it entered review.
        picture = await wait_until(
            lambda: _with_stage(stack, handle.id), timeout=10, interval=0.2, what="the case in Temporal's visibility"
        )
        assert utcnow() - picture.stage_since[handle.id] < timedelta(minutes=5)
        assert picture.stages[handle.id] == "review"

        # The database says otherwise: 40 days in review, and past the target.
        with session_scope(stack.database_url) as session:
            case = session.get(Case, handle.id)
            case.stage_entered_at = utcnow() - timedelta(days=40)
            case.due_at = utcnow() - timedelta(days=10)
            case.overdue = True
            session.add(case)

        async with supervisor_browser(stack) as http:
            html = await _get(http, "/supervisor/stuck?days=30")
            waiting = section(html, "waiting")
            row = row_of(waiting, handle.id)
            assert row is not None, waiting
            assert "Database only" in row and " 40 " in f" {row} "
            # It runs: not out of step.
            assert handle.id not in section(html, "out-of-step")

            # 40 days is not more than 50.
            longer = await _get(http, "/supervisor/stuck?days=50")
            assert row_of(section(longer, "waiting"), handle.id) is None

            dashboard = await _get(http, "/supervisor")
            late = section(dashboard, "past-target")
            assert "Cases past their target" in late
            late_row = row_of(late, handle.id)
            assert late_row is not None and "I-765" in late_row


async def _with_stage(stack: Stack, receipt: str) -> supervision.TemporalPicture | None:
    picture = await stack.look()
    return picture if receipt in picture.stage_since and picture.stages.get(receipt) == "review" else None


# --- 3. a worker that has stopped -----------------------------------------------------------


async def test_a_stopped_worker_is_reported_and_its_cases_stay_put(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = await stack.start_case_nobody_runs()
    async with stack.worker():
        handle = await stack.start_case()
        await stack.in_review(handle)

        async def live():
            picture = await stack.look()
            return picture if picture.pollers.polling and handle.id in picture.running else None

        picture = await wait_until(live, timeout=10, interval=0.2, what="the worker polling")
        pollers = picture.pollers
        assert pollers.task_queue == stack.queue
        assert stack.client.identity in {p.identity for p in pollers.live_workflow_pollers}
        assert stack.client.identity in {p.identity for p in pollers.live_activity_pollers}
        # Only this queue's case workflows: not the one on a queue of its own.
        assert picture.running == {handle.id}
        assert elsewhere.id not in picture.stages

        async with supervisor_browser(stack) as http:
            html = await _get(http, "/supervisor/stuck")
            assert "Workers are polling the task queue" in html
            assert "No worker is polling the task queue" not in html

    stopped_at = utcnow()
    await asyncio.sleep(2)
    # Every last access is now more than a second old.
    after = await stack.look(stale_after=timedelta(seconds=1))
    assert after.reachable
    assert after.pollers.polling is False
    assert after.pollers.live_workflow_pollers == [] and after.pollers.live_activity_pollers == []
    # The server still lists the worker, with when it last asked for work: before it stopped.
    seen = (*after.pollers.workflow_pollers, *after.pollers.activity_pollers)
    assert {p.identity for p in seen} == {stack.client.identity}
    assert all(p.last_access_at is not None and p.last_access_at <= stopped_at for p in seen)
    # Nothing moves the case: it is still running, still in review.
    assert after.running == {handle.id}
    assert after.stages[handle.id] == "review"
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    # The page uses a two-minute staleness (a live worker long-polls about once a minute): the
    # test shortens it to a second rather than wait two minutes; everything else is the real page.
    look = supervision.look

    async def look_with_short_staleness(client, **kw):
        return await look(client, **{**kw, "stale_after": timedelta(seconds=1)})

    monkeypatch.setattr(supervision, "look", look_with_short_staleness)
    async with supervisor_browser(stack) as http:
        html = await _get(http, "/supervisor/stuck")
        assert "No worker is polling the task queue" in html
        workers = section(html, "workers")
        assert f"No worker is polling the task queue {stack.queue}" in workers
        assert stack.client.identity in workers
        # The dashboard counts the running case workflows of this queue (visibility's count, not a list).
        dashboard = await _get(http, "/supervisor")
        assert "No case moves until a worker starts: 1 running case is waiting." in dashboard


# --- 4. the database and Temporal out of step -----------------------------------------------


async def test_cases_out_of_step_between_the_database_and_temporal(db_stack: Stack) -> None:
    stack = db_stack
    async with stack.worker():
        orphan = await stack.start_case()  # open in the database, its workflow terminated
        unrecorded = await stack.start_case()  # running, the database shows it closed
        healthy = await stack.start_case()
        for handle in (orphan, unrecorded, healthy):
            await stack.in_review(handle)
        await orphan.terminate("out of step on purpose")
        with session_scope(stack.database_url) as session:
            case = session.get(Case, unrecorded.id)
            case.stage = Stage.CLOSED
            session.add(case)

        async def settled():
            picture = await stack.look()
            return picture if picture.running == {unrecorded.id, healthy.id} else None

        await wait_until(settled, timeout=10, interval=0.2, what="visibility without the terminated workflow")
        assert stack.case(orphan.id).stage == Stage.REVIEW

        async with supervisor_browser(stack) as http:
            html = await _get(http, "/supervisor/stuck")
            out = section(html, "out-of-step")
            assert "2 cases out of step between the database and Temporal" in html
            # The open case without a workflow, in the table of cases nothing will move.
            orphan_row = row_of(out, orphan.id)
            assert orphan_row is not None and "Temporal Web UI" in orphan_row
            assert "no workflow runs for them" in out
            # The workflow whose case is closed in the database, in the list under it.
            assert re.search(rf"<li><a [^>]*>{unrecorded.id}</a></li>", out)
            assert "the database does not show them open" in out
            assert healthy.id not in out


# --- 5. Temporal cannot answer --------------------------------------------------------------


class _Unreachable:
    """A client whose calls fail as when the frontend cannot be reached."""

    namespace = "default"

    def __init__(self, real: Client | None = None) -> None:
        self._real = real

    @staticmethod
    def _refuse(*args, **kwargs):
        raise RPCError("failed connecting to the frontend", RPCStatusCode.UNAVAILABLE, b"")

    def list_workflows(self, *args, **kwargs):
        if self._real is not None:  # listing works; describing the task queue does not
            return self._real.list_workflows(*args, **kwargs)
        self._refuse()

    @property
    def workflow_service(self):
        return type("Service", (), {"describe_task_queue": staticmethod(self._async_refuse)})()

    async def _async_refuse(self, *args, **kwargs):
        self._refuse()


@pytest.mark.parametrize("fails_on", ["nothing listening", "listing workflows", "describing the task queue"])
async def test_temporal_unreachable_is_reported_not_raised(dev_server_env, fails_on: str) -> None:
    if fails_on == "nothing listening":  # a real client, its server gone: every call fails at once
        client = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    else:
        client = _Unreachable(dev_server_env.client if fails_on == "describing the task queue" else None)
    picture = await supervision.look(client, namespace="default", task_queue=f"stuck-{uuid.uuid4()}", now=utcnow(),
                                     min_attempts=2)
    assert picture.reachable is False
    assert picture.pollers is None and picture.failing == [] and picture.running == set()


# --- 6. workflows with reported problems ----------------------------------------------------


async def test_workflows_whose_tasks_keep_failing_are_listed_with_their_problems(stack: Stack) -> None:
    client, queue, other_queue = stack.client, stack.queue, f"{stack.queue}-other"
    broken = []
    workers = [Worker(client, task_queue=q, workflows=[BrokenWorkflow], workflow_runner=UnsandboxedWorkflowRunner())
               for q in (queue, other_queue)]
    async with workers[0], workers[1]:
        for task_queue in (queue, other_queue):
            handle = await client.start_workflow(
                "StuckTestBrokenWorkflow", id=f"broken-{uuid.uuid4()}", task_queue=task_queue,
                # After the first failure, the SDK lets each retry time out rather than report it
                # again: a short task timeout brings the three problems in seconds, not 20.
                task_timeout=timedelta(seconds=1),
            )
            stack.handles.append(handle)
            broken.append(handle)

        async def marked(task_queue: str):
            picture = await supervision.look(client, namespace=client.namespace, task_queue=task_queue, now=utcnow())
            return picture if picture.problems else None

        picture = await wait_until(lambda: marked(queue), timeout=25, interval=0.25, what="TemporalReportedProblems")
        # Only this task queue's broken workflow, not the other queue's.
        [problem] = picture.problems
        assert (problem.workflow_id, problem.workflow_type) == (broken[0].id, "StuckTestBrokenWorkflow")
        assert problem.receipt_number is None  # not a case's workflow id
        assert any(p.startswith("category=WorkflowTask") for p in problem.problems), problem.problems
        # A broken worker runs no case workflow, and takes workflow tasks only: no activity poller.
        assert picture.running == set()
        assert picture.pollers.live_workflow_pollers and not picture.pollers.activity_pollers
        assert picture.pollers.polling is False
        # The other queue's is marked too: the filter, not chance, kept it out.
        other = await wait_until(lambda: marked(other_queue), timeout=25, interval=0.25, what="the other's problems")
        assert [p.workflow_id for p in other.problems] == [broken[1].id]
