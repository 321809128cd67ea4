"""CaseWorkflow on the time-skipping test server, with fake activities that record what they get."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.types import TransitionInput, TransitionResult
from tests.helpers import case_input, random_receipt_number, wait_until
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.client import start_case
from workflows.types import (
    INVALID_ACTION,
    ActionResult,
    CaseResult,
    ClaimInput,
    DecideInput,
    OfficerAction,
    RecordBiometricsInput,
)

OFFICER = 101
OTHER_OFFICER = 102
APPLICANT = 7
REASON = "The applicant is eligible under the category claimed."

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
WFT_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


class FakeActivities:
    """Stand-ins for record_transition and deliver_email that remember every call."""

    def __init__(self, *, mail_fails: bool = False, hold_seq: int | None = None) -> None:
        self.transitions: list[TransitionInput] = []
        self.delivered: list[int] = []
        self.mail_attempts: list[int] = []
        self.in_flight: set[int] = set()
        self.overlaps: list[tuple[int, set[int]]] = []  # (seq started, seqs still being written)
        self.release = asyncio.Event()  # lets the held transition finish

        @activity.defn(name="record_transition")
        async def record_transition(inp: TransitionInput) -> TransitionResult:
            if self.in_flight:
                self.overlaps.append((inp.seq, set(self.in_flight)))
            self.in_flight.add(inp.seq)
            self.transitions.append(inp)
            try:
                if inp.seq == hold_seq:
                    await self.release.wait()
                return TransitionResult(applied=True, email_ids=[inp.seq] if inp.status_code else [])
            finally:
                self.in_flight.discard(inp.seq)

        @activity.defn(name="deliver_email")
        async def deliver_email(email_id: int) -> bool:
            self.mail_attempts.append(email_id)
            if mail_fails:
                raise ConnectionRefusedError("the SMTP server is down")
            self.delivered.append(email_id)
            return True

        self.activities = [record_transition, deliver_email]

    @property
    def statuses(self) -> list[str]:
        return [t.status_code for t in self.transitions if t.status_code]

    @property
    def stages(self) -> list[str]:
        return [t.stage for t in self.transitions]


@asynccontextmanager
async def running_case(env, fakes: FakeActivities, *, category: str = "c8") -> AsyncIterator[WorkflowHandle]:
    """A worker on its own task queue and one started case; the case is terminated if a test leaves it running."""
    task_queue = f"cases-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=task_queue, workflows=[CaseWorkflow], activities=fakes.activities):
        handle = await start_case(env.client, case_input(random_receipt_number(), category=category),
                                  task_queue=task_queue)
        try:
            yield handle
        finally:
            fakes.release.set()
            await stop(handle)


async def stop(handle: WorkflowHandle) -> None:
    """Terminate a case a test left running (a failed test), once nothing is in flight: the test
    server stops skipping time for good if a workflow is terminated with a task outstanding."""

    async def idle() -> bool:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return True
        last = (await handle.fetch_history()).events[-1]
        return not description.raw_description.pending_activities and last.event_type == WFT_COMPLETED

    await wait_until(idle, what="the case to be idle")
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("test finished")


def officer(cls: type[OfficerAction], actor_id: int = OFFICER, **kw: Any) -> Any:
    return cls(actor_id=actor_id, actor_role="officer", **kw)


async def waiting_in(handle: WorkflowHandle, fakes: FakeActivities, stage: str) -> None:
    """Wait until the case's move to ``stage`` is written (what an officer's queue would show)."""
    await wait_until(lambda: stage in fakes.stages and not fakes.in_flight, what=f"a transition to {stage}")
    state = await handle.query(CaseWorkflow.state)
    assert state.stage == stage


async def accepted_update_ids(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events
        if e.event_type == ACCEPTED
    ]


async def decide_case(handle: WorkflowHandle, decision: str = "approve", reason: str = REASON) -> ActionResult:
    await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
    return await handle.execute_update(CaseWorkflow.decide, officer(DecideInput, decision=decision, reason=reason))


# --- journeys ---------------------------------------------------------------------------------


async def test_happy_path_with_biometrics(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, category="c8") as handle:
        await waiting_in(handle, fakes, "biometrics")
        bio = await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        assert (bio.stage, bio.status_code, bio.seq) == ("review", "fingerprints_taken", 3)
        claim = await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        assert (claim.stage, claim.status_code, claim.seq) == ("review", "actively_reviewed", 4)
        decided = await handle.execute_update(
            CaseWorkflow.decide, officer(DecideInput, decision="approve", reason=f"  {REASON}  ")
        )
        assert (decided.stage, decided.status_code, decided.seq) == ("decision", "approved", 5)
        result = await handle.result()

    assert result == CaseResult(handle.id, "approve", "approved")
    assert fakes.statuses == [
        "case_received", "biometrics_scheduled", "fingerprints_taken", "actively_reviewed", "approved"
    ]
    assert fakes.stages == ["intake", "biometrics", "review", "review", "decision", "closed"]
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4, 5, 6]
    closed = fakes.transitions[-1]
    assert (closed.stage, closed.status_code, closed.decision, closed.assigned_officer_id) == (
        "closed", None, "approve", OFFICER
    )
    by_status = {t.status_code: t for t in fakes.transitions}
    assert by_status["biometrics_scheduled"].tasks.open_kind == "biometrics"
    assert by_status["fingerprints_taken"].tasks.open_kind == "review"
    assert by_status["fingerprints_taken"].actor_id == OFFICER
    assert by_status["actively_reviewed"].tasks.close_open is False
    assert by_status["approved"].note == REASON  # stripped
    assert by_status["approved"].tasks.close_open is True
    # Every public status sends one mail, and the run waits for them before it ends.
    assert sorted(fakes.delivered) == [1, 2, 3, 4, 5]


async def test_category_without_biometrics_goes_straight_to_review(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, category="c3C") as handle:
        await waiting_in(handle, fakes, "review")
        await decide_case(handle)
        result = await handle.result()

    assert result.decision == "approve"
    assert fakes.stages == ["intake", "review", "review", "decision", "closed"]
    assert fakes.statuses == ["case_received", "actively_reviewed", "approved"]
    to_review = fakes.transitions[1]
    assert to_review.status_code is None  # no public status for this move
    assert to_review.tasks.open_kind == "review"
    assert to_review.tasks.due_at == to_review.occurred_at + timedelta(days=90)
    assert sorted(fakes.delivered) == [1, 3, 4]


async def test_denial_records_the_reason(time_skipping_env) -> None:
    fakes = FakeActivities()
    reason = "The evidence does not show a pending asylum application."
    async with running_case(time_skipping_env, fakes, category="c3C") as handle:
        await waiting_in(handle, fakes, "review")
        decided = await decide_case(handle, "deny", reason)
        result = await handle.result()

    assert decided.status_code == "denied"
    assert result == CaseResult(handle.id, "deny", "denied")
    denial = next(t for t in fakes.transitions if t.status_code == "denied")
    assert (denial.stage, denial.decision, denial.note, denial.actor_id) == ("decision", "deny", reason, OFFICER)
    assert fakes.statuses[-1] == "denied"


# --- refused actions --------------------------------------------------------------------------

NOT_WAITING = "This case is not waiting for this action any more. Reload the page to see where it is."
ONLY_OFFICERS = "Only an officer can do this."
CLAIM_FIRST = "Claim this case before you decide it."


def _decide(actor_id: int = OFFICER, decision: str = "approve", reason: str = REASON) -> tuple[Callable, Any]:
    return CaseWorkflow.decide, officer(DecideInput, actor_id, decision=decision, reason=reason)


REFUSALS = {
    # name: (where the case is, update, argument, message)
    "claim-during-biometrics": ("biometrics", CaseWorkflow.claim, officer(ClaimInput), NOT_WAITING),
    "applicant-records-biometrics": (
        "biometrics", CaseWorkflow.record_biometrics, RecordBiometricsInput(APPLICANT, "applicant"), ONLY_OFFICERS
    ),
    "unknown-role-records-biometrics": (
        "biometrics", CaseWorkflow.record_biometrics, RecordBiometricsInput(OFFICER, "root"), ONLY_OFFICERS
    ),
    "decide-before-claim": ("review", *_decide(), CLAIM_FIRST),
    "decide-by-another-officer": ("claimed", *_decide(OTHER_OFFICER), CLAIM_FIRST),
    "claim-by-a-second-officer": (
        "claimed", CaseWorkflow.claim, officer(ClaimInput, OTHER_OFFICER),
        "Another officer is already working on this case.",
    ),
    "empty-reason": ("claimed", *_decide(reason=" \n\t "), "Give the reason for the decision."),
    "reason-too-long": ("claimed", *_decide(reason="x" * 2001), "The reason must be 2,000 characters or fewer."),
    "unknown-decision": ("claimed", *_decide(decision="maybe"), "Choose to approve or deny the case."),
    "record-biometrics-twice": ("review", CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), NOT_WAITING),
}


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_invalid_actions_are_refused_without_a_trace(time_skipping_env, name: str) -> None:
    where, update, arg, message = REFUSALS[name]
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, category="c8") as handle:
        await waiting_in(handle, fakes, "biometrics")
        if where in ("review", "claimed"):
            await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), id="bio")
        if where == "claimed":
            await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput), id="claim")
        before = await handle.query(CaseWorkflow.state)
        accepted_before = await accepted_update_ids(handle)
        transitions_before = len(fakes.transitions)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(update, arg, id=f"refused-{name}")

        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == INVALID_ACTION
        assert cause.message == message
        accepted_after = await accepted_update_ids(handle)
        assert f"refused-{name}" not in accepted_after
        assert accepted_after == accepted_before
        assert await handle.query(CaseWorkflow.state) == before
        assert len(fakes.transitions) == transitions_before

        # The refusal changed nothing: the case still completes normally.
        if where == "biometrics":
            await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        if where in ("biometrics", "review"):
            await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        await handle.execute_update(CaseWorkflow.decide, officer(DecideInput, decision="approve", reason=REASON))
        assert (await handle.result()).decision == "approve"


async def test_a_repeated_update_id_is_applied_once(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes) as handle:
        await waiting_in(handle, fakes, "biometrics")
        update_id = "form-submission-1234"
        first = await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput),
                                            id=update_id)
        # A double click: same update id. Were it applied again, the validator would refuse it
        # (the case is no longer in biometrics); instead the first outcome comes back.
        again = await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput),
                                            id=update_id)

        assert again == first == ActionResult("review", "fingerprints_taken", 3)
        assert fakes.statuses.count("fingerprints_taken") == 1
        assert (await accepted_update_ids(handle)).count(update_id) == 1
        assert (await handle.query(CaseWorkflow.state)).seq == 3


async def test_search_attributes_follow_the_case(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes) as handle:
        await waiting_in(handle, fakes, "biometrics")
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.CASE_STAGE) == "biometrics"
        assert attrs.get(sa.RECEIPT_NUMBER) == handle.id
        assert attrs.get(sa.FORM_TYPE) == "I-765"
        assert attrs.get(sa.ASSIGNED_OFFICER) is None

        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.CASE_STAGE) == "review"
        assert attrs.get(sa.CASE_OVERDUE) is False
        assert attrs.get(sa.STAGE_ENTERED_AT) == fakes.transitions[-1].stage_entered_at

        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput))
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.ASSIGNED_OFFICER) == str(OFFICER)


async def test_an_action_waits_for_the_transition_being_written(time_skipping_env) -> None:
    fakes = FakeActivities(hold_seq=2)
    async with running_case(time_skipping_env, fakes, category="c8") as handle:
        await wait_until(lambda: 2 in fakes.in_flight, what="the move to biometrics being written")
        # The case is in biometrics now, so the validator accepts the action...
        update = await handle.start_update(
            CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        # ...but its transition must wait until seq 2 is written: neither scheduled nor started meanwhile.
        pending = (await handle.describe()).raw_description.pending_activities
        writing = [a for a in pending if a.activity_type.name == "record_transition"]
        fakes.release.set()
        assert (await update.result()).seq == 3
    assert (len(writing), fakes.overlaps) == (1, [])
    assert [t.seq for t in fakes.transitions] == [1, 2, 3]


# --- deadlines and failures -------------------------------------------------------------------


async def test_a_case_past_its_review_target_is_flagged_overdue_and_still_decided(time_skipping_env) -> None:
    fakes = FakeActivities()
    async with running_case(time_skipping_env, fakes, category="c3C") as handle:
        await waiting_in(handle, fakes, "review")
        assert (await handle.query(CaseWorkflow.state)).overdue is False

        await time_skipping_env.sleep(timedelta(days=91))

        async def overdue_state():
            state = await handle.query(CaseWorkflow.state)
            return state if state.overdue and any(t.overdue for t in fakes.transitions) else None

        state = await wait_until(overdue_state, what="the case to be flagged overdue")
        assert (state.stage, state.status_code) == ("review", "case_received")
        flagged = [t for t in fakes.transitions if t.overdue]
        assert len(flagged) == 1
        assert (flagged[0].stage, flagged[0].status_code, flagged[0].tasks) == ("review", None, None)
        assert flagged[0].occurred_at - fakes.transitions[1].occurred_at >= timedelta(days=90)
        assert (await handle.describe()).typed_search_attributes.get(sa.CASE_OVERDUE) is True

        # A late officer still decides the case.
        await decide_case(handle)
        assert (await handle.result()).decision == "approve"
    claim = next(t for t in fakes.transitions if t.status_code == "actively_reviewed")
    assert claim.overdue is True  # still overdue while the stage lasts


async def test_mail_that_always_fails_does_not_stall_the_case(time_skipping_env) -> None:
    fakes = FakeActivities(mail_fails=True)
    async with running_case(time_skipping_env, fakes, category="c8") as handle:
        await waiting_in(handle, fakes, "biometrics")
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput))
        await decide_case(handle)
        result = await handle.result()  # time skips past the 3-day mail deadline

    assert result == CaseResult(handle.id, "approve", "approved")
    assert fakes.delivered == []
    assert set(fakes.mail_attempts) == {1, 2, 3, 4, 5}
    assert all(fakes.mail_attempts.count(i) > 1 for i in range(1, 6))  # retried, then given up
