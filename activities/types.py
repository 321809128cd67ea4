"""Inputs and outputs of the activities (plain dataclasses, no personal data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ALL_TASKS = "*"


@dataclass
class TaskChange:
    """Close some of the case's open tasks and/or open one for a queue.

    ``close`` names the kinds of open task to close ("*" = every open task); ``open_kind`` opens a
    task in that queue, due at ``due_at``. The task inherits the case's office, assignee and
    priority."""

    open_kind: str | None = None  # a models.domain.TaskKind value
    due_at: datetime | None = None
    close: list[str] = field(default_factory=lambda: [ALL_TASKS])


@dataclass
class EvidenceRequestChange:
    """What happens to the case's request for evidence in this transition."""

    action: str  # open | extend | answer | expire
    due_at: datetime | None = None
    officer_id: int | None = None
    items: list[str] = field(default_factory=list)
    instructions: str = ""
    note: str = ""
    document_ids: list[str] = field(default_factory=list)


@dataclass
class TransitionInput:
    receipt_number: str
    seq: int
    occurred_at: datetime
    stage: str
    stage_entered_at: datetime
    status_code: str | None = None  # None: no public status change (no timeline entry, no mail)
    actor_id: int | None = None
    note: str | None = None
    assigned_officer_id: int | None = None
    decision: str | None = None
    overdue: bool = False
    tasks: TaskChange | None = None
    office: str | None = None
    action: str | None = None  # what a person did, for the audit log (claim, hold, ...)
    reason_code: str | None = None
    waiting_for: str | None = None
    due_at: datetime | None = None
    expedited: bool = False
    expedite_status: str | None = None
    held_from_stage: str | None = None
    blocked_activity: str | None = None
    blocked_error: str | None = None
    tracking_number: str | None = None
    evidence_request: EvidenceRequestChange | None = None
    reminder_due: datetime | None = None  # remind the applicant that the RFE response is due then


@dataclass
class TransitionResult:
    applied: bool  # False when this seq had already been written (a retry)
    email_ids: list[int]


@dataclass
class BookingInput:
    receipt_number: str
    idempotency_key: str
    kind: str  # biometrics | interview | oath
    earliest: datetime


@dataclass
class AppointmentChange:
    appointment_id: int
    status: str  # attended | missed | cancelled


@dataclass
class FulfilmentInput:
    """Work after an approval done by another system: card production, mailing, the State Department."""

    receipt_number: str
    step: str  # card_produced | card_mailed | dos


@dataclass
class FulfilmentResult:
    reference: str  # card serial, postal tracking number or State Department case number
