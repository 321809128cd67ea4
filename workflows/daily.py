"""What the daily workflows share (draft housekeeping, case digests): delivering the mail they
queued, a few at a time and continuing as new when the history grows, and the daily Temporal
Schedule that starts them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.mail import MailActivities

from workflows.case import MAIL_DEADLINE, MAIL_RETRY

SCHEDULE_TIME_ZONE = "America/New_York"
MAIL_START_TO_CLOSE = timedelta(seconds=60)  # as the case workflow's mail
MAIL_CONCURRENCY = 50  # deliveries in flight at once
# The daily job's own activity (a sweep, a collection): it reports after each batch it does.
JOB_TIMEOUT = timedelta(minutes=30)
JOB_HEARTBEAT = timedelta(minutes=2)
JOB_DEADLINE = timedelta(hours=12)  # then the run fails; tomorrow's run does what is left
JOB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))


async def run_job(activity: Any, arg: Any) -> Any:
    """Run the daily job's own activity (a sweep, a collection) with the timeouts and retries
    every daily job shares."""
    return await workflow.execute_activity_method(
        activity,
        arg,
        start_to_close_timeout=JOB_TIMEOUT,
        heartbeat_timeout=JOB_HEARTBEAT,
        schedule_to_close_timeout=JOB_DEADLINE,
        retry_policy=JOB_RETRY,
    )


def with_deliveries(totals: Any, delivered: int, undelivered: int) -> Any:
    """``totals`` (a daily job's result dataclass) with these deliveries added to its counts."""
    return replace(totals, delivered=totals.delivered + delivered, undelivered=totals.undelivered + undelivered)


async def deliver_all(
    pending: list[int], *, what: str, continue_with: Callable[[list[int], int, int], Any]
) -> tuple[int, int]:
    """Deliver the queued mails ``pending``; returns (delivered, undelivered at their deadline).

    When the server suggests it, the run continues as new with ``continue_with(mails left,
    delivered so far, undelivered so far)`` as its input."""
    delivered = undelivered = 0
    while pending:
        if workflow.info().is_continue_as_new_suggested():
            workflow.continue_as_new(continue_with(pending, delivered, undelivered))
        chunk, pending = pending[:MAIL_CONCURRENCY], pending[MAIL_CONCURRENCY:]
        outcomes = await asyncio.gather(*(_deliver(email_id, what) for email_id in chunk))
        delivered += sum(outcomes)
        undelivered += len(chunk) - sum(outcomes)
    return delivered, undelivered


async def _deliver(email_id: int, what: str) -> bool:
    try:
        await workflow.execute_activity_method(
            MailActivities.deliver_email,
            email_id,
            start_to_close_timeout=MAIL_START_TO_CLOSE,
            schedule_to_close_timeout=MAIL_DEADLINE,
            retry_policy=MAIL_RETRY,
        )
    except ActivityError:
        workflow.logger.warning("%s (email %s) could not be delivered before its deadline", what, email_id)
        return False
    return True


def daily_schedule(run: Any, arg: Any, *, schedule_id: str, hour: int, note: str, task_queue: str) -> Schedule:
    """Start ``run(arg)`` daily at ``hour``:00 Eastern; a run due while the last one is still going
    is skipped, and runs missed while the cluster was down are not made up beyond the last day."""
    return Schedule(
        action=ScheduleActionStartWorkflow(run, arg, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(0)],
                                            second=[ScheduleRange(0)])],
            time_zone_name=SCHEDULE_TIME_ZONE,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note=note),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the schedule unless it exists; an existing one is left as it is (an operator may have
    paused or changed it). Safe for several workers starting at once: the server creates a
    schedule id once. True when this call created it."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
