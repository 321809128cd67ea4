"""The officers' workbench: queues with live counts, filters, sorting and "next case".

The case workspace and its actions live in ``web.routers.workspace``."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import col, select

from i18n import N_
from models.domain import SUPERVISOR_TASKS, TASK_LABELS, Role, TaskKind
from models.queries import (
    ASSIGNMENTS,
    FORM_TYPES,
    PAGE_SIZE,
    SORTS,
    QueueCount,
    QueueFilter,
    next_task_candidates,
    officer_names,
    queue_counts,
    queue_page,
)
from models.tables import Office, User
from web.actions import run_update
from web.deps import OfficerUser, SessionDep
from web.templating import render
from workflows.case import CaseWorkflow
from workflows.types import ClaimInput

router = APIRouter(prefix="/officer")
log = logging.getLogger("caseline.officer")

QUEUE_HINTS: dict[TaskKind, str] = {
    TaskKind.BIOMETRICS: N_("Cases waiting for fingerprints, photograph and signature."),
    TaskKind.REVIEW: N_("Cases waiting for an officer's review and decision."),
    TaskKind.INTERVIEW: N_("Cases waiting for an interview."),
    TaskKind.OATH: N_("Approved naturalization cases waiting for the oath ceremony."),
    TaskKind.EXPEDITE: N_("Requests to handle a case faster, waiting for a supervisor's decision."),
    TaskKind.BLOCKED: N_("Cases stopped by a system error, waiting for a supervisor."),
}
DUE_WITHIN_CHOICES = (7, 14, 30, 90)
COUNTS_POLL_TARGET = "queue-counts"
_OFFICE_RE = re.compile(r"^[A-Z]{3}$")
_TRUE = frozenset({"1", "true", "on", "yes"})

NOTHING_WAITING = N_("No case is waiting in this queue.")
ALL_TAKEN = N_("Other officers took the cases that were waiting, or they moved on. Try again.")


def visible_kinds(user: User) -> list[TaskKind]:
    """The queues this person works: supervisors see theirs too, officers only the officers' queues."""
    supervisor = Role(user.role) == Role.SUPERVISOR
    return [kind for kind in TaskKind if supervisor or kind not in SUPERVISOR_TASKS]


def _queue_kind(kind: str, user: User) -> TaskKind:
    """The queue named in the URL, or 404 (unknown, or a supervisors' queue for an officer)."""
    try:
        task_kind = TaskKind(kind)
    except ValueError:
        raise HTTPException(status_code=404) from None
    if task_kind not in visible_kinds(user):
        raise HTTPException(status_code=404)
    return task_kind


def _one(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()


def parse_filter(kind: TaskKind, params: Mapping[str, str]) -> tuple[QueueFilter, int]:
    """The filter and page from the query string. A value that makes no sense is the default."""
    office = _one(params, "office").upper()
    form_type = _one(params, "form").upper()
    assignment = _one(params, "assignment")
    sort = _one(params, "sort")
    due_within: int | None = None
    try:
        due_within = int(_one(params, "due_within"))
    except ValueError:
        pass
    try:
        page = max(int(_one(params, "page")), 1)
    except ValueError:
        page = 1
    queue_filter = QueueFilter(
        kind=kind.value,
        office=office if _OFFICE_RE.fullmatch(office) else None,
        form_type=form_type if form_type in FORM_TYPES else None,
        assignment=assignment if assignment in ASSIGNMENTS else "all",  # type: ignore[arg-type]
        due_within_days=due_within if due_within in DUE_WITHIN_CHOICES else None,
        overdue_only=_one(params, "overdue").lower() in _TRUE,
        expedited_only=_one(params, "expedited").lower() in _TRUE,
        sort=sort if sort in SORTS else "age",  # type: ignore[arg-type]
    )
    return queue_filter, page


def filter_params(queue_filter: QueueFilter) -> dict[str, str]:
    """The query parameters that differ from the defaults, in a stable order."""
    params: dict[str, str] = {}
    if queue_filter.office:
        params["office"] = queue_filter.office
    if queue_filter.form_type:
        params["form"] = queue_filter.form_type
    if queue_filter.assignment != "all":
        params["assignment"] = queue_filter.assignment
    if queue_filter.due_within_days is not None:
        params["due_within"] = str(queue_filter.due_within_days)
    if queue_filter.overdue_only:
        params["overdue"] = "1"
    if queue_filter.expedited_only:
        params["expedited"] = "1"
    if queue_filter.sort != "age":
        params["sort"] = queue_filter.sort
    return params


def queue_url(kind: str, params: Mapping[str, str], *, suffix: str = "", page: int | None = None) -> str:
    query = dict(params)
    if page is not None and page > 1:
        query["page"] = str(page)
    encoded = urlencode(query)
    return f"/officer/queues/{kind}{suffix}" + (f"?{encoded}" if encoded else "")


def page_numbers(page: int, pages: int) -> list[int | None]:
    """Page links to show: the first, the last and the neighbours of the current page; None is a gap."""
    wanted = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    shown: list[int | None] = []
    for number in wanted:
        if shown and shown[-1] is not None and number - shown[-1] > 1:  # type: ignore[operator]
            shown.append(None)
        shown.append(number)
    return shown


def _offices(db, current: str | None) -> list[tuple[str, str]]:
    rows = db.exec(select(Office.code, Office.name).where(col(Office.active).is_(True)).order_by(Office.code)).all()
    offices = [(code, name) for code, name in rows]
    if current and current not in {code for code, _ in offices}:
        offices.append((current, current))
    return offices


def _block(request: Request, name: str) -> str | None:
    """The block an htmx request swaps in; None (the whole page) when htmx restores a page from
    history, as it does on Back after ``hx-push-url`` (htmx 2 sends HX-Request with that too)."""
    return None if request.headers.get("HX-History-Restore-Request") == "true" else name


def _with_vary(response: Response) -> Response:
    """Which block an htmx request gets depends on these headers too, so caches must key on them."""
    response.headers["Vary"] = response.headers.get("Vary", "") + ", HX-Target, HX-History-Restore-Request"
    return response


def _redirect(request: Request, target: str) -> Response:
    """Post/Redirect/Get; htmx (a boosted form) is told to load the page itself, so the address follows."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _cards(user: User, counts: dict[str, QueueCount]) -> list[dict]:
    return [
        {"kind": kind.value, "label": TASK_LABELS[kind], "hint": QUEUE_HINTS[kind], "count": counts[kind.value],
         "supervisor": kind in SUPERVISOR_TASKS}
        for kind in visible_kinds(user)
    ]


@router.get("")
def overview(request: Request, officer: OfficerUser, db: SessionDep) -> Response:
    counts = queue_counts(db, officer_id=officer.id)
    cards = _cards(officer, counts)
    return _with_vary(render(
        request,
        "officer/overview.html",
        {
            "officer_cards": [c for c in cards if not c["supervisor"]],
            "supervisor_cards": [c for c in cards if c["supervisor"]],
        },
        block=_block(request, "queue_counts"),
    ))


def _queue_response(
    request: Request, db, officer: User, kind: TaskKind, queue_filter: QueueFilter, page: int, *,
    message: str | None = None, message_kind: str = "info", status_code: int = 200, counts_only: bool = False,
) -> Response:
    params = filter_params(queue_filter)
    counts = queue_counts(db, office=queue_filter.office, officer_id=officer.id, kind=kind.value)[kind.value]
    context = {
        "kind": kind.value,
        "label": TASK_LABELS[kind],
        "filter": queue_filter,
        "params": params,
        "counts": counts,
        "counts_url": queue_url(kind.value, params),
        "unfiltered": not params or params.keys() == {"sort"},
        "message": message,
        "message_kind": message_kind,
    }
    if counts_only:
        return _with_vary(render(request, "officer/queue.html", context, block=_block(request, "queue_counts")))
    result = queue_page(
        db, filter=queue_filter, officer_id=officer.id or 0, now=datetime.now(UTC), page=page, page_size=PAGE_SIZE
    )
    context.update(
        result=result,
        names=officer_names(db, ids={t.assigned_officer_id for t, _ in result.rows if t.assigned_officer_id}),
        page_links=[
            (n, queue_url(kind.value, params, page=n) if n else None) for n in page_numbers(result.page, result.pages)
        ],
        previous_url=queue_url(kind.value, params, page=result.page - 1) if result.page > 1 else None,
        next_url=queue_url(kind.value, params, page=result.page + 1) if result.page < result.pages else None,
        next_case_url=queue_url(kind.value, params, suffix="/next"),
        offices=_offices(db, queue_filter.office),
        form_types=FORM_TYPES,
        due_choices=DUE_WITHIN_CHOICES,
    )
    return _with_vary(render(
        request, "officer/queue.html", context, status_code=status_code, block=_block(request, "queue_table")
    ))


@router.get("/queues/{kind}")
def queue(request: Request, kind: str, officer: OfficerUser, db: SessionDep) -> Response:
    task_kind = _queue_kind(kind, officer)
    queue_filter, page = parse_filter(task_kind, request.query_params)
    counts_only = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == COUNTS_POLL_TARGET
    return _queue_response(request, db, officer, task_kind, queue_filter, page, counts_only=counts_only)


@router.post("/queues/{kind}/next")
async def next_case(request: Request, kind: str, officer: OfficerUser, db: SessionDep) -> Response:
    """Claim the first case this officer may take (expedited first, then the earliest due) and open it.
    A case another officer claimed a moment ago is refused by the workflow: try the next one."""
    task_kind = _queue_kind(kind, officer)
    queue_filter, page = parse_filter(task_kind, request.query_params)
    candidates = next_task_candidates(db, kind=task_kind.value, officer_id=officer.id or 0, office=queue_filter.office)
    arg = ClaimInput(actor_id=officer.id or 0, actor_role=officer.role)
    for task in candidates:
        refusal = await run_update(request, task.receipt_number, CaseWorkflow.claim, arg, "claim", str(uuid.uuid4()))
        if refusal is None:
            return _redirect(request, f"/officer/cases/{task.receipt_number}")
        log.info("claim of %s refused for officer %s: %s", task.receipt_number, officer.id, refusal)
    db.expire_all()
    if not candidates:
        return _queue_response(request, db, officer, task_kind, queue_filter, page, message=NOTHING_WAITING)
    return _queue_response(
        request, db, officer, task_kind, queue_filter, page, message=ALL_TAKEN, message_kind="warning", status_code=409
    )
