"""Plain domain types: stages, public status codes, roles and receipt numbers.

Pure Python with no I/O, so workflow code can import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from i18n import N_

RECEIPT_RE = re.compile(r"^[A-Z]{3}[0-9]{10}$")


class Role(StrEnum):
    APPLICANT = "applicant"
    REPRESENTATIVE = "representative"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    CUSTOMER_SERVICE = "customer_service"

    @property
    def is_staff(self) -> bool:
        return self in (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN, Role.CUSTOMER_SERVICE)

    @property
    def answers_messages(self) -> bool:
        """Staff who work the secure-message inbox."""
        return self in (Role.OFFICER, Role.SUPERVISOR, Role.CUSTOMER_SERVICE)

    @property
    def adjudicates(self) -> bool:
        return self in (Role.OFFICER, Role.SUPERVISOR)


class Stage(StrEnum):
    INTAKE = "intake"
    BIOMETRICS = "biometrics"
    REVIEW = "review"
    EVIDENCE_REQUESTED = "evidence_requested"
    INTERVIEW = "interview"
    DECISION = "decision"
    POST_DECISION = "post_decision"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    BLOCKED = "blocked"


STAGE_LABELS: dict[Stage, str] = {
    Stage.INTAKE: N_("Intake"),
    Stage.BIOMETRICS: N_("Biometrics"),
    Stage.REVIEW: N_("Review"),
    Stage.EVIDENCE_REQUESTED: N_("Evidence requested"),
    Stage.INTERVIEW: N_("Interview"),
    Stage.DECISION: N_("Decision"),
    Stage.POST_DECISION: N_("After the decision"),
    Stage.CLOSED: N_("Closed"),
    Stage.ON_HOLD: N_("On hold"),
    Stage.BLOCKED: N_("Blocked"),
}


# Where a case can be before its decision: withdraw, transfer, hold and expedite apply here.
BEFORE_DECISION = frozenset({
    Stage.INTAKE, Stage.BIOMETRICS, Stage.REVIEW, Stage.EVIDENCE_REQUESTED, Stage.INTERVIEW, Stage.ON_HOLD,
    Stage.BLOCKED,
})


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    WITHDRAWN = "withdrawn"


# Reason codes an officer picks for a decision; the written explanation goes with it.
APPROVAL_REASONS: dict[str, str] = {
    "eligible": N_("Eligibility established by the evidence"),
    "eligible_after_interview": N_("Eligibility established at the interview"),
    "eligible_after_rfe": N_("Eligibility established by the response to the request for evidence"),
}
DENIAL_REASONS: dict[str, str] = {
    "ineligible": N_("Not eligible for the benefit requested"),
    "insufficient_evidence": N_("The evidence does not establish eligibility"),
    "no_rfe_response": N_("No response to the request for evidence"),
    "abandonment": N_("Abandonment: did not appear for a required appointment"),
    "failed_tests": N_("Did not pass the English or civics test twice"),
    "misrepresentation": N_("Fraud or willful misrepresentation"),
    "other": N_("Another reason, explained below"),
}
REASON_CODES: dict[str, dict[str, str]] = {"approve": APPROVAL_REASONS, "deny": DENIAL_REASONS}


class TaskKind(StrEnum):
    """The queues of human work. Officers work the first four; supervisors the last two."""

    BIOMETRICS = "biometrics"
    REVIEW = "review"
    INTERVIEW = "interview"
    OATH = "oath"
    EXPEDITE = "expedite"
    BLOCKED = "blocked"


TASK_LABELS: dict[TaskKind, str] = {
    TaskKind.BIOMETRICS: N_("Biometrics"),
    TaskKind.REVIEW: N_("Review"),
    TaskKind.INTERVIEW: N_("Interviews"),
    TaskKind.OATH: N_("Oath ceremonies"),
    TaskKind.EXPEDITE: N_("Expedite requests"),
    TaskKind.BLOCKED: N_("Blocked cases"),
}
SUPERVISOR_TASKS = frozenset({TaskKind.EXPEDITE, TaskKind.BLOCKED})


class Waiting(StrEnum):
    """Who a case waits for now."""

    APPLICANT = "applicant"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


@dataclass(frozen=True)
class StatusText:
    title: str
    explanation: str


class StatusCode(StrEnum):
    CASE_RECEIVED = "case_received"
    FINGERPRINT_FEE_RECEIVED = "fingerprint_fee_received"
    BIOMETRICS_SCHEDULED = "biometrics_scheduled"
    FINGERPRINTS_TAKEN = "fingerprints_taken"
    NO_SHOW = "no_show"
    RFE_SENT = "rfe_sent"
    RFE_RESPONSE_RECEIVED = "rfe_response_received"
    ACTIVELY_REVIEWED = "actively_reviewed"
    INTERVIEW_SCHEDULED = "interview_scheduled"
    INTERVIEW_RESCHEDULED = "interview_rescheduled"
    INTERVIEW_COMPLETED = "interview_completed"
    TRANSFERRED = "transferred"
    ON_HOLD = "on_hold"
    EXPEDITE_RECEIVED = "expedite_received"
    EXPEDITE_APPROVED = "expedite_approved"
    EXPEDITE_DENIED = "expedite_denied"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWAL_ACKNOWLEDGED = "withdrawal_acknowledged"
    CARD_PRODUCED = "card_produced"
    CARD_MAILED = "card_mailed"
    CARD_DELIVERED = "card_delivered"
    SENT_TO_DOS = "sent_to_dos"
    OATH_NOTICE_MAILED = "oath_notice_mailed"
    OATH_TAKEN = "oath_taken"
    REOPENED = "reopened"

    @property
    def text(self) -> StatusText:
        return STATUS_TEXT[self]


# Public titles follow the wording people know from USCIS Case Status Online. They and their
# explanations are shown to anyone holding the receipt number, so they carry no personal data.
STATUS_TEXT: dict[StatusCode, StatusText] = {
    StatusCode.CASE_RECEIVED: StatusText(
        N_("Case Was Received"),
        N_("We received your case and sent you a receipt notice. We will tell you when we take the next step or if we need anything from you."),
    ),
    StatusCode.FINGERPRINT_FEE_RECEIVED: StatusText(
        N_("Fingerprint Fee Was Received"),
        N_("We received the biometrics services fee for your case. We will schedule your biometrics appointment and mail you a notice."),
    ),
    StatusCode.BIOMETRICS_SCHEDULED: StatusText(
        N_("Biometrics Appointment Was Scheduled"),
        N_("We scheduled an appointment to take your fingerprints, photograph and signature. Bring your appointment notice and photo identification."),
    ),
    StatusCode.FINGERPRINTS_TAKEN: StatusText(
        N_("Case Was Updated To Show Fingerprints Were Taken"),
        N_("We took your fingerprints, photograph and signature. Your case now waits for an officer's review."),
    ),
    StatusCode.NO_SHOW: StatusText(
        N_("Case Was Updated To Show That No One Appeared for In-Person Processing"),
        N_("No one came to the appointment we scheduled. We will mail you a notice with what happens next."),
    ),
    StatusCode.RFE_SENT: StatusText(
        N_("Request for Additional Evidence Was Sent"),
        N_("We mailed you a request for evidence. It lists what we need and the date by which we must receive it."),
    ),
    StatusCode.RFE_RESPONSE_RECEIVED: StatusText(
        N_("Response To USCIS' Request For Evidence Was Received"),
        N_("We received your response to our request for evidence. Your case returns to the officer reviewing it."),
    ),
    StatusCode.ACTIVELY_REVIEWED: StatusText(
        N_("Case Is Being Actively Reviewed By USCIS"),
        N_("An officer is reviewing your case. We will tell you if we need anything else from you or when we make a decision."),
    ),
    StatusCode.INTERVIEW_SCHEDULED: StatusText(
        N_("Interview Was Scheduled"),
        N_("We scheduled an interview for your case and mailed you a notice with the date, time and place."),
    ),
    StatusCode.INTERVIEW_RESCHEDULED: StatusText(
        N_("Interview Was Rescheduled"),
        N_("We changed the date of your interview and mailed you a new notice."),
    ),
    StatusCode.INTERVIEW_COMPLETED: StatusText(
        N_("Interview Was Completed And My Case Must Be Reviewed"),
        N_("Your interview took place. An officer must review your case before we make a decision."),
    ),
    StatusCode.TRANSFERRED: StatusText(
        N_("Case Was Transferred And A New Office Has Jurisdiction"),
        N_("We moved your case to another office to balance our work. That office will take the next step."),
    ),
    StatusCode.ON_HOLD: StatusText(
        N_("Case Is On Hold"),
        N_("Your case is on hold. We will tell you when work on it resumes."),
    ),
    StatusCode.EXPEDITE_RECEIVED: StatusText(
        N_("Expedite Request Received"),
        N_("We received your request to handle your case faster. We will tell you whether we grant it."),
    ),
    StatusCode.EXPEDITE_APPROVED: StatusText(
        N_("Expedite Request Approved"),
        N_("We granted your request to handle your case faster."),
    ),
    StatusCode.EXPEDITE_DENIED: StatusText(
        N_("Expedite Request Denied"),
        N_("We could not grant your request to handle your case faster. Your case continues in the usual order."),
    ),
    StatusCode.APPROVED: StatusText(
        N_("Case Was Approved"),
        N_("We approved your case and mailed you an approval notice. Follow its instructions."),
    ),
    StatusCode.DENIED: StatusText(
        N_("Case Was Denied"),
        N_("We denied your case and mailed you a decision notice that explains why and what you can do next."),
    ),
    StatusCode.WITHDRAWAL_ACKNOWLEDGED: StatusText(
        N_("Withdrawal Acknowledgement Notice Was Sent"),
        N_("We received your request to withdraw your case and mailed you a notice confirming it."),
    ),
    StatusCode.CARD_PRODUCED: StatusText(
        N_("New Card Is Being Produced"),
        N_("We ordered your new card. We will mail it to the address you gave us."),
    ),
    StatusCode.CARD_MAILED: StatusText(
        N_("Card Was Mailed To Me"),
        N_("We mailed your new card. The Postal Service gave us a tracking number for it."),
    ),
    StatusCode.CARD_DELIVERED: StatusText(
        N_("Card Was Delivered To Me By The Post Office"),
        N_("The Postal Service delivered your new card."),
    ),
    StatusCode.SENT_TO_DOS: StatusText(
        N_("Case Was Sent To The Department of State"),
        N_("We approved the petition and sent it to the Department of State, which will contact the beneficiary."),
    ),
    StatusCode.OATH_NOTICE_MAILED: StatusText(
        N_("Oath Ceremony Notice Was Mailed"),
        N_("We scheduled your oath ceremony and mailed you a notice with the date, time and place."),
    ),
    StatusCode.OATH_TAKEN: StatusText(
        N_("Oath Ceremony Was Completed"),
        N_("You took the Oath of Allegiance and received your Certificate of Naturalization."),
    ),
    StatusCode.REOPENED: StatusText(
        N_("Case Was Reopened"),
        N_("We reopened your case. We will tell you when we take the next step."),
    ),
}


class ReceiptNumberError(ValueError):
    pass


def normalize_receipt_number(raw: str) -> str:
    """Upper-case, strip spaces and dashes; raise ReceiptNumberError when it is not 3 letters + 10 digits."""
    candidate = re.sub(r"[\s-]", "", raw or "").upper()
    if not RECEIPT_RE.fullmatch(candidate):
        raise ReceiptNumberError(candidate)
    return candidate


def fiscal_year(day: date) -> int:
    """The US federal fiscal year: FY2027 runs from 1 October 2026 to 30 September 2027."""
    return day.year + 1 if day.month >= 10 else day.year


def workday_of_fiscal_year(day: date) -> int:
    """1-based count of weekdays from 1 October to ``day`` (weekend days count as the next weekday)."""
    start = date(fiscal_year(day) - 1, 10, 1)
    days = (day - start).days
    full_weeks, rest = divmod(days, 7)
    count = full_weeks * 5
    for offset in range(rest):  # weekdays strictly before `day`
        if (start + timedelta(days=full_weeks * 7 + offset)).weekday() < 5:
            count += 1
    return count + 1


def receipt_prefix(office: str, day: date) -> str:
    """Office code + 2-digit fiscal year + 3-digit workday: the first 8 characters of a receipt number."""
    if not re.fullmatch(r"[A-Z]{3}", office):
        raise ValueError(f"office code must be 3 capital letters, got {office!r}")
    return f"{office}{fiscal_year(day) % 100:02d}{workday_of_fiscal_year(day):03d}"


def format_receipt_number(prefix: str, sequence: int) -> str:
    if not 1 <= sequence <= 99_999:
        raise ValueError("the daily receipt sequence is exhausted for this office")
    return f"{prefix}{sequence:05d}"
