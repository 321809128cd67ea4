"""The Caseline worker: the only place that registers workflows and activities."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.case import CaseActivities
from activities.digest import DigestActivities
from activities.housekeeping import HousekeepingActivities
from activities.mail import MailActivities
from models.s3store import store_from_settings
from settings import Settings, get_settings
from workflows.case import CaseWorkflow
from workflows.email import EmailWorkflow
from workflows.client import connect
from workflows.digest import CaseDigestWorkflow, ensure_case_digest_schedule
from workflows.housekeeping import DraftHousekeepingWorkflow, ensure_housekeeping_schedule

log = logging.getLogger("caseline.worker")


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    case_activities = CaseActivities(
        database_url=settings.database_url,
        base_url=settings.base_url,
        documents=store_from_settings(settings),
        secret_key=settings.secret_key,
    )
    mail_activities = MailActivities(
        database_url=settings.database_url,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        mail_from=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
    )
    digest_activities = DigestActivities(
        database_url=settings.database_url, base_url=settings.base_url, secret_key=settings.secret_key
    )
    housekeeping_activities = HousekeepingActivities(database_url=settings.database_url, base_url=settings.base_url)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[CaseWorkflow, EmailWorkflow, DraftHousekeepingWorkflow, CaseDigestWorkflow],
        activities=[
            case_activities.record_transition,
            case_activities.book_appointment,
            case_activities.close_appointment,
            case_activities.fulfil,
            mail_activities.deliver_email,
            housekeeping_activities.sweep_drafts,
            digest_activities.collect_case_digests,
        ],
        activity_executor=executor,
        max_concurrent_activities=20,
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace, payload_keys=settings.payload_keys)
    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        try:
            if await ensure_housekeeping_schedule(client, task_queue=settings.temporal_task_queue):
                log.info("created the daily draft housekeeping schedule")
        except RPCError:
            log.warning("could not create the draft housekeeping schedule; the next worker start tries again", exc_info=True)
        try:
            if await ensure_case_digest_schedule(client, task_queue=settings.temporal_task_queue):
                log.info("created the daily case digest schedule")
        except RPCError:
            log.warning("could not create the case digest schedule; the next worker start tries again", exc_info=True)
        log.info("worker polling task queue %s on %s", settings.temporal_task_queue, settings.temporal_address)
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker())
