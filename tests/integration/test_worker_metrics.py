"""The worker's metrics on the real dev server: the Temporal SDK's own (a Runtime with a Prometheus
exporter, worker.temporal_runtime) and Caseline's (worker.start_metrics_server), with a real SMTP sink
and a real database. Counters are process-wide: the tests compare before and after."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from models.db import session_scope
from models.tables import OutboundEmail
from settings import Settings
from tests.conftest import free_port
from tests.helpers import wait_until
from worker import build_worker, start_metrics_server, temporal_runtime
from workflows.client import connect
from workflows.email import EmailWorkflow


def outbox_row(url: str) -> int:
    with session_scope(url) as db:
        row = OutboundEmail(idempotency_key=f"account:{uuid.uuid4()}", to_address="ana@example.com", language="en",
                            subject="Confirm your email address", body_text="Follow the link to confirm.")
        db.add(row)
        db.flush()
        return row.id


async def scrape(port: int) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()

    return await asyncio.to_thread(get)


def value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of the samples called ``name`` that have (at least) these labels. (The parser calls a
    counter's sample ``<name>_total`` even where the exposition, like the SDK's, has no suffix.)"""
    wanted = (labels or {}).items()
    names = {name, name.removesuffix("_total") + "_total"}
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name in names and wanted <= sample.labels.items())


async def test_the_worker_serves_sdk_metrics_and_counts_a_delivered_email(
    dev_server_env, sqlite_url: str, smtp_sink: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = smtp_sink
    settings = Settings(_env_file=None, env="test", data_dir=tmp_path, DATABASE_URL=sqlite_url, smtp_host="127.0.0.1",
                        smtp_port=port, temporal_task_queue=f"metrics-{uuid.uuid4()}", metrics_host="127.0.0.1",
                        worker_metrics_port=free_port(), temporal_metrics_port=free_port())
    runtime = temporal_runtime(settings)
    assert runtime is not None
    client = await connect(dev_server_env.client.service_client.config.target_host, runtime=runtime)
    server = start_metrics_server(settings)
    assert server is not None
    try:
        sent_before = value(await scrape(settings.worker_metrics_port), "caseline_mail_sent_total")
        email_id = outbox_row(sqlite_url)
        with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
            async with build_worker(client, settings, executor):
                delivered = await client.execute_workflow(
                    EmailWorkflow.run, email_id, id=f"email-{uuid.uuid4()}", task_queue=settings.temporal_task_queue
                )
                assert delivered is True

                async def sdk_metrics() -> str | None:
                    text = await scrape(settings.temporal_metrics_port)
                    return text if "temporal_activity_execution_latency" in text else None

                sdk = await wait_until(sdk_metrics, timeout=15, what="the SDK's activity metrics")

        names = {family.name for family in text_string_to_metric_families(sdk)}
        assert {"temporal_workflow_completed", "temporal_activity_execution_latency", "temporal_worker_start"} <= names
        completed = {"task_queue": settings.temporal_task_queue, "workflow_type": "EmailWorkflow"}
        assert value(sdk, "temporal_workflow_completed", completed) == 1
        assert f'task_queue="{settings.temporal_task_queue}"' in sdk
        ours = await scrape(settings.worker_metrics_port)
        assert value(ours, "caseline_mail_sent_total") == sent_before + 1
        assert "caseline_activity_failures_total" in ours
    finally:
        server[0].shutdown()
        server[0].server_close()


async def test_a_failing_activity_is_counted_by_the_workers_interceptor(
    dev_server_env, sqlite_url: str, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, env="test", data_dir=tmp_path, DATABASE_URL=sqlite_url, smtp_host="127.0.0.1",
                        smtp_port=free_port(), temporal_task_queue=f"metrics-{uuid.uuid4()}")  # no SMTP server there
    labels = {"activity": "deliver_email"}
    failures_before = REGISTRY.get_sample_value("caseline_activity_failures_total", labels) or 0.0
    failed_before = REGISTRY.get_sample_value("caseline_mail_failed_total") or 0.0
    client = dev_server_env.client
    email_id = outbox_row(sqlite_url)
    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
        async with build_worker(client, settings, executor):
            handle = await client.start_workflow(
                EmailWorkflow.run, email_id, id=f"email-{uuid.uuid4()}", task_queue=settings.temporal_task_queue
            )
            try:
                await wait_until(
                    lambda: (REGISTRY.get_sample_value("caseline_activity_failures_total", labels) or 0) > failures_before,
                    timeout=15, what="a counted activity failure",
                )
            finally:
                await handle.terminate("test finished")

    assert (REGISTRY.get_sample_value("caseline_mail_failed_total") or 0) > failed_before
