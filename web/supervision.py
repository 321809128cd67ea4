"""Temporal's side of the supervisor's picture: what the visibility API, workflow descriptions and
the task queue say about the running cases.

- workflows with reported problems: ``TemporalReportedProblems`` (workflow tasks failing in a row);
- activities failing for more than M attempts: the pending activities of each running case
  workflow (``describe``), with the last failure decoded by the clients' codec;
- no worker polling the case task queue: its pollers, from ``DescribeTaskQueue``;
- cases waiting longer than N days in a stage and the cases the projection and Temporal disagree
  on: visibility's running case workflows set against the database's open cases.

Every call has a time limit; when Temporal cannot answer, the page says so and shows what the
database knows (``TemporalPicture.reachable``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from models.domain import RECEIPT_RE
from workflows.search_attributes import CASE_STAGE, STAGE_ENTERED_AT

log = logging.getLogger("caseline.supervision")

CALL_SECONDS = 10
DESCRIBE_LIMIT = 500  # running case workflows described per look; more are reported as not checked
DESCRIBE_CONCURRENCY = 8
POLLER_STALE_AFTER = timedelta(minutes=2)  # a live worker long-polls about once a minute
PROBLEMS_QUERY = 'TemporalReportedProblems IS NOT NULL AND TaskQueue="{queue}"'
RUNNING_CASES_QUERY = 'WorkflowType="CaseWorkflow" AND ExecutionStatus="Running" AND TaskQueue="{queue}"'


def _on(query: str, task_queue: str) -> str:
    """The query for this deployment's task queue (a name is letters, digits, dots and dashes)."""
    return query.format(queue=task_queue.replace("\\", "").replace('"', ""))


@dataclass(frozen=True)
class Problem:
    workflow_id: str
    workflow_type: str
    problems: tuple[str, ...]

    @property
    def receipt_number(self) -> str | None:
        return self.workflow_id if RECEIPT_RE.fullmatch(self.workflow_id) else None


@dataclass(frozen=True)
class FailingActivity:
    receipt_number: str
    activity_type: str
    attempt: int
    last_error: str
    last_failed_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Poller:
    identity: str
    last_access_at: datetime | None


@dataclass(frozen=True)
class QueuePollers:
    task_queue: str
    workflow_pollers: tuple[Poller, ...]
    activity_pollers: tuple[Poller, ...]
    now: datetime
    stale_after: timedelta = POLLER_STALE_AFTER

    def _live(self, pollers: tuple[Poller, ...]) -> list[Poller]:
        return [p for p in pollers if p.last_access_at is not None and self.now - p.last_access_at <= self.stale_after]

    @property
    def live_workflow_pollers(self) -> list[Poller]:
        return self._live(self.workflow_pollers)

    @property
    def live_activity_pollers(self) -> list[Poller]:
        return self._live(self.activity_pollers)

    @property
    def polling(self) -> bool:
        """Some worker takes both the workflow tasks and the activity tasks of the queue."""
        return bool(self.live_workflow_pollers) and bool(self.live_activity_pollers)


@dataclass
class TemporalPicture:
    reachable: bool = True
    problems: list[Problem] = field(default_factory=list)
    running: set[str] = field(default_factory=set)  # running case workflows (receipt numbers)
    running_capped: bool = False
    failing: list[FailingActivity] = field(default_factory=list)
    described: int = 0  # how many running workflows were described for failing activities
    pollers: QueuePollers | None = None
    stage_since: dict[str, datetime] = field(default_factory=dict)  # StageEnteredAt of each running case
    stages: dict[str, str] = field(default_factory=dict)  # CaseStage of each running case
    counted: int | None = None  # the running case workflows when they were counted, not listed

    @property
    def running_count(self) -> int:
        return self.counted if self.counted is not None else len(self.running)


def _time(stamp) -> datetime | None:
    """A protobuf Timestamp as an aware datetime, or None when it is not set."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime(tzinfo=UTC)


async def _limited(awaitable):
    return await asyncio.wait_for(awaitable, timeout=CALL_SECONDS)


async def reported_problems(client: Client, *, task_queue: str, limit: int = 100) -> list[Problem]:
    """Workflows the server marks as broken (their workflow tasks keep failing or timing out)."""

    async def collect() -> list[Problem]:
        found = []
        async for wf in client.list_workflows(_on(PROBLEMS_QUERY, task_queue), limit=limit):
            values = wf.search_attributes.get("TemporalReportedProblems") or []
            found.append(Problem(wf.id, wf.workflow_type, tuple(str(v) for v in values)))
        return found

    return await _limited(collect())


async def running_cases(client: Client, *, task_queue: str, limit: int = 5000) -> tuple[dict[str, datetime | None], dict[str, str], bool]:
    """The running case workflows with their stage and when they entered it, and whether the list was cut."""

    async def collect():
        since: dict[str, datetime | None] = {}
        stages: dict[str, str] = {}
        async for wf in client.list_workflows(_on(RUNNING_CASES_QUERY, task_queue), limit=limit + 1):
            if len(since) == limit:
                return since, stages, True
            attrs = wf.typed_search_attributes
            since[wf.id] = attrs.get(STAGE_ENTERED_AT)
            stages[wf.id] = attrs.get(CASE_STAGE) or ""
        return since, stages, False

    return await _limited(collect())


async def failing_activities(client: Client, workflow_ids: list[str], *, min_attempts: int) -> list[FailingActivity]:
    """The pending activities of these workflows that have failed ``min_attempts`` times or more,
    the most attempts first. The last error is decoded here, for the signed-in supervisor only."""
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def one(workflow_id: str) -> list[FailingActivity]:
        async with gate:
            try:
                described = await _limited(client.get_workflow_handle(workflow_id).describe())
            except Exception:  # closed or gone since the list: nothing pending to report
                log.info("could not describe workflow %s", workflow_id, exc_info=True)
                return []
        found = []
        for pending in described.raw_description.pending_activities:
            # The attempt under way has not failed yet: attempt N means N - 1 failures so far.
            failures = pending.attempt - 1
            if failures < min_attempts:
                continue
            error = ""
            if pending.HasField("last_failure"):
                try:
                    error = str(await client.data_converter.decode_failure(pending.last_failure))
                except Exception:  # a key this web app does not hold: say so rather than show ciphertext
                    error = "(could not be decoded)"
            found.append(FailingActivity(
                receipt_number=workflow_id, activity_type=pending.activity_type.name, attempt=pending.attempt,
                last_error=error[:500], last_failed_at=_time(pending.last_attempt_complete_time),
                next_attempt_at=_time(pending.next_attempt_schedule_time),
            ))
        return found

    results = await asyncio.gather(*(one(w) for w in workflow_ids))
    flat = [activity for found in results for activity in found]
    return sorted(flat, key=lambda a: (-a.attempt, a.receipt_number, a.activity_type))


async def queue_pollers(client: Client, *, namespace: str, task_queue: str, now: datetime,
                        stale_after: timedelta = POLLER_STALE_AFTER) -> QueuePollers:
    async def describe(kind) -> tuple[Poller, ...]:
        response = await _limited(client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind,
        )))
        return tuple(Poller(p.identity, _time(p.last_access_time)) for p in response.pollers)

    workflow_side, activity_side = await asyncio.gather(
        describe(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), describe(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    )
    return QueuePollers(task_queue, workflow_side, activity_side, now, stale_after)


async def look(client: Client, *, namespace: str, task_queue: str, now: datetime, min_attempts: int | None = None,
               stale_after: timedelta = POLLER_STALE_AFTER, list_running: bool = True) -> TemporalPicture:
    """Everything Temporal says about the cases. ``min_attempts=None`` skips the describe of every
    running workflow; ``list_running=False`` only counts the running case workflows instead of
    listing them (the dashboard's quick look). The stuck-case finder asks for both."""
    picture = TemporalPicture()
    try:
        picture.problems = await reported_problems(client, task_queue=task_queue)
        picture.pollers = await queue_pollers(client, namespace=namespace, task_queue=task_queue, now=now,
                                              stale_after=stale_after)
        if not list_running:
            counted = await _limited(client.count_workflows(_on(RUNNING_CASES_QUERY, task_queue)))
            picture.counted = counted.count
            return picture
        since, picture.stages, picture.running_capped = await running_cases(client, task_queue=task_queue)
        picture.running = set(since)
        picture.stage_since = {wid: at for wid, at in since.items() if at is not None}
        if min_attempts is not None:
            ids = sorted(picture.running)[:DESCRIBE_LIMIT]
            picture.described = len(ids)
            picture.failing = await failing_activities(client, ids, min_attempts=min_attempts)
    except Exception:  # any failure to reach Temporal: the page shows the database's figures and says so
        log.warning("Temporal could not be reached for the supervisor's view", exc_info=True)
        picture.reachable = False
    return picture


def workflow_url(ui_url: str, namespace: str, workflow_id: str) -> str:
    """The case's page in the Temporal Web UI (its latest run)."""
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"


def query_url(ui_url: str, namespace: str, query: str) -> str:
    """The Web UI's workflow list for a visibility query."""
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows?query={quote(query)}"
