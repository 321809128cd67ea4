"""CaseDigestWorkflow: every day, one email per person who asked for a daily digest of their case
changes (``models.case_digest``), then their delivery.

It runs from the Temporal Schedule ``caseline-case-digest`` (07:00 Eastern, daily; a run still
delivering mail when the next one is due makes that one skip), which ``ensure_case_digest_schedule``
creates once when a worker starts. The collection takes the workflow's time; everything it writes
is idempotent (a change is listed in one digest only), so running it twice on a day does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from temporalio import workflow
from temporalio.client import Client, Schedule

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities, DigestInput
    from models.case_digest import BATCH_SIZE

from workflows.daily import daily_schedule, deliver_all, ensure_schedule, run_job, with_deliveries

SCHEDULE_ID = "caseline-case-digest"
SCHEDULE_HOUR = 7


@dataclass
class CaseDigestResult:
    queued: int = 0  # digests queued by the collection
    items: int = 0  # changes they list
    dropped: int = 0  # changes not mailed: their person opted out meanwhile
    delivered: int = 0  # mails handed to the mail server (or found sent already)
    undelivered: int = 0  # mails still undelivered at their deadline


@dataclass
class CaseDigestInput:
    batch_size: int = BATCH_SIZE
    # Set only when a run continues as new while delivering: the mails left, and the counts so far.
    email_ids: list[int] | None = None
    totals: CaseDigestResult | None = None


@workflow.defn
class CaseDigestWorkflow:
    @workflow.run
    async def run(self, inp: CaseDigestInput) -> CaseDigestResult:
        totals = inp.totals or CaseDigestResult()
        if inp.email_ids is None:
            job_input = DigestInput(now=workflow.now(), batch_size=inp.batch_size)
            collected = await run_job(DigestActivities.collect_case_digests, job_input)
            totals = replace(totals, queued=collected.queued, items=collected.items, dropped=collected.dropped)
            pending = list(collected.email_ids)
        else:
            pending = list(inp.email_ids)

        def continue_with(left: list[int], delivered: int, undelivered: int) -> CaseDigestInput:
            so_far = with_deliveries(totals, delivered, undelivered)
            return CaseDigestInput(batch_size=inp.batch_size, email_ids=left, totals=so_far)

        delivered, undelivered = await deliver_all(pending, what="a case digest", continue_with=continue_with)
        return with_deliveries(totals, delivered, undelivered)


def case_digest_schedule(*, task_queue: str) -> Schedule:
    return daily_schedule(
        CaseDigestWorkflow.run, CaseDigestInput(), schedule_id=SCHEDULE_ID, hour=SCHEDULE_HOUR,
        note="Daily digests of case changes (Caseline worker)", task_queue=task_queue,
    )


async def ensure_case_digest_schedule(client: Client, *, task_queue: str) -> bool:
    """Create the digest schedule unless it exists (``workflows.daily.ensure_schedule``)."""
    return await ensure_schedule(client, SCHEDULE_ID, case_digest_schedule(task_queue=task_queue))


__all__ = [
    "SCHEDULE_ID", "CaseDigestInput", "CaseDigestResult", "CaseDigestWorkflow", "case_digest_schedule",
    "ensure_case_digest_schedule",
]
