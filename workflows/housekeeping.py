"""DraftHousekeepingWorkflow: every day, warn the owners of drafts about to expire and delete the
expired drafts (``models.drafts``), then deliver the warnings.

It runs from the Temporal Schedule ``caseline-draft-housekeeping`` (06:00 Eastern, daily; a run
still delivering mail when the next one is due makes that one skip), which
``ensure_housekeeping_schedule`` creates once when a worker starts. The sweep takes the workflow's
time, so a run does the same whether it is first tried now or retried later; everything it writes
is idempotent, so running it twice on a day does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from temporalio import workflow
from temporalio.client import Client, Schedule

with workflow.unsafe.imports_passed_through():
    from activities.housekeeping import HousekeepingActivities, SweepInput
    from models.drafts import BATCH_SIZE

from workflows.daily import daily_schedule, deliver_all, ensure_schedule, run_job, with_deliveries

SCHEDULE_ID = "caseline-draft-housekeeping"
SCHEDULE_HOUR = 6


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
            job_input = SweepInput(now=workflow.now(), batch_size=inp.batch_size)
            sweep = await run_job(HousekeepingActivities.sweep_drafts, job_input)
            totals = replace(totals, queued=sweep.queued, deleted=sweep.deleted, kept_paid=sweep.kept_paid)
            pending = list(sweep.email_ids)
        else:
            pending = list(inp.email_ids)

        def continue_with(left: list[int], delivered: int, undelivered: int) -> HousekeepingInput:
            so_far = with_deliveries(totals, delivered, undelivered)
            return HousekeepingInput(batch_size=inp.batch_size, email_ids=left, totals=so_far)

        delivered, undelivered = await deliver_all(pending, what="a draft expiry warning", continue_with=continue_with)
        return with_deliveries(totals, delivered, undelivered)


def housekeeping_schedule(*, task_queue: str) -> Schedule:
    return daily_schedule(
        DraftHousekeepingWorkflow.run, HousekeepingInput(), schedule_id=SCHEDULE_ID, hour=SCHEDULE_HOUR,
        note="Draft expiry warnings and deletion (Caseline worker)", task_queue=task_queue,
    )


async def ensure_housekeeping_schedule(client: Client, *, task_queue: str) -> bool:
    """Create the housekeeping schedule unless it exists (``workflows.daily.ensure_schedule``)."""
    return await ensure_schedule(client, SCHEDULE_ID, housekeeping_schedule(task_queue=task_queue))


__all__ = [
    "SCHEDULE_ID", "DraftHousekeepingWorkflow", "HousekeepingInput", "HousekeepingResult",
    "ensure_housekeeping_schedule", "housekeeping_schedule",
]
