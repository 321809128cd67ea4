"""observability.py: JSON log lines with the case and Temporal context and no personal data, the
cases collector, and the activity interceptor's failure counter."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from prometheus_client import REGISTRY, CollectorRegistry
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from models.db import session_scope
from models.domain import Stage, StatusCode
from models.tables import Case
from observability import (
    CasesCollector,
    ObservabilityInterceptor,
    add_temporal_context,
    build_formatter,
    receipt_number_of,
    route_template,
    scrub_personal_data,
)
from settings import PROJECT_ROOT
from tests.helpers import FILED_AT, make_user

RECEIPT = "IOE2690123456"


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A stdlib logger whose records go through the JSON formatter into a buffer (and nowhere else)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(build_formatter("json"))
    logger = logging.getLogger("caseline.test_observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    structlog.contextvars.clear_contextvars()
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        structlog.contextvars.clear_contextvars()


def parsed(buffer: io.StringIO) -> list[dict]:
    lines = buffer.getvalue().splitlines()
    return [json.loads(line) for line in lines]  # each line is one JSON object, or this fails


# --- log lines ---------------------------------------------------------------------------------


def test_a_stdlib_log_call_becomes_one_json_object_with_the_bound_case(json_lines) -> None:
    logger, buffer = json_lines
    structlog.contextvars.bind_contextvars(receipt_number=RECEIPT, workflow_id=RECEIPT)
    logger.warning("case %s moved to %s", RECEIPT, "review")

    [line] = parsed(buffer)
    assert line["event"] == f"case {RECEIPT} moved to review"
    assert (line["level"], line["logger"]) == ("warning", "caseline.test_observability")
    assert (line["receipt_number"], line["workflow_id"]) == (RECEIPT, RECEIPT)
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_extras_are_fields_and_personal_data_never_reaches_the_line(json_lines) -> None:
    logger, buffer = json_lines
    logger.info(
        "mail to ana.rivera@example.com bounced",
        extra={"receipt_number": RECEIPT, "to_address": "ana.rivera@example.com", "full_name": "Ana Rivera",
               "email_id": 7},
    )
    try:
        raise ValueError("550 no such user <ana.rivera@example.com>")
    except ValueError:
        logger.exception("delivery failed")

    first, second = parsed(buffer)
    assert first["event"] == "mail to [email] bounced"
    assert (first["receipt_number"], first["email_id"]) == (RECEIPT, 7)
    assert "to_address" not in first and "full_name" not in first
    assert "ValueError: 550 no such user <[email]>" in second["exception"]
    assert "ana.rivera" not in buffer.getvalue() and "Ana Rivera" not in buffer.getvalue()


def test_the_scrubber_drops_personal_keys_at_any_depth_and_masks_addresses() -> None:
    marker = object()
    event = {
        "event": "sent to a@b.example and GET /sign-in?email=x.y%40y.example.org&next=/account",
        "Email": "a@b.example",
        "name": "Ana",
        "date_of_birth": "1990-04-27",
        "password": "hunter2-hunter2",
        "a_number": "A123456789",
        "answers": {"family_name": "Rivera"},
        "body_text": "Dear Ana",
        "receipt_number": RECEIPT,
        "form": {"form_type": "I-765", "mailing_address": "1 Main St", "notes": ["call c@d.example"]},
        "attempt": 2,
        "_record": marker,
        "exc_info": (ValueError, ValueError("x"), None),
    }
    out = scrub_personal_data(None, "info", dict(event))

    assert out["event"] == "sent to [email] and GET /sign-in?email=[email]&next=/account"
    for key in ("Email", "name", "date_of_birth", "password", "a_number", "answers", "body_text"):
        assert key not in out
    assert out["form"] == {"form_type": "I-765", "notes": ["call [email]"]}
    assert (out["receipt_number"], out["attempt"]) == (RECEIPT, 2)
    assert out["_record"] is marker and out["exc_info"] is event["exc_info"]
    assert event["form"]["mailing_address"] == "1 Main St"  # the caller's dict is not changed


def test_temporal_workflow_and_activity_extras_become_fields() -> None:
    workflow_details = {"attempt": 1, "namespace": "default", "run_id": "run-1", "task_queue": "q",
                        "workflow_id": RECEIPT, "workflow_type": "CaseWorkflow", "update_name": "decide"}
    out = add_temporal_context(None, "info", {"event": "x", "temporal_workflow": workflow_details,
                                               "__temporal_error_identifier": "WorkflowTaskFailure"})
    assert out == {"event": "x", "workflow_id": RECEIPT, "run_id": "run-1", "workflow_type": "CaseWorkflow",
                   "attempt": 1, "update_name": "decide", "receipt_number": RECEIPT}

    # On the record (a structlog-native line has no ExtraAdder), and for a workflow that is not a case.
    record = logging.makeLogRecord({"temporal_activity": {
        "activity_id": "5", "activity_type": "deliver_email", "attempt": 3, "workflow_id": "email-42",
        "workflow_run_id": "run-2", "workflow_type": "EmailWorkflow"}})
    out = add_temporal_context(None, "info", {"event": "y", "_record": record})
    assert (out["workflow_id"], out["run_id"], out["activity_type"], out["activity_id"], out["attempt"]) == (
        "email-42", "run-2", "deliver_email", "5", 3)
    assert "receipt_number" not in out


def test_receipt_numbers_are_recognised_by_the_documented_pattern() -> None:
    assert receipt_number_of(RECEIPT) == RECEIPT
    for other in ("email-42", "ioe2690123456", "IOE269012345", "IOE26901234567", "", None):
        assert receipt_number_of(other) is None


async def test_temporals_activity_logger_line_carries_the_case(json_lines, monkeypatch) -> None:
    _, buffer = json_lines
    handler = logging.getLogger("caseline.test_observability").handlers[0]
    base = activity.logger.base_logger
    base.addHandler(handler)
    old_level = base.level
    base.setLevel(logging.INFO)
    monkeypatch.setattr(activity.logger, "activity_info_on_message", False)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=RECEIPT, workflow_run_id="run-9",
                                   activity_type="record_transition", attempt=2)

    async def logs() -> None:
        activity.logger.info("recorded the transition")

    try:
        await env.run(logs)
    finally:
        base.removeHandler(handler)
        base.setLevel(old_level)

    [line] = [entry for entry in parsed(buffer) if entry["event"] == "recorded the transition"]
    assert line["logger"] == "temporalio.activity"
    assert (line["workflow_id"], line["receipt_number"], line["run_id"]) == (RECEIPT, RECEIPT, "run-9")
    assert (line["activity_type"], line["attempt"]) == ("record_transition", 2)
    assert "temporal_activity" not in line


def test_configure_logging_sends_every_logger_through_json_or_console() -> None:
    program = (
        "import logging, structlog\n"
        "from observability import configure_logging\n"
        "configure_logging(level='INFO', fmt='{fmt}')\n"
        "logging.getLogger('caseline.web').info('from stdlib %s', 'ok')\n"
        "logging.getLogger('uvicorn.error').info('Started server process')\n"
        "logging.getLogger('caseline.quiet').debug('below the level')\n"
        f"structlog.contextvars.bind_contextvars(receipt_number='{RECEIPT}')\n"
        "structlog.get_logger('caseline.worker').info('native %s', 'event', email='a@b.example', stage='review')\n"
    )
    result = subprocess.run([sys.executable, "-c", program.format(fmt="json")], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("caseline.web", "from stdlib ok"), ("uvicorn.error", "Started server process"),
        ("caseline.worker", "native event"),
    ]
    assert all(line["level"] == "info" and line["timestamp"].endswith("Z") for line in lines)
    assert lines[2]["receipt_number"] == RECEIPT and lines[2]["stage"] == "review" and "email" not in lines[2]

    result = subprocess.run([sys.executable, "-c", program.format(fmt="console")], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60, check=True)
    console = result.stderr.splitlines()
    assert len(console) == 3 and not console[0].startswith("{")
    assert "from stdlib ok" in console[0] and f"receipt_number={RECEIPT}" in console[2]


# --- metrics -----------------------------------------------------------------------------------


def seed_cases(url: str, stages: list[Stage]) -> None:
    with session_scope(url) as db:
        applicant = make_user(db, "applicant")
        for n, stage in enumerate(stages):
            db.add(Case(receipt_number=f"IOE27{n:08d}", applicant_id=applicant.id, form_type="I-765", office="IOE",
                        stage=stage, status_code=StatusCode.CASE_RECEIVED, status_changed_at=FILED_AT,
                        stage_entered_at=FILED_AT, filed_at=FILED_AT))


def test_the_cases_collector_counts_each_stage_at_scrape_time(database_url: str) -> None:
    registry = CollectorRegistry()
    registry.register(CasesCollector(database_url))
    assert registry.get_sample_value("caseline_cases", {"stage": "intake"}) == 0

    seed_cases(database_url, [Stage.INTAKE, Stage.INTAKE, Stage.REVIEW, Stage.CLOSED, Stage.CLOSED, Stage.CLOSED])

    figures = {stage.value: registry.get_sample_value("caseline_cases", {"stage": stage.value}) for stage in Stage}
    assert figures == {**{stage.value: 0.0 for stage in Stage}, "intake": 2.0, "review": 1.0, "closed": 3.0}


def test_a_database_that_cannot_answer_leaves_the_cases_family_empty(tmp_path, caplog) -> None:
    registry = CollectorRegistry()
    registry.register(CasesCollector(f"sqlite:///{tmp_path / 'empty.db'}"))  # no tables

    with caplog.at_level(logging.WARNING, logger="caseline.observability"):
        assert registry.get_sample_value("caseline_cases", {"stage": "intake"}) is None
    assert "could not count the cases" in caplog.text


def test_the_route_label_is_the_template_or_unmatched() -> None:
    class Route:
        path = "/cases/{receipt_number}"

    assert route_template({"route": Route(), "path": f"/cases/{RECEIPT}"}) == "/cases/{receipt_number}"
    assert route_template({"path": "/no/such/page"}) == "unmatched"


# --- the activity interceptor ------------------------------------------------------------------


class Recording(ActivityInboundInterceptor):
    """The next interceptor in the chain: remembers the log context and then fails or succeeds."""

    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome
        self.seen: dict = {}

    async def execute_activity(self, input: ExecuteActivityInput):
        self.seen = structlog.contextvars.get_contextvars()
        if self.outcome is not None:
            raise self.outcome
        return "done"


def failures(activity_type: str) -> float:
    return REGISTRY.get_sample_value("caseline_activity_failures_total", {"activity": activity_type}) or 0.0


async def run_intercepted(outcome: BaseException | None, *, workflow_id: str, activity_type: str) -> Recording:
    inner = Recording(outcome)
    inbound = ObservabilityInterceptor().intercept_activity(inner)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id, activity_type=activity_type)
    await env.run(inbound.execute_activity, ExecuteActivityInput(fn=lambda: None, args=[], executor=None, headers={}))
    return inner


async def test_the_interceptor_counts_a_failing_activity_and_binds_its_case() -> None:
    structlog.contextvars.clear_contextvars()
    before = failures("fulfil")

    with pytest.raises(RuntimeError, match="card printer down"):
        await run_intercepted(RuntimeError("card printer down"), workflow_id=RECEIPT, activity_type="fulfil")

    assert failures("fulfil") == before + 1
    assert structlog.contextvars.get_contextvars() == {}  # cleared afterwards


async def test_the_interceptor_binds_the_context_and_counts_no_success_or_cancel() -> None:
    before = failures("book_appointment")

    inner = await run_intercepted(None, workflow_id=RECEIPT, activity_type="book_appointment")
    assert inner.seen == {"activity_type": "book_appointment", "workflow_id": RECEIPT, "receipt_number": RECEIPT}
    with pytest.raises(CancelledError):
        await run_intercepted(CancelledError("cancelled"), workflow_id=RECEIPT, activity_type="book_appointment")
    inner = await run_intercepted(None, workflow_id="email-7", activity_type="book_appointment")
    assert inner.seen == {"activity_type": "book_appointment", "workflow_id": "email-7"}

    assert failures("book_appointment") == before
