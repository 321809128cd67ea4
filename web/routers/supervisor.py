"""The supervisor's pages: a dashboard (open cases per stage and office, throughput per day, cases
past their target, blocked cases, workflows with reported problems) and the stuck-case finder.

Figures come from the database projection (``models.supervision``) and from Temporal
(``web.supervision``). Row actions post to the case workspace's actions with ``return_to``, so a
supervisor acts from the row and comes back here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.dates import format_skeleton
from fastapi import APIRouter, Request
from fastapi.responses import Response

import i18n
from i18n import N_
from models import casefile
from models import supervision as figures
from models.domain import RECEIPT_RE, STAGE_LABELS, Stage
from models.tables import utcnow
from web import supervision
from web.actions import new_action_id
from web.charts import bar_chart, column_chart
from web.deps import SessionDep, SupervisorUser
from web.templating import render

router = APIRouter(prefix="/supervisor")
log = logging.getLogger("caseline.supervisor")

STUCK_DAYS = 30
STUCK_ATTEMPTS = 3
MAX_DAYS = 3650
MAX_ATTEMPTS = 1000
HOLDABLE = frozenset({Stage.INTAKE, Stage.BIOMETRICS, Stage.REVIEW, Stage.EVIDENCE_REQUESTED, Stage.INTERVIEW})
LABELS = {"days": N_("Days in one stage"), "attempts": N_("Failed attempts")}


async def _look(request: Request, now: datetime, *, min_attempts: int | None = None,
                list_running: bool = True) -> supervision.TemporalPicture:
    settings = request.app.state.settings
    try:
        client = await request.app.state.temporal.get()
    except Exception:  # Temporal down: the pages show the database's figures and say so
        log.warning("no Temporal client for the supervisor's view", exc_info=True)
        return supervision.TemporalPicture(reachable=False)
    return await supervision.look(
        client, namespace=settings.temporal_namespace, task_queue=settings.temporal_task_queue, now=now,
        min_attempts=min_attempts, list_running=list_running,
    )


def _common(request: Request, db) -> dict:
    settings = request.app.state.settings
    ui, namespace = settings.temporal_ui_url, settings.temporal_namespace
    return {
        "officers": casefile.officers(db),
        "holdable": {s.value for s in HOLDABLE},
        "new_action_id": new_action_id,
        "workflow_url": lambda wid: supervision.workflow_url(ui, namespace, wid),
        "query_url": lambda query: supervision.query_url(ui, namespace, query),
        "return_to": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "done": request.query_params.get("done"),
        "done_case": case if RECEIPT_RE.fullmatch(case := request.query_params.get("case", "")) else None,
    }


@router.get("")
async def dashboard(request: Request, supervisor: SupervisorUser, db: SessionDep) -> Response:
    now = utcnow()
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    grid = figures.open_by_stage_and_office(db)
    days = figures.throughput(db, now=now)
    picture = await _look(request, now, list_running=False)
    stage_rows = [(stage, grid.stage_total(stage)) for stage in figures.OPEN_STAGES]
    named = [(i18n.gettext(lang, STAGE_LABELS[s]), n) for s, n in stage_rows]
    short = {d.day: format_skeleton("MMMd", d.day, locale=i18n.normalize_language(lang)) for d in days}
    per_day = [i18n.gettext(lang, N_("%(day)s: %(filed)d filed, %(decided)d decided"),
                            day=short[d.day], filed=d.filed, decided=d.decided) for d in days]
    return render(request, "supervisor/dashboard.html", {
        **_common(request, db),
        "now": now,
        "grid": grid,
        "stage_chart": bar_chart(named),
        "stage_description": i18n.gettext(lang, N_("Open cases per stage: %(figures)s."),
                                           figures=", ".join(f"{name} {n}" for name, n in named)),
        "stage_rows": stage_rows,
        "days": days,
        "throughput_chart": column_chart([(short[d.day], d.filed, d.decided) for d in days]),
        "throughput_description": "; ".join(per_day) + ".",
        "filed_total": sum(d.filed for d in days),
        "decided_total": sum(d.decided for d in days),
        "past_target": figures.past_target(db),
        "past_target_count": figures.count_past_target(db),
        "blocked": figures.blocked(db),
        "picture": picture,
        "problem_rows": figures.rows_for(db, [p.receipt_number for p in picture.problems if p.receipt_number]),
    })


@dataclass(frozen=True)
class Waiting:
    row: figures.CaseRow
    in_database: bool
    in_temporal: bool
    days: int  # in the stage, by the database, or by Temporal's StageEnteredAt when only Temporal finds it


def _parse(raw: str | None, default: int, top: int, errors: dict, name: str, message: str) -> int:
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(top)) or not 1 <= int(text) <= top:
        errors[name] = message
        return default
    return int(text)


@router.get("/stuck")
async def stuck(request: Request, supervisor: SupervisorUser, db: SessionDep) -> Response:
    now = utcnow()
    errors: dict[str, str] = {}
    params = request.query_params
    days = _parse(params.get("days"), STUCK_DAYS, MAX_DAYS, errors, "days",
                  N_("Enter a whole number of days from 1 to 3,650."))
    attempts = _parse(params.get("attempts"), STUCK_ATTEMPTS, MAX_ATTEMPTS, errors, "attempts",
                      N_("Enter a whole number of attempts from 1 to 1,000."))
    values = {"days": params.get("days", str(days)), "attempts": params.get("attempts", str(attempts))}
    context = {**_common(request, db), "now": now, "errors": errors, "labels": LABELS, "values": values,
               "days": days, "attempts": attempts}
    if errors:
        return render(request, "supervisor/stuck.html", context, status_code=422)

    picture = await _look(request, now, min_attempts=attempts)
    cutoff = now - timedelta(days=days)
    from_db = {row.receipt_number: row for row in figures.waiting_longer_than(db, days=days, now=now)}
    from_temporal = {wid for wid, since in picture.stage_since.items() if since < cutoff}
    extra = figures.rows_for(db, sorted(from_temporal - set(from_db)))
    def days_in_stage(row: figures.CaseRow) -> int:
        if row.receipt_number in from_db:
            return row.days_in_stage(now)
        return max(0, (now - picture.stage_since[row.receipt_number]).days)

    waiting = sorted(
        (Waiting(row, row.receipt_number in from_db, row.receipt_number in from_temporal, days_in_stage(row))
         for row in [*from_db.values(), *extra.values()]),
        key=lambda w: (-w.days, w.row.receipt_number),
    )
    failing_rows = figures.rows_for(db, sorted({a.receipt_number for a in picture.failing}))
    not_running: list[figures.CaseRow] = []
    not_in_database: list[str] = []
    if picture.reachable and not picture.running_capped:
        open_cases = figures.open_receipts(db)
        not_running = list(figures.rows_for(db, sorted(open_cases - picture.running)).values())
        not_in_database = sorted(picture.running - open_cases)
    blocked = figures.count_blocked(db)
    found = (len(waiting) + len(picture.failing) + len(not_running) + len(not_in_database) + len(picture.problems)
             + blocked)
    if picture.pollers is not None and not picture.pollers.polling:
        found += 1
    return render(request, "supervisor/stuck.html", {
        **context,
        "picture": picture,
        "waiting": waiting,
        "failing_rows": failing_rows,
        "not_running": not_running,
        "not_in_database": not_in_database,
        "problem_rows": figures.rows_for(db, [p.receipt_number for p in picture.problems if p.receipt_number]),
        "found": found,
        "blocked_count": blocked,
        "cutoff": cutoff,
    })
