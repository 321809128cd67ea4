"""CaseWorkflow: one filed case, from receipt to decision. Workflow id = receipt number.

The workflow is the source of truth for where a case is. Every change of stage or public status
goes through ``_transition``: it upserts the search attributes and has an activity write the
database projection (case row, timeline, queue tasks, outbox) idempotently, keyed by ``seq``.
Mail is delivered by activities started in the background, so a mail server that is down delays
a mail but never stalls the case.

Officer actions are Workflow Updates. Their validators refuse a wrong stage, a wrong role or a
missing reason before anything is written to history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from activities.mail import MailActivities
    from activities.types import TaskChange, TransitionInput
    from i18n import N_
    from models.domain import Decision, Role, Stage, StatusCode
    from workflows import search_attributes as sa
    from workflows.types import (
        INVALID_ACTION,
        REASON_MAX_LENGTH,
        ActionResult,
        CaseInput,
        CaseResult,
        CaseState,
        ClaimInput,
        DecideInput,
        OfficerAction,
        RecordBiometricsInput,
    )

PROJECTION_TIMEOUT = timedelta(seconds=30)
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)
MAIL_DEADLINE = timedelta(days=3)
DEFAULT_SLA = timedelta(days=30)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_ACTION, non_retryable=True)


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._inp = inp
        self._stage = Stage.INTAKE
        self._status: StatusCode | None = None
        self._seq = 0
        self._assigned: int | None = None
        self._decision: str | None = None
        self._overdue = False
        self._stage_entered_at = inp.filed_at
        self._lock = asyncio.Lock()
        self._mail: list[asyncio.Future] = []

    # --- run -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        workflow.upsert_search_attributes(
            [sa.RECEIPT_NUMBER.value_set(inp.receipt_number), sa.FORM_TYPE.value_set(inp.form_type)]
        )
        # Every transition holds the lock: an officer's update arriving meanwhile waits, so the
        # projection is written in sequence order.
        async with self._lock:
            await self._transition(Stage.INTAKE, StatusCode.CASE_RECEIVED)
            if Stage.BIOMETRICS.value in inp.plan:
                await self._transition(
                    Stage.BIOMETRICS, StatusCode.BIOMETRICS_SCHEDULED, tasks=TaskChange(open_kind="biometrics")
                )
            else:
                await self._transition(Stage.REVIEW, None, tasks=TaskChange(open_kind="review"))
        if self._stage == Stage.BIOMETRICS:
            await self._wait_for_people(lambda: self._stage != Stage.BIOMETRICS)

        await self._wait_for_people(lambda: self._decision is not None)

        async with self._lock:
            await self._transition(Stage.CLOSED, None, tasks=TaskChange(close_open=True))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_mail()
        return CaseResult(inp.receipt_number, self._decision, self._status.value if self._status else None)

    async def _wait_for_people(self, done) -> None:
        """Wait for a person with the current stage's service-level target as deadline.

        Past the target the case is flagged overdue (a column and the CaseOverdue search
        attribute) and keeps waiting: a late officer still decides the case.
        """
        while not done():
            stage = self._stage
            deadline = self._stage_entered_at + self._sla(stage)
            remaining = deadline - workflow.now()
            if self._overdue or remaining <= timedelta(0):
                if not self._overdue:
                    async with self._lock:
                        self._overdue = True
                        await self._transition(self._stage, None, tasks=None)
                await workflow.wait_condition(lambda: done() or self._stage != stage)
                continue
            try:
                await workflow.wait_condition(lambda: done() or self._stage != stage, timeout=remaining)
            except asyncio.TimeoutError:
                pass

    def _sla(self, stage: Stage) -> timedelta:
        days = self._inp.sla_days.get(stage.value)
        return timedelta(days=days) if days else DEFAULT_SLA

    # --- transitions ---------------------------------------------------------------------

    async def _transition(
        self,
        stage: Stage,
        status: StatusCode | None,
        *,
        tasks: TaskChange | None = None,
        actor_id: int | None = None,
        note: str | None = None,
    ) -> ActionResult:
        now = workflow.now()
        if stage != self._stage or self._seq == 0:
            self._stage_entered_at = now
            self._overdue = False
        self._stage = stage
        if status is not None:
            self._status = status
        self._seq += 1
        if tasks is not None and tasks.open_kind:
            tasks.due_at = now + self._sla(stage)
        workflow.upsert_search_attributes(
            [
                sa.CASE_STAGE.value_set(stage.value),
                sa.STAGE_ENTERED_AT.value_set(self._stage_entered_at),
                sa.CASE_OVERDUE.value_set(self._overdue),
                sa.ASSIGNED_OFFICER.value_set(str(self._assigned))
                if self._assigned is not None
                else sa.ASSIGNED_OFFICER.value_unset(),
            ]
        )
        result = await workflow.execute_activity_method(
            CaseActivities.record_transition,
            TransitionInput(
                receipt_number=self._inp.receipt_number,
                seq=self._seq,
                occurred_at=now,
                stage=stage.value,
                stage_entered_at=self._stage_entered_at,
                status_code=status.value if status else None,
                actor_id=actor_id,
                note=note,
                assigned_officer_id=self._assigned,
                decision=self._decision,
                overdue=self._overdue,
                tasks=tasks,
            ),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PROJECTION_RETRY,
        )
        for email_id in result.email_ids:
            self._mail.append(
                workflow.start_activity_method(
                    MailActivities.deliver_email,
                    email_id,
                    start_to_close_timeout=timedelta(seconds=60),
                    schedule_to_close_timeout=MAIL_DEADLINE,
                    retry_policy=MAIL_RETRY,
                )
            )
        return ActionResult(stage=stage.value, status_code=status.value if status else None, seq=self._seq)

    async def _drain_mail(self) -> None:
        """Let every queued mail finish (or give up after its deadline) before the run ends."""
        for handle in self._mail:
            try:
                await handle
            except ActivityError:
                workflow.logger.warning("a status email could not be delivered before its deadline")

    # --- officer actions -----------------------------------------------------------------

    def _check_officer(self, action: OfficerAction) -> None:
        try:
            role = Role(action.actor_role)
        except ValueError:
            raise _refuse(N_("Only an officer can do this.")) from None
        if not role.adjudicates:
            raise _refuse(N_("Only an officer can do this."))

    def _check_stage(self, *stages: Stage) -> None:
        if self._stage not in stages:
            raise _refuse(N_("This case is not waiting for this action any more. Reload the page to see where it is."))

    @workflow.update
    async def record_biometrics(self, action: RecordBiometricsInput) -> ActionResult:
        async with self._lock:
            self.validate_record_biometrics(action)
            return await self._transition(
                Stage.REVIEW,
                StatusCode.FINGERPRINTS_TAKEN,
                tasks=TaskChange(open_kind="review"),
                actor_id=action.actor_id,
            )

    @record_biometrics.validator
    def validate_record_biometrics(self, action: RecordBiometricsInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.BIOMETRICS)

    @workflow.update
    async def claim(self, action: ClaimInput) -> ActionResult:
        async with self._lock:
            self.validate_claim(action)
            if self._assigned == action.actor_id:
                return ActionResult(self._stage.value, None, self._seq)
            self._assigned = action.actor_id
            return await self._transition(
                Stage.REVIEW, StatusCode.ACTIVELY_REVIEWED, tasks=TaskChange(close_open=False), actor_id=action.actor_id
            )

    @claim.validator
    def validate_claim(self, action: ClaimInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.REVIEW)
        if self._assigned is not None and self._assigned != action.actor_id:
            raise _refuse(N_("Another officer is already working on this case."))

    @workflow.update
    async def decide(self, action: DecideInput) -> ActionResult:
        async with self._lock:
            self.validate_decide(action)
            self._decision = action.decision
            status = StatusCode.APPROVED if action.decision == Decision.APPROVE else StatusCode.DENIED
            return await self._transition(
                Stage.DECISION,
                status,
                tasks=TaskChange(close_open=True),
                actor_id=action.actor_id,
                note=action.reason.strip(),
            )

    @decide.validator
    def validate_decide(self, action: DecideInput) -> None:
        self._check_officer(action)
        self._check_stage(Stage.REVIEW)
        if self._assigned != action.actor_id:
            raise _refuse(N_("Claim this case before you decide it."))
        if action.decision not in (Decision.APPROVE.value, Decision.DENY.value):
            raise _refuse(N_("Choose to approve or deny the case."))
        reason = (action.reason or "").strip()
        if not reason:
            raise _refuse(N_("Give the reason for the decision."))
        if len(reason) > REASON_MAX_LENGTH:
            raise _refuse(N_("The reason must be 2,000 characters or fewer."))

    # --- queries -------------------------------------------------------------------------

    @workflow.query
    def state(self) -> CaseState:
        return CaseState(
            receipt_number=self._inp.receipt_number,
            stage=self._stage.value,
            status_code=self._status.value if self._status else None,
            assigned_officer_id=self._assigned,
            decision=self._decision,
            overdue=self._overdue,
            seq=self._seq,
        )
