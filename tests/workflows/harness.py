"""What the CaseWorkflow tests share: fake activities that remember every call, a running case on
the time-skipping server, the people who act on it, and the recording of histories.

Set CASELINE_RECORD_HISTORIES=1 to have every test that calls ``keep_history`` write its case's
history to tests/workflows/histories/<name>.json; test_replay.py replays them all against today's
code. Re-record only on purpose (a change to running logic goes behind ``workflow.patched()``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.types import (
    AppointmentChange,
    BookingInput,
    FulfilmentInput,
    FulfilmentResult,
    TransitionInput,
    TransitionResult,
)
from models.forms import FORMS
from tests.helpers import FILED_AT, random_receipt_number, wait_until
from workflows.case import CaseWorkflow
from workflows.client import start_case
from workflows.types import Action, Appointment, CaseInput

OFFICER = 101
OTHER_OFFICER = 102
SUPERVISOR = 201
APPLICANT = 7
REASON = "The applicant is eligible under the category claimed."
HISTORIES = Path(__file__).parent / "histories"

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
WFT_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
WORKFLOW_TASK_EVENTS = frozenset({
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    WFT_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
})

# Answers that choose each form's path (the form catalog turns them into a stage plan).
ANSWERS: dict[str, dict[str, str]] = {
    "I-765": {"eligibility_category": "c8"},
    "I-765-no-biometrics": {"eligibility_category": "c3C"},
    "I-130": {"beneficiary_abroad": "no"},
    "I-130-abroad": {"beneficiary_abroad": "yes"},
    "N-400": {},
    "I-589": {},
}


def case_input(variant: str = "I-765", *, receipt_number: str | None = None, **kw: Any) -> CaseInput:
    form = FORMS[variant.split("-no-")[0].removesuffix("-abroad")]
    answers = ANSWERS[variant]
    return CaseInput(
        receipt_number=receipt_number or random_receipt_number(),
        form_type=form.code,
        office="IOE",
        applicant_id=APPLICANT,
        filed_at=FILED_AT,
        plan=form.stage_plan(answers),
        sla_days=dict(form.sla_days),
        interview=form.interview,
        after_approval=form.after_approval(answers),
        **kw,
    )


class FakeActivities:
    """Stand-ins for every activity of a case. Each remembers what it was given.

    ``book_failures`` / ``fulfil_failures``: how many attempts fail before one succeeds
    (a large number = fails for good). ``no_capacity``: booking fails for good at once."""

    def __init__(
        self,
        *,
        mail_fails: bool = False,
        hold_seq: int | None = None,
        book_failures: int = 0,
        fulfil_failures: int = 0,
        no_capacity: bool = False,
    ) -> None:
        self.transitions: list[TransitionInput] = []
        self.delivered: list[int] = []
        self.mail_attempts: list[int] = []
        self.bookings: list[BookingInput] = []
        self.appointment_changes: list[AppointmentChange] = []
        self.fulfilments: list[FulfilmentInput] = []
        self.in_flight: set[int] = set()
        self.overlaps: list[tuple[int, set[int]]] = []
        self.release = asyncio.Event()
        self.book_failures = book_failures
        self.fulfil_failures = fulfil_failures
        self.no_capacity = no_capacity
        self._next_appointment = 1000

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

        @activity.defn(name="book_appointment")
        async def book_appointment(inp: BookingInput) -> Appointment:
            self.bookings.append(inp)
            if self.no_capacity:
                raise ApplicationError("no free appointment in the next months", type="NoCapacity",
                                       non_retryable=True)
            if self.book_failures > 0:
                self.book_failures -= 1
                raise ConnectionError("the scheduling system is down")
            self._next_appointment += 1
            starts = inp.earliest + timedelta(hours=2)
            return Appointment(appointment_id=self._next_appointment, kind=inp.kind, office="ACH", starts_at=starts)

        @activity.defn(name="close_appointment")
        async def close_appointment(change: AppointmentChange) -> None:
            self.appointment_changes.append(change)

        @activity.defn(name="fulfil")
        async def fulfil(inp: FulfilmentInput) -> FulfilmentResult:
            self.fulfilments.append(inp)
            if self.fulfil_failures > 0:
                self.fulfil_failures -= 1
                raise ConnectionError(f"the {inp.step} partner is down")
            return FulfilmentResult(reference=f"REF-{inp.step}")

        self.activities = [record_transition, deliver_email, book_appointment, close_appointment, fulfil]

    @property
    def statuses(self) -> list[str]:
        return [t.status_code for t in self.transitions if t.status_code]

    @property
    def stages(self) -> list[str]:
        return [t.stage for t in self.transitions]

    def last(self, **match: Any) -> TransitionInput:
        """The latest transition whose fields equal ``match``."""
        found = [t for t in self.transitions if all(getattr(t, k) == v for k, v in match.items())]
        assert found, f"no transition with {match}; stages {self.stages}, statuses {self.statuses}"
        return found[-1]


@asynccontextmanager
async def running_case(env, fakes: FakeActivities, variant: str = "I-765", **kw: Any) -> AsyncIterator[WorkflowHandle]:
    """A worker on its own task queue and one started case; terminated if a test leaves it running."""
    task_queue = f"cases-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=task_queue, workflows=[CaseWorkflow], activities=fakes.activities):
        handle = await start_case(env.client, case_input(variant, **kw), task_queue=task_queue)
        try:
            yield handle
        finally:
            fakes.release.set()
            await stop(handle)


async def idle(handle: WorkflowHandle) -> bool:
    """True when the case has nothing in flight: no activity pending and its latest workflow task
    completed (a timer it started afterwards is fine: that is how a case waits)."""
    description = await handle.describe()
    if description.status != WorkflowExecutionStatus.RUNNING:
        return True
    tasks = [e.event_type for e in (await handle.fetch_history()).events if e.event_type in WORKFLOW_TASK_EVENTS]
    return not description.raw_description.pending_activities and tasks[-1:] == [WFT_COMPLETED]


async def stop(handle: WorkflowHandle) -> None:
    """Terminate a case a test left running, once nothing is in flight: the test server stops
    skipping time for good if a workflow is terminated with a task outstanding."""
    await wait_until(lambda: idle(handle), what="the case to be idle")
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("test finished")


def officer(cls: type[Action], actor_id: int = OFFICER, **kw: Any) -> Any:
    return cls(actor_id=actor_id, actor_role="officer", **kw)


def supervisor(cls: type[Action], actor_id: int = SUPERVISOR, **kw: Any) -> Any:
    return cls(actor_id=actor_id, actor_role="supervisor", **kw)


def applicant(cls: type[Action], actor_id: int = APPLICANT, **kw: Any) -> Any:
    return cls(actor_id=actor_id, actor_role="applicant", **kw)


async def waiting_in(handle: WorkflowHandle, fakes: FakeActivities, stage: str, *, status: str | None = None) -> None:
    """Wait until the case's move to ``stage`` (with ``status`` if given) is written and the case
    waits there (what a queue would show)."""

    async def arrived() -> bool:
        if fakes.in_flight or not fakes.transitions:
            return False
        latest = fakes.transitions[-1]
        if latest.stage != stage or (status is not None and status not in fakes.statuses):
            return False
        # ...and no later transition is on its way.
        return (await handle.query(CaseWorkflow.state)).seq == latest.seq

    await wait_until(arrived, what=f"a transition to {stage} ({status or 'any status'})")
    state = await handle.query(CaseWorkflow.state)
    assert state.stage == stage


async def waiting_for_appointment(handle: WorkflowHandle, fakes: FakeActivities, stage: str) -> Appointment:
    """Wait until the case in ``stage`` has a booked appointment; returns it."""

    async def booked() -> Appointment | None:
        if fakes.in_flight:
            return None
        state = await handle.query(CaseWorkflow.state)
        written = bool(fakes.transitions) and fakes.transitions[-1].seq == state.seq
        return state.appointment if state.stage == stage and written else None

    return await wait_until(booked, what=f"an appointment in {stage}")


async def accepted_update_ids(handle: WorkflowHandle) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events
        if e.event_type == ACCEPTED
    ]


async def keep_history(handle: WorkflowHandle, name: str) -> None:
    """With CASELINE_RECORD_HISTORIES=1, write this case's history as a replay fixture."""
    if os.environ.get("CASELINE_RECORD_HISTORIES") != "1":
        return
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())
