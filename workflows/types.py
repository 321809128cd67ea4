"""What ``CaseWorkflow`` takes, accepts and returns. No personal data: names and addresses stay
in the database; the workflow carries receipt numbers, ids, stages and codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class CaseInput:
    receipt_number: str
    form_type: str
    office: str
    applicant_id: int
    filed_at: datetime
    plan: list[str]  # stages in order, from the form catalog
    sla_days: dict[str, int] = field(default_factory=dict)


@dataclass
class OfficerAction:
    """Who acts. The web fills it from the signed-in session; the validators check it."""

    actor_id: int
    actor_role: str


@dataclass
class RecordBiometricsInput(OfficerAction):
    pass


@dataclass
class ClaimInput(OfficerAction):
    pass


@dataclass
class DecideInput(OfficerAction):
    decision: str = ""  # approve | deny
    reason: str = ""


@dataclass
class ActionResult:
    stage: str
    status_code: str | None
    seq: int


@dataclass
class CaseState:
    receipt_number: str
    stage: str
    status_code: str | None
    assigned_officer_id: int | None
    decision: str | None
    overdue: bool
    seq: int


@dataclass
class CaseResult:
    receipt_number: str
    decision: str | None
    final_status: str | None


INVALID_ACTION = "InvalidAction"
REASON_MAX_LENGTH = 2000
