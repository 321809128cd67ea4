"""Writing the case projection: the case row, its timeline, queue tasks and outbound mail.

Called by activities only. ``apply_transition`` is idempotent: a transition is keyed by the
workflow's sequence number, so a retried activity finds its work done and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.account_security import audit
from models.domain import Stage, StatusCode
from models.tables import Case, CaseEvent, Filing, HumanTask, OutboundEmail, User, utcnow


class FilingMissing(LookupError):
    pass


@dataclass
class RenderedEmail:
    subject: str
    body_text: str


# (user language, status code, receipt number) -> subject and body
EmailRenderer = Callable[[str, StatusCode, str], RenderedEmail]


def status_email_key(receipt_number: str, seq: int, user_id: int) -> str:
    return f"status:{receipt_number}:{seq}:{user_id}"


def pending_email_ids(session: Session, *, receipt_number: str, seq: int) -> list[int]:
    prefix = f"status:{receipt_number}:{seq}:"
    rows = session.exec(
        select(OutboundEmail.id).where(
            col(OutboundEmail.idempotency_key).startswith(prefix), OutboundEmail.status == "pending"
        )
    ).all()
    return [r for r in rows if r is not None]


def apply_transition(
    session: Session,
    *,
    receipt_number: str,
    seq: int,
    occurred_at: datetime,
    stage: str,
    stage_entered_at: datetime,
    status_code: str | None,
    actor_id: int | None,
    note: str | None,
    assigned_officer_id: int | None,
    decision: str | None,
    overdue: bool,
    open_task: str | None,
    task_due_at: datetime | None,
    close_open_tasks: bool,
    render_email: EmailRenderer,
) -> tuple[bool, list[int]]:
    """Apply one transition. Returns (applied now?, ids of mails still to deliver for it)."""
    case = session.get(Case, receipt_number, with_for_update=True)
    if case is not None and case.last_seq >= seq:
        return False, pending_email_ids(session, receipt_number=receipt_number, seq=seq)

    if case is None:
        filing = session.get(Filing, receipt_number)
        if filing is None:
            raise FilingMissing(receipt_number)
        case = Case(
            receipt_number=receipt_number,
            form_type=filing.form_type,
            office=filing.office,
            applicant_id=filing.applicant_id,
            filed_at=filing.filed_at,
            stage=Stage(stage),
            status_code=StatusCode(status_code or StatusCode.CASE_RECEIVED),
            status_changed_at=occurred_at,
            stage_entered_at=stage_entered_at,
        )
        session.add(case)

    case.stage = Stage(stage)
    case.stage_entered_at = stage_entered_at
    case.assigned_officer_id = assigned_officer_id
    case.overdue = overdue
    case.last_seq = seq
    case.updated_at = utcnow()
    if decision is not None:
        case.decision = decision
        if status_code in (StatusCode.APPROVED, StatusCode.DENIED):
            case.decision_reason = note
    email_ids: list[int] = []
    if status_code is not None:
        case.status_code = StatusCode(status_code)
        case.status_changed_at = occurred_at
        session.add(
            CaseEvent(
                receipt_number=receipt_number,
                seq=seq,
                stage=Stage(stage),
                status_code=StatusCode(status_code),
                occurred_at=occurred_at,
                actor_id=actor_id,
                note=note,
            )
        )
    if actor_id is not None:
        # Every officer action lands in the append-only audit log, once even when retried.
        audit(
            session, key=f"case:{receipt_number}:{seq}", actor_id=actor_id, action=status_code or stage,
            receipt_number=receipt_number, detail=note or "", occurred_at=occurred_at,
        )
    session.flush()

    open_tasks = session.exec(
        select(HumanTask).where(HumanTask.receipt_number == receipt_number, HumanTask.status == "open")
    ).all()
    for task in open_tasks:
        if close_open_tasks:
            task.status = "done"
            task.closed_at = occurred_at
        task.assigned_officer_id = assigned_officer_id
        session.add(task)
    if open_task:
        session.add(
            HumanTask(
                task_key=f"{receipt_number}:{open_task}:{seq}",
                receipt_number=receipt_number,
                kind=open_task,
                form_type=case.form_type,
                office=case.office,
                assigned_officer_id=assigned_officer_id,
                opened_at=occurred_at,
                due_at=task_due_at or occurred_at,
            )
        )

    if status_code is not None:
        applicant = session.get(User, case.applicant_id)
        if applicant is not None:
            mail = render_email(applicant.language, StatusCode(status_code), receipt_number)
            email = OutboundEmail(
                idempotency_key=status_email_key(receipt_number, seq, applicant.id or 0),
                receipt_number=receipt_number,
                to_address=applicant.email,
                language=applicant.language,
                subject=mail.subject,
                body_text=mail.body_text,
            )
            session.add(email)
            session.flush()
            email_ids.append(email.id or 0)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False, pending_email_ids(session, receipt_number=receipt_number, seq=seq)
    return True, email_ids
