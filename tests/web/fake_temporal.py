"""A Temporal client that records Workflow Updates instead of sending them, for web tests.

``app.state.temporal = FakeTemporal()`` stands in for the lazy client: ``await get()`` gives a
client whose workflow handles record every ``execute_update`` (receipt number, update name,
argument, update id) and either return, or raise what the SDK raises when the workflow's
validator refuses (``WorkflowUpdateFailedError`` whose cause is an ``ApplicationError`` of type
``InvalidAction``) when a test asked for a refusal. Workflows started through it (a filed case's
``CaseWorkflow``) are recorded in ``started``.

No workflow runs, so nothing projects the case into the database: the builders below write the
rows the workflow's activities would have written (case, events, appointments, requests for
evidence), so a test can put a case in whatever stage it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cli import DEMO_ACCOUNTS
from models.domain import Stage, StatusCode
from models.forms import N400
from models.receipts import issue_receipt_number
from models.tables import Appointment, Case, CaseEvent, EvidenceRequest, Filing, User, utcnow
from tests.helpers import FILED_AT, file_i765
from workflows.types import INVALID_ACTION, ActionResult


def update_name(update: Any) -> str:
    """The name Temporal knows an update by: the definition's name, else the method's name."""
    if isinstance(update, str):
        return update
    definition = getattr(update, "_defn", None)
    return getattr(definition, "name", None) or getattr(update, "__name__", repr(update))


@dataclass
class SentUpdate:
    receipt_number: str
    name: str
    arg: Any
    id: str | None
    refused: bool = False


@dataclass
class FakeTemporal:
    """What ``app.state.temporal`` holds in the web app; see the module's docstring."""

    calls: list[SentUpdate] = field(default_factory=list)
    refusals: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Workflows started (a filed case starts its CaseWorkflow): (workflow id, its input).
    started: list[tuple[str, Any]] = field(default_factory=list)

    async def get(self) -> FakeClient:
        return FakeClient(self)

    def refuse(self, update: Any, message: str, *, type: str = INVALID_ACTION) -> None:
        """Make the workflow refuse every later ``update`` with ``message`` (a msgid)."""
        self.refusals[update_name(update)] = (message, type)

    @property
    def sent(self) -> list[SentUpdate]:
        """The updates the workflow accepted."""
        return [call for call in self.calls if not call.refused]

    def only(self) -> SentUpdate:
        """The one update sent (fails when there were none or several)."""
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


class FakeClient:
    def __init__(self, temporal: FakeTemporal) -> None:
        self._temporal = temporal

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> FakeHandle:
        return FakeHandle(self._temporal, workflow_id)

    async def start_workflow(self, workflow: Any, arg: Any = None, *, id: str, **_: Any) -> FakeHandle:
        self._temporal.started.append((id, arg))
        return FakeHandle(self._temporal, id)


class FakeHandle:
    def __init__(self, temporal: FakeTemporal, workflow_id: str) -> None:
        self._temporal = temporal
        self.id = workflow_id

    async def execute_update(self, update: Any, arg: Any = None, *, id: str | None = None, **_: Any) -> ActionResult:
        name = update_name(update)
        refusal = self._temporal.refusals.get(name)
        self._temporal.calls.append(SentUpdate(self.id, name, arg, id, refused=refusal is not None))
        if refusal is not None:
            message, kind = refusal
            # As the SDK does: the decoded failure becomes the cause of WorkflowUpdateFailedError.
            raise WorkflowUpdateFailedError(ApplicationError(message, type=kind, non_retryable=True))
        return ActionResult(stage="review", status_code=None, seq=0)


# --- the projections a running workflow would have written --------------------------------


def user_id(db: Session, email: str) -> int:
    found = db.exec(select(User.id).where(User.email == email)).first()
    assert found is not None, email
    return found


def file_n400(db: Session, *, applicant_id: int, office: str = "IOE", filed_at: datetime = FILED_AT) -> Filing:
    filing = Filing(
        receipt_number=issue_receipt_number(db, office=office, now=filed_at),
        form_type=N400.code,
        applicant_id=applicant_id,
        office=office,
        answers={
            "family_name": "Rivera", "given_name": "Ana", "middle_name": "", "a_number": "A123456789",
            "date_of_birth": "1980-04-27", "lpr_date": "2015-01-10", "eligibility_basis": "lpr_5",
            "reduced_fee": "no", "street": "1 Main Street", "apartment": "", "city": "Chicago", "state": "IL",
            "zip_code": "60601",
        },
        filed_at=filed_at,
    )
    db.add(filing)
    db.flush()
    return filing


STATUS_FOR_STAGE = {
    Stage.INTAKE: StatusCode.CASE_RECEIVED,
    Stage.BIOMETRICS: StatusCode.BIOMETRICS_SCHEDULED,
    Stage.REVIEW: StatusCode.FINGERPRINTS_TAKEN,
    Stage.EVIDENCE_REQUESTED: StatusCode.RFE_SENT,
    Stage.INTERVIEW: StatusCode.INTERVIEW_SCHEDULED,
    Stage.DECISION: StatusCode.APPROVED,
    Stage.POST_DECISION: StatusCode.OATH_NOTICE_MAILED,
    Stage.CLOSED: StatusCode.APPROVED,
    Stage.ON_HOLD: StatusCode.ON_HOLD,
    Stage.BLOCKED: StatusCode.FINGERPRINTS_TAKEN,
}


def make_case(
    db: Session, *, applicant_id: int, stage: Stage, form: str = "I-765", assigned_officer_id: int | None = None,
    **fields: Any,
) -> Case:
    """A filing and its case row in ``stage``, with one step in its timeline."""
    if form == "N-400":
        filing = file_n400(db, applicant_id=applicant_id)
    else:
        filing = file_i765(db, applicant_id=applicant_id, office="IOE")
    now = utcnow()
    status = fields.pop("status_code", STATUS_FOR_STAGE[stage])
    case = Case(
        receipt_number=filing.receipt_number, applicant_id=applicant_id, form_type=filing.form_type, office="IOE",
        stage=stage, status_code=status, status_changed_at=now, stage_entered_at=now, filed_at=filing.filed_at,
        assigned_officer_id=assigned_officer_id, last_seq=1, **fields,
    )
    db.add(case)
    db.flush()
    db.add(CaseEvent(receipt_number=case.receipt_number, seq=1, stage=stage, status_code=status, occurred_at=now))
    db.flush()
    return case


def make_appointment(
    db: Session, receipt_number: str, *, kind: str = "biometrics", office: str = "ACH", status: str = "scheduled",
    starts_at: datetime | None = None,
) -> Appointment:
    starts_at = starts_at or (utcnow() + timedelta(days=20)).replace(hour=14, minute=0, second=0, microsecond=0)
    count = len(db.exec(select(Appointment.id).where(Appointment.receipt_number == receipt_number)).all())
    appointment = Appointment(
        idempotency_key=f"{receipt_number}:{kind}:{count + 1}", receipt_number=receipt_number, kind=kind,
        office=office, day=date(starts_at.year, starts_at.month, starts_at.day), slot=1, starts_at=starts_at,
        status=status,
    )
    db.add(appointment)
    db.flush()
    return appointment


def make_evidence_request(
    db: Session, receipt_number: str, *, officer_id: int | None, items: list[str], instructions: str = "",
    due_at: datetime | None = None,
) -> EvidenceRequest:
    now = utcnow()
    rfe = EvidenceRequest(
        receipt_number=receipt_number, seq=1, officer_id=officer_id, items=items, instructions=instructions,
        sent_at=now, due_at=due_at or now + timedelta(days=87),
    )
    db.add(rfe)
    db.flush()
    return rfe


ACCOUNTS = {account.role: account for account in DEMO_ACCOUNTS}


def page(response, status: int = 200):
    """The response, after checking its status and that no stack trace leaked into it."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return response
