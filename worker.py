"""The Caseline worker: the only place that registers workflows and activities."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIServer

import prometheus_client
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.case import CaseActivities
from activities.digest import DigestActivities
from activities.housekeeping import HousekeepingActivities
from activities.mail import MailActivities
from models.s3store import store_from_settings
from observability import ObservabilityInterceptor, configure_logging
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
        interceptors=[ObservabilityInterceptor()],
    )


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime that serves the SDK's own metrics (``temporal_*``: polls, task latencies,
    slots, activity and workflow outcomes) for Prometheus, or None when the port is 0."""
    if not settings.temporal_metrics_port:
        return None
    address = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError:  # the port is taken: cases go on, without these metrics
        log.error("cannot serve the Temporal SDK metrics on %s", address, exc_info=True)
        return None


def start_metrics_server(settings: Settings) -> tuple[WSGIServer, threading.Thread] | None:
    """Serve Caseline's metrics (prometheus_client's default registry: mail sent and failed,
    activity failures) on the worker's metrics port; None when the port is 0. Returns the
    (server, thread) pair: ``server.shutdown()`` stops it."""
    if not settings.worker_metrics_port:
        return None
    try:
        return prometheus_client.start_http_server(settings.worker_metrics_port, addr=settings.metrics_host)
    except OSError:  # the port is taken: cases go on, without these metrics
        log.error("cannot serve the worker metrics on %s:%s", settings.metrics_host, settings.worker_metrics_port,
                  exc_info=True)
        return None


async def run_worker(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    # Created once per process, here and not in build_worker (the tests build many workers).
    runtime = temporal_runtime(settings)
    metrics = start_metrics_server(settings)
    if runtime or metrics:
        log.info("metrics on %s: worker port %s, Temporal SDK port %s", settings.metrics_host,
                 settings.worker_metrics_port if metrics else "off", settings.temporal_metrics_port if runtime else "off")
    try:
        await _run(settings, runtime)
    finally:
        if metrics:
            metrics[0].shutdown()
            metrics[0].server_close()


async def _run(settings: Settings, runtime: Runtime | None) -> None:
    client = await connect(settings.temporal_address, settings.temporal_namespace, payload_keys=settings.payload_keys,
                           runtime=runtime)
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
    configure_logging(level=get_settings().log_level, fmt=get_settings().log_format)
    asyncio.run(run_worker())
