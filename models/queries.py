"""Read queries the web uses to render pages (the web never asks a workflow for a page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session, col, func, select

from models.tables import Case, CaseEvent, Draft, Filing, HumanTask

QUEUE_KINDS = ("biometrics", "review")
PAGE_SIZE = 25


@dataclass
class ApplicantCase:
    filing: Filing
    case: Case | None


def cases_for_applicant(db: Session, *, user_id: int) -> list[ApplicantCase]:
    rows = db.exec(
        select(Filing, Case)
        .join(Case, col(Case.receipt_number) == col(Filing.receipt_number), isouter=True)
        .where(Filing.applicant_id == user_id)
        .order_by(col(Filing.filed_at).desc())
    ).all()
    return [ApplicantCase(filing=f, case=c) for f, c in rows]


def drafts_for_user(db: Session, *, user_id: int) -> list[Draft]:
    return list(db.exec(select(Draft).where(Draft.user_id == user_id).order_by(col(Draft.updated_at).desc())).all())


def timeline(db: Session, *, receipt_number: str) -> list[CaseEvent]:
    return list(
        db.exec(select(CaseEvent).where(CaseEvent.receipt_number == receipt_number).order_by(col(CaseEvent.seq).desc())).all()
    )


@dataclass
class QueuePage:
    rows: list[tuple[HumanTask, Case]]
    total: int
    page: int
    pages: int


Assignment = Literal["all", "mine", "unassigned"]


def queue_counts(db: Session, *, office: str | None = None) -> dict[str, int]:
    query = select(HumanTask.kind, func.count()).where(HumanTask.status == "open").group_by(HumanTask.kind)
    if office:
        query = query.where(HumanTask.office == office)
    counts = {kind: 0 for kind in QUEUE_KINDS}
    counts.update({kind: n for kind, n in db.exec(query).all()})
    return counts


def queue_page(
    db: Session, *, kind: str, officer_id: int, assignment: Assignment = "all", page: int = 1, office: str | None = None
) -> QueuePage:
    conditions = [HumanTask.status == "open", HumanTask.kind == kind]
    if office:
        conditions.append(HumanTask.office == office)
    if assignment == "mine":
        conditions.append(HumanTask.assigned_officer_id == officer_id)
    elif assignment == "unassigned":
        conditions.append(col(HumanTask.assigned_officer_id).is_(None))
    total = db.exec(select(func.count()).select_from(HumanTask).where(*conditions)).one()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(page, 1), pages)
    rows = db.exec(
        select(HumanTask, Case)
        .join(Case, col(Case.receipt_number) == col(HumanTask.receipt_number))
        .where(*conditions)
        .order_by(col(HumanTask.opened_at).asc(), col(HumanTask.id).asc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return QueuePage(rows=[(t, c) for t, c in rows], total=total, page=page, pages=pages)


def open_task(db: Session, *, receipt_number: str) -> HumanTask | None:
    return db.exec(
        select(HumanTask).where(HumanTask.receipt_number == receipt_number, HumanTask.status == "open")
    ).first()


