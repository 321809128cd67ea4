"""DraftHousekeepingWorkflow: every day, warn the owners of drafts about to expire and delete the
expired drafts (``models.drafts``), then deliver the warnings.

It runs from the Temporal Schedule ``caseline-draft-housekeeping`` (06:00 Eastern, daily; a run
still delivering mail when the next one is due makes that one skip), which
``ensure_housekeeping_schedule`` creates once when a worker starts. The sweep takes the workflow's
time, so a run does the same whether it is first tried now or retried later; everything it writes
is idempotent, so running it twice on a day does no harm.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta

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
    from activities.housekeeping import HousekeepingActivities, SweepInput
    from activities.mail import MailActivities
    from models.drafts import BATCH_SIZE

from workflows.case import MAIL_DEADLINE, MAIL_RETRY

SCHEDULE_ID = "caseline-draft-housekeeping"
SCHEDULE_TIME_ZONE = "America/New_York"
SCHEDULE_HOUR = 6
SWEEP_TIMEOUT = timedelta(minutes=30)
SWEEP_HEARTBEAT = timedelta(minutes=2)  # the sweep reports after each batch of drafts
SWEEP_DEADLINE = timedelta(hours=12)  # then the run fails; tomorrow's run sweeps again
SWEEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))
MAIL_START_TO_CLOSE = timedelta(seconds=60)  # as the case workflow's mail
MAIL_CONCURRENCY = 50  # deliveries in flight at once


@dataclass
class HousekeepingResult:
    queued: int = 0  # warnings queued by the sweep
    deleted: int = 0  # drafts deleted
    kept_paid: int = 0  # expired drafts kept because a payment on them succeeded
    delivered: int = 0  # mails handed to the mail server (or found sent already)
    undelivered: int = 0  # mails still undelivered at their deadline


@dataclass
class HousekeepingInput:
    batch_size: int = BATCH_SIZE
    # Set only when a run continues as new while delivering: the mails left, and the counts so far.
    email_ids: list[int] | None = None
    totals: HousekeepingResult | None = None


@workflow.defn
class DraftHousekeepingWorkflow:
    @workflow.run
    async def run(self, inp: HousekeepingInput) -> HousekeepingResult:
        totals = inp.totals or HousekeepingResult()
        if inp.email_ids is None:
            sweep = await workflow.execute_activity_method(
                HousekeepingActivities.sweep_drafts,
                SweepInput(now=workflow.now(), batch_size=inp.batch_size),
                start_to_close_timeout=SWEEP_TIMEOUT,
                heartbeat_timeout=SWEEP_HEARTBEAT,
                schedule_to_close_timeout=SWEEP_DEADLINE,
                retry_policy=SWEEP_RETRY,
            )
            totals = replace(totals, queued=sweep.queued, deleted=sweep.deleted, kept_paid=sweep.kept_paid)
            pending = list(sweep.email_ids)
        else:
            pending = list(inp.email_ids)
        while pending:
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(HousekeepingInput(batch_size=inp.batch_size, email_ids=pending, totals=totals))
            chunk, pending = pending[:MAIL_CONCURRENCY], pending[MAIL_CONCURRENCY:]
            outcomes = await asyncio.gather(*(self._deliver(email_id) for email_id in chunk))
            delivered = sum(outcomes)
            totals = replace(
                totals, delivered=totals.delivered + delivered, undelivered=totals.undelivered + len(chunk) - delivered
            )
        return totals

    async def _deliver(self, email_id: int) -> bool:
        try:
            await workflow.execute_activity_method(
                MailActivities.deliver_email,
                email_id,
                start_to_close_timeout=MAIL_START_TO_CLOSE,
                schedule_to_close_timeout=MAIL_DEADLINE,
                retry_policy=MAIL_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("a draft expiry warning (email %s) could not be delivered before its deadline", email_id)
            return False
        return True


def housekeeping_schedule(*, task_queue: str) -> Schedule:
    """Daily at 06:00 Eastern; a run due while the last one is still going is skipped, and runs
    missed while the cluster was down are not made up beyond the last day."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DraftHousekeepingWorkflow.run,
            HousekeepingInput(),
            id=SCHEDULE_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(SCHEDULE_HOUR)], minute=[ScheduleRange(0)],
                                            second=[ScheduleRange(0)])],
            time_zone_name=SCHEDULE_TIME_ZONE,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note="Draft expiry warnings and deletion (Caseline worker)"),
    )


async def ensure_housekeeping_schedule(client: Client, *, task_queue: str) -> bool:
    """Create the housekeeping schedule unless it exists; an existing one is left as it is (an
    operator may have paused or changed it). Safe for several workers starting at once: the
    server creates a schedule id once. True when this call created it."""
    try:
        await client.create_schedule(SCHEDULE_ID, housekeeping_schedule(task_queue=task_queue))
    except ScheduleAlreadyRunningError:
        return False
    return True


__all__ = [
    "SCHEDULE_ID", "DraftHousekeepingWorkflow", "HousekeepingInput", "HousekeepingResult",
    "ensure_housekeeping_schedule", "housekeeping_schedule",
]
