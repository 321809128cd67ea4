"""Every path a case can take, on the time-skipping server with fake activities.

Each test keeps its case's history (see harness.keep_history) so the replay test covers every path.

A case's transitions are compared as ``(stage, status_code, action, (task opened, tasks closed))``
rows, in order: the whole trail, so a missing, extra or reordered transition fails the test.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError

from activities.types import EvidenceRequestChange, TransitionInput
from tests.helpers import wait_until
from tests.workflows.harness import (
    APPLICANT,
    OFFICER,
    OTHER_OFFICER,
    REASON,
    SUPERVISOR,
    FakeActivities,
    accepted_update_ids,
    applicant,
    idle,
    keep_history,
    officer,
    running_case,
    supervisor,
    waiting_for_appointment,
    waiting_in,
)
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.types import (
    INVALID_ACTION,
    ActionResult,
    Appointment,
    CaseResult,
    CaseState,
    ClaimInput,
    DecideInput,
    EvidenceResponseInput,
    ExpediteDecisionInput,
    ExpediteRequestInput,
    ExtendEvidenceInput,
    HoldInput,
    ReassignInput,
    RecordBiometricsInput,
    RecordInterviewInput,
    RecordOathInput,
    ReleaseInput,
    RequestEvidenceInput,
    RescheduleInput,
    ResumeInput,
    RetryInput,
    ScheduleInterviewInput,
    TransferInput,
    WithdrawInput,
)

# --- what the workflow says ------------------------------------------------------------------

NOT_WAITING = "This case is not waiting for this action any more. Reload the page to see where it is."
ONLY_OFFICERS = "Only an officer can do this."
ONLY_SUPERVISORS = "Only a supervisor can do this."
ONLY_APPLICANT = "Only the applicant or their representative can do this."
CLAIM_TO_DECIDE = "Claim this case before you decide it."
CLAIM_TO_REQUEST = "Claim this case before you request evidence."
SOMEONE_ELSES = "Another officer is already working on this case."
TOO_LONG = "The text must be 2,000 characters or fewer."
ONLY_AFTER_INTERVIEW = "This case can be approved only after a passed interview."
ALREADY_RESCHEDULED = "You have already rescheduled this appointment once. Contact us if you cannot attend."
WITHDRAW_BEFORE_DECISION = "A case can be withdrawn only before its decision."
DUE_IN_FUTURE = "The due date must be in the future."
DUE_LATER = "The new due date must be later than the current one."
DUE_WITHIN_YEAR = "The due date must be within a year."
RFE_EXPIRED_NOTE = "No response to the request for evidence by its due date: decide the case on the record."
ABANDONMENT_NOTE = "Denied for abandonment: no one appeared at two scheduled appointments."
RETEST_NOTE = "Failed the English or civics test: a re-test will be scheduled."
CLOCK_STOPS_NOTE = (
    "The applicant did not appear. For an asylum application the employment authorization clock stops."
)

# --- the tasks a transition opens and closes -------------------------------------------------

OFFICER_TASKS = ["biometrics", "review", "interview", "oath"]
ON_BOOKING = OFFICER_TASKS + ["blocked"]  # a booked appointment also ends a blocked episode
EVERY = ["*"]
BLOCKED = ["blocked"]
EXPEDITE = ["expedite"]

RECEIVED = ("intake", "case_received", None, (None, []))
TO_REVIEW = ("review", None, None, ("review", OFFICER_TASKS))
TO_BIOMETRICS = ("biometrics", None, None, (None, OFFICER_TASKS))
BIOMETRICS_BOOKED = ("biometrics", "biometrics_scheduled", None, ("biometrics", ON_BOOKING))
CLAIMED = ("review", "actively_reviewed", "claim", None)
APPROVED = ("decision", "approved", "decide", (None, EVERY))
DENIED = ("decision", "denied", "decide", (None, EVERY))
TO_POST_DECISION = ("post_decision", None, None, (None, EVERY))
CARD = [
    ("post_decision", "card_produced", None, (None, BLOCKED)),
    ("post_decision", "card_mailed", None, (None, BLOCKED)),
]
CLOSED = ("closed", None, None, (None, EVERY))


def _tasks(t: TransitionInput) -> tuple[str | None, list[str]] | None:
    return None if t.tasks is None else (t.tasks.open_kind, t.tasks.close)


def trail(fakes: FakeActivities) -> list[tuple[Any, ...]]:
    """Every transition written, in order: (stage, status, action, tasks)."""
    assert [t.seq for t in fakes.transitions] == list(range(1, len(fakes.transitions) + 1))
    return [(t.stage, t.status_code, t.action, _tasks(t)) for t in fakes.transitions]


def changes(fakes: FakeActivities) -> list[tuple[int, str]]:
    return [(c.appointment_id, c.status) for c in fakes.appointment_changes]


def booked(fakes: FakeActivities) -> list[str]:
    return [b.kind for b in fakes.bookings]


def closed_state(handle: WorkflowHandle, fakes: FakeActivities, *, decision: str, status: str,
                 assigned: int | None = OFFICER, **kw: Any) -> CaseState:
    """What the query says about a case that has ended."""
    return CaseState(
        receipt_number=handle.id, stage="closed", status_code=status, assigned_officer_id=assigned,
        decision=decision, overdue=False, seq=len(fakes.transitions), office=kw.pop("office", "IOE"), **kw,
    )


# --- people acting ---------------------------------------------------------------------------


def approve(code: str = "eligible", actor_id: int = OFFICER) -> DecideInput:
    return officer(DecideInput, actor_id, decision="approve", reason=REASON, reason_code=code)


def deny(code: str = "ineligible", reason: str = "The evidence does not establish eligibility.") -> DecideInput:
    return officer(DecideInput, decision="deny", reason=reason, reason_code=code)


async def state_of(handle: WorkflowHandle) -> CaseState:
    return await handle.query(CaseWorkflow.state)


async def assert_refused(handle: WorkflowHandle, fakes: FakeActivities, update: Callable, arg: Any, message: str,
                         *, update_id: str | None = None) -> None:
    """The update is refused by its validator with ``message``, and leaves no trace: no accepted
    update, no change to the case, no transition written."""
    await settled(handle, fakes)
    before = await state_of(handle)
    accepted_before = await accepted_update_ids(handle)
    written = len(fakes.transitions)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg, id=update_id or f"refused-{uuid.uuid4()}")

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (INVALID_ACTION, message)
    assert await accepted_update_ids(handle) == accepted_before
    assert await state_of(handle) == before
    assert len(fakes.transitions) == written


async def settled(handle: WorkflowHandle, fakes: FakeActivities) -> None:
    """Wait until the case has handled everything that happened (a timer firing after a sleep)."""

    async def done() -> bool:
        return not fakes.in_flight and await idle(handle)

    await wait_until(done, what="the case to be idle")


async def sleep_until(env, check: Callable[[], Awaitable[Any] | Any], *, step: timedelta, what: str) -> Any:
    """Let server time pass ``step`` at a time until ``check`` holds (activity retries, timers)."""

    async def advanced() -> Any:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if not value:
            await env.sleep(step)
        return value

    return await wait_until(advanced, timeout=30, what=what)


async def claim_and(handle: WorkflowHandle, decision: DecideInput) -> ActionResult:
    await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
    return await handle.execute_update(CaseWorkflow.decide, decision)


async def through_biometrics(handle: WorkflowHandle, fakes: FakeActivities) -> Appointment:
    appointment = await waiting_for_appointment(handle, fakes, "biometrics")
    await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
    return appointment


async def interview(handle: WorkflowHandle, fakes: FakeActivities, outcome: str) -> Appointment:
    appointment = await waiting_for_appointment(handle, fakes, "interview")
    await handle.execute_update(CaseWorkflow.record_interview, officer(RecordInterviewInput, outcome=outcome))
    return appointment


async def request_evidence(handle: WorkflowHandle, **kw: Any) -> ActionResult:
    kw.setdefault("items", ["photos", "other"])
    kw.setdefault("instructions", "  Send two new photos and your current I-94.  ")
    return await handle.execute_update(CaseWorkflow.request_evidence, officer(RequestEvidenceInput, **kw))


# === the happy path of each form =============================================================


async def test_i765_happy_path_biometrics_to_card_mailed(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        appointment = await waiting_for_appointment(handle, fakes, "biometrics")
        assert appointment.kind == "biometrics"
        assert appointment.starts_at - fakes.transitions[0].occurred_at >= timedelta(days=14)
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await handle.execute_update(
            CaseWorkflow.decide, officer(DecideInput, decision="approve", reason=REASON, reason_code="eligible")
        )
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="card_mailed")
        await keep_history(handle, "i765_biometrics_to_card_mailed")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert fakes.statuses == [
        "case_received", "biometrics_scheduled", "fingerprints_taken", "actively_reviewed", "approved",
        "card_produced", "card_mailed",
    ]
    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED,
        ("review", "fingerprints_taken", "biometrics_taken", ("review", OFFICER_TASKS)),
        CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    assert fakes.stages[-1] == "closed"
    assert booked(fakes) == ["biometrics"]
    assert [f.step for f in fakes.fulfilments] == ["card_produced", "card_mailed"]
    assert fakes.last(status_code="card_mailed").tracking_number == "REF-card_mailed"
    assert changes(fakes) == [(appointment.appointment_id, "attended")]
    assert fakes.last(status_code="approved").actor_id == OFFICER
    assert fakes.last(status_code="approved").reason_code == "eligible"
    # The biometrics task is due the day after the appointment; the review task at the form's target.
    scheduled = fakes.last(status_code="biometrics_scheduled")
    assert scheduled.tasks.due_at == appointment.starts_at + timedelta(days=1)
    assert (scheduled.waiting_for, scheduled.due_at) == ("officer", appointment.starts_at + timedelta(days=1))
    taken = fakes.last(status_code="fingerprints_taken")
    assert (taken.actor_id, taken.assigned_officer_id) == (OFFICER, None)
    assert taken.tasks.due_at == taken.occurred_at + timedelta(days=90)
    assert fakes.last(status_code="actively_reviewed").assigned_officer_id == OFFICER
    assert fakes.transitions[-1].decision == "approve"
    assert (fakes.transitions[-1].waiting_for, fakes.transitions[-1].due_at) == (None, None)
    # Every public status sends one mail, and the run waits for them before it ends.
    assert sorted(fakes.delivered) == [t.seq for t in fakes.transitions if t.status_code]


async def test_i765_category_without_biometrics_goes_straight_to_review(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        assert await state_of(handle) == CaseState(
            receipt_number=handle.id, stage="review", status_code="case_received", assigned_officer_id=None,
            decision=None, overdue=False, seq=2, office="IOE",
        )
        to_review = fakes.transitions[1]
        assert to_review.tasks.due_at == to_review.occurred_at + timedelta(days=90)
        assert (to_review.waiting_for, to_review.due_at) == ("officer", to_review.occurred_at + timedelta(days=90))
        await claim_and(handle, approve())
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="card_mailed")
        await keep_history(handle, "i765_without_biometrics")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [RECEIVED, TO_REVIEW, CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED]
    assert fakes.statuses == ["case_received", "actively_reviewed", "approved", "card_produced", "card_mailed"]
    assert fakes.bookings == [] and fakes.appointment_changes == []
    assert [f.step for f in fakes.fulfilments] == ["card_produced", "card_mailed"]


async def test_i130_beneficiary_in_the_us_closes_on_approval(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-130") as handle:
        await waiting_in(handle, fakes, "review")
        claimed = await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        assert claimed == ActionResult("review", "actively_reviewed", 3)
        decided = await handle.execute_update(CaseWorkflow.decide, approve())
        assert decided == ActionResult("decision", "approved", 4)
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="approved")
        await keep_history(handle, "i130_approved_in_the_us")

    assert result == CaseResult(handle.id, "approve", "approved")
    assert trail(fakes) == [RECEIVED, TO_REVIEW, CLAIMED, APPROVED, CLOSED]
    assert fakes.last(action="decide").note == REASON
    assert fakes.fulfilments == [] and fakes.bookings == []
    # The I-130 review target is 180 days.
    assert fakes.transitions[1].tasks.due_at == fakes.transitions[1].occurred_at + timedelta(days=180)


async def test_i130_beneficiary_abroad_is_sent_to_the_department_of_state(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-130-abroad") as handle:
        await waiting_in(handle, fakes, "review")
        await claim_and(handle, approve())
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="sent_to_dos")
        await keep_history(handle, "i130_sent_to_dos")

    assert result == CaseResult(handle.id, "approve", "sent_to_dos")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, APPROVED, TO_POST_DECISION,
        ("post_decision", "sent_to_dos", None, (None, BLOCKED)), CLOSED,
    ]
    assert [(f.receipt_number, f.step) for f in fakes.fulfilments] == [(handle.id, "dos")]
    assert fakes.last(status_code="sent_to_dos").tracking_number is None


async def test_i130_interview_on_request(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-130") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        scheduled = await handle.execute_update(CaseWorkflow.schedule_interview, officer(ScheduleInterviewInput))
        assert scheduled == ActionResult("interview", None, 4)
        appointment = await waiting_for_appointment(handle, fakes, "interview")
        assert (appointment.kind, appointment.appointment_id) == ("interview", 1001)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id) == (
            "interview", "interview_scheduled", OFFICER,
        )
        await assert_refused(handle, fakes, CaseWorkflow.decide, approve(), NOT_WAITING)
        await handle.execute_update(CaseWorkflow.record_interview, officer(RecordInterviewInput, outcome="passed"))
        await waiting_in(handle, fakes, "review", status="interview_completed")
        await assert_refused(handle, fakes, CaseWorkflow.schedule_interview, officer(ScheduleInterviewInput),
                             "This case already had its interview.")
        await handle.execute_update(CaseWorkflow.decide, approve("eligible_after_interview"))
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="approved")
        await keep_history(handle, "i130_interview_on_request")

    assert result == CaseResult(handle.id, "approve", "approved")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED,
        ("interview", None, "schedule_interview", (None, OFFICER_TASKS)),
        ("interview", "interview_scheduled", None, ("interview", ON_BOOKING)),
        ("review", "interview_completed", "interview_passed", ("review", OFFICER_TASKS)),
        APPROVED, CLOSED,
    ]
    assert booked(fakes) == ["interview"]
    assert changes(fakes) == [(1001, "attended")]
    assert all(t.assigned_officer_id == OFFICER for t in fakes.transitions[2:])
    assert fakes.last(action="interview_passed").actor_id == OFFICER
    assert fakes.last(status_code="interview_scheduled").tasks.due_at == appointment.starts_at + timedelta(days=1)


N400_TO_REVIEW = [
    RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED,
    ("interview", "fingerprints_taken", "biometrics_taken", (None, OFFICER_TASKS)),
    ("interview", "interview_scheduled", None, ("interview", ON_BOOKING)),
]


async def test_n400_biometrics_interview_oath(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "N-400") as handle:
        biometrics = await through_biometrics(handle, fakes)
        assert (await state_of(handle)).stage == "interview"
        meeting = await interview(handle, fakes, "passed")
        await waiting_in(handle, fakes, "review", status="interview_completed")
        # Recording the interview made the officer the case's assignee: no claim needed.
        assert (await state_of(handle)).assigned_officer_id == OFFICER
        await handle.execute_update(CaseWorkflow.decide, approve("eligible_after_interview"))
        oath = await waiting_for_appointment(handle, fakes, "post_decision")
        assert oath.kind == "oath"
        state = await state_of(handle)
        assert (state.status_code, state.decision) == ("oath_notice_mailed", "approve")
        await assert_refused(handle, fakes, CaseWorkflow.record_oath, applicant(RecordOathInput), ONLY_OFFICERS)
        await assert_refused(handle, fakes, CaseWorkflow.record_oath, officer(RecordOathInput, outcome="late"),
                             "Choose what happened at the ceremony.")
        taken = await handle.execute_update(CaseWorkflow.record_oath, officer(RecordOathInput, outcome="taken"))
        assert taken == ActionResult("post_decision", "oath_taken", 10)
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="oath_taken")
        await keep_history(handle, "n400_oath_taken")

    assert result == CaseResult(handle.id, "approve", "oath_taken")
    assert fakes.statuses == [
        "case_received", "biometrics_scheduled", "fingerprints_taken", "interview_scheduled",
        "interview_completed", "approved", "oath_notice_mailed", "oath_taken",
    ]
    assert trail(fakes) == [
        *N400_TO_REVIEW,
        ("review", "interview_completed", "interview_passed", ("review", OFFICER_TASKS)),
        APPROVED, TO_POST_DECISION,
        ("post_decision", "oath_notice_mailed", None, ("oath", ON_BOOKING)),
        ("post_decision", "oath_taken", "oath_taken", (None, EVERY)),
        CLOSED,
    ]
    assert booked(fakes) == ["biometrics", "interview", "oath"]
    assert changes(fakes) == [
        (biometrics.appointment_id, "attended"), (meeting.appointment_id, "attended"),
        (oath.appointment_id, "attended"),
    ]
    assert fakes.last(status_code="oath_notice_mailed").tasks.due_at == oath.starts_at + timedelta(days=1)
    assert fakes.last(status_code="oath_taken").actor_id == OFFICER
    assert fakes.fulfilments == []


async def test_i589_biometrics_interview_approval(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-589") as handle:
        biometrics = await through_biometrics(handle, fakes)
        meeting = await interview(handle, fakes, "passed")
        await waiting_in(handle, fakes, "review", status="interview_completed")
        await handle.execute_update(CaseWorkflow.decide, approve("eligible_after_interview"))
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="approved")
        await keep_history(handle, "i589_approved")

    assert result == CaseResult(handle.id, "approve", "approved")
    assert trail(fakes) == [
        *N400_TO_REVIEW,
        ("review", "interview_completed", "interview_passed", ("review", OFFICER_TASKS)),
        APPROVED, CLOSED,
    ]
    assert booked(fakes) == ["biometrics", "interview"]
    assert changes(fakes) == [(biometrics.appointment_id, "attended"), (meeting.appointment_id, "attended")]
    # The I-589 review target is 60 days.
    to_review = fakes.last(action="interview_passed")
    assert to_review.tasks.due_at == to_review.occurred_at + timedelta(days=60)


# === requests for evidence ===================================================================

RFE_SENT = ("evidence_requested", "rfe_sent", "request_evidence", (None, OFFICER_TASKS))


async def test_rfe_answered_goes_back_to_the_same_officer(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        sent = await request_evidence(handle)
        assert sent == ActionResult("evidence_requested", "rfe_sent", 4)
        rfe = fakes.last(action="request_evidence")
        due = rfe.occurred_at + timedelta(days=87)
        assert rfe.evidence_request == EvidenceRequestChange(
            action="open", due_at=due, officer_id=OFFICER, items=["photos", "other"],
            instructions="Send two new photos and your current I-94.",
        )
        assert (rfe.waiting_for, rfe.due_at, rfe.actor_id) == ("applicant", due, OFFICER)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.rfe_due_at) == ("evidence_requested", "rfe_sent", due)
        await assert_refused(handle, fakes, CaseWorkflow.decide, approve(), NOT_WAITING)
        await assert_refused(handle, fakes, CaseWorkflow.respond_to_evidence_request,
                             applicant(EvidenceResponseInput, note="  "),
                             "Upload at least one document or write a note.")

        answered = await handle.execute_update(
            CaseWorkflow.respond_to_evidence_request,
            applicant(EvidenceResponseInput, note="  Photos and I-94 attached.  ", document_ids=["doc-1", "doc-2"]),
        )
        assert answered == ActionResult("review", "rfe_response_received", 5)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id, state.rfe_due_at) == (
            "review", "rfe_response_received", OFFICER, None,
        )
        # Back to the same officer: no claim needed to decide.
        await handle.execute_update(CaseWorkflow.decide, approve("eligible_after_rfe"))
        result = await handle.result()
        await keep_history(handle, "rfe_answered")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, RFE_SENT,
        ("review", "rfe_response_received", "respond_to_evidence", ("review", OFFICER_TASKS)),
        APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    response = fakes.last(action="respond_to_evidence")
    assert (response.actor_id, response.assigned_officer_id) == (APPLICANT, OFFICER)
    assert response.evidence_request == EvidenceRequestChange(
        action="answer", note="Photos and I-94 attached.", document_ids=["doc-1", "doc-2"]
    )
    assert response.tasks.due_at == response.occurred_at + timedelta(days=90)
    assert fakes.last(action="decide").reason_code == "eligible_after_rfe"


async def test_rfe_unanswered_expires_and_is_decided_on_the_record(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await request_evidence(handle)
        due = fakes.last(action="request_evidence").evidence_request.due_at

        await time_skipping_env.sleep(timedelta(days=87))
        await waiting_in(handle, fakes, "review")
        reminder = fakes.transitions[-2]
        assert (reminder.stage, reminder.status_code, reminder.reminder_due) == ("evidence_requested", None, due)
        assert timedelta(0) <= reminder.occurred_at - (due - timedelta(days=14)) < timedelta(minutes=1)
        expired = fakes.transitions[-1]
        assert (expired.stage, expired.status_code, expired.action, expired.actor_id) == ("review", None, None, None)
        assert expired.occurred_at >= due
        assert expired.note == RFE_EXPIRED_NOTE
        assert expired.evidence_request == EvidenceRequestChange(action="expire")
        assert expired.assigned_officer_id == OFFICER
        assert _tasks(expired) == ("review", OFFICER_TASKS)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id, state.rfe_due_at) == (
            "review", "rfe_sent", OFFICER, None,
        )
        await assert_refused(handle, fakes, CaseWorkflow.respond_to_evidence_request,
                             applicant(EvidenceResponseInput, note="Too late."), NOT_WAITING)

        await handle.execute_update(CaseWorkflow.decide, deny("no_rfe_response"))
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="deny", status="denied")
        # "rfe_expired_denied" was recorded before the reminder existed (workflow.patched): it
        # still replays. This one is after.
        await keep_history(handle, "rfe_expired_denied_after_a_reminder")

    assert result == CaseResult(handle.id, "deny", "denied")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, RFE_SENT, ("evidence_requested", None, None, None),
        ("review", None, None, ("review", OFFICER_TASKS)), DENIED, CLOSED,
    ]
    assert fakes.last(action="decide").reason_code == "no_rfe_response"
    assert fakes.fulfilments == []


async def test_rfe_extended_expires_at_the_new_date(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await request_evidence(handle)
        original = fakes.last(action="request_evidence").evidence_request.due_at
        later = original + timedelta(days=30)

        extended = await handle.execute_update(
            CaseWorkflow.extend_evidence_due_date, officer(ExtendEvidenceInput, due_at=later)
        )
        assert extended == ActionResult("evidence_requested", None, 5)
        extension = fakes.transitions[-1]
        assert (extension.stage, extension.status_code, extension.action, extension.tasks) == (
            "evidence_requested", None, "extend_evidence", None,
        )
        assert extension.evidence_request == EvidenceRequestChange(action="extend", due_at=later)
        assert (extension.waiting_for, extension.due_at) == ("applicant", later)
        assert (await state_of(handle)).rfe_due_at == later

        # Past the original due date: the request is still open, and the reminder came two
        # weeks before the new date, not the old one.
        await time_skipping_env.sleep(timedelta(days=88))
        await settled(handle, fakes)
        assert await time_skipping_env.get_current_time() > original
        state = await state_of(handle)
        assert (state.stage, state.rfe_due_at, state.overdue) == ("evidence_requested", later, False)
        assert len(fakes.transitions) == 5
        await time_skipping_env.sleep(timedelta(days=15))
        await settled(handle, fakes)
        reminders = [t for t in fakes.transitions if t.reminder_due]
        assert [t.reminder_due for t in reminders] == [later]
        assert timedelta(0) <= reminders[0].occurred_at - (later - timedelta(days=14)) < timedelta(minutes=1)

        # Past the new date: it expires.
        await time_skipping_env.sleep(timedelta(days=15))
        await waiting_in(handle, fakes, "review")
        expired = fakes.transitions[-1]
        assert expired.occurred_at >= later
        assert (expired.note, expired.evidence_request) == (RFE_EXPIRED_NOTE, EvidenceRequestChange(action="expire"))
        assert expired.assigned_officer_id == OFFICER
        await keep_history(handle, "rfe_extended_with_a_reminder")  # "rfe_extended": from before the reminder

    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, RFE_SENT,
        ("evidence_requested", None, "extend_evidence", None),
        ("evidence_requested", None, None, None),
        ("review", None, None, ("review", OFFICER_TASKS)),
    ]


async def test_rfe_due_dates_that_are_refused(time_skipping_env) -> None:
    env = time_skipping_env
    fakes = FakeActivities()
    async with running_case(env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        now = await env.get_current_time()

        def ask(**kw: Any) -> RequestEvidenceInput:
            return officer(RequestEvidenceInput, items=["photos"], **kw)

        await assert_refused(handle, fakes, CaseWorkflow.request_evidence, ask(due_at=now - timedelta(days=1)),
                             DUE_IN_FUTURE)
        await assert_refused(handle, fakes, CaseWorkflow.request_evidence, ask(due_at=now + timedelta(days=366)),
                             DUE_WITHIN_YEAR)
        await assert_refused(handle, fakes, CaseWorkflow.request_evidence, officer(RequestEvidenceInput),
                             "Choose at least one item of evidence to request.")
        await assert_refused(handle, fakes, CaseWorkflow.request_evidence, ask(instructions="x" * 2001), TOO_LONG)

        due = now + timedelta(days=30)
        await handle.execute_update(CaseWorkflow.request_evidence, ask(due_at=due))
        assert fakes.last(action="request_evidence").evidence_request.due_at == due
        assert (await state_of(handle)).rfe_due_at == due

        def extend(actor=officer, **kw: Any) -> ExtendEvidenceInput:
            return actor(ExtendEvidenceInput, **kw)

        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date,
                             extend(due_at=now - timedelta(days=1)), DUE_IN_FUTURE)
        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date,
                             extend(due_at=due - timedelta(days=10)), DUE_LATER)
        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date, extend(due_at=due), DUE_LATER)
        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date,
                             extend(due_at=now + timedelta(days=366)), DUE_WITHIN_YEAR)
        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date, extend(), "Enter the new due date.")
        await assert_refused(
            handle, fakes, CaseWorkflow.extend_evidence_due_date,
            officer(ExtendEvidenceInput, OTHER_OFFICER, due_at=due + timedelta(days=10)),
            "Only the officer who sent the request, or a supervisor, can change its due date.",
        )
        await assert_refused(handle, fakes, CaseWorkflow.extend_evidence_due_date,
                             extend(applicant, due_at=due + timedelta(days=10)), ONLY_OFFICERS)
        # A supervisor may change it.
        later = due + timedelta(days=10)
        await handle.execute_update(CaseWorkflow.extend_evidence_due_date, extend(supervisor, due_at=later))
        assert fakes.transitions[-1].actor_id == SUPERVISOR
        assert (await state_of(handle)).rfe_due_at == later
        await keep_history(handle, "rfe_due_dates_refused")

    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, RFE_SENT, ("evidence_requested", None, "extend_evidence", None),
    ]


async def test_withdraw_while_evidence_is_requested_closes_the_request(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await request_evidence(handle)
        await handle.execute_update(CaseWorkflow.withdraw, applicant(WithdrawInput))
        result = await handle.result()
        assert await state_of(handle) == closed_state(
            handle, fakes, decision="withdrawn", status="withdrawal_acknowledged"
        )
        await keep_history(handle, "withdrawn_with_rfe_open")

    assert result == CaseResult(handle.id, "withdrawn", "withdrawal_acknowledged")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, RFE_SENT, ("closed", "withdrawal_acknowledged", "withdraw", (None, EVERY)),
    ]
    withdrawal = fakes.transitions[-1]
    assert (withdrawal.evidence_request, withdrawal.note, withdrawal.actor_id) == (
        EvidenceRequestChange(action="expire"), None, APPLICANT,
    )


# === appointments: no-shows and rescheduling ==================================================

BIOMETRICS_NO_SHOW = ("biometrics", "no_show", "biometrics_no_show", (None, OFFICER_TASKS))


async def test_biometrics_no_show_twice_is_denied_for_abandonment(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        first = await waiting_for_appointment(handle, fakes, "biometrics")
        missed = await handle.execute_update(CaseWorkflow.record_biometrics,
                                             officer(RecordBiometricsInput, outcome="no_show"))
        assert missed == ActionResult("biometrics", "no_show", 4)
        second = await waiting_for_appointment(handle, fakes, "biometrics")
        assert second.appointment_id != first.appointment_id
        assert (await state_of(handle)).status_code == "biometrics_scheduled"
        denied = await handle.execute_update(CaseWorkflow.record_biometrics,
                                             officer(RecordBiometricsInput, outcome="no_show"))
        assert denied == ActionResult("decision", "denied", 7)
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="deny", status="denied", assigned=None)
        await keep_history(handle, "biometrics_no_show_twice")

    assert result == CaseResult(handle.id, "deny", "denied")
    assert fakes.statuses == [
        "case_received", "biometrics_scheduled", "no_show", "biometrics_scheduled", "no_show", "denied",
    ]
    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED, BIOMETRICS_NO_SHOW, BIOMETRICS_BOOKED,
        ("biometrics", "no_show", "biometrics_no_show", (None, EVERY)),
        ("decision", "denied", None, (None, EVERY)),
        CLOSED,
    ]
    # The second no-show is written before the denial: the case started booking a third
    # appointment in between, and frees that slot once it sees the decision.
    assert booked(fakes) == ["biometrics"] * 3
    assert len({b.idempotency_key for b in fakes.bookings}) == 3
    assert changes(fakes) == [
        (first.appointment_id, "missed"), (second.appointment_id, "missed"), (second.appointment_id + 1, "cancelled"),
    ]
    abandonment = fakes.last(status_code="denied")
    assert (abandonment.reason_code, abandonment.note, abandonment.actor_id, abandonment.decision) == (
        "abandonment", ABANDONMENT_NOTE, None, "deny",
    )
    assert all(t.actor_id == OFFICER for t in fakes.transitions if t.action == "biometrics_no_show")
    assert fakes.fulfilments == []


async def test_biometrics_no_show_once_then_taken(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        first = await waiting_for_appointment(handle, fakes, "biometrics")
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput, outcome="no_show"))
        second = await through_biometrics(handle, fakes)
        await waiting_in(handle, fakes, "review")
        await claim_and(handle, approve())
        result = await handle.result()
        await keep_history(handle, "biometrics_no_show_then_taken")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED, BIOMETRICS_NO_SHOW, BIOMETRICS_BOOKED,
        ("review", "fingerprints_taken", "biometrics_taken", ("review", OFFICER_TASKS)),
        CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    assert changes(fakes) == [(first.appointment_id, "missed"), (second.appointment_id, "attended")]


async def test_applicant_reschedules_biometrics_once(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        first = await waiting_for_appointment(handle, fakes, "biometrics")
        await assert_refused(handle, fakes, CaseWorkflow.reschedule, applicant(RescheduleInput, kind="interview"),
                             "There is no appointment of this kind to reschedule.")
        await assert_refused(handle, fakes, CaseWorkflow.reschedule,
                             applicant(RescheduleInput, APPLICANT + 1, kind="biometrics"), ONLY_APPLICANT)
        moved = await handle.execute_update(CaseWorkflow.reschedule, applicant(RescheduleInput, kind="biometrics"))
        assert moved == ActionResult("biometrics", None, 4)
        assert changes(fakes) == [(first.appointment_id, "cancelled")]
        second = await waiting_for_appointment(handle, fakes, "biometrics")
        assert second.appointment_id != first.appointment_id
        await assert_refused(handle, fakes, CaseWorkflow.reschedule, applicant(RescheduleInput, kind="biometrics"),
                             ALREADY_RESCHEDULED)
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        await waiting_in(handle, fakes, "review")
        await keep_history(handle, "biometrics_rescheduled")

    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED,
        ("biometrics", None, "reschedule_biometrics", (None, OFFICER_TASKS)),
        BIOMETRICS_BOOKED,
        ("review", "fingerprints_taken", "biometrics_taken", ("review", OFFICER_TASKS)),
    ]
    assert fakes.last(action="reschedule_biometrics").actor_id == APPLICANT
    assert booked(fakes) == ["biometrics", "biometrics"]
    assert changes(fakes) == [(first.appointment_id, "cancelled"), (second.appointment_id, "attended")]


# === interviews: re-test and no-shows =========================================================

INTERVIEW_FAILED = ("interview", "interview_completed", "interview_failed", (None, OFFICER_TASKS))
INTERVIEW_REBOOKED = ("interview", "interview_rescheduled", None, ("interview", ON_BOOKING))


async def test_n400_failed_test_is_taken_again_and_passed(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "N-400") as handle:
        await through_biometrics(handle, fakes)
        first = await interview(handle, fakes, "failed")
        second = await interview(handle, fakes, "passed")
        assert second.appointment_id != first.appointment_id
        await waiting_in(handle, fakes, "review")
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id) == ("review", "interview_completed", OFFICER)
        await keep_history(handle, "n400_interview_retest_passed")

    assert trail(fakes) == [
        *N400_TO_REVIEW, INTERVIEW_FAILED, INTERVIEW_REBOOKED,
        ("review", "interview_completed", "interview_passed", ("review", OFFICER_TASKS)),
    ]
    assert fakes.last(action="interview_failed").note == RETEST_NOTE
    assert booked(fakes) == ["biometrics", "interview", "interview"]
    assert changes(fakes)[1:] == [(first.appointment_id, "attended"), (second.appointment_id, "attended")]


async def test_n400_failed_twice_cannot_be_approved_and_is_denied(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "N-400") as handle:
        await through_biometrics(handle, fakes)
        await interview(handle, fakes, "failed")
        await interview(handle, fakes, "failed")
        await waiting_in(handle, fakes, "review")
        await assert_refused(handle, fakes, CaseWorkflow.decide, approve("eligible_after_interview"),
                             ONLY_AFTER_INTERVIEW)
        await handle.execute_update(CaseWorkflow.decide, deny("failed_tests"))
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="deny", status="denied")
        await keep_history(handle, "n400_failed_twice_denied")

    assert result == CaseResult(handle.id, "deny", "denied")
    assert trail(fakes) == [
        *N400_TO_REVIEW, INTERVIEW_FAILED, INTERVIEW_REBOOKED,
        ("review", "interview_completed", "interview_failed", ("review", OFFICER_TASKS)),
        DENIED, CLOSED,
    ]
    assert fakes.last(action="decide").reason_code == "failed_tests"
    assert booked(fakes) == ["biometrics", "interview", "interview"]


async def test_i589_interview_no_show_twice_is_denied_for_abandonment(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-589") as handle:
        biometrics = await through_biometrics(handle, fakes)
        first = await interview(handle, fakes, "no_show")
        second = await interview(handle, fakes, "no_show")
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="deny", status="denied")
        await keep_history(handle, "i589_interview_no_show_twice")

    assert result == CaseResult(handle.id, "deny", "denied")
    assert trail(fakes) == [
        *N400_TO_REVIEW,
        ("interview", "no_show", "interview_no_show", (None, OFFICER_TASKS)),
        INTERVIEW_REBOOKED,
        ("interview", "no_show", "interview_no_show", (None, EVERY)),
        ("decision", "denied", None, (None, EVERY)),
        CLOSED,
    ]
    assert [t.note for t in fakes.transitions if t.action == "interview_no_show"] == [CLOCK_STOPS_NOTE] * 2
    abandonment = fakes.last(status_code="denied")
    assert (abandonment.reason_code, abandonment.note) == ("abandonment", ABANDONMENT_NOTE)
    assert booked(fakes) == ["biometrics", "interview", "interview", "interview"]
    assert changes(fakes) == [
        (biometrics.appointment_id, "attended"), (first.appointment_id, "missed"), (second.appointment_id, "missed"),
        (second.appointment_id + 1, "cancelled"),
    ]


# === withdrawal ===============================================================================


async def test_applicant_withdraws_in_review(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await assert_refused(handle, fakes, CaseWorkflow.withdraw, applicant(WithdrawInput, reason="x" * 2001),
                             TOO_LONG)
        withdrawn = await handle.execute_update(
            CaseWorkflow.withdraw, applicant(WithdrawInput, reason="  I got a job offer elsewhere.  ")
        )
        assert withdrawn == ActionResult("closed", "withdrawal_acknowledged", 4)
        result = await handle.result()
        assert await state_of(handle) == closed_state(
            handle, fakes, decision="withdrawn", status="withdrawal_acknowledged"
        )
        await keep_history(handle, "withdrawn_in_review")

    assert result == CaseResult(handle.id, "withdrawn", "withdrawal_acknowledged")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, ("closed", "withdrawal_acknowledged", "withdraw", (None, EVERY)),
    ]
    withdrawal = fakes.transitions[-1]
    assert (withdrawal.actor_id, withdrawal.note, withdrawal.decision, withdrawal.evidence_request) == (
        APPLICANT, "I got a job offer elsewhere.", "withdrawn", None,
    )
    assert fakes.appointment_changes == [] and fakes.fulfilments == []


async def test_withdrawal_cancels_the_biometrics_appointment(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        appointment = await waiting_for_appointment(handle, fakes, "biometrics")
        await handle.execute_update(CaseWorkflow.withdraw, applicant(WithdrawInput))
        result = await handle.result()
        assert await state_of(handle) == closed_state(
            handle, fakes, decision="withdrawn", status="withdrawal_acknowledged", assigned=None
        )
        await keep_history(handle, "withdrawn_in_biometrics")

    assert result == CaseResult(handle.id, "withdrawn", "withdrawal_acknowledged")
    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED, ("closed", "withdrawal_acknowledged", "withdraw", (None, EVERY)),
    ]
    assert changes(fakes) == [(appointment.appointment_id, "cancelled")]


async def test_withdrawal_refused_to_another_applicant_and_after_the_decision(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "N-400") as handle:
        await through_biometrics(handle, fakes)
        await waiting_for_appointment(handle, fakes, "interview")
        await assert_refused(handle, fakes, CaseWorkflow.withdraw, applicant(WithdrawInput, APPLICANT + 1),
                             ONLY_APPLICANT)
        await assert_refused(handle, fakes, CaseWorkflow.withdraw, officer(WithdrawInput), ONLY_APPLICANT)
        await interview(handle, fakes, "passed")
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.decide, approve("eligible_after_interview"))
        await waiting_for_appointment(handle, fakes, "post_decision")
        await assert_refused(handle, fakes, CaseWorkflow.withdraw, applicant(WithdrawInput), WITHDRAW_BEFORE_DECISION)
        await handle.execute_update(CaseWorkflow.record_oath, officer(RecordOathInput))
        result = await handle.result()
        await keep_history(handle, "withdrawal_refused")

    assert result == CaseResult(handle.id, "approve", "oath_taken")
    assert "withdrawal_acknowledged" not in fakes.statuses


# === decisions and supervisors' actions =======================================================


async def test_denial_with_a_reason_code_and_explanation(time_skipping_env) -> None:
    fakes = FakeActivities()
    explanation = "The evidence does not show a pending asylum application."
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        decided = await claim_and(handle, deny("insufficient_evidence", f"  {explanation}\n "))
        assert decided == ActionResult("decision", "denied", 4)
        result = await handle.result()
        assert await state_of(handle) == closed_state(handle, fakes, decision="deny", status="denied")
        await keep_history(handle, "denied_with_reason")

    assert result == CaseResult(handle.id, "deny", "denied")
    assert trail(fakes) == [RECEIVED, TO_REVIEW, CLAIMED, DENIED, CLOSED]
    denial = fakes.last(status_code="denied")
    assert (denial.stage, denial.decision, denial.note, denial.reason_code, denial.actor_id) == (
        "decision", "deny", explanation, "insufficient_evidence", OFFICER,
    )
    assert fakes.fulfilments == []


async def test_supervisor_transfers_the_case_to_another_office(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))

        def move(actor=supervisor, **kw: Any) -> TransferInput:
            kw.setdefault("office", "NBC")
            kw.setdefault("reason", "  Jurisdiction moved to the National Benefits Center.  ")
            return actor(TransferInput, **kw)

        await assert_refused(handle, fakes, CaseWorkflow.transfer, move(officer), ONLY_SUPERVISORS)
        await assert_refused(handle, fakes, CaseWorkflow.transfer, move(office="IOE"),
                             "The case is already at this office.")
        await assert_refused(handle, fakes, CaseWorkflow.transfer, move(reason=" "),
                             "Give the reason for the transfer.")
        await assert_refused(handle, fakes, CaseWorkflow.transfer, move(office="nbc"),
                             "Choose the office to transfer the case to.")

        moved = await handle.execute_update(CaseWorkflow.transfer, move())
        assert moved == ActionResult("review", "transferred", 4)
        state = await state_of(handle)
        assert (state.office, state.assigned_officer_id, state.stage, state.status_code) == (
            "NBC", None, "review", "transferred",
        )
        attrs = (await handle.describe()).typed_search_attributes
        assert (attrs.get(sa.SERVICE_CENTER), attrs.get(sa.ASSIGNED_OFFICER)) == ("NBC", None)
        # An officer of the new office picks it up.
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput, OTHER_OFFICER))
        await keep_history(handle, "transferred")

    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, ("review", "transferred", "transfer", None), CLAIMED,
    ]
    transfer = fakes.last(action="transfer")
    assert (transfer.office, transfer.assigned_officer_id, transfer.actor_id, transfer.note) == (
        "NBC", None, SUPERVISOR, "Jurisdiction moved to the National Benefits Center.",
    )
    assert [t.office for t in fakes.transitions] == ["IOE"] * 3 + ["NBC"] * 2
    assert fakes.transitions[-1].assigned_officer_id == OTHER_OFFICER


async def test_supervisor_holds_and_resumes_the_case(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await assert_refused(handle, fakes, CaseWorkflow.hold, officer(HoldInput, reason="Security check."),
                             ONLY_SUPERVISORS)
        await assert_refused(handle, fakes, CaseWorkflow.hold, supervisor(HoldInput), "Give the reason for the hold.")
        await assert_refused(handle, fakes, CaseWorkflow.resume, supervisor(ResumeInput), NOT_WAITING)

        held = await handle.execute_update(CaseWorkflow.hold, supervisor(HoldInput, reason=" Security check. "))
        assert held == ActionResult("on_hold", "on_hold", 4)
        hold = fakes.transitions[-1]
        assert (hold.held_from_stage, hold.note, hold.actor_id, hold.waiting_for) == (
            "review", "Security check.", SUPERVISOR, "supervisor",
        )
        assert hold.due_at == hold.occurred_at + timedelta(days=90)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id) == ("on_hold", "on_hold", OFFICER)
        await assert_refused(handle, fakes, CaseWorkflow.hold, supervisor(HoldInput, reason="Again."),
                             "This case cannot be put on hold now.")
        await assert_refused(handle, fakes, CaseWorkflow.decide, approve(), NOT_WAITING)
        await assert_refused(handle, fakes, CaseWorkflow.resume, officer(ResumeInput), ONLY_SUPERVISORS)

        resumed = await handle.execute_update(CaseWorkflow.resume, supervisor(ResumeInput))
        assert resumed == ActionResult("review", "actively_reviewed", 5)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.assigned_officer_id) == ("review", "actively_reviewed", OFFICER)
        await handle.execute_update(CaseWorkflow.decide, approve())
        result = await handle.result()
        await keep_history(handle, "hold_and_resume")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED,
        ("on_hold", "on_hold", "hold", (None, OFFICER_TASKS)),
        ("review", "actively_reviewed", "resume", ("review", OFFICER_TASKS)),
        APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    resume = fakes.last(action="resume")
    assert (resume.held_from_stage, resume.actor_id, resume.assigned_officer_id) == (None, SUPERVISOR, OFFICER)


async def test_expedite_requested_and_granted(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await assert_refused(handle, fakes, CaseWorkflow.request_expedite,
                             applicant(ExpediteRequestInput, reason="  "), "Tell us why the case should be expedited.")
        await assert_refused(handle, fakes, CaseWorkflow.decide_expedite,
                             supervisor(ExpediteDecisionInput, grant=True, reason="Urgent."),
                             "There is no expedite request waiting for a decision.")
        asked = await handle.execute_update(
            CaseWorkflow.request_expedite, applicant(ExpediteRequestInput, reason=" My job starts in two weeks. ")
        )
        assert asked == ActionResult("review", "expedite_received", 3)
        request = fakes.transitions[-1]
        assert (request.actor_id, request.note, request.expedite_status, request.expedited) == (
            APPLICANT, "My job starts in two weeks.", "requested", False,
        )
        assert (await handle.describe()).typed_search_attributes.get(sa.PRIORITY) == 0
        await assert_refused(handle, fakes, CaseWorkflow.request_expedite,
                             applicant(ExpediteRequestInput, reason="Please."),
                             "You have already asked for this case to be expedited.")
        await assert_refused(handle, fakes, CaseWorkflow.decide_expedite,
                             officer(ExpediteDecisionInput, grant=True, reason="Urgent."), ONLY_SUPERVISORS)
        await assert_refused(handle, fakes, CaseWorkflow.decide_expedite,
                             supervisor(ExpediteDecisionInput, grant=True),
                             "Give the reason for the expedite decision.")

        granted = await handle.execute_update(
            CaseWorkflow.decide_expedite, supervisor(ExpediteDecisionInput, grant=True, reason="Severe financial loss.")
        )
        assert granted == ActionResult("review", "expedite_approved", 4)
        assert (await state_of(handle)).expedite == "granted"
        assert (await handle.describe()).typed_search_attributes.get(sa.PRIORITY) == 1
        await claim_and(handle, approve())
        result = await handle.result()
        assert await state_of(handle) == closed_state(
            handle, fakes, decision="approve", status="card_mailed", expedite="granted"
        )
        await keep_history(handle, "expedite_granted")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW,
        ("review", "expedite_received", "request_expedite", ("expedite", EXPEDITE)),  # the review task stays open
        ("review", "expedite_approved", "grant_expedite", (None, EXPEDITE)),
        CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    assert [t.expedited for t in fakes.transitions] == [False] * 3 + [True] * 7
    grant = fakes.last(action="grant_expedite")
    assert (grant.actor_id, grant.note, grant.expedite_status) == (SUPERVISOR, "Severe financial loss.", "granted")


async def test_expedite_requested_and_refused(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        await waiting_for_appointment(handle, fakes, "biometrics")
        await assert_refused(handle, fakes, CaseWorkflow.request_expedite,
                             applicant(ExpediteRequestInput, APPLICANT + 1, reason="Please."), ONLY_APPLICANT)
        await handle.execute_update(CaseWorkflow.request_expedite, applicant(ExpediteRequestInput, reason="Please."))
        refused = await handle.execute_update(
            CaseWorkflow.decide_expedite, supervisor(ExpediteDecisionInput, grant=False, reason="No urgency shown.")
        )
        assert refused == ActionResult("biometrics", "expedite_denied", 5)
        state = await state_of(handle)
        assert (state.stage, state.status_code, state.expedite) == ("biometrics", "expedite_denied", "refused")
        assert state.appointment is not None  # the appointment stands
        assert (await handle.describe()).typed_search_attributes.get(sa.PRIORITY) == 0
        await assert_refused(handle, fakes, CaseWorkflow.request_expedite,
                             applicant(ExpediteRequestInput, reason="Please, again."),
                             "You have already asked for this case to be expedited.")
        await keep_history(handle, "expedite_refused")

    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED,
        ("biometrics", "expedite_received", "request_expedite", ("expedite", EXPEDITE)),
        ("biometrics", "expedite_denied", "refuse_expedite", (None, EXPEDITE)),
    ]
    refusal = fakes.transitions[-1]
    assert (refusal.expedited, refusal.expedite_status, refusal.note) == (False, "refused", "No urgency shown.")
    assert not any(t.expedited for t in fakes.transitions)


# === system work that fails for good ==========================================================


BLOCKED_NOW = ("blocked", None, None, ("blocked", BLOCKED))


RETRIED = ("blocked", None, "retry", (None, BLOCKED))


async def test_booking_that_keeps_failing_blocks_the_case_until_a_supervisor_retries(time_skipping_env) -> None:
    env = time_skipping_env
    fakes = FakeActivities(book_failures=100)
    async with running_case(env, fakes, "I-765") as handle:
        await sleep_until(env, lambda: fakes.stages[-1:] == ["blocked"] and not fakes.in_flight,
                          step=timedelta(seconds=30), what="the case to be blocked")
        await waiting_in(handle, fakes, "blocked")
        block = fakes.transitions[-1]
        assert (block.blocked_activity, block.blocked_error) == ("book:biometrics", "the scheduling system is down")
        assert (block.waiting_for, block.due_at) == ("supervisor", block.occurred_at + timedelta(days=30))
        assert len(fakes.bookings) == 6  # the retry policy's attempts
        assert len({b.idempotency_key for b in fakes.bookings}) == 1
        await assert_refused(handle, fakes, CaseWorkflow.retry, officer(RetryInput), ONLY_SUPERVISORS)
        await assert_refused(handle, fakes, CaseWorkflow.hold, supervisor(HoldInput, reason="Wait."),
                             "This case cannot be put on hold now.")

        fakes.book_failures = 0
        retried = await handle.execute_update(CaseWorkflow.retry, supervisor(RetryInput))
        assert retried == ActionResult("blocked", None, 4)
        appointment = await waiting_for_appointment(handle, fakes, "biometrics")
        await waiting_in(handle, fakes, "biometrics", status="biometrics_scheduled")
        assert len(fakes.bookings) == 7
        await assert_refused(handle, fakes, CaseWorkflow.retry, supervisor(RetryInput), NOT_WAITING)
        await keep_history(handle, "blocked_booking_retried")

    assert trail(fakes) == [RECEIVED, TO_BIOMETRICS, BLOCKED_NOW, RETRIED, BIOMETRICS_BOOKED]
    retry = fakes.last(action="retry")
    assert (retry.actor_id, retry.blocked_activity) == (SUPERVISOR, "book:biometrics")
    assert fakes.transitions[-1].tasks.due_at == appointment.starts_at + timedelta(days=1)


async def test_no_appointment_capacity_blocks_at_once(time_skipping_env) -> None:
    fakes = FakeActivities(no_capacity=True)
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        await waiting_in(handle, fakes, "blocked")
        block = fakes.transitions[-1]
        assert (block.blocked_activity, block.blocked_error) == (
            "book:biometrics", "no free appointment in the next months",
        )
        assert len(fakes.bookings) == 1  # not retryable
        fakes.no_capacity = False
        await handle.execute_update(CaseWorkflow.retry, supervisor(RetryInput))
        await waiting_for_appointment(handle, fakes, "biometrics")
        await waiting_in(handle, fakes, "biometrics", status="biometrics_scheduled")
        await keep_history(handle, "blocked_no_capacity")

    assert trail(fakes) == [RECEIVED, TO_BIOMETRICS, BLOCKED_NOW, RETRIED, BIOMETRICS_BOOKED]
    assert len(fakes.bookings) == 2


async def test_fulfilment_that_keeps_failing_blocks_after_approval(time_skipping_env) -> None:
    env = time_skipping_env
    fakes = FakeActivities(fulfil_failures=100)
    async with running_case(env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        await claim_and(handle, approve())
        await sleep_until(env, lambda: fakes.stages[-1:] == ["blocked"] and not fakes.in_flight,
                          step=timedelta(seconds=30), what="the case to be blocked")
        await waiting_in(handle, fakes, "blocked")
        block = fakes.transitions[-1]
        assert (block.blocked_activity, block.blocked_error, block.decision) == (
            "card_produced", "the card_produced partner is down", "approve",
        )
        assert [f.step for f in fakes.fulfilments] == ["card_produced"] * 6
        await assert_refused(handle, fakes, CaseWorkflow.withdraw, applicant(WithdrawInput), WITHDRAW_BEFORE_DECISION)

        fakes.fulfil_failures = 0
        await handle.execute_update(CaseWorkflow.retry, supervisor(RetryInput))
        result = await handle.result()
        await keep_history(handle, "blocked_fulfilment_retried")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, CLAIMED, APPROVED, TO_POST_DECISION, BLOCKED_NOW, RETRIED, *CARD, CLOSED,
    ]
    assert [f.step for f in fakes.fulfilments] == ["card_produced"] * 7 + ["card_mailed"]
    assert fakes.last(action="retry").blocked_activity == "card_produced"


# === long-lived cases ========================================================================


async def test_continue_as_new_carries_the_case_over(time_skipping_env) -> None:
    env = time_skipping_env
    fakes = FakeActivities()
    async with running_case(env, fakes, "I-765", transitions_per_run=4) as handle:
        first_run = handle.result_run_id
        await through_biometrics(handle, fakes)  # seq 4: the first run hands over

        async def new_run() -> str | None:
            description = await handle.describe()
            return description.run_id if description.run_id != first_run else None

        second_run = await wait_until(new_run, what="a second run")
        first = await env.client.get_workflow_handle(handle.id, run_id=first_run).describe()
        assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        await waiting_in(handle, fakes, "review")
        state = await state_of(handle)
        assert (state.runs, state.seq, state.stage, state.status_code) == (2, 4, "review", "fingerprints_taken")
        attrs = (await handle.describe()).typed_search_attributes
        assert (attrs.get(sa.RECEIPT_NUMBER), attrs.get(sa.FORM_TYPE)) == (handle.id, "I-765")

        await claim_and(handle, approve())
        result = await handle.result()
        description = await handle.describe()
        assert description.run_id not in (first_run, second_run)
        assert description.status == WorkflowExecutionStatus.COMPLETED
        assert await state_of(handle) == closed_state(handle, fakes, decision="approve", status="card_mailed", runs=3)
        await keep_history(handle, "continued_as_new_final_run")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_BIOMETRICS, BIOMETRICS_BOOKED,
        ("review", "fingerprints_taken", "biometrics_taken", ("review", OFFICER_TASKS)),
        CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    # The review stage began in the first run: the second keeps its start.
    assert fakes.transitions[4].stage_entered_at == fakes.transitions[3].stage_entered_at
    assert sorted(fakes.delivered) == [t.seq for t in fakes.transitions if t.status_code]


async def test_review_past_its_target_is_flagged_overdue_and_still_decided(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, "I-765-no-biometrics") as handle:
        await waiting_in(handle, fakes, "review")
        assert (await state_of(handle)).overdue is False
        assert (await handle.describe()).typed_search_attributes.get(sa.CASE_OVERDUE) is False

        await time_skipping_env.sleep(timedelta(days=91))

        async def overdue_state() -> CaseState | None:
            state = await state_of(handle)
            flagged = state.overdue and any(t.overdue for t in fakes.transitions) and not fakes.in_flight
            return state if flagged else None

        state = await wait_until(overdue_state, what="the case to be flagged overdue")
        assert (state.stage, state.status_code) == ("review", "case_received")
        flagged = fakes.transitions[-1]
        assert (flagged.stage, flagged.status_code, flagged.tasks, flagged.overdue) == ("review", None, None, True)
        # The I-765 review target: 90 days.
        assert flagged.occurred_at - fakes.transitions[1].occurred_at >= timedelta(days=90)
        assert flagged.stage_entered_at == fakes.transitions[1].stage_entered_at
        assert (await handle.describe()).typed_search_attributes.get(sa.CASE_OVERDUE) is True

        # A late officer still decides the case.
        await claim_and(handle, approve())
        result = await handle.result()
        await keep_history(handle, "overdue_review_decided")

    assert result == CaseResult(handle.id, "approve", "card_mailed")
    assert trail(fakes) == [
        RECEIVED, TO_REVIEW, ("review", None, None, None), CLAIMED, APPROVED, TO_POST_DECISION, *CARD, CLOSED,
    ]
    assert [t.overdue for t in fakes.transitions] == [False, False, True, True] + [False] * 5


# === refused actions ==========================================================================


@dataclass
class Refusal:
    variant: str
    where: str  # biometrics | review | claimed | evidence_requested | failed_twice
    update: Callable
    arg: Any
    message: str


REFUSALS = {
    # wrong stage
    "decide-in-biometrics": Refusal("I-765", "biometrics", CaseWorkflow.decide, approve(), NOT_WAITING),
    "record-biometrics-twice": Refusal(
        "I-765", "review", CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), NOT_WAITING
    ),
    "record-interview-in-review": Refusal(
        "I-765", "claimed", CaseWorkflow.record_interview, officer(RecordInterviewInput), NOT_WAITING
    ),
    "answer-without-a-request": Refusal(
        "I-765", "claimed", CaseWorkflow.respond_to_evidence_request,
        applicant(EvidenceResponseInput, note="Here it is."), NOT_WAITING,
    ),
    "interview-on-request-for-i765": Refusal(
        "I-765", "claimed", CaseWorkflow.schedule_interview, officer(ScheduleInterviewInput),
        "This form does not take an interview on request.",
    ),
    # wrong role
    "applicant-records-biometrics": Refusal(
        "I-765", "biometrics", CaseWorkflow.record_biometrics, applicant(RecordBiometricsInput), ONLY_OFFICERS
    ),
    "unknown-role-records-biometrics": Refusal(
        "I-765", "biometrics", CaseWorkflow.record_biometrics, RecordBiometricsInput(OFFICER, "root"), ONLY_OFFICERS
    ),
    "applicant-claims": Refusal("I-765", "review", CaseWorkflow.claim, applicant(ClaimInput), ONLY_OFFICERS),
    "officer-reassigns": Refusal(
        "I-765", "claimed", CaseWorkflow.reassign, officer(ReassignInput, officer_id=OTHER_OFFICER), ONLY_SUPERVISORS
    ),
    "officer-withdraws": Refusal("I-765", "review", CaseWorkflow.withdraw, officer(WithdrawInput), ONLY_APPLICANT),
    # someone else's case
    "decide-before-claim": Refusal("I-765", "review", CaseWorkflow.decide, approve(), CLAIM_TO_DECIDE),
    "decide-by-another-officer": Refusal(
        "I-765", "claimed", CaseWorkflow.decide, approve(actor_id=OTHER_OFFICER), CLAIM_TO_DECIDE
    ),
    "claim-by-a-second-officer": Refusal(
        "I-765", "claimed", CaseWorkflow.claim, officer(ClaimInput, OTHER_OFFICER), SOMEONE_ELSES
    ),
    "release-by-another-officer": Refusal(
        "I-765", "claimed", CaseWorkflow.release, officer(ReleaseInput, OTHER_OFFICER),
        "Only the officer working on this case can release it.",
    ),
    "request-evidence-by-another-officer": Refusal(
        "I-765", "claimed", CaseWorkflow.request_evidence,
        officer(RequestEvidenceInput, OTHER_OFFICER, items=["photos"]), CLAIM_TO_REQUEST,
    ),
    # missing or too long a reason
    "empty-reason": Refusal(
        "I-765", "claimed", CaseWorkflow.decide,
        officer(DecideInput, decision="approve", reason=" \n\t ", reason_code="eligible"),
        "Give the reason for the decision.",
    ),
    "reason-too-long": Refusal(
        "I-765", "claimed", CaseWorkflow.decide,
        officer(DecideInput, decision="approve", reason="x" * 2001, reason_code="eligible"), TOO_LONG,
    ),
    "hold-without-reason": Refusal(
        "I-765", "claimed", CaseWorkflow.hold, supervisor(HoldInput, reason=""), "Give the reason for the hold."
    ),
    "hold-reason-too-long": Refusal(
        "I-765", "claimed", CaseWorkflow.hold, supervisor(HoldInput, reason="x" * 2001), TOO_LONG
    ),
    # the decision itself
    "unknown-decision": Refusal(
        "I-765", "claimed", CaseWorkflow.decide,
        officer(DecideInput, decision="maybe", reason=REASON, reason_code="eligible"),
        "Choose to approve or deny the case.",
    ),
    "missing-reason-code": Refusal(
        "I-765", "claimed", CaseWorkflow.decide, officer(DecideInput, decision="approve", reason=REASON),
        "Choose the reason for the decision.",
    ),
    "denial-code-for-an-approval": Refusal(
        "I-765", "claimed", CaseWorkflow.decide,
        officer(DecideInput, decision="approve", reason=REASON, reason_code="abandonment"),
        "Choose the reason for the decision.",
    ),
    "n400-approval-before-a-passed-interview": Refusal(
        "N-400", "failed_twice", CaseWorkflow.decide, approve("eligible_after_interview"), ONLY_AFTER_INTERVIEW
    ),
    "unknown-biometrics-outcome": Refusal(
        "I-765", "biometrics", CaseWorkflow.record_biometrics, officer(RecordBiometricsInput, outcome="late"),
        "Choose what happened at the appointment.",
    ),
    "reassign-to-nobody": Refusal(
        "I-765", "claimed", CaseWorkflow.reassign, supervisor(ReassignInput), "Choose the officer to give the case to."
    ),
    # the applicant's actions, by someone else
    "withdraw-by-another-applicant": Refusal(
        "I-765", "review", CaseWorkflow.withdraw, applicant(WithdrawInput, APPLICANT + 1), ONLY_APPLICANT
    ),
    "expedite-by-another-applicant": Refusal(
        "I-765", "review", CaseWorkflow.request_expedite,
        applicant(ExpediteRequestInput, APPLICANT + 1, reason="Please."), ONLY_APPLICANT,
    ),
    "reschedule-by-another-applicant": Refusal(
        "I-765", "biometrics", CaseWorkflow.reschedule, applicant(RescheduleInput, APPLICANT + 1, kind="biometrics"),
        ONLY_APPLICANT,
    ),
    "answer-by-another-applicant": Refusal(
        "I-765", "evidence_requested", CaseWorkflow.respond_to_evidence_request,
        applicant(EvidenceResponseInput, APPLICANT + 1, note="Here it is."), ONLY_APPLICANT,
    ),
}


async def _reach(handle: WorkflowHandle, fakes: FakeActivities, variant: str, where: str) -> None:
    if variant == "N-400":
        await through_biometrics(handle, fakes)
        await interview(handle, fakes, "failed")
        await interview(handle, fakes, "failed")
        await waiting_in(handle, fakes, "review")
        return
    await waiting_for_appointment(handle, fakes, "biometrics")
    if where == "biometrics":
        return
    await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), id="bio")
    if where == "review":
        return
    await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput), id="claim")
    if where == "evidence_requested":
        await request_evidence(handle)


async def _finish(handle: WorkflowHandle, fakes: FakeActivities) -> CaseResult:
    """Take the case from where it waits to a denial."""
    state = await state_of(handle)
    if state.stage == "biometrics":
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
    if state.stage == "evidence_requested":
        await handle.execute_update(CaseWorkflow.respond_to_evidence_request,
                                    applicant(EvidenceResponseInput, document_ids=["doc-1"]))
    if (await state_of(handle)).assigned_officer_id != OFFICER:
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
    await handle.execute_update(CaseWorkflow.decide, deny())
    return await handle.result()


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_invalid_actions_are_refused_without_a_trace(time_skipping_env, name: str) -> None:
    refusal = REFUSALS[name]
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, refusal.variant) as handle:
        await _reach(handle, fakes, refusal.variant, refusal.where)
        await assert_refused(handle, fakes, refusal.update, refusal.arg, refusal.message, update_id=f"refused-{name}")

        # The refusal changed nothing: the case still goes on to its decision.
        result = await _finish(handle, fakes)
        assert result == CaseResult(handle.id, "deny", "denied")
        assert f"refused-{name}" not in await accepted_update_ids(handle)


# === how updates, search attributes and mail behave ===========================================


async def test_a_repeated_update_id_is_applied_once(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes) as handle:
        await waiting_for_appointment(handle, fakes, "biometrics")
        update_id = "form-submission-1234"
        first = await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput),
                                            id=update_id)
        # A double click: same update id. Were it applied again, the validator would refuse it
        # (the case is no longer in biometrics); instead the first outcome comes back.
        again = await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput),
                                            id=update_id)

        assert again == first == ActionResult("review", "fingerprints_taken", 4)
        assert fakes.statuses.count("fingerprints_taken") == 1
        assert len(fakes.appointment_changes) == 1
        assert (await accepted_update_ids(handle)).count(update_id) == 1
        assert (await state_of(handle)).seq == 4
        await keep_history(handle, "repeated_update_id")


async def test_search_attributes_follow_the_case(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes) as handle:
        await waiting_for_appointment(handle, fakes, "biometrics")
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.CASE_STAGE) == "biometrics"
        assert attrs.get(sa.RECEIPT_NUMBER) == handle.id
        assert attrs.get(sa.FORM_TYPE) == "I-765"
        assert attrs.get(sa.SERVICE_CENTER) == "IOE"
        assert attrs.get(sa.PRIORITY) == 0
        assert attrs.get(sa.CASE_OVERDUE) is False
        assert attrs.get(sa.ASSIGNED_OFFICER) is None

        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.CASE_STAGE) == "review"
        assert attrs.get(sa.STAGE_ENTERED_AT) == fakes.transitions[-1].stage_entered_at

        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.ASSIGNED_OFFICER) == str(OFFICER)

        await handle.execute_update(CaseWorkflow.release, officer(ReleaseInput))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.ASSIGNED_OFFICER) is None
        assert fakes.transitions[-1].action == "release"
        await keep_history(handle, "search_attributes")


async def test_an_action_waits_for_the_transition_being_written(time_skipping_env) -> None:
    fakes = FakeActivities(hold_seq=3)
    async with running_case(time_skipping_env, fakes, "I-765") as handle:
        await wait_until(lambda: 3 in fakes.in_flight, what="the booked appointment being written")
        # The case has its appointment now, so the validator accepts the action...
        update = await handle.start_update(
            CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        # ...but its transition must wait until seq 3 is written: neither scheduled nor started meanwhile.
        pending = (await handle.describe()).raw_description.pending_activities
        writing = [a for a in pending if a.activity_type.name == "record_transition"]
        fakes.release.set()
        assert (await update.result()).seq == 4
        await waiting_in(handle, fakes, "review")
        await keep_history(handle, "action_waits_for_transition")
    assert (len(writing), fakes.overlaps) == (1, [])
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4]


async def test_mail_that_always_fails_does_not_stall_the_case(time_skipping_env) -> None:
    fakes = FakeActivities(mail_fails=True)
    async with running_case(time_skipping_env, fakes, "I-130") as handle:
        await waiting_in(handle, fakes, "review")
        await claim_and(handle, approve())
        result = await handle.result()  # time skips past the 3-day mail deadline
        await keep_history(handle, "mail_always_fails")

    assert result == CaseResult(handle.id, "approve", "approved")
    assert trail(fakes) == [RECEIVED, TO_REVIEW, CLAIMED, APPROVED, CLOSED]
    assert fakes.delivered == []
    mailed = [t.seq for t in fakes.transitions if t.status_code]
    assert set(fakes.mail_attempts) == set(mailed) == {1, 3, 4}
    assert all(fakes.mail_attempts.count(i) > 1 for i in mailed)  # retried, then given up
