"""CaseWorkflow: one filed case, from receipt to its end. Workflow id = receipt number.

The workflow is the source of truth for where a case is. It is a small state machine: ``run``
looks at the stage, does what the system does there (book an appointment, order a card, send the
case to the Department of State) and then waits for a person or a timer. People act through
Workflow Updates; each update's validator refuses a wrong stage, role or person, a missing reason
or a date in the past before anything is written to history, and its handler records the change.

Every change of stage or public status goes through ``_transition``: it upserts the search
attributes and has an activity write the database projection (case row, timeline, queue tasks,
evidence requests, outbox) idempotently, keyed by ``seq``. Mail is delivered by activities
started in the background, so a mail server that is down delays a mail but never stalls a case.

Nothing waits forever: every wait for a person has the stage's service-level target as deadline
(past it the case is flagged overdue and keeps waiting), an RFE has its due date (extendable),
and system work that fails for good puts the case in ``blocked`` until a supervisor retries it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from activities.mail import MailActivities
    from activities.types import (
        AppointmentChange,
        BookingInput,
        EvidenceRequestChange,
        FulfilmentInput,
        TaskChange,
        TransitionInput,
    )
    from i18n import N_
    from models.domain import BEFORE_DECISION, REASON_CODES, Decision, Role, Stage, StatusCode, TaskKind, Waiting
    from workflows import search_attributes as sa
    from workflows.types import (
        INVALID_ACTION,
        REASON_MAX_LENGTH,
        RFE_DEFAULT_DAYS,
        RFE_MAX_DAYS,
        Action,
        ActionResult,
        Appointment,
        CaseInput,
        CaseResult,
        CaseSnapshot,
        CaseState,
        ClaimInput,
        DecideInput,
        EvidenceRequestState,
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

PROJECTION_TIMEOUT = timedelta(seconds=30)
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# System work that can fail for good (no appointment capacity, a partner system down for days):
# bounded retries, then the case is blocked for a supervisor.
SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5),
    maximum_attempts=6, non_retryable_error_types=["NoCapacity"],
)
SYSTEM_TIMEOUT = timedelta(minutes=2)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)
MAIL_DEADLINE = timedelta(days=3)
DEFAULT_SLA = timedelta(days=30)
NOTICE_LEAD = timedelta(days=14)  # an appointment is at least two weeks after its notice
HOLD_SLA = timedelta(days=90)
RFE_REMINDER_PATCH = "rfe-reminder"
RFE_REMINDER_BEFORE = timedelta(days=14)  # the applicant is reminded two weeks before an RFE is due

OFFICER_TASK_STAGES = (Stage.BIOMETRICS, Stage.REVIEW, Stage.INTERVIEW, Stage.POST_DECISION)
STAGE_TASK = {
    Stage.BIOMETRICS: TaskKind.BIOMETRICS,
    Stage.REVIEW: TaskKind.REVIEW,
    Stage.INTERVIEW: TaskKind.INTERVIEW,
    Stage.POST_DECISION: TaskKind.OATH,
}
OFFICER_TASKS = [TaskKind.BIOMETRICS.value, TaskKind.REVIEW.value, TaskKind.INTERVIEW.value, TaskKind.OATH.value]
MAX_TEXT = REASON_MAX_LENGTH


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_ACTION, non_retryable=True)


def _text(value: str | None) -> str:
    return (value or "").strip()


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._inp = inp
        self._s: CaseSnapshot = inp.resume or CaseSnapshot(
            stage=Stage.INTAKE.value, status_code=None, seq=0, office=inp.office, stage_entered_at=inp.filed_at
        )
        self._run_started_seq = self._s.seq
        self._lock = asyncio.Lock()
        self._mail: dict[int, asyncio.Future] = {}

    # --- where the case is ----------------------------------------------------------------

    @property
    def _stage(self) -> Stage:
        return Stage(self._s.stage)

    def _plan_after(self, stage: Stage) -> Stage:
        """The next stage of the form's plan after ``stage`` (interview when the officer asked)."""
        plan = [Stage(s) for s in self._inp.plan]
        if self._s.interview_wanted and Stage.INTERVIEW not in plan:
            plan.insert(plan.index(Stage.REVIEW), Stage.INTERVIEW)
        later = plan[plan.index(stage) + 1:] if stage in plan else []
        for candidate in later:
            if candidate == Stage.BIOMETRICS and self._s.biometrics_done:
                continue
            if candidate == Stage.INTERVIEW and self._s.interview_passed:
                continue
            return candidate
        return Stage.REVIEW

    def _sla(self, stage: Stage) -> timedelta:
        if stage == Stage.ON_HOLD:
            return HOLD_SLA
        days = self._inp.sla_days.get(stage.value)
        return timedelta(days=days) if days else DEFAULT_SLA

    def _waiting_for(self) -> tuple[Waiting | None, datetime | None]:
        stage = self._stage
        if stage == Stage.EVIDENCE_REQUESTED and self._s.rfe:
            return Waiting.APPLICANT, self._s.rfe.due_at
        if stage in (Stage.ON_HOLD, Stage.BLOCKED):
            return Waiting.SUPERVISOR, self._s.stage_entered_at + self._sla(stage)
        if stage in (Stage.CLOSED,):
            return None, None
        if stage in (Stage.BIOMETRICS, Stage.INTERVIEW) or (stage == Stage.POST_DECISION and self._s.appointment):
            if self._s.appointment is None:
                return Waiting.SYSTEM, None
            return Waiting.OFFICER, self._s.appointment.starts_at + timedelta(days=1)
        if stage == Stage.REVIEW:
            return Waiting.OFFICER, self._s.stage_entered_at + self._sla(stage)
        return Waiting.SYSTEM, None

    def _describe(self, waiting: Waiting | None, until: datetime | None) -> None:
        """The current details the Temporal Web UI shows (markdown, no personal data): the stage,
        who the case waits for and until when (``_waiting_for``). Not a command: it adds nothing
        to the history."""
        lines = [
            f"**Stage:** {self._stage.value} since {self._s.stage_entered_at:%Y-%m-%d %H:%M} UTC",
            f"**Waiting for:** {waiting.value if waiting else 'nobody (closed)'}",
        ]
        if until is not None:
            lines.append(f"**Until:** {until:%Y-%m-%d %H:%M} UTC" + (" (**overdue**)" if self._s.overdue else ""))
        lines.append(f"**Office:** {self._s.office}")
        lines.append(f"**Assigned officer:** {self._s.assigned if self._s.assigned is not None else 'none'}")
        if self._s.expedite:
            lines.append(f"**Expedite:** {self._s.expedite}")
        workflow.set_current_details("  \n".join(lines))

    # --- run -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        workflow.upsert_search_attributes(
            [sa.RECEIPT_NUMBER.value_set(inp.receipt_number), sa.FORM_TYPE.value_set(inp.form_type)]
        )
        self._describe(*self._waiting_for())
        for email_id in (inp.resume.pending_mail if inp.resume else []):
            self._send_mail(email_id)  # mail the previous run had not delivered yet
        if inp.resume is None:
            async with self._lock:
                await self._transition(Stage.INTAKE, StatusCode.CASE_RECEIVED, tasks=TaskChange(close=[]))
                await self._enter(self._plan_after(Stage.INTAKE))

        while self._stage != Stage.CLOSED:
            await self._step()
            if self._should_continue_as_new():
                await self._continue_as_new()

        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_mail()
        return CaseResult(inp.receipt_number, self._s.decision, self._s.status_code)

    def _should_continue_as_new(self) -> bool:
        if self._stage == Stage.CLOSED:
            return False
        limit = self._inp.transitions_per_run
        return workflow.info().is_continue_as_new_suggested() or bool(
            limit and self._s.seq - self._run_started_seq >= limit
        )

    async def _continue_as_new(self) -> None:
        """Start a fresh history once every handler has finished, carrying the state over."""
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._lock.locked())
        try:  # give mail under way a moment to finish; what is left is sent by the next run
            await workflow.wait_condition(lambda: all(h.done() for h in self._mail.values()), timeout=timedelta(minutes=5))
        except asyncio.TimeoutError:
            pass
        pending = [email_id for email_id, handle in self._mail.items() if not handle.done()]
        for handle in self._mail.values():
            handle.cancel()
        snapshot = replace(self._s, pending_mail=pending, runs=self._s.runs + 1)
        workflow.continue_as_new(replace(self._inp, resume=snapshot))

    async def _step(self) -> None:
        """Do what the system does in the current stage, then wait for something to change."""
        stage = self._stage
        if stage == Stage.INTAKE:
            async with self._lock:
                await self._enter(self._plan_after(Stage.INTAKE))
            return
        if stage == Stage.BLOCKED:
            await self._wait_for_change()
            if self._s.retry_requested and self._stage == Stage.BLOCKED:
                self._s.retry_requested = False
                await self._system_step(self._s.blocked_job or "")
            return
        if stage == Stage.BIOMETRICS and self._s.appointment is None:
            await self._system_step("book:biometrics")
            return
        if stage == Stage.INTERVIEW and self._s.appointment is None:
            await self._system_step("book:interview")
            return
        if stage == Stage.EVIDENCE_REQUESTED and self._s.rfe is not None:
            rfe = self._s.rfe
            remind_at = rfe.due_at - RFE_REMINDER_BEFORE
            # Added while cases were running: histories from before it never reminded.
            if not rfe.reminded and workflow.now() < remind_at and workflow.patched(RFE_REMINDER_PATCH):
                if await self._wait_for_change(timer=remind_at):
                    async with self._lock:
                        if self._stage == Stage.EVIDENCE_REQUESTED and self._s.rfe is rfe and not rfe.reminded:
                            rfe.reminded = True
                            await self._transition(Stage.EVIDENCE_REQUESTED, None, tasks=None, reminder_due=rfe.due_at)
                return
            if await self._wait_for_change(timer=self._s.rfe.due_at):
                async with self._lock:
                    if self._stage == Stage.EVIDENCE_REQUESTED and self._s.rfe and workflow.now() >= self._s.rfe.due_at:
                        await self._rfe_expired()
            return
        if stage == Stage.DECISION:
            async with self._lock:
                if self._s.decision == Decision.APPROVE and self._next_fulfilment():
                    await self._transition(Stage.POST_DECISION, None, tasks=TaskChange())
                else:
                    await self._transition(Stage.CLOSED, None, tasks=TaskChange())
            return
        if stage == Stage.POST_DECISION:
            step = self._next_fulfilment()
            if step is None:
                async with self._lock:
                    await self._transition(Stage.CLOSED, None, tasks=TaskChange())
                return
            if step == "oath":
                if self._s.appointment is None:
                    await self._system_step("book:oath")
                else:
                    await self._wait_for_change()
                return
            await self._system_step(step)
            return
        await self._wait_for_change()

    def _next_fulfilment(self) -> str | None:
        return next((s for s in self._inp.after_approval if s not in self._s.after_approval_done), None)

    async def _wait_for_change(self, *, timer: datetime | None = None) -> bool:
        """Wait until the case changes (seq moves on) or ``timer`` passes. Returns True on the timer.

        The stage's service-level target is a deadline too: past it the case is flagged overdue
        (a column and the CaseOverdue search attribute) and keeps waiting.
        """
        seq = self._s.seq
        while self._s.seq == seq:
            if self._should_continue_as_new():
                return False
            now = workflow.now()
            deadlines = []
            sla_due = self._s.stage_entered_at + self._sla(self._stage)
            if not self._s.overdue and timer is None:  # an RFE's (extendable) due date is its own deadline
                deadlines.append(sla_due)
            if timer is not None:
                deadlines.append(timer)
            if not deadlines:
                await workflow.wait_condition(lambda: self._s.seq != seq or self._should_continue_as_new())
                continue
            remaining = min(deadlines) - now
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._s.seq != seq or self._should_continue_as_new(), timeout=remaining
                    )
                except asyncio.TimeoutError:
                    pass
                continue
            if timer is not None and now >= timer:
                return True
            if not self._s.overdue and now >= sla_due:
                async with self._lock:
                    if self._s.seq == seq:
                        self._s.overdue = True
                        await self._transition(self._stage, None, tasks=None)
                return False
        return False

    # --- system work ---------------------------------------------------------------------

    async def _enter(self, stage: Stage) -> None:
        """Move to ``stage`` (the lock is held). Stages with system work get it from ``_step``."""
        if stage == Stage.REVIEW:
            await self._transition(
                Stage.REVIEW, None, tasks=TaskChange(open_kind=TaskKind.REVIEW, close=OFFICER_TASKS)
            )
        else:
            await self._transition(stage, None, tasks=TaskChange(close=OFFICER_TASKS))

    async def _system_step(self, job: str) -> None:
        """Run one piece of system work; when it fails for good the case waits, blocked, for a supervisor."""
        try:
            if job.startswith("book:"):
                kind = job.split(":", 1)[1]
                booked = await workflow.execute_activity_method(
                    CaseActivities.book_appointment,
                    BookingInput(
                        receipt_number=self._inp.receipt_number,
                        idempotency_key=f"{self._inp.receipt_number}:{kind}:{self._s.seq}",
                        kind=kind,
                        earliest=workflow.now() + NOTICE_LEAD,
                    ),
                    start_to_close_timeout=SYSTEM_TIMEOUT,
                    retry_policy=SYSTEM_RETRY,
                )
                async with self._lock:
                    await self._appointment_booked(kind, booked)
                return
            result = await workflow.execute_activity_method(
                CaseActivities.fulfil,
                FulfilmentInput(receipt_number=self._inp.receipt_number, step=job),
                start_to_close_timeout=SYSTEM_TIMEOUT,
                retry_policy=SYSTEM_RETRY,
            )
            async with self._lock:
                await self._fulfilled(job, result.reference)
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            async with self._lock:
                if self._stage in (Stage.CLOSED, Stage.ON_HOLD, Stage.DECISION):
                    return
                self._s.blocked_job = job
                await self._transition(
                    Stage.BLOCKED,
                    None,
                    tasks=TaskChange(open_kind=TaskKind.BLOCKED, close=[TaskKind.BLOCKED.value]),
                    blocked_activity=job,
                    blocked_error=message[:500],
                )

    async def _appointment_booked(self, kind: str, booked: Appointment) -> None:
        if self._stage in (Stage.CLOSED, Stage.ON_HOLD, Stage.DECISION):
            # Withdrawn, denied (a second no-show) or put on hold while booking: free the slot;
            # resuming books again.
            await self._cancel_appointment(booked, "cancelled")
            return
        self._s.appointment = booked
        self._s.blocked_job = None
        if kind == "biometrics":
            stage, status, task = Stage.BIOMETRICS, StatusCode.BIOMETRICS_SCHEDULED, TaskKind.BIOMETRICS
        elif kind == "interview":
            again = self._s.interview_rescheduled or self._s.interview_failures or self._s.interview_no_shows
            stage, task = Stage.INTERVIEW, TaskKind.INTERVIEW
            status = StatusCode.INTERVIEW_RESCHEDULED if again else StatusCode.INTERVIEW_SCHEDULED
        else:
            stage, status, task = Stage.POST_DECISION, StatusCode.OATH_NOTICE_MAILED, TaskKind.OATH
        await self._transition(
            stage, status,
            tasks=TaskChange(open_kind=task, due_at=booked.starts_at + timedelta(days=1),
                             close=OFFICER_TASKS + [TaskKind.BLOCKED.value]),
        )

    async def _fulfilled(self, step: str, reference: str) -> None:
        self._s.after_approval_done.append(step)
        self._s.blocked_job = None
        status = {
            "card_produced": StatusCode.CARD_PRODUCED,
            "card_mailed": StatusCode.CARD_MAILED,
            "dos": StatusCode.SENT_TO_DOS,
        }[step]
        await self._transition(
            Stage.POST_DECISION, status, tasks=TaskChange(close=[TaskKind.BLOCKED.value]),
            tracking_number=reference if step == "card_mailed" else None,
        )

    async def _cancel_appointment(self, appointment: Appointment | None, status: str) -> None:
        if appointment is None:
            return
        await workflow.execute_activity_method(
            CaseActivities.close_appointment,
            AppointmentChange(appointment_id=appointment.appointment_id, status=status),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PROJECTION_RETRY,
        )

    async def _rfe_expired(self) -> None:
        rfe = self._s.rfe
        assert rfe is not None
        self._s.rfe = None
        self._s.rfe_expired = True
        self._s.assigned = rfe.officer_id
        await self._transition(
            Stage.REVIEW, None,
            tasks=TaskChange(open_kind=TaskKind.REVIEW, close=OFFICER_TASKS),
            note=N_("No response to the request for evidence by its due date: decide the case on the record."),
            evidence_request=EvidenceRequestChange(action="expire"),
        )

    # --- transitions ---------------------------------------------------------------------

    async def _transition(
        self,
        stage: Stage,
        status: StatusCode | None,
        *,
        tasks: TaskChange | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        note: str | None = None,
        reason_code: str | None = None,
        blocked_activity: str | None = None,
        blocked_error: str | None = None,
        tracking_number: str | None = None,
        evidence_request: EvidenceRequestChange | None = None,
        reminder_due: datetime | None = None,
    ) -> ActionResult:
        now = workflow.now()
        if stage != self._stage or self._s.seq == 0:
            self._s.stage_entered_at = now
            self._s.overdue = False
        self._s.stage = stage.value
        if status is not None:
            self._s.status_code = status.value
        self._s.seq += 1
        if tasks is not None and tasks.open_kind and tasks.due_at is None:
            tasks.due_at = now + self._sla(stage)
        waiting, due_at = self._waiting_for()
        workflow.upsert_search_attributes(
            [
                sa.CASE_STAGE.value_set(stage.value),
                sa.STAGE_ENTERED_AT.value_set(self._s.stage_entered_at),
                sa.CASE_OVERDUE.value_set(self._s.overdue),
                sa.SERVICE_CENTER.value_set(self._s.office),
                sa.PRIORITY.value_set(1 if self._s.expedite == "granted" else 0),
                sa.ASSIGNED_OFFICER.value_set(str(self._s.assigned))
                if self._s.assigned is not None
                else sa.ASSIGNED_OFFICER.value_unset(),
            ]
        )
        self._describe(waiting, due_at)
        result = await workflow.execute_activity_method(
            CaseActivities.record_transition,
            TransitionInput(
                receipt_number=self._inp.receipt_number,
                seq=self._s.seq,
                occurred_at=now,
                stage=stage.value,
                stage_entered_at=self._s.stage_entered_at,
                status_code=status.value if status else None,
                actor_id=actor_id,
                note=note,
                assigned_officer_id=self._s.assigned,
                decision=self._s.decision,
                overdue=self._s.overdue,
                tasks=tasks,
                office=self._s.office,
                action=action,
                reason_code=reason_code,
                waiting_for=waiting.value if waiting else None,
                due_at=due_at,
                expedited=self._s.expedite == "granted",
                expedite_status=self._s.expedite,
                held_from_stage=self._s.held_from,
                blocked_activity=blocked_activity,
                blocked_error=blocked_error,
                tracking_number=tracking_number,
                evidence_request=evidence_request,
                reminder_due=reminder_due,
            ),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PROJECTION_RETRY,
        )
        for email_id in result.email_ids:
            self._send_mail(email_id)
        return ActionResult(stage=stage.value, status_code=status.value if status else None, seq=self._s.seq)

    def _send_mail(self, email_id: int) -> None:
        self._mail[email_id] = workflow.start_activity_method(
            MailActivities.deliver_email,
            email_id,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=MAIL_DEADLINE,
            retry_policy=MAIL_RETRY,
        )

    async def _drain_mail(self) -> None:
        """Let every queued mail finish (or give up after its deadline) before the run ends."""
        for handle in self._mail.values():
            try:
                await handle
            except ActivityError:
                workflow.logger.warning("a status email could not be delivered before its deadline")

    # --- checks shared by the validators -------------------------------------------------

    def _role(self, action: Action) -> Role | None:
        try:
            return Role(action.actor_role)
        except ValueError:
            return None

    def _check_officer(self, action: Action) -> None:
        role = self._role(action)
        if role is None or not role.adjudicates:
            raise _refuse(N_("Only an officer can do this."))

    def _check_supervisor(self, action: Action) -> None:
        if self._role(action) != Role.SUPERVISOR:
            raise _refuse(N_("Only a supervisor can do this."))

    def _check_applicant(self, action: Action) -> None:
        parties = (self._inp.applicant_id, self._inp.representative_id)
        if self._role(action) not in (Role.APPLICANT, Role.REPRESENTATIVE) or action.actor_id not in parties:
            raise _refuse(N_("Only the applicant or their representative can do this."))

    def _check_stage(self, *stages: Stage) -> None:
        if self._stage not in stages:
            raise _refuse(N_("This case is not waiting for this action any more. Reload the page to see where it is."))

    def _check_not_someone_elses(self, action: Action) -> None:
        if self._s.assigned is not None and self._s.assigned != action.actor_id:
            raise _refuse(N_("Another officer is already working on this case."))

    def _check_assignee(self, action: Action, message: str) -> None:
        if self._s.assigned != action.actor_id:
            raise _refuse(message)

    def _check_reason(self, text: str | None, missing: str) -> None:
        if not _text(text):
            raise _refuse(missing)
        if len(_text(text)) > MAX_TEXT:
            raise _refuse(N_("The text must be 2,000 characters or fewer."))

    # --- biometrics ----------------------------------------------------------------------

    @workflow.update
    async def record_biometrics(self, action: RecordBiometricsInput) -> ActionResult:
        async with self._lock:
            self.validate_record_biometrics(action)
            appointment, self._s.appointment = self._s.appointment, None
            if action.outcome == "no_show":
                await self._cancel_appointment(appointment, "missed")
                self._s.biometrics_no_shows += 1
                if self._s.biometrics_no_shows >= 2:
                    await self._transition(Stage.BIOMETRICS, StatusCode.NO_SHOW, tasks=TaskChange(), actor_id=action.actor_id, action="biometrics_no_show")
                    return await self._deny_for_abandonment()
                return await self._transition(
                    Stage.BIOMETRICS, StatusCode.NO_SHOW, tasks=TaskChange(close=OFFICER_TASKS),
                    actor_id=action.actor_id, action="biometrics_no_show",
                )
            await self._cancel_appointment(appointment, "attended")
            self._s.biometrics_done = True
            next_stage = self._plan_after(Stage.BIOMETRICS)
            tasks = TaskChange(open_kind=TaskKind.REVIEW if next_stage == Stage.REVIEW else None, close=OFFICER_TASKS)
            return await self._transition(
                next_stage, StatusCode.FINGERPRINTS_TAKEN, tasks=tasks, actor_id=action.actor_id, action="biometrics_taken"
            )

    @record_biometrics.validator
    def validate_record_biometrics(self, action: RecordBiometricsInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.BIOMETRICS)
        if self._s.appointment is None:
            raise _refuse(N_("No biometrics appointment is scheduled yet."))
        if action.outcome not in ("taken", "no_show"):
            raise _refuse(N_("Choose what happened at the appointment."))

    async def _deny_for_abandonment(self) -> ActionResult:
        self._s.decision = Decision.DENY.value
        return await self._transition(
            Stage.DECISION, StatusCode.DENIED, tasks=TaskChange(),
            note=N_("Denied for abandonment: no one appeared at two scheduled appointments."),
            reason_code="abandonment",
        )

    # --- claiming ------------------------------------------------------------------------

    @workflow.update
    async def claim(self, action: ClaimInput) -> ActionResult:
        async with self._lock:
            self.validate_claim(action)
            if self._s.assigned == action.actor_id:
                return self._result()
            self._s.assigned = action.actor_id
            status = None
            if self._stage == Stage.REVIEW and self._s.status_code != StatusCode.ACTIVELY_REVIEWED.value:
                status = StatusCode.ACTIVELY_REVIEWED
            return await self._transition(self._stage, status, tasks=None, actor_id=action.actor_id, action="claim")

    @claim.validator
    def validate_claim(self, action: ClaimInput) -> None:
        self._check_officer(action)
        self._check_stage(*OFFICER_TASK_STAGES)
        if self._stage == Stage.POST_DECISION and self._s.appointment is None:
            raise _refuse(N_("This case is not waiting for this action any more. Reload the page to see where it is."))
        self._check_not_someone_elses(action)

    @workflow.update
    async def release(self, action: ReleaseInput) -> ActionResult:
        async with self._lock:
            self.validate_release(action)
            self._s.assigned = None
            return await self._transition(self._stage, None, tasks=None, actor_id=action.actor_id, action="release")

    @release.validator
    def validate_release(self, action: ReleaseInput) -> None:
        self._check_officer(action)
        if self._stage == Stage.CLOSED:
            raise _refuse(N_("This case is closed."))
        if self._stage == Stage.DECISION or (self._stage == Stage.POST_DECISION and self._s.appointment is None):
            raise _refuse(N_("This case is not waiting for this action any more. Reload the page to see where it is."))
        self._check_assignee(action, N_("Only the officer working on this case can release it."))

    @workflow.update
    async def reassign(self, action: ReassignInput) -> ActionResult:
        async with self._lock:
            self.validate_reassign(action)
            self._s.assigned = action.officer_id
            return await self._transition(
                self._stage, None, tasks=None, actor_id=action.actor_id, action="reassign",
                note=str(action.officer_id),
            )

    @reassign.validator
    def validate_reassign(self, action: ReassignInput) -> None:
        self._check_supervisor(action)
        if self._stage == Stage.CLOSED:
            raise _refuse(N_("This case is closed."))
        if action.officer_id <= 0:
            raise _refuse(N_("Choose the officer to give the case to."))
        if action.officer_id == self._s.assigned:
            raise _refuse(N_("The case is already assigned to this officer."))

    # --- requests for evidence -----------------------------------------------------------

    @workflow.update
    async def request_evidence(self, action: RequestEvidenceInput) -> ActionResult:
        async with self._lock:
            self.validate_request_evidence(action)
            now = workflow.now()
            due = action.due_at or now + timedelta(days=RFE_DEFAULT_DAYS)
            self._s.rfe = EvidenceRequestState(due_at=due, officer_id=action.actor_id)
            return await self._transition(
                Stage.EVIDENCE_REQUESTED, StatusCode.RFE_SENT, tasks=TaskChange(close=OFFICER_TASKS),
                actor_id=action.actor_id, action="request_evidence",
                evidence_request=EvidenceRequestChange(
                    action="open", due_at=due, officer_id=action.actor_id, items=list(action.items),
                    instructions=_text(action.instructions),
                ),
            )

    @request_evidence.validator
    def validate_request_evidence(self, action: RequestEvidenceInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.REVIEW)
        self._check_assignee(action, N_("Claim this case before you request evidence."))
        if not action.items:
            raise _refuse(N_("Choose at least one item of evidence to request."))
        if len(_text(action.instructions)) > MAX_TEXT:
            raise _refuse(N_("The text must be 2,000 characters or fewer."))
        self._check_due_date(action.due_at, earliest=workflow.now())

    def _check_due_date(self, due: datetime | None, *, earliest: datetime) -> None:
        if due is None:
            return
        now = workflow.now()
        if due <= now:
            raise _refuse(N_("The due date must be in the future."))
        if due <= earliest:
            raise _refuse(N_("The new due date must be later than the current one."))
        if due > now + timedelta(days=RFE_MAX_DAYS):
            raise _refuse(N_("The due date must be within a year."))

    @workflow.update
    async def extend_evidence_due_date(self, action: ExtendEvidenceInput) -> ActionResult:
        async with self._lock:
            self.validate_extend_evidence_due_date(action)
            assert self._s.rfe is not None and action.due_at is not None
            self._s.rfe.due_at = action.due_at
            self._s.rfe.reminded = False  # remind again before the new date
            return await self._transition(
                Stage.EVIDENCE_REQUESTED, None, tasks=None, actor_id=action.actor_id, action="extend_evidence",
                evidence_request=EvidenceRequestChange(action="extend", due_at=action.due_at),
            )

    @extend_evidence_due_date.validator
    def validate_extend_evidence_due_date(self, action: ExtendEvidenceInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.EVIDENCE_REQUESTED)
        assert self._s.rfe is not None
        if self._role(action) != Role.SUPERVISOR and self._s.rfe.officer_id != action.actor_id:
            raise _refuse(N_("Only the officer who sent the request, or a supervisor, can change its due date."))
        if action.due_at is None:
            raise _refuse(N_("Enter the new due date."))
        self._check_due_date(action.due_at, earliest=self._s.rfe.due_at)

    @workflow.update
    async def respond_to_evidence_request(self, action: EvidenceResponseInput) -> ActionResult:
        async with self._lock:
            self.validate_respond_to_evidence_request(action)
            rfe = self._s.rfe
            assert rfe is not None
            self._s.rfe = None
            self._s.assigned = rfe.officer_id  # back to the same officer's queue
            return await self._transition(
                Stage.REVIEW, StatusCode.RFE_RESPONSE_RECEIVED,
                tasks=TaskChange(open_kind=TaskKind.REVIEW, close=OFFICER_TASKS),
                actor_id=action.actor_id, action="respond_to_evidence",
                evidence_request=EvidenceRequestChange(
                    action="answer", note=_text(action.note), document_ids=list(action.document_ids)
                ),
            )

    @respond_to_evidence_request.validator
    def validate_respond_to_evidence_request(self, action: EvidenceResponseInput) -> None:
        self._check_applicant(action)
        self._check_stage(Stage.EVIDENCE_REQUESTED)
        if not action.document_ids and not _text(action.note):
            raise _refuse(N_("Upload at least one document or write a note."))
        if len(_text(action.note)) > MAX_TEXT:
            raise _refuse(N_("The text must be 2,000 characters or fewer."))

    # --- interviews ----------------------------------------------------------------------

    @workflow.update
    async def schedule_interview(self, action: ScheduleInterviewInput) -> ActionResult:
        async with self._lock:
            self.validate_schedule_interview(action)
            self._s.interview_wanted = True
            return await self._transition(
                Stage.INTERVIEW, None, tasks=TaskChange(close=OFFICER_TASKS), actor_id=action.actor_id,
                action="schedule_interview",
            )

    @schedule_interview.validator
    def validate_schedule_interview(self, action: ScheduleInterviewInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.REVIEW)
        self._check_assignee(action, N_("Claim this case before you schedule an interview."))
        if self._inp.interview != "on_request":
            raise _refuse(N_("This form does not take an interview on request."))
        if self._s.interview_passed or self._s.interview_wanted:
            raise _refuse(N_("This case already had its interview."))

    @workflow.update
    async def record_interview(self, action: RecordInterviewInput) -> ActionResult:
        async with self._lock:
            self.validate_record_interview(action)
            self._s.assigned = action.actor_id
            appointment, self._s.appointment = self._s.appointment, None
            if action.outcome == "passed":
                await self._cancel_appointment(appointment, "attended")
                self._s.interview_passed = True
                return await self._after_interview(action)
            if action.outcome == "failed":
                await self._cancel_appointment(appointment, "attended")
                self._s.interview_failures += 1
                if self._inp.form_type == "N-400" and self._s.interview_failures == 1:
                    # Naturalization: a failed English or civics test is taken again once.
                    return await self._transition(
                        Stage.INTERVIEW, StatusCode.INTERVIEW_COMPLETED, tasks=TaskChange(close=OFFICER_TASKS),
                        actor_id=action.actor_id, action="interview_failed",
                        note=N_("Failed the English or civics test: a re-test will be scheduled."),
                    )
                return await self._after_interview(action)
            await self._cancel_appointment(appointment, "missed")
            self._s.interview_no_shows += 1
            note = N_("The applicant did not appear. For an asylum application the employment authorization clock stops.") \
                if self._inp.form_type == "I-589" else None
            if self._s.interview_no_shows >= 2:
                await self._transition(Stage.INTERVIEW, StatusCode.NO_SHOW, tasks=TaskChange(), actor_id=action.actor_id,
                                       action="interview_no_show", note=note)
                return await self._deny_for_abandonment()
            return await self._transition(
                Stage.INTERVIEW, StatusCode.NO_SHOW, tasks=TaskChange(close=OFFICER_TASKS), actor_id=action.actor_id,
                action="interview_no_show", note=note,
            )

    async def _after_interview(self, action: RecordInterviewInput) -> ActionResult:
        return await self._transition(
            Stage.REVIEW, StatusCode.INTERVIEW_COMPLETED,
            tasks=TaskChange(open_kind=TaskKind.REVIEW, close=OFFICER_TASKS),
            actor_id=action.actor_id, action=f"interview_{action.outcome}",
        )

    @record_interview.validator
    def validate_record_interview(self, action: RecordInterviewInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.INTERVIEW)
        if self._s.appointment is None:
            raise _refuse(N_("No interview is scheduled yet."))
        self._check_not_someone_elses(action)
        if action.outcome not in ("passed", "failed", "no_show"):
            raise _refuse(N_("Choose the outcome of the interview."))

    # --- appointments the applicant moves ------------------------------------------------

    @workflow.update
    async def reschedule(self, action: RescheduleInput) -> ActionResult:
        async with self._lock:
            self.validate_reschedule(action)
            appointment, self._s.appointment = self._s.appointment, None
            await self._cancel_appointment(appointment, "cancelled")
            if action.kind == "biometrics":
                self._s.biometrics_rescheduled = True
            elif action.kind == "interview":
                self._s.interview_rescheduled = True
            else:
                self._s.oath_rescheduled = True
            return await self._transition(
                self._stage, None, tasks=TaskChange(close=OFFICER_TASKS), actor_id=action.actor_id,
                action=f"reschedule_{action.kind}",
            )

    @reschedule.validator
    def validate_reschedule(self, action: RescheduleInput) -> None:
        self._check_applicant(action)
        appointment = self._s.appointment
        if appointment is None or appointment.kind != action.kind or self._stage not in (
            Stage.BIOMETRICS, Stage.INTERVIEW, Stage.POST_DECISION
        ):
            raise _refuse(N_("There is no appointment of this kind to reschedule."))
        already = {
            "biometrics": self._s.biometrics_rescheduled,
            "interview": self._s.interview_rescheduled,
            "oath": self._s.oath_rescheduled,
        }[action.kind]
        if already:
            raise _refuse(N_("You have already rescheduled this appointment once. Contact us if you cannot attend."))
        if workflow.now() >= appointment.starts_at:
            raise _refuse(N_("The appointment has already started. Contact us."))

    # --- decision and after --------------------------------------------------------------

    @workflow.update
    async def decide(self, action: DecideInput) -> ActionResult:
        async with self._lock:
            self.validate_decide(action)
            self._s.decision = action.decision
            status = StatusCode.APPROVED if action.decision == Decision.APPROVE else StatusCode.DENIED
            return await self._transition(
                Stage.DECISION, status, tasks=TaskChange(), actor_id=action.actor_id, action="decide",
                note=_text(action.reason), reason_code=action.reason_code,
            )

    @decide.validator
    def validate_decide(self, action: DecideInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.REVIEW)
        self._check_assignee(action, N_("Claim this case before you decide it."))
        if action.decision not in (Decision.APPROVE.value, Decision.DENY.value):
            raise _refuse(N_("Choose to approve or deny the case."))
        if action.reason_code not in REASON_CODES[action.decision]:
            raise _refuse(N_("Choose the reason for the decision."))
        self._check_reason(action.reason, N_("Give the reason for the decision."))
        if (
            action.decision == Decision.APPROVE
            and self._inp.interview == "always"
            and not self._s.interview_passed
        ):
            raise _refuse(N_("This case can be approved only after a passed interview."))

    @workflow.update
    async def record_oath(self, action: RecordOathInput) -> ActionResult:
        async with self._lock:
            self.validate_record_oath(action)
            appointment, self._s.appointment = self._s.appointment, None
            if action.outcome == "taken":
                await self._cancel_appointment(appointment, "attended")
                self._s.after_approval_done.append("oath")
                return await self._transition(
                    Stage.POST_DECISION, StatusCode.OATH_TAKEN, tasks=TaskChange(), actor_id=action.actor_id,
                    action="oath_taken",
                )
            await self._cancel_appointment(appointment, "missed")
            self._s.oath_no_shows += 1
            if self._s.oath_no_shows >= 2:
                # The approval stands; the applicant must ask for a new ceremony.
                self._s.after_approval_done.append("oath")
            return await self._transition(
                Stage.POST_DECISION, StatusCode.NO_SHOW, tasks=TaskChange(), actor_id=action.actor_id,
                action="oath_no_show",
            )

    @record_oath.validator
    def validate_record_oath(self, action: RecordOathInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.POST_DECISION)
        if self._s.appointment is None or self._s.appointment.kind != "oath":
            raise _refuse(N_("No oath ceremony is scheduled yet."))
        if action.outcome not in ("taken", "no_show"):
            raise _refuse(N_("Choose what happened at the ceremony."))

    # --- at any time before a decision ---------------------------------------------------

    @workflow.update
    async def withdraw(self, action: WithdrawInput) -> ActionResult:
        async with self._lock:
            self.validate_withdraw(action)
            appointment, self._s.appointment = self._s.appointment, None
            await self._cancel_appointment(appointment, "cancelled")
            self._s.decision = Decision.WITHDRAWN.value
            self._s.rfe = None
            return await self._transition(
                Stage.CLOSED, StatusCode.WITHDRAWAL_ACKNOWLEDGED, tasks=TaskChange(), actor_id=action.actor_id,
                action="withdraw", note=_text(action.reason) or None,
                evidence_request=EvidenceRequestChange(action="expire") if self._stage == Stage.EVIDENCE_REQUESTED else None,
            )

    @withdraw.validator
    def validate_withdraw(self, action: WithdrawInput) -> None:
        self._check_applicant(action)
        if self._stage not in BEFORE_DECISION or self._s.decision is not None:
            raise _refuse(N_("A case can be withdrawn only before its decision."))
        if len(_text(action.reason)) > MAX_TEXT:
            raise _refuse(N_("The text must be 2,000 characters or fewer."))

    @workflow.update
    async def transfer(self, action: TransferInput) -> ActionResult:
        async with self._lock:
            self.validate_transfer(action)
            self._s.office = action.office
            self._s.assigned = None
            return await self._transition(
                self._stage, StatusCode.TRANSFERRED, tasks=None, actor_id=action.actor_id, action="transfer",
                note=_text(action.reason),
            )

    @transfer.validator
    def validate_transfer(self, action: TransferInput) -> None:
        self._check_supervisor(action)
        if self._stage not in BEFORE_DECISION:
            raise _refuse(N_("A case can be transferred only before its decision."))
        office = action.office or ""
        if len(office) != 3 or not office.isalpha() or not office.isupper():
            raise _refuse(N_("Choose the office to transfer the case to."))
        if office == self._s.office:
            raise _refuse(N_("The case is already at this office."))
        self._check_reason(action.reason, N_("Give the reason for the transfer."))

    @workflow.update
    async def hold(self, action: HoldInput) -> ActionResult:
        async with self._lock:
            self.validate_hold(action)
            self._s.held_from = self._s.stage
            self._s.hold_status = self._s.status_code
            return await self._transition(
                Stage.ON_HOLD, StatusCode.ON_HOLD, tasks=TaskChange(close=OFFICER_TASKS), actor_id=action.actor_id,
                action="hold", note=_text(action.reason),
            )

    @hold.validator
    def validate_hold(self, action: HoldInput) -> None:
        self._check_supervisor(action)
        if self._stage not in BEFORE_DECISION or self._stage in (Stage.ON_HOLD, Stage.BLOCKED):
            raise _refuse(N_("This case cannot be put on hold now."))
        self._check_reason(action.reason, N_("Give the reason for the hold."))

    @workflow.update
    async def resume(self, action: ResumeInput) -> ActionResult:
        async with self._lock:
            self.validate_resume(action)
            stage = Stage(self._s.held_from or Stage.REVIEW.value)
            status = StatusCode(self._s.hold_status) if self._s.hold_status else StatusCode.ACTIVELY_REVIEWED
            self._s.held_from = None
            self._s.hold_status = None
            task = STAGE_TASK.get(stage)
            if stage in (Stage.BIOMETRICS, Stage.INTERVIEW) and self._s.appointment is None:
                task = None  # the main loop books the appointment and opens the task
            return await self._transition(
                stage, status, tasks=TaskChange(open_kind=task, close=OFFICER_TASKS), actor_id=action.actor_id,
                action="resume",
            )

    @resume.validator
    def validate_resume(self, action: ResumeInput) -> None:
        self._check_supervisor(action)
        self._check_stage(Stage.ON_HOLD)

    @workflow.update
    async def request_expedite(self, action: ExpediteRequestInput) -> ActionResult:
        async with self._lock:
            self.validate_request_expedite(action)
            self._s.expedite = "requested"
            return await self._transition(
                self._stage, StatusCode.EXPEDITE_RECEIVED,
                tasks=TaskChange(open_kind=TaskKind.EXPEDITE, close=[TaskKind.EXPEDITE.value]),
                actor_id=action.actor_id, action="request_expedite", note=_text(action.reason),
            )

    @request_expedite.validator
    def validate_request_expedite(self, action: ExpediteRequestInput) -> None:
        self._check_applicant(action)
        if self._stage not in BEFORE_DECISION:
            raise _refuse(N_("An expedite can be requested only before the decision."))
        if self._s.expedite is not None:
            raise _refuse(N_("You have already asked for this case to be expedited."))
        self._check_reason(action.reason, N_("Tell us why the case should be expedited."))

    @workflow.update
    async def decide_expedite(self, action: ExpediteDecisionInput) -> ActionResult:
        async with self._lock:
            self.validate_decide_expedite(action)
            self._s.expedite = "granted" if action.grant else "refused"
            status = StatusCode.EXPEDITE_APPROVED if action.grant else StatusCode.EXPEDITE_DENIED
            return await self._transition(
                self._stage, status, tasks=TaskChange(close=[TaskKind.EXPEDITE.value]), actor_id=action.actor_id,
                action="grant_expedite" if action.grant else "refuse_expedite", note=_text(action.reason),
            )

    @decide_expedite.validator
    def validate_decide_expedite(self, action: ExpediteDecisionInput) -> None:
        self._check_supervisor(action)
        if self._s.expedite != "requested":
            raise _refuse(N_("There is no expedite request waiting for a decision."))
        self._check_reason(action.reason, N_("Give the reason for the expedite decision."))

    @workflow.update
    async def retry(self, action: RetryInput) -> ActionResult:
        async with self._lock:
            self.validate_retry(action)
            self._s.retry_requested = True
            return await self._transition(
                Stage.BLOCKED, None, tasks=TaskChange(close=[TaskKind.BLOCKED.value]), actor_id=action.actor_id,
                action="retry", blocked_activity=self._s.blocked_job,
            )

    @retry.validator
    def validate_retry(self, action: RetryInput) -> None:
        self._check_supervisor(action)
        self._check_stage(Stage.BLOCKED)
        if self._s.retry_requested:
            raise _refuse(N_("A retry is already under way."))

    # --- queries -------------------------------------------------------------------------

    def _result(self) -> ActionResult:
        return ActionResult(self._s.stage, None, self._s.seq)

    @workflow.query
    def state(self) -> CaseState:
        return CaseState(
            receipt_number=self._inp.receipt_number,
            stage=self._s.stage,
            status_code=self._s.status_code,
            assigned_officer_id=self._s.assigned,
            decision=self._s.decision,
            overdue=self._s.overdue,
            seq=self._s.seq,
            office=self._s.office,
            expedite=self._s.expedite,
            rfe_due_at=self._s.rfe.due_at if self._s.rfe else None,
            appointment=self._s.appointment,
            runs=self._s.runs,
        )


__all__ = ["CaseWorkflow"]
