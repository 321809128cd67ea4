"""Inputs and outputs of the activities (plain dataclasses, no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class TaskChange:
    """Close the case's open tasks and/or open one for a queue."""

    open_kind: str | None = None  # biometrics | review
    due_at: datetime | None = None
    close_open: bool = True


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


@dataclass
class TransitionResult:
    applied: bool  # False when this seq had already been written (a retry)
    email_ids: list[int]
