"""The Caseline worker: the only place that registers workflows and activities."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.case import CaseActivities
from activities.mail import MailActivities
from settings import Settings, get_settings
from workflows.case import CaseWorkflow
from workflows.email import EmailWorkflow
from workflows.client import connect

log = logging.getLogger("caseline.worker")


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    case_activities = CaseActivities(database_url=settings.database_url, base_url=settings.base_url)
    mail_activities = MailActivities(
        database_url=settings.database_url,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        mail_from=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
    )
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=[CaseWorkflow, EmailWorkflow],
        activities=[
            case_activities.record_transition,
            case_activities.book_appointment,
            case_activities.close_appointment,
            case_activities.fulfil,
            mail_activities.deliver_email,
        ],
        activity_executor=executor,
        max_concurrent_activities=20,
    )


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        log.info("worker polling task queue %s on %s", settings.temporal_task_queue, settings.temporal_address)
        await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run_worker())
