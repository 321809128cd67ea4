"""Writing the case projection: the case row, its timeline, queue tasks, notices and outbound mail.

Called by activities only. ``apply_transition`` is idempotent: a transition is keyed by the
workflow's sequence number, so a retried activity finds its work done and writes nothing.

A status change is announced to everyone concerned (``models.email_prefs.change_recipients``: the
applicant, the representative on the filing, the watchers who opted in), each as they chose: a
mail now (an ``OutboundEmail`` keyed ``status:{receipt}:{seq}:{user id}``), a ``DigestItem`` for
the daily digest (``models.case_digest``), or nothing.
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
from models.email_prefs import DAILY, EACH, Unsubscriber, change_recipients
from models.notices import issue_notice, notice_kind_for
from models.tables import (
    Case,
    CaseEvent,
    DigestItem,
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
    """(recipient's language, status code, receipt number) -> subject and body: the applicant's
    version unless told otherwise. Keywords, each given only when it applies:

    - ``notice_document_id``: the change issued a notice; the applicant's version links to it;
    - ``audience="watcher"``: the version for someone who watches the case (no notice, the public
      status page instead of the case page);
    - ``unsubscribe_url``: the recipient's unsubscribe link (the mail ends with it)."""

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
        select(OutboundEmail.id)
        .where(col(OutboundEmail.idempotency_key).startswith(prefix), OutboundEmail.status == "pending")
        .order_by(col(OutboundEmail.id))
    ).all()
    return [r for r in rows if r is not None]


def _outbound(user_id: int, to: str, language: str, receipt_number: str, seq: int, mail: RenderedEmail) -> OutboundEmail:
    return OutboundEmail(
        idempotency_key=status_email_key(receipt_number, seq, user_id),
        receipt_number=receipt_number,
        to_address=to,
        language=language,
        subject=mail.subject,
        body_text=mail.body_text,
    )


def _announce_change(
    session: Session,
    case: Case,
    *,
    seq: int,
    occurred_at: datetime,
    status: StatusCode,
    notice: Notice | None,
    render_email: EmailRenderer,
    unsubscribe: Unsubscriber | None,
) -> list[OutboundEmail]:
    """The mails to send now for a status change, and the digest items of those who want a digest
    (added to the session). Each person once, in their language; a watcher never gets the notice."""
    filing = session.get(Filing, case.receipt_number)
    people = change_recipients(
        session, receipt_number=case.receipt_number, applicant_id=case.applicant_id,
        representative_id=filing.representative_id if filing is not None else None,
    )
    emails: list[OutboundEmail] = []
    for person in people:
        if person.frequency == DAILY:
            session.add(DigestItem(user_id=person.user_id, receipt_number=case.receipt_number, seq=seq,
                                   status_code=status.value, occurred_at=occurred_at))
            continue
        if person.frequency != EACH:
            continue
        kw: dict[str, str] = {}
        if person.audience == "watcher":
            kw["audience"] = "watcher"
        elif notice is not None:
            kw["notice_document_id"] = notice.document_id
        if unsubscribe is not None:
            kw["unsubscribe_url"] = unsubscribe.url(person.user_id, person.scope)
        mail = render_email(person.language, status, case.receipt_number, **kw)
        emails.append(_outbound(person.user_id, person.email, person.language, case.receipt_number, seq, mail))
    return emails


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
    unsubscribe: Unsubscriber | None = None,
) -> tuple[bool, list[int]]:
    """Apply one transition. Returns (applied now?, ids of mails still to deliver for it).

    ``close_task_kinds`` names the kinds of open task to close ("*": all). With ``notices``, a
    status that has a notice (``models.notices.NOTICE_FOR_STATUS``) issues it in this transaction,
    and the applicant's status mail links to it; without, no notice is issued. A status change
    mails (or queues for the digest) everyone concerned, see the module's docstring; with
    ``unsubscribe``, each mail ends with its recipient's unsubscribe link. Without a status, a
    ``reminder_due`` mails the applicant alone."""
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

    emails: list[OutboundEmail] = []
    if status_code is not None:
        emails = _announce_change(
            session, case, seq=seq, occurred_at=occurred_at, status=StatusCode(status_code), notice=notice,
            render_email=render_email, unsubscribe=unsubscribe,
        )
    elif reminder_due is not None and render_reminder is not None:
        # A deadline reminder is not a case change: the applicant gets it whatever their choice of
        # case emails, so that a response is not missed.
        applicant = session.get(User, case.applicant_id)
        if applicant is not None:
            mail = render_reminder(applicant.language, receipt_number, reminder_due)
            emails.append(_outbound(applicant.id or 0, applicant.email, applicant.language, receipt_number, seq, mail))
    session.add_all(emails)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False, pending_email_ids(session, receipt_number=receipt_number, seq=seq)
    return True, [email.id or 0 for email in emails]
