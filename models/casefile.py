"""Reading one case's file for its pages: appointments, requests for evidence, notes, people.

Written by activities (appointments, evidence requests) or by staff (notes); the web only reads
here, except ``add_note``: notes between officers are the officers' own words, not a projection
of the workflow, and are never edited or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.account_security import audit
from models.domain import Role
from models.tables import Appointment, AuditEvent, CaseNote, EvidenceRequest, Filing, Office, User, utcnow

NOTE_MAX_LENGTH = 4000


@dataclass
class NoteView:
    note: CaseNote
    author_name: str


def current_appointment(db: Session, *, receipt_number: str) -> Appointment | None:
    return db.exec(
        select(Appointment)
        .where(Appointment.receipt_number == receipt_number, Appointment.status == "scheduled")
        .order_by(col(Appointment.starts_at).desc())
    ).first()


def appointments(db: Session, *, receipt_number: str) -> list[Appointment]:
    return list(
        db.exec(
            select(Appointment).where(Appointment.receipt_number == receipt_number).order_by(col(Appointment.id).desc())
        ).all()
    )


def rescheduled_kinds(db: Session, *, receipt_number: str) -> set[str]:
    """Kinds of appointment the applicant has already moved once. The audit log has the
    applicant's reschedule (a cancelled appointment alone does not say who cancelled it)."""
    rows = db.exec(
        select(AuditEvent.action).where(
            AuditEvent.receipt_number == receipt_number, col(AuditEvent.action).startswith("reschedule_")
        )
    ).all()
    return {action.removeprefix("reschedule_") for action in rows}


def evidence_requests(db: Session, *, receipt_number: str) -> list[EvidenceRequest]:
    return list(
        db.exec(
            select(EvidenceRequest)
            .where(EvidenceRequest.receipt_number == receipt_number)
            .order_by(col(EvidenceRequest.seq).desc())
        ).all()
    )


def open_evidence_request(db: Session, *, receipt_number: str) -> EvidenceRequest | None:
    return db.exec(
        select(EvidenceRequest).where(
            EvidenceRequest.receipt_number == receipt_number, EvidenceRequest.outcome == "open"
        )
    ).first()


def notes(db: Session, *, receipt_number: str) -> list[NoteView]:
    rows = db.exec(
        select(CaseNote, User.full_name)
        .join(User, col(User.id) == col(CaseNote.author_id))
        .where(CaseNote.receipt_number == receipt_number)
        .order_by(col(CaseNote.created_at).desc(), col(CaseNote.id).desc())
    ).all()
    return [NoteView(note=n, author_name=name) for n, name in rows]


def add_note(db: Session, *, receipt_number: str, author: User, body: str, now: datetime | None = None) -> CaseNote:
    note = CaseNote(receipt_number=receipt_number, author_id=author.id or 0, body=body, created_at=now or utcnow())
    db.add(note)
    db.flush()
    audit(db, key=f"note:{note.id}", actor_id=author.id, action="note", receipt_number=receipt_number,
          detail="", occurred_at=note.created_at)
    return note


def officers(db: Session) -> list[User]:
    """Staff who adjudicate, for reassigning a case."""
    return list(
        db.exec(
            select(User).where(col(User.role).in_([Role.OFFICER.value, Role.SUPERVISOR.value])).order_by(User.full_name)
        ).all()
    )


def offices(db: Session, *, kinds: tuple[str, ...] = ("service_center", "field_office", "asylum_office")) -> list[Office]:
    return list(
        db.exec(select(Office).where(col(Office.kind).in_(kinds), Office.active == True).order_by(Office.code)).all()  # noqa: E712
    )


def office_name(db: Session, code: str | None) -> str:
    office = db.get(Office, code) if code else None
    return office.name if office else (code or "")


def user_name(db: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return db.exec(select(User.full_name).where(User.id == user_id)).first()


def is_party(filing: Filing, user: User) -> bool:
    """Whether ``user`` is the applicant of the case or the representative who filed it."""
    return user.id is not None and user.id in (filing.applicant_id, filing.representative_id)
