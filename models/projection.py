"""Writing the case projection: the case row, its timeline, queue tasks, notices and outbound mail.

Called by activities only. ``apply_transition`` is idempotent: a transition is keyed by the
workflow's sequence number, so a retried activity finds its work done and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.account_security import audit
from models.documents import DocumentStore
from models.domain import SUPERVISOR_TASKS, Stage, StatusCode
from models.notices import issue_notice, notice_kind_for
from models.tables import (
    Case,
    CaseEvent,
    Document,
    EvidenceRequest,
    Filing,
    HumanTask,
    Notice,
    OutboundEmail,
    User,
    utcnow,
)


class FilingMissing(LookupError):
    pass


@dataclass
class RenderedEmail:
    subject: str
    body_text: str


class EmailRenderer(Protocol):
    """(user language, status code, receipt number) -> subject and body. When the change issued a
    notice, its document id comes as ``notice_document_id`` (the mail links to it)."""

    def __call__(self, language: str, status: StatusCode, receipt_number: str, /, **kw: str) -> RenderedEmail: ...


@dataclass(frozen=True)
class NoticeIssuer:
    """Where notices issued by the projection are kept, and the address printed on them for checking
    their verification code (``{base_url}/verify``)."""

    store: DocumentStore
    base_url: str


# (user language, receipt number, when the RFE response is due) -> subject and body
ReminderRenderer = Callable[[str, str, datetime], RenderedEmail]


class EvidenceChange(Protocol):
    """What a transition does to the case's request for evidence (activities.types.EvidenceRequestChange)."""

    action: str  # open | extend | answer | expire
    due_at: datetime | None
    officer_id: int | None
    items: list[str]
    instructions: str
    note: str
    document_ids: list[str]


def _apply_evidence_change(session: Session, case: Case, *, seq: int, occurred_at: datetime, change: EvidenceChange) -> None:
    if change.action == "open":
        session.add(
            EvidenceRequest(
                receipt_number=case.receipt_number, seq=seq, officer_id=change.officer_id, items=list(change.items),
                instructions=change.instructions, sent_at=occurred_at, due_at=change.due_at or occurred_at,
            )
        )
        return
    current = session.exec(
        select(EvidenceRequest)
        .where(EvidenceRequest.receipt_number == case.receipt_number, EvidenceRequest.outcome == "open")
        .order_by(col(EvidenceRequest.seq).desc())
    ).first()
    if current is None:
        return
    if change.action == "extend" and change.due_at is not None:
        current.due_at = change.due_at
    elif change.action == "answer":
        current.outcome = "answered"
        current.responded_at = occurred_at
        current.response_note = change.note or None
        for document_id in change.document_ids:
            document = session.get(Document, document_id)
            if document is not None and document.receipt_number == case.receipt_number:
                document.evidence_request_id = current.id
                session.add(document)
    elif change.action == "expire":
        current.outcome = "expired"
    session.add(current)


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
    close_task_kinds: list[str],
    render_email: EmailRenderer,
    office: str | None = None,
    action: str | None = None,
    reason_code: str | None = None,
    waiting_for: str | None = None,
    due_at: datetime | None = None,
    expedited: bool = False,
    expedite_status: str | None = None,
    held_from_stage: str | None = None,
    blocked_activity: str | None = None,
    blocked_error: str | None = None,
    tracking_number: str | None = None,
    evidence_request: EvidenceChange | None = None,
    reminder_due: datetime | None = None,
    render_reminder: ReminderRenderer | None = None,
    notices: NoticeIssuer | None = None,
) -> tuple[bool, list[int]]:
    """Apply one transition. Returns (applied now?, ids of mails still to deliver for it).

    ``close_task_kinds`` names the kinds of open task to close ("*": all). With ``notices``, a
    status that has a notice (``models.notices.NOTICE_FOR_STATUS``) issues it in this transaction,
    and the status mail links to it; without, no notice is issued."""
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
    if office:
        case.office = office
    case.waiting_for = waiting_for
    case.due_at = due_at
    case.expedited = expedited
    case.expedite_status = expedite_status
    case.held_from_stage = held_from_stage
    if stage == Stage.BLOCKED and blocked_activity:
        case.blocked_activity = blocked_activity
        if blocked_error:
            case.blocked_error = blocked_error
    elif stage != Stage.BLOCKED:
        case.blocked_activity = None
        case.blocked_error = None
    if tracking_number:
        case.tracking_number = tracking_number
    if decision is not None:
        case.decision = decision
        if status_code in (StatusCode.APPROVED, StatusCode.DENIED):
            case.decision_reason = note
            case.decision_reason_code = reason_code
    if evidence_request is not None:
        _apply_evidence_change(session, case, seq=seq, occurred_at=occurred_at, change=evidence_request)
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
        # Every action by a person lands in the append-only audit log, once even when retried.
        audit(
            session, key=f"case:{receipt_number}:{seq}", actor_id=actor_id, action=action or status_code or stage,
            receipt_number=receipt_number, detail=note or "", occurred_at=occurred_at,
        )
    session.flush()

    open_tasks = session.exec(
        select(HumanTask).where(HumanTask.receipt_number == receipt_number, HumanTask.status == "open")
    ).all()
    kinds_to_close = set(close_task_kinds)
    for task in open_tasks:
        if "*" in kinds_to_close or task.kind in kinds_to_close:
            task.status = "done"
            task.closed_at = occurred_at
        if task.kind not in SUPERVISOR_TASKS:
            task.assigned_officer_id = assigned_officer_id
        task.office = case.office
        task.expedited = expedited
        task.overdue = overdue
        session.add(task)
    if open_task:
        session.add(
            HumanTask(
                task_key=f"{receipt_number}:{open_task}:{seq}",
                receipt_number=receipt_number,
                kind=open_task,
                form_type=case.form_type,
                office=case.office,
                assigned_officer_id=None if open_task in SUPERVISOR_TASKS else assigned_officer_id,
                opened_at=occurred_at,
                due_at=task_due_at or occurred_at,
                expedited=expedited,
                overdue=overdue,
            )
        )

    notice: Notice | None = None
    notice_kind = notice_kind_for(status_code)
    if notices is not None and notice_kind is not None:
        # After the flush above: the notice reads what this transition wrote (decision, request for
        # evidence, tracking number) and the appointment booked before it.
        notice = issue_notice(
            session, notices.store, receipt_number=receipt_number, seq=seq, kind=notice_kind,
            issued_at=occurred_at, base_url=notices.base_url, status_code=status_code,
        )

    if status_code is not None or (reminder_due is not None and render_reminder is not None):
        applicant = session.get(User, case.applicant_id)
        if applicant is not None:
            if status_code is not None and notice is not None:
                mail = render_email(
                    applicant.language, StatusCode(status_code), receipt_number, notice_document_id=notice.document_id
                )
            elif status_code is not None:
                mail = render_email(applicant.language, StatusCode(status_code), receipt_number)
            else:
                assert render_reminder is not None and reminder_due is not None
                mail = render_reminder(applicant.language, receipt_number, reminder_due)
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
