"""Operations: structured logs (structlog over the standard library's logging) and Prometheus metrics.

Logs. ``configure_logging`` puts one handler on the root logger whose formatter runs every record,
ours (``logging.getLogger("caseline.*")``), Temporal's (``workflow.logger``, ``activity.logger``) and
uvicorn's, through the same structlog processors: one JSON object per line with ``timestamp`` (ISO
8601, UTC), ``level``, ``logger`` and ``event``, plus the case's ``receipt_number`` and the Temporal
context (``workflow_id``, ``run_id``, ``workflow_type``/``activity_type``, ``attempt``) where there is
one. Personal data never leaves a process in a log line: ``scrub_personal_data`` drops the keys that
hold it and masks e-mail addresses in every string (the event and any formatted exception included).

Metrics. The counters and the request histogram live in prometheus_client's default registry; the
web app serves them on ``/metrics`` and the worker on its own port (``CASELINE_WORKER_METRICS_PORT``),
beside the Temporal SDK's metrics (``CASELINE_TEMPORAL_METRICS_PORT``). ``CasesCollector`` counts the
cases per stage with one GROUP BY at scrape time.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import sqlalchemy as sa
import structlog
import temporalio.activity
import temporalio.exceptions
import temporalio.workflow
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from models.db import get_engine
from models.domain import RECEIPT_RE, Stage
from models.tables import Case

log = logging.getLogger("caseline.observability")

# --- logs ------------------------------------------------------------------------------------------

# Keys whose values are personal data (or secrets): dropped from every log line, at any depth.
PERSONAL_DATA_KEYS = frozenset({
    "full_name", "name", "given_name", "family_name", "middle_name", "email", "email_address", "to_address",
    "recipient", "recipients", "date_of_birth", "dob", "birth_date", "address", "mailing_address", "street",
    "apartment", "phone", "a_number", "ssn", "password", "totp_secret", "recovery_codes", "answers", "body",
    "body_text", "message_body", "card_number",
})
# Keys that only carry noise into a JSON line (uvicorn's coloured copy of the message, Temporal internals).
_NOISE_KEYS = frozenset({"color_message", "activity_info", "workflow_info"})
MASK = "[email]"
# An address as written in text, and as it appears URL-encoded in a logged path or query string.
# (The local part is the usual set, not all RFC 5322 allows, so that "?email=" in a path stays readable.)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL_RE.sub(MASK, value)
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items() if not (isinstance(k, str) and k.lower() in PERSONAL_DATA_KEYS)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return value


def scrub_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Drop the keys that hold personal data and mask e-mail addresses in every string value.

    A pure function (a structlog processor): structlog's own keys that start with ``_`` (the
    record the standard library handed over) and the exception, which a renderer formats (the JSON
    chain formats it into ``exception`` first, so that text is scrubbed), pass through untouched."""
    scrubbed: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key.startswith("_") or key in ("exc_info", "stack_info"):
            scrubbed[key] = value
        elif key.lower() in PERSONAL_DATA_KEYS or key in _NOISE_KEYS:
            continue
        else:
            scrubbed[key] = _scrub(value)
    return scrubbed


def receipt_number_of(workflow_id: str | None) -> str | None:
    """A case workflow's id is its receipt number; other workflows (mail, housekeeping) have none."""
    return workflow_id if workflow_id and RECEIPT_RE.fullmatch(workflow_id) else None


def add_temporal_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Lift the context Temporal's loggers put in a record's ``extra`` into top-level fields.

    ``workflow.logger`` adds ``temporal_workflow`` (workflow_id, run_id, workflow_type, attempt,
    namespace, task_queue; update_id and update_name inside an update handler) and ``activity.logger``
    adds ``temporal_activity`` (activity_id, activity_type, attempt, workflow_id, workflow_run_id,
    workflow_type, ...). They arrive as keys of the event dict (``ExtraAdder``) or as attributes of the
    record. The workflow id of a case is its receipt number, so ``receipt_number`` is set from it."""
    record = event_dict.get("_record")
    for key in ("temporal_workflow", "temporal_activity"):
        details = event_dict.pop(key, None)
        if details is None and record is not None:
            details = getattr(record, key, None)
        if not isinstance(details, Mapping):
            continue
        fields = {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("run_id") or details.get("workflow_run_id"),
            "workflow_type": details.get("workflow_type"),
            "attempt": details.get("attempt"),
        }
        if key == "temporal_activity":
            fields["activity_type"] = details.get("activity_type")
            fields["activity_id"] = details.get("activity_id")
        else:
            fields["update_name"] = details.get("update_name")
            fields["update_id"] = details.get("update_id")
        event_dict.update({name: value for name, value in fields.items() if value is not None})
    for key in [k for k in event_dict if k.startswith("__temporal")]:
        del event_dict[key]
    if "receipt_number" not in event_dict:
        receipt = receipt_number_of(event_dict.get("workflow_id"))
        if receipt:
            event_dict["receipt_number"] = receipt
    return event_dict


def _shared_processors() -> list[Any]:
    """What every line gets, whether it comes from structlog or from the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def build_formatter(fmt: Literal["json", "console"] = "json") -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the root handler: JSON lines, or readable colourless lines for developers."""
    if fmt == "json":
        final: list[Any] = [
            add_temporal_context,
            structlog.processors.format_exc_info,
            scrub_personal_data,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(default=str),
        ]
    elif fmt == "console":
        # The console renderer prints the exception itself (after the scrubber has seen the fields).
        final = [
            add_temporal_context,
            scrub_personal_data,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.dev.ConsoleRenderer(colors=False),
        ]
    else:
        raise ValueError(f"unknown log format {fmt!r}: use json or console")
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=final,
    )


class _CaselineHandler(logging.StreamHandler):
    """The root handler installed by ``configure_logging`` (told apart so a second call replaces it)."""


NOISY_LIBRARIES = ("fontTools", "fpdf")


def configure_logging(*, level: str | int = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    """Send every log record of the process through structlog: one JSON object per line on stderr.

    Replaces the root logger's handlers (a second call reconfigures). Temporal's loggers stop
    appending their context to the message text: it is in fields of its own."""
    handler = _CaselineHandler(sys.stderr)
    handler.setFormatter(build_formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn's loggers keep no handlers of their own (the CLI runs it with log_config=None): they
    # propagate to the root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Libraries that narrate their work at INFO (fontTools prints a line per table it subsets
    # for every notice PDF): only their warnings are worth a line.
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    temporalio.activity.logger.activity_info_on_message = False
    temporalio.workflow.logger.workflow_info_on_message = False
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def case_fields(workflow_id: str | None) -> dict[str, str]:
    """The log fields that name a case: its workflow id and, for a case workflow, the receipt number."""
    fields: dict[str, str] = {}
    if workflow_id:
        fields["workflow_id"] = workflow_id
        receipt = receipt_number_of(workflow_id)
        if receipt:
            fields["receipt_number"] = receipt
    return fields


def bind_case(workflow_id: str) -> None:
    """Put the case on every following log line of this task or thread (structlog contextvars)."""
    structlog.contextvars.bind_contextvars(**case_fields(workflow_id))


# --- metrics ---------------------------------------------------------------------------------------

HTTP_REQUEST_DURATION = Histogram(
    "caseline_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
)
MAIL_SENT = Counter("caseline_mail_sent_total", "Emails handed to the SMTP server.")
MAIL_FAILED = Counter("caseline_mail_failed_total", "Attempts to send an email that failed (each retry counts).")
ACTIVITY_FAILURES = Counter(
    "caseline_activity_failures_total", "Activity attempts that ended with an error, by activity type.", ["activity"]
)

UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's path template (``/cases/{receipt_number}``), never the path itself, so the
    histogram keeps a bounded number of series; a request no route matched is ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUEST_DURATION.labels(method=method, route=route, status=str(status)).observe(seconds)


class CasesCollector(Collector):
    """``caseline_cases{stage=...}``: how many cases are in each stage (``closed`` included) now.

    Counted with one GROUP BY on ``case_record`` when Prometheus scrapes; every stage is reported,
    with 0 when it has no case, so a dashboard's series do not come and go."""

    def __init__(self, engine: Engine | str) -> None:
        self._engine = engine

    def _engine_now(self) -> Engine:
        return get_engine(self._engine) if isinstance(self._engine, str) else self._engine

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Registering must not query the database.
        return [GaugeMetricFamily("caseline_cases", "Cases by stage.", labels=["stage"])]

    def counts(self) -> dict[str, int]:
        query = sa.select(Case.__table__.c.stage, sa.func.count()).group_by(Case.__table__.c.stage)
        with self._engine_now().connect() as conn:
            found = {str(stage): int(count) for stage, count in conn.execute(query)}
        return {**{stage.value: 0 for stage in Stage}, **found}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("caseline_cases", "Cases by stage.", labels=["stage"])
        try:
            counts = self.counts()
        except sa.exc.SQLAlchemyError:
            # A database that cannot answer must not take the other metrics down with it.
            log.warning("could not count the cases for the metrics", exc_info=True)
            return [family]
        for stage, count in sorted(counts.items()):
            family.add_metric([stage], count)
        return [family]


# --- Temporal worker -------------------------------------------------------------------------------


class ObservabilityInterceptor(Interceptor):
    """Around every activity: its case on the log lines (structlog contextvars) and, when it fails,
    ``caseline_activity_failures_total{activity=...}``."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)


_CANCELLED = (temporalio.exceptions.CancelledError,)


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = temporalio.activity.info()
        context = {"activity_type": info.activity_type, **case_fields(info.workflow_id)}
        # Restored afterwards; a thread-pool activity sees them too (the worker copies the context).
        with structlog.contextvars.bound_contextvars(**context):
            try:
                return await self.next.execute_activity(input)
            except _CANCELLED:
                raise
            except Exception:
                ACTIVITY_FAILURES.labels(activity=info.activity_type).inc()
                raise


__all__ = [
    "ACTIVITY_FAILURES", "HTTP_REQUEST_DURATION", "MAIL_FAILED", "MAIL_SENT", "CasesCollector",
    "ObservabilityInterceptor", "add_temporal_context", "bind_case", "build_formatter", "case_fields", "configure_logging",
    "observe_request", "receipt_number_of", "route_template", "scrub_personal_data",
]
