"""Read queries the web uses to render pages (the web never asks a workflow for a page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from models.domain import TaskKind
from models.forms import FORMS
from models.tables import Case, CaseEvent, Document, Draft, Filing, HumanTask, User

PAGE_SIZE = 25


@dataclass
class ApplicantCase:
    filing: Filing
    case: Case | None


def cases_for_applicant(db: Session, *, user_id: int) -> list[ApplicantCase]:
    rows = db.exec(
        select(Filing, Case)
        .join(Case, col(Case.receipt_number) == col(Filing.receipt_number), isouter=True)
        .where(or_(col(Filing.applicant_id) == user_id, col(Filing.representative_id) == user_id))
        .order_by(col(Filing.filed_at).desc())
    ).all()
    return [ApplicantCase(filing=f, case=c) for f, c in rows]


def drafts_for_user(db: Session, *, user_id: int) -> list[Draft]:
    return list(db.exec(select(Draft).where(Draft.user_id == user_id).order_by(col(Draft.updated_at).desc())).all())


def timeline_with_uploads(db: Session, *, receipt_number: str) -> list[CaseEvent | Document]:
    """The case's status changes and the documents people sent after filing, newest first (what
    came with the application is part of it, not a step of the case)."""
    uploads = db.exec(
        select(Document)
        .join(Filing, col(Filing.receipt_number) == col(Document.receipt_number))
        .where(
            Document.receipt_number == receipt_number, col(Document.kind).in_(UPLOAD_KINDS),
            col(Document.uploaded_at) > col(Filing.filed_at),
        )
    ).all()
    entries: list[CaseEvent | Document] = [*timeline(db, receipt_number=receipt_number), *uploads]
    return sorted(entries, key=lambda e: e.occurred_at if isinstance(e, CaseEvent) else e.uploaded_at, reverse=True)


UPLOAD_KINDS = ("evidence", "rfe_response")


def timeline(db: Session, *, receipt_number: str) -> list[CaseEvent]:
    return list(
        db.exec(select(CaseEvent).where(CaseEvent.receipt_number == receipt_number).order_by(col(CaseEvent.seq).desc())).all()
    )


# --- officers' queues ------------------------------------------------------------------------
#
# Every queue lists expedited tasks first (a granted expedite is priority everywhere), then the
# chosen sort, then the id. An ascending index cannot serve "expedited DESC, opened_at ASC" in one
# scan, so a page is read as two ordered segments, expedited = true then expedited = false, each an
# in-order range of ix_task_queue (status, kind, expedited, opened_at, id, ...), ix_task_office
# (status, kind, office, expedited, opened_at, id, ...) or ix_task_next (status, kind, expedited,
# due_at, id, ...). Those indexes also hold every filterable column, so the count and the page's
# ids come from the index alone; only the page's rows are then loaded with their case (a deferred
# join). Offset pagination stays: benchmarks/queues.py shows page 2000 within a small factor of
# page 1, both bounded by counting the queue.

QUEUE_KINDS: tuple[str, ...] = tuple(kind.value for kind in TaskKind)
FORM_TYPES: tuple[str, ...] = tuple(FORMS)
ASSIGNMENTS = ("all", "mine", "unassigned")
SORTS = ("age", "due")

Assignment = Literal["all", "mine", "unassigned"]
Sort = Literal["age", "due"]


@dataclass(frozen=True)
class QueueFilter:
    """What an officer asked to see in one queue. ``kind`` is a TaskKind value."""

    kind: str
    office: str | None = None
    form_type: str | None = None
    assignment: Assignment = "all"
    due_within_days: int | None = None  # due on or before now + N days (overdue tasks included)
    overdue_only: bool = False
    expedited_only: bool = False
    sort: Sort = "age"  # age: oldest opened first; due: earliest due first


@dataclass
class QueuePage:
    rows: list[tuple[HumanTask, Case]]
    total: int
    page: int
    pages: int


@dataclass
class QueueCount:
    open: int = 0
    unassigned: int = 0
    mine: int = 0
    overdue: int = 0
    expedited: int = 0


def _queue_conditions(filter: QueueFilter, *, officer_id: int, now: datetime) -> list[Any]:
    conditions: list[Any] = [HumanTask.status == "open", HumanTask.kind == filter.kind]
    if filter.office:
        conditions.append(HumanTask.office == filter.office)
    if filter.form_type:
        conditions.append(HumanTask.form_type == filter.form_type)
    if filter.assignment == "mine":
        conditions.append(HumanTask.assigned_officer_id == officer_id)
    elif filter.assignment == "unassigned":
        conditions.append(col(HumanTask.assigned_officer_id).is_(None))
    if filter.due_within_days is not None:
        conditions.append(col(HumanTask.due_at) <= now + timedelta(days=filter.due_within_days))
    if filter.overdue_only:
        conditions.append(col(HumanTask.overdue) == sa.true())
    if filter.expedited_only:
        conditions.append(col(HumanTask.expedited) == sa.true())
    return conditions


def _segment_ids(
    db: Session, conditions: list[Any], *, expedited: bool, order: Any, offset: int, limit: int
) -> list[int]:
    query = (
        select(HumanTask.id)
        .where(*conditions, HumanTask.expedited == expedited)
        .order_by(order, col(HumanTask.id).asc())
        .offset(offset)
        .limit(limit)
    )
    return [task_id for task_id in db.exec(query).all() if task_id is not None]


def queue_page(
    db: Session, *, filter: QueueFilter, officer_id: int, now: datetime, page: int = 1, page_size: int = PAGE_SIZE
) -> QueuePage:
    """One page of a queue: expedited first, then by age or due date, then id. ``page`` is clamped
    to 1..pages, so page 0 is the first page and a page beyond the end is the last one."""
    page_size = max(page_size, 1)
    conditions = _queue_conditions(filter, officer_id=officer_id, now=now)
    total, expedited_total = db.exec(
        select(func.count(), func.count().filter(col(HumanTask.expedited) == sa.true()))
        .select_from(HumanTask)
        .where(*conditions)
    ).one()
    pages = max(-(-total // page_size), 1)
    page = min(max(page, 1), pages)
    offset = (page - 1) * page_size
    order = col(HumanTask.due_at).asc() if filter.sort == "due" else col(HumanTask.opened_at).asc()

    ids: list[int] = []
    if offset < expedited_total:
        ids = _segment_ids(db, conditions, expedited=True, order=order, offset=offset, limit=page_size)
    if len(ids) < page_size and total > expedited_total:
        ids += _segment_ids(
            db, conditions, expedited=False, order=order, offset=max(offset - expedited_total, 0),
            limit=page_size - len(ids),
        )
    if not ids:
        return QueuePage(rows=[], total=total, page=page, pages=pages)
    loaded = db.exec(
        select(HumanTask, Case)
        .join(Case, col(Case.receipt_number) == col(HumanTask.receipt_number))
        .where(col(HumanTask.id).in_(ids))
    ).all()
    by_id = {task.id: (task, case_row) for task, case_row in loaded}
    rows = [by_id[task_id] for task_id in ids if task_id in by_id]
    return QueuePage(rows=rows, total=total, page=page, pages=pages)


def queue_counts(
    db: Session, *, office: str | None = None, officer_id: int | None = None, kind: str | None = None
) -> dict[str, QueueCount]:
    """Per queue kind: open, unassigned, mine, overdue and expedited tasks, in one grouped query.
    Every kind is in the answer (zeros included); ``kind`` limits the counting to that one queue."""

    def tally(condition: Any) -> Any:
        return func.count().filter(condition)

    mine = tally(HumanTask.assigned_officer_id == officer_id) if officer_id is not None else sa.literal(0)
    query = (
        select(
            HumanTask.kind,
            func.count(),
            tally(col(HumanTask.assigned_officer_id).is_(None)),
            mine,
            tally(col(HumanTask.overdue) == sa.true()),
            tally(col(HumanTask.expedited) == sa.true()),
        )
        .where(HumanTask.status == "open")
        .group_by(HumanTask.kind)
    )
    if office:
        query = query.where(HumanTask.office == office)
    if kind:
        query = query.where(HumanTask.kind == kind)
    counts = {name: QueueCount() for name in QUEUE_KINDS}
    for task_kind, n_open, n_unassigned, n_mine, n_overdue, n_expedited in db.exec(query).all():
        counts[task_kind] = QueueCount(
            open=n_open, unassigned=int(n_unassigned), mine=int(n_mine), overdue=int(n_overdue),
            expedited=int(n_expedited),
        )
    return counts


def next_task_candidates(
    db: Session, *, kind: str, officer_id: int, office: str | None = None, limit: int = 5
) -> list[HumanTask]:
    """Open tasks an officer may take next: unassigned or already theirs (never another officer's),
    expedited first, then the earliest due, then id."""
    conditions: list[Any] = [
        HumanTask.status == "open",
        HumanTask.kind == kind,
        or_(col(HumanTask.assigned_officer_id).is_(None), HumanTask.assigned_officer_id == officer_id),
    ]
    if office:
        conditions.append(HumanTask.office == office)
    found: list[HumanTask] = []
    for expedited in (True, False):
        if len(found) >= limit:
            break
        found += db.exec(
            select(HumanTask)
            .where(*conditions, HumanTask.expedited == expedited)
            .order_by(col(HumanTask.due_at).asc(), col(HumanTask.id).asc())
            .limit(limit - len(found))
        ).all()
    return found


def officer_names(db: Session, *, ids: set[int] | list[int]) -> dict[int, str]:
    """Full names of the given staff accounts, for the queue tables."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.exec(select(User.id, User.full_name).where(col(User.id).in_(wanted))).all()
    return {user_id: name for user_id, name in rows if user_id is not None}


def open_task(db: Session, *, receipt_number: str) -> HumanTask | None:
    return db.exec(
        select(HumanTask).where(HumanTask.receipt_number == receipt_number, HumanTask.status == "open")
    ).first()


