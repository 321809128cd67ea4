"""What a supervisor's dashboard counts, read from the case projection (``case_record``,
``case_event``): open cases per stage and office, throughput per day, cases past their target,
blocked cases and cases that have waited long in one stage.

Temporal's side of the picture (reported problems, failing activities, pollers) is in
``web.supervision``; this module only reads the database."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models.domain import Stage, StatusCode
from models.receipts import AGENCY_TIME_ZONE
from models.tables import Case, CaseEvent, User

# The order stages are shown in: the plan first, then the two side tracks.
OPEN_STAGES: tuple[Stage, ...] = (
    Stage.INTAKE, Stage.BIOMETRICS, Stage.REVIEW, Stage.EVIDENCE_REQUESTED, Stage.INTERVIEW, Stage.DECISION,
    Stage.POST_DECISION, Stage.ON_HOLD, Stage.BLOCKED,
)
DECISIONS = (StatusCode.APPROVED.value, StatusCode.DENIED.value)
THROUGHPUT_DAYS = 14
ROW_LIMIT = 50


@dataclass(frozen=True)
class StageOffices:
    """Open cases per stage (rows) and office (columns)."""

    offices: list[str]
    counts: dict[Stage, dict[str, int]]

    def stage_total(self, stage: Stage) -> int:
        return sum(self.counts.get(stage, {}).values())

    def office_total(self, office: str) -> int:
        return sum(row.get(office, 0) for row in self.counts.values())

    @property
    def total(self) -> int:
        return sum(self.stage_total(s) for s in self.counts)


@dataclass(frozen=True)
class Day:
    day: date
    filed: int
    decided: int


@dataclass(frozen=True)
class CaseRow:
    """One case in a dashboard table, with what a supervisor needs to act on it."""

    receipt_number: str
    form_type: str
    office: str
    stage: Stage
    stage_entered_at: datetime
    due_at: datetime | None
    overdue: bool
    expedited: bool
    assigned_officer_id: int | None
    assigned_officer: str | None
    held_from_stage: str | None
    blocked_activity: str | None
    blocked_error: str | None

    def days_in_stage(self, now: datetime) -> int:
        return max(0, (now - self.stage_entered_at).days)


def open_by_stage_and_office(db: Session) -> StageOffices:
    rows = db.exec(
        select(Case.stage, Case.office, sa.func.count())
        .where(col(Case.stage) != Stage.CLOSED)
        .group_by(Case.stage, Case.office)
    ).all()
    counts: dict[Stage, dict[str, int]] = {stage: {} for stage in OPEN_STAGES}
    offices: set[str] = set()
    for stage, office, count in rows:
        counts.setdefault(Stage(stage), {})[office] = count
        offices.add(office)
    return StageOffices(offices=sorted(offices), counts=counts)


def throughput(db: Session, *, now: datetime, days: int = THROUGHPUT_DAYS) -> list[Day]:
    """Cases filed and cases decided on each of the last ``days`` days (New York dates), oldest first."""
    today = now.astimezone(AGENCY_TIME_ZONE).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), AGENCY_TIME_ZONE)

    def by_day(stamps) -> Counter[date]:
        return Counter(stamp.astimezone(AGENCY_TIME_ZONE).date() for stamp in stamps)

    filed = by_day(db.exec(select(Case.filed_at).where(col(Case.filed_at) >= since)).all())
    decided = by_day(db.exec(
        select(CaseEvent.occurred_at)
        .where(col(CaseEvent.occurred_at) >= since, col(CaseEvent.status_code).in_(DECISIONS))
    ).all())
    return [Day(first + timedelta(days=i), filed[first + timedelta(days=i)], decided[first + timedelta(days=i)])
            for i in range(days)]


def _rows(db: Session, *conditions, order, limit: int) -> list[CaseRow]:
    officer = sa.orm.aliased(User)
    found = db.exec(
        select(Case, officer.full_name)
        .join(officer, col(Case.assigned_officer_id) == officer.id, isouter=True)
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
    ).all()
    return [
        CaseRow(
            receipt_number=case.receipt_number, form_type=case.form_type, office=case.office, stage=Stage(case.stage),
            stage_entered_at=case.stage_entered_at, due_at=case.due_at, overdue=case.overdue,
            expedited=case.expedited, assigned_officer_id=case.assigned_officer_id, assigned_officer=name,
            held_from_stage=case.held_from_stage, blocked_activity=case.blocked_activity,
            blocked_error=case.blocked_error,
        )
        for case, name in found
    ]


def _count(db: Session, *conditions) -> int:
    return db.exec(select(sa.func.count()).select_from(Case).where(*conditions)).one()


# Open cases past their stage's service-level target.
PAST_TARGET = (col(Case.overdue).is_(True), col(Case.stage) != Stage.CLOSED)
# Cases whose system work failed for good, waiting for a supervisor's retry.
BLOCKED = (col(Case.stage) == Stage.BLOCKED,)


def past_target(db: Session, *, limit: int = ROW_LIMIT) -> list[CaseRow]:
    """The cases past their target, the longest overdue first."""
    return _rows(db, *PAST_TARGET, order=(col(Case.due_at).asc(), col(Case.receipt_number)), limit=limit)


def count_past_target(db: Session) -> int:
    return _count(db, *PAST_TARGET)


def blocked(db: Session, *, limit: int = ROW_LIMIT) -> list[CaseRow]:
    """The blocked cases, the oldest first."""
    return _rows(db, *BLOCKED, order=(col(Case.stage_entered_at).asc(), col(Case.receipt_number)), limit=limit)


def count_blocked(db: Session) -> int:
    return _count(db, *BLOCKED)


def waiting_longer_than(db: Session, *, days: int, now: datetime, limit: int = ROW_LIMIT) -> list[CaseRow]:
    """Open cases that entered their stage more than ``days`` days ago, the longest waiting first."""
    return _rows(db, col(Case.stage) != Stage.CLOSED, col(Case.stage_entered_at) < now - timedelta(days=days),
                 order=(col(Case.stage_entered_at).asc(), col(Case.receipt_number)), limit=limit)


def open_receipts(db: Session) -> set[str]:
    """Every case the projection holds open: each must have a running workflow."""
    return set(db.exec(select(Case.receipt_number).where(col(Case.stage) != Stage.CLOSED)).all())


def rows_for(db: Session, receipts: list[str]) -> dict[str, CaseRow]:
    """The dashboard rows of these cases (those the projection knows), by receipt number."""
    if not receipts:
        return {}
    found = _rows(db, col(Case.receipt_number).in_(receipts), order=(col(Case.receipt_number),), limit=len(receipts))
    return {row.receipt_number: row for row in found}
