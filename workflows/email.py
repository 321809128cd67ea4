"""EmailWorkflow: delivers one account email (verification link, security notice) from the outbox.

Routes never send mail themselves: they write the outbox row and start this workflow, whose
activity retries for a day while the mail server is down.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.mail import MailActivities


@workflow.defn
class EmailWorkflow:
    @workflow.run
    async def run(self, email_id: int) -> bool:
        return await workflow.execute_activity_method(
            MailActivities.deliver_email,
            email_id,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(days=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=10)),
        )
