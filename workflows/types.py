"""What ``CaseWorkflow`` takes, accepts and returns. No personal data: names and addresses stay
in the database; the workflow carries receipt numbers, ids, stages, codes and dates.

Free text typed by staff (a decision's explanation, an RFE's instructions, a hold reason) does
pass through the workflow, so that the history is the complete record; the payload codec of the
supervisors' issue encrypts it.
"""

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
    # How the form treats interviews: always | on_request | never.
    interview: str = "never"
    # What follows an approval, in order: card_produced, card_mailed, oath, dos.
    after_approval: list[str] = field(default_factory=list)
    # Set when the run continues as new: where the previous run left the case.
    resume: CaseSnapshot | None = None
    # Continue as new after this many transitions in one run (0: only when the server suggests it).
    transitions_per_run: int = 0
    # The representative who filed for the applicant; they may act on the case as the applicant can.
    representative_id: int | None = None


@dataclass
class Appointment:
    appointment_id: int
    kind: str  # biometrics | interview | oath
    office: str
    starts_at: datetime


@dataclass
class EvidenceRequestState:
    due_at: datetime
    officer_id: int
    reminded: bool = False


@dataclass
class CaseSnapshot:
    """Everything the workflow keeps between steps; carried over by continue-as-new."""

    stage: str
    status_code: str | None
    seq: int
    office: str
    stage_entered_at: datetime
    assigned: int | None = None
    decision: str | None = None
    overdue: bool = False
    expedite: str | None = None  # requested | granted | refused
    held_from: str | None = None
    hold_status: str | None = None
    appointment: Appointment | None = None
    biometrics_done: bool = False
    biometrics_no_shows: int = 0
    biometrics_rescheduled: bool = False
    interview_wanted: bool = False
    interview_passed: bool = False
    interview_failures: int = 0
    interview_no_shows: int = 0
    interview_rescheduled: bool = False
    rfe: EvidenceRequestState | None = None
    rfe_expired: bool = False
    after_approval_done: list[str] = field(default_factory=list)
    oath_no_shows: int = 0
    oath_rescheduled: bool = False
    blocked_job: str | None = None  # the system work to run again when a supervisor retries
    retry_requested: bool = False
    pending_mail: list[int] = field(default_factory=list)  # outbox rows not yet delivered
    runs: int = 1


# --- actions --------------------------------------------------------------------------------


@dataclass
class Action:
    """Who acts. The web fills it from the signed-in session; the validators check it."""

    actor_id: int
    actor_role: str


@dataclass
class RecordBiometricsInput(Action):
    outcome: str = "taken"  # taken | no_show


@dataclass
class ClaimInput(Action):
    pass


@dataclass
class ReleaseInput(Action):
    pass


@dataclass
class ReassignInput(Action):
    officer_id: int = 0


@dataclass
class RequestEvidenceInput(Action):
    items: list[str] = field(default_factory=list)  # codes from the form's evidence list, or "other"
    instructions: str = ""
    due_at: datetime | None = None  # None: the usual 87 days


@dataclass
class ExtendEvidenceInput(Action):
    due_at: datetime | None = None


@dataclass
class EvidenceResponseInput(Action):
    note: str = ""
    document_ids: list[str] = field(default_factory=list)


@dataclass
class ScheduleInterviewInput(Action):
    pass


@dataclass
class RecordInterviewInput(Action):
    outcome: str = "passed"  # passed | failed | no_show


@dataclass
class RescheduleInput(Action):
    """The applicant asks for another date for the appointment that is scheduled now (once)."""

    kind: str = ""  # biometrics | interview | oath


@dataclass
class DecideInput(Action):
    decision: str = ""  # approve | deny
    reason: str = ""  # the written explanation
    reason_code: str = ""


@dataclass
class RecordOathInput(Action):
    outcome: str = "taken"  # taken | no_show


@dataclass
class WithdrawInput(Action):
    reason: str = ""


@dataclass
class TransferInput(Action):
    office: str = ""
    reason: str = ""


@dataclass
class HoldInput(Action):
    reason: str = ""


@dataclass
class ResumeInput(Action):
    pass


@dataclass
class ExpediteRequestInput(Action):
    reason: str = ""


@dataclass
class ExpediteDecisionInput(Action):
    grant: bool = False
    reason: str = ""


@dataclass
class RetryInput(Action):
    pass


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
    office: str = ""
    expedite: str | None = None
    rfe_due_at: datetime | None = None
    appointment: Appointment | None = None
    runs: int = 1


@dataclass
class CaseResult:
    receipt_number: str
    decision: str | None
    final_status: str | None


INVALID_ACTION = "InvalidAction"
REASON_MAX_LENGTH = 2000
RFE_DEFAULT_DAYS = 87  # 84 days to answer + 3 for mailing
RFE_MAX_DAYS = 365
