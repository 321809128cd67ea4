"""SQLModel tables. Schema changes go through Alembic migrations (``migrations/``).

The case row, its events, the human tasks and the outbound mail are projections of the case
workflow, written only by activities (idempotently: each has a natural unique key).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from models.domain import Role, Stage, StatusCode


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(**kw: Any) -> Any:
    nullable = kw.pop("nullable", False)
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=kw.pop("index", False)), **kw)


# --- accounts -------------------------------------------------------------------------------


class UserBase(SQLModel):
    email: str = Field(max_length=254, unique=True, index=True)
    full_name: str = Field(max_length=200)
    role: Role = Field(default=Role.APPLICANT, sa_type=sa.String(20))
    language: str = Field(default="en", max_length=5)


class UserCreate(UserBase):
    password: str


class User(UserBase, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = ts(default_factory=utcnow)
    email_verified_at: datetime | None = ts(default=None, nullable=True)
    password_changed_at: datetime | None = ts(default=None, nullable=True)
    # Biographical information given at registration (staff accounts leave it empty).
    date_of_birth: date | None = Field(default=None)
    a_number: str | None = Field(default=None, max_length=12)
    mailing_address: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    # Second factor (TOTP). The last accepted time step refuses a replayed code.
    # Emails about case changes: "each" change, a "daily" digest, or "none".
    case_email_frequency: str = Field(default="each", max_length=10, sa_column_kwargs={"server_default": "each"})
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = ts(default=None, nullable=True)
    totp_last_step: int | None = Field(default=None)


class UserPublic(UserBase):
    id: int


class WebSession(SQLModel, table=True):
    """A server-side browser session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_session"
    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = ts(default_factory=utcnow)
    last_seen_at: datetime = ts(default_factory=utcnow)
    expires_at: datetime = ts()
    user_agent: str = Field(default="", max_length=300)
    client_address: str = Field(default="", max_length=64)
    # Authentication assurance: 1 after the password, 2 after the second factor too.
    assurance: int = Field(default=1)


class AccountToken(SQLModel, table=True):
    """A single-use emailed link (verify an email, reset a password); the table holds its SHA-256."""

    __tablename__ = "account_token"
    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(max_length=20)  # verify_email | reset_password
    email: str = Field(max_length=254)  # the address the link was sent to (a new one when changing)
    created_at: datetime = ts(default_factory=utcnow)
    expires_at: datetime = ts()
    used_at: datetime | None = ts(default=None, nullable=True)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    code_hash: str = Field(max_length=255)
    used_at: datetime | None = ts(default=None, nullable=True)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per key: an account (by a hash of its email, known or not) or a client address."""

    __tablename__ = "sign_in_throttle"
    key: str = Field(primary_key=True, max_length=80)
    failures: int = Field(default=0)
    window_started_at: datetime = ts(default_factory=utcnow)
    next_allowed_at: datetime | None = ts(default=None, nullable=True)
    locked_until: datetime | None = ts(default=None, nullable=True)


class AccountEvent(SQLModel, table=True):
    """The account activity log its owner reads: sign-ins, failures, security changes, filings."""

    __tablename__ = "account_event"
    __table_args__ = (sa.Index("ix_account_event_user", "user_id", "occurred_at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    kind: str = Field(max_length=40)
    occurred_at: datetime = ts(default_factory=utcnow)
    client_address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    detail: str = Field(default="", max_length=200)


class AuditEvent(SQLModel, table=True):
    """Staff actions, append-only: the database refuses UPDATE and DELETE (see migration 0002)."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.UniqueConstraint("idempotency_key", name="uq_audit_event_key"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=120)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    action: str = Field(max_length=40)
    receipt_number: str | None = Field(default=None, max_length=13, index=True)
    occurred_at: datetime = ts(default_factory=utcnow)
    detail: str = Field(default="", max_length=2000)


# --- filing ---------------------------------------------------------------------------------


class Draft(SQLModel, table=True):
    """A filing being prepared. Saved at every step; deleted 30 days after its last change
    (``models.drafts``), with warnings by email before."""

    __table_args__ = (sa.Index("ix_draft_updated_at", "updated_at"),)  # the daily sweep reads the oldest first
    id: str = Field(primary_key=True, max_length=36)
    user_id: int = Field(foreign_key="app_user.id", index=True)  # who prepares it (applicant or representative)
    form_type: str = Field(max_length=16)
    # What was typed, as typed (invalid answers too, so nothing is lost); validated at each step and at review.
    answers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = ts(default_factory=utcnow)
    updated_at: datetime = ts(default_factory=utcnow)
    # A representative's draft: the client's account (the applicant of the case once filed).
    client_id: int | None = Field(default=None, foreign_key="app_user.id")
    # The steps completed at least once (names from ``web.journey``), so the journey resumes where it stopped.
    completed_steps: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    fee_option: str = Field(default="", max_length=10)  # pay | waiver
    waiver_reason: str = Field(default="", max_length=20)
    waiver_explanation: str = Field(default="", sa_column=Column(sa.Text, nullable=False, server_default=""))
    signature: str = Field(default="", max_length=200)  # the full name typed as an e-signature
    signed_at: datetime | None = ts(default=None, nullable=True)
    # The deletion warning last sent: how many days were left (7, then 1); None since the last change.
    expiry_warning_days: int | None = Field(default=None)


class ReceiptCounter(SQLModel, table=True):
    """The last sequence issued per receipt prefix (office + fiscal year + workday)."""

    __tablename__ = "receipt_counter"
    prefix: str = Field(primary_key=True, max_length=8)
    last_sequence: int = Field(default=0)


class Filing(SQLModel, table=True):
    """What the applicant submitted, as submitted. Written once by the web at submission."""

    receipt_number: str = Field(primary_key=True, max_length=13)
    form_type: str = Field(max_length=16)
    applicant_id: int = Field(foreign_key="app_user.id", index=True)
    office: str = Field(max_length=3)
    answers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    filed_at: datetime = ts()
    workflow_started: bool = Field(default=False)
    representative_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    draft_id: str | None = Field(default=None, max_length=36, index=True)  # the draft it was submitted from
    fee_cents: int = Field(default=0)  # the fee owed at filing (reduced where asked for)
    fee_waiver_requested: bool = Field(default=False)
    waiver_reason: str = Field(default="", max_length=20)
    waiver_explanation: str = Field(default="", sa_column=Column(sa.Text, nullable=False, server_default=""))
    payment_id: str | None = Field(default=None, max_length=36)
    signature: str = Field(default="", max_length=200)


class Payment(SQLModel, table=True):
    """A filing fee paid through the payment provider (``models.payments``). One per draft and
    amount (``idempotency_key``), so a double submission never charges twice."""

    __tablename__ = "payment"
    id: str = Field(primary_key=True, max_length=36)
    idempotency_key: str = Field(max_length=120, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    draft_id: str | None = Field(default=None, max_length=36, index=True)
    receipt_number: str | None = Field(default=None, max_length=13, index=True)  # set when the case is filed
    form_type: str = Field(max_length=16)
    amount_cents: int
    currency: str = Field(default="usd", max_length=3)
    provider: str = Field(default="sandbox", max_length=20)
    provider_intent_id: str = Field(max_length=80)
    status: str = Field(default="requires_payment", max_length=20)  # requires_payment | succeeded
    card_brand: str | None = Field(default=None, max_length=20)
    card_last4: str | None = Field(default=None, max_length=4)
    last_decline_code: str | None = Field(default=None, max_length=40)
    reference: str | None = Field(default=None, max_length=40, unique=True)  # the payment receipt's number
    paid_at: datetime | None = ts(default=None, nullable=True)
    created_at: datetime = ts(default_factory=utcnow)
    updated_at: datetime = ts(default_factory=utcnow)


class SandboxIntent(SQLModel, table=True):
    """The sandbox payment provider's own books: a payment intent (a real provider keeps these)."""

    __tablename__ = "sandbox_intent"
    id: str = Field(primary_key=True, max_length=80)
    idempotency_key: str = Field(max_length=120, unique=True)
    amount_cents: int
    currency: str = Field(default="usd", max_length=3)
    status: str = Field(default="requires_payment", max_length=20)  # requires_payment | succeeded
    created_at: datetime = ts(default_factory=utcnow)


class SandboxCharge(SQLModel, table=True):
    """One attempt to charge a card for a sandbox intent; a confirmation retried with the same
    idempotency key finds its charge instead of making another."""

    __tablename__ = "sandbox_charge"
    id: str = Field(primary_key=True, max_length=80)
    intent_id: str = Field(foreign_key="sandbox_intent.id", max_length=80, index=True)
    idempotency_key: str = Field(max_length=120, unique=True)
    amount_cents: int
    status: str = Field(max_length=20)  # succeeded | declined
    decline_code: str | None = Field(default=None, max_length=40)
    card_brand: str = Field(max_length=20)
    card_last4: str = Field(max_length=4)
    created_at: datetime = ts(default_factory=utcnow)


# --- workflow projections (written by activities only) -----------------------------------


class CaseBase(SQLModel):
    form_type: str = Field(max_length=16)
    office: str = Field(max_length=3)
    stage: Stage = Field(sa_type=sa.String(24))
    status_code: StatusCode = Field(sa_type=sa.String(40))
    status_changed_at: datetime = ts()
    stage_entered_at: datetime = ts()
    decision: str | None = Field(default=None, max_length=10)
    overdue: bool = Field(default=False)
    expedited: bool = Field(default=False)


class Case(CaseBase, table=True):
    __tablename__ = "case_record"
    __table_args__ = (
        sa.Index("ix_case_queue", "stage", "office", "stage_entered_at"),
        sa.Index("ix_case_applicant", "applicant_id", "status_changed_at"),
        sa.Index("ix_case_overdue", "overdue", "stage"),
    )
    receipt_number: str = Field(primary_key=True, max_length=13)
    applicant_id: int = Field(foreign_key="app_user.id")
    assigned_officer_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    decision_reason: str | None = Field(default=None, max_length=2000)
    decision_reason_code: str | None = Field(default=None, max_length=40)
    # What the case waits for now: who (applicant | officer | supervisor | system) and until when.
    waiting_for: str | None = Field(default=None, max_length=12)
    due_at: datetime | None = ts(default=None, nullable=True)
    expedite_status: str | None = Field(default=None, max_length=10)  # requested | granted | refused
    held_from_stage: str | None = Field(default=None, max_length=24)
    blocked_activity: str | None = Field(default=None, max_length=60)
    blocked_error: str | None = Field(default=None, max_length=500)
    tracking_number: str | None = Field(default=None, max_length=40)
    last_seq: int = Field(default=0)
    filed_at: datetime = ts()
    updated_at: datetime = ts(default_factory=utcnow)


class CasePublic(CaseBase):
    receipt_number: str


class CaseEvent(SQLModel, table=True):
    """One step of a case's timeline; (receipt_number, seq) makes a retried write a no-op."""

    __tablename__ = "case_event"
    __table_args__ = (sa.UniqueConstraint("receipt_number", "seq", name="uq_case_event_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    receipt_number: str = Field(foreign_key="case_record.receipt_number", max_length=13, index=True)
    seq: int
    stage: Stage = Field(sa_type=sa.String(24))
    status_code: StatusCode = Field(sa_type=sa.String(40))
    occurred_at: datetime = ts()
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    note: str | None = Field(default=None, max_length=2000)


class HumanTask(SQLModel, table=True):
    """Work waiting for a person, shown in the officers' queues. Maintained by activities."""

    __tablename__ = "human_task"
    # The queues list expedited tasks first, then by age (ix_task_queue, or ix_task_office within one
    # office) or by due date (ix_task_next), then id: each index holds that order after its equality
    # columns, then every column a queue can filter on, so counts and pages are read from the index
    # alone. ix_task_due keeps its leading columns and covers the "due within" counts. The figures
    # are in benchmarks/queues.py.
    __table_args__ = (
        sa.Index("ix_task_queue", "status", "kind", "expedited", "opened_at", "id",
                 "office", "form_type", "assigned_officer_id", "overdue", "due_at"),
        sa.Index("ix_task_next", "status", "kind", "expedited", "due_at", "id",
                 "office", "form_type", "assigned_officer_id", "overdue", "opened_at"),
        sa.Index("ix_task_office", "status", "kind", "office", "expedited", "opened_at", "id",
                 "form_type", "assigned_officer_id", "overdue", "due_at"),
        sa.Index("ix_task_due", "status", "kind", "due_at",
                 "expedited", "office", "form_type", "assigned_officer_id", "overdue"),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_key: str = Field(max_length=80, unique=True)  # receipt:kind:seq
    receipt_number: str = Field(foreign_key="case_record.receipt_number", max_length=13, index=True)
    kind: str = Field(max_length=24)  # see models.domain.TaskKind
    expedited: bool = Field(default=False)
    overdue: bool = Field(default=False)
    form_type: str = Field(max_length=16)
    office: str = Field(max_length=3)
    status: str = Field(default="open", max_length=10)  # open | done
    assigned_officer_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    opened_at: datetime = ts()
    due_at: datetime = ts()
    closed_at: datetime | None = ts(default=None, nullable=True)


class OutboundEmail(SQLModel, table=True):
    """An email to send. The idempotency key makes the row (and so the mail) once per change."""

    __tablename__ = "outbound_email"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=120, unique=True)
    receipt_number: str | None = Field(default=None, max_length=13, index=True)
    to_address: str = Field(max_length=254)
    language: str = Field(default="en", max_length=5)
    subject: str = Field(max_length=300)
    body_text: str = Field(sa_column=Column(sa.Text, nullable=False))
    status: str = Field(default="pending", max_length=10)  # pending | sent
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = ts(default_factory=utcnow)
    sent_at: datetime | None = ts(default=None, nullable=True)


class CaseNote(SQLModel, table=True):
    """A note between officers on a case. Notes are never edited or deleted."""

    __tablename__ = "case_note"
    __table_args__ = (sa.Index("ix_case_note_case", "receipt_number", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    receipt_number: str = Field(foreign_key="filing.receipt_number", max_length=13)
    author_id: int = Field(foreign_key="app_user.id")
    body: str = Field(sa_column=Column(sa.Text, nullable=False))
    created_at: datetime = ts(default_factory=utcnow)


class EvidenceRequest(SQLModel, table=True):
    """A request for evidence: what the officer asked for, by when, and the applicant's answer."""

    __tablename__ = "evidence_request"
    __table_args__ = (sa.UniqueConstraint("receipt_number", "seq", name="uq_evidence_request_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    receipt_number: str = Field(foreign_key="case_record.receipt_number", max_length=13, index=True)
    seq: int  # the workflow transition that sent it
    officer_id: int | None = Field(default=None, foreign_key="app_user.id")
    items: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    instructions: str = Field(default="", sa_column=Column(sa.Text, nullable=False, server_default=""))
    sent_at: datetime = ts()
    due_at: datetime = ts()
    responded_at: datetime | None = ts(default=None, nullable=True)
    response_note: str | None = Field(default=None, sa_column=Column(sa.Text, nullable=True))
    outcome: str = Field(default="open", max_length=12)  # open | answered | expired


class Office(SQLModel, table=True):
    """A USCIS office: where cases are worked, and where people come for appointments.

    ``daily_slots`` is how many appointments an office can hold on a weekday (admins set it);
    ``zip_prefixes`` lists the first digits of the ZIP codes it serves ("0 1 2")."""

    __tablename__ = "office"
    code: str = Field(primary_key=True, max_length=3)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=20)  # service_center | field_office | asc | asylum_office
    city: str = Field(default="", max_length=80)
    state: str = Field(default="", max_length=2)
    street: str = Field(default="", max_length=120)
    zip_prefixes: str = Field(default="", max_length=40)
    daily_slots: int = Field(default=0)
    active: bool = Field(default=True)


class AppointmentDay(SQLModel, table=True):
    """Slots booked at an office on one day; ``capacity`` overrides the office's daily slots."""

    __tablename__ = "appointment_day"
    office: str = Field(foreign_key="office.code", max_length=3, primary_key=True)
    day: date = Field(primary_key=True)
    capacity: int | None = Field(default=None)
    booked: int = Field(default=0)


class Appointment(SQLModel, table=True):
    """A biometrics, interview or oath appointment. Booked by activities, keyed for retries."""

    __tablename__ = "appointment"
    __table_args__ = (sa.Index("ix_appointment_office_day", "office", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=80, unique=True)
    receipt_number: str = Field(foreign_key="case_record.receipt_number", max_length=13, index=True)
    kind: str = Field(max_length=12)  # biometrics | interview | oath
    office: str = Field(foreign_key="office.code", max_length=3)
    day: date
    slot: int
    starts_at: datetime = ts()
    status: str = Field(default="scheduled", max_length=12)  # scheduled | attended | missed | cancelled
    created_at: datetime = ts(default_factory=utcnow)


class Document(SQLModel, table=True):
    """A file kept in the document store (content-addressed by SHA-256), and who may see it."""

    __tablename__ = "document"
    __table_args__ = (sa.Index("ix_document_case", "receipt_number", "uploaded_at"),)
    id: str = Field(primary_key=True, max_length=36)
    sha256: str = Field(max_length=64, index=True)
    receipt_number: str | None = Field(default=None, max_length=13)
    draft_id: str | None = Field(default=None, max_length=36, index=True)
    owner_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(default="evidence", max_length=20)  # evidence | rfe_response | notice | message
    evidence_item: str | None = Field(default=None, max_length=60)
    evidence_request_id: int | None = Field(default=None, foreign_key="evidence_request.id")
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)  # a message's attachment
    display_name: str = Field(max_length=120)  # shown only, never used as a path
    content_type: str = Field(max_length=40)
    size: int
    uploaded_at: datetime = ts(default_factory=utcnow)


class Notice(SQLModel, table=True):
    """An official notice (a PDF kept as a case ``Document``), issued by the projection once per
    transition and kind, with the verification code the public status page checks."""

    __tablename__ = "notice"
    __table_args__ = (sa.UniqueConstraint("receipt_number", "seq", "kind", name="uq_notice_transition"),)
    id: str = Field(primary_key=True, max_length=36)
    receipt_number: str = Field(foreign_key="filing.receipt_number", max_length=13, index=True)
    seq: int  # the workflow transition that issued it
    kind: str = Field(max_length=20)  # receipt | biometrics | rfe | interview | approval | denial | card_mailed
    document_id: str = Field(foreign_key="document.id", max_length=36)
    verification_code: str = Field(max_length=16, unique=True)
    language: str = Field(default="en", max_length=5)
    issued_at: datetime = ts()


class WatchedCase(SQLModel, table=True):
    """A case in someone's portfolio (Case Status Online): any account may watch up to 100 cases
    by receipt number, with a nickname, and opt in to emails when they change."""

    __tablename__ = "watched_case"
    __table_args__ = (sa.UniqueConstraint("user_id", "receipt_number", name="uq_watched_case"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    receipt_number: str = Field(max_length=13, index=True)
    nickname: str = Field(default="", max_length=60)
    notify: bool = Field(default=False)  # email this watcher when the case changes
    created_at: datetime = ts(default_factory=utcnow)


class DigestItem(SQLModel, table=True):
    """A case change waiting for the daily digest of someone who asked for one, written by the
    projection once per change and person; the digest marks it sent."""

    __tablename__ = "digest_item"
    __table_args__ = (sa.UniqueConstraint("user_id", "receipt_number", "seq", name="uq_digest_item"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    receipt_number: str = Field(max_length=13)
    seq: int
    status_code: str = Field(max_length=40)
    occurred_at: datetime = ts()
    sent_at: datetime | None = ts(default=None, nullable=True)


class RateLimitWindow(SQLModel, table=True):
    """Requests counted per key (a purpose and a client address) in a fixed window, shared by
    every web replica: the public status lookup and its API are throttled with it."""

    __tablename__ = "rate_limit_window"
    key: str = Field(primary_key=True, max_length=120)
    window_started_at: datetime = ts()
    count: int = Field(default=0)


# --- secure messages --------------------------------------------------------------------------


class MessageThread(SQLModel, table=True):
    """A conversation about one case between its applicant (or representative) and staff. The
    thread's state (assignment, open or closed, whose turn) changes; its messages never do."""

    __tablename__ = "message_thread"
    __table_args__ = (sa.Index("ix_message_thread_inbox", "status", "assigned_to_id", "last_message_at"),)
    id: int | None = Field(default=None, primary_key=True)
    receipt_number: str = Field(foreign_key="filing.receipt_number", max_length=13, index=True)
    topic: str = Field(max_length=30)
    subject: str = Field(max_length=120)
    started_by_id: int = Field(foreign_key="app_user.id")
    assigned_to_id: int | None = Field(default=None, foreign_key="app_user.id")
    status: str = Field(default="open", max_length=10)  # open | closed
    awaiting: str = Field(default="staff", max_length=10)  # staff | public: who is to answer
    created_at: datetime = ts(default_factory=utcnow)
    last_message_at: datetime = ts(default_factory=utcnow)


class Message(SQLModel, table=True):
    """One message in a thread: written once, never edited or deleted (database triggers refuse
    both, see migration 0006), and part of the case's record."""

    __tablename__ = "message"
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="message_thread.id", index=True)
    author_id: int = Field(foreign_key="app_user.id")
    from_staff: bool = Field(default=False)
    body: str = Field(sa_column=Column(sa.Text, nullable=False))
    client_key: str = Field(max_length=64, unique=True)  # the form's one-time key: a double click sends once
    sent_at: datetime = ts(default_factory=utcnow)


class MessageRead(SQLModel, table=True):
    """How far one person has read a thread: messages after ``last_read_message_id`` written by
    someone else are unread for them."""

    __tablename__ = "message_read"
    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    thread_id: int = Field(foreign_key="message_thread.id", primary_key=True)
    last_read_message_id: int = Field(default=0)


def age_in_days(since: datetime, now: datetime) -> int:
    return max((now - since).days, 0)


__all__ = [
    "AccountEvent", "AccountToken", "Appointment", "AppointmentDay", "AuditEvent", "Case", "CaseEvent", "CaseNote", "CasePublic", "Document", "EvidenceRequest", "Office", "DigestItem", "RateLimitWindow", "WatchedCase", "Draft", "Message", "MessageRead", "MessageThread", "Notice", "Payment", "RecoveryCode", "SandboxCharge", "SandboxIntent", "SignInThrottle", "Filing", "HumanTask", "OutboundEmail", "ReceiptCounter",
    "User", "UserCreate", "UserPublic", "WebSession", "age_in_days", "date", "utcnow",
]
