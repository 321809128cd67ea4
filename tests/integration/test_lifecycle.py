"""A case's whole life on the real dev server, with the real activities, a real SMTP sink and a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from mailsink import read_mailbox
from models.db import session_scope
from models.domain import Role, StatusCode
from models.tables import Appointment, Case, CaseEvent, HumanTask, OutboundEmail, User
from settings import Settings
from tests.helpers import case_input, file_i765, make_user, unique_office, wait_until
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.client import start_case
from workflows.types import ClaimInput, DecideInput, RecordBiometricsInput

BASE_URL = "http://caseline.test"
REASON = "Pending asylum application confirmed."
LIFECYCLE = [
    StatusCode.CASE_RECEIVED,
    StatusCode.BIOMETRICS_SCHEDULED,
    StatusCode.FINGERPRINTS_TAKEN,
    StatusCode.ACTIVELY_REVIEWED,
    StatusCode.APPROVED,
    StatusCode.CARD_PRODUCED,
    StatusCode.CARD_MAILED,
]


@dataclass
class Filed:
    client: Client
    database_url: str
    maildir: Path
    applicant: User
    officer: User
    handle: WorkflowHandle

    @property
    def receipt(self) -> str:
        return self.handle.id

    def officer_action(self, cls, **kw):
        return cls(actor_id=self.officer.id, actor_role=self.officer.role.value, **kw)

    def open_task(self, kind: str) -> HumanTask | None:
        with session_scope(self.database_url) as session:
            return session.exec(
                select(HumanTask).where(
                    HumanTask.receipt_number == self.receipt, HumanTask.kind == kind, HumanTask.status == "open"
                )
            ).first()

    async def record_biometrics(self) -> None:
        # The officer acts once the task is in the queue (the database), as on the web.
        await wait_until(lambda: self.open_task("biometrics"), what="the biometrics task")
        await self.handle.execute_update(
            CaseWorkflow.record_biometrics, self.officer_action(RecordBiometricsInput), id=f"{self.receipt}-bio"
        )


@pytest.fixture
async def filed(
    request: pytest.FixtureRequest, dev_server_env, database_url: str, smtp_sink: tuple[int, Path], tmp_path: Path
) -> AsyncIterator[Filed]:
    """A worker built like worker.py against this database and SMTP sink, and one filed I-765
    case (category c8, so with biometrics) started on it. The applicant's language is "en", or
    the parameter given with ``@pytest.mark.parametrize("filed", ["es"], indirect=True)``."""
    port, maildir = smtp_sink
    settings = Settings(
        _env_file=None,
        env="test",
        data_dir=tmp_path,
        DATABASE_URL=database_url,
        base_url=BASE_URL,
        smtp_host="127.0.0.1",
        smtp_port=port,
        temporal_task_queue=f"cases-{uuid.uuid4()}",
    )
    client = dev_server_env.client
    with session_scope(database_url) as session:
        applicant = make_user(session, "applicant", language=getattr(request, "param", "en"))
        officer = make_user(session, "officer", role=Role.OFFICER)
        filing = file_i765(session, applicant_id=applicant.id, office=unique_office(), category="c8")
    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
        async with build_worker(client, settings, executor):
            inp = case_input(filing.receipt_number, category="c8", applicant_id=applicant.id, office=filing.office,
                             filed_at=filing.filed_at)
            handle = await start_case(client, inp, task_queue=settings.temporal_task_queue)
            try:
                yield Filed(client, database_url, maildir, applicant, officer, handle)
            finally:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")


async def test_a_case_from_filing_to_approval(filed: Filed) -> None:
    handle, receipt = filed.handle, filed.receipt

    await filed.record_biometrics()
    await handle.execute_update(CaseWorkflow.claim, filed.officer_action(ClaimInput), id=f"{receipt}-claim")
    await handle.execute_update(
        CaseWorkflow.decide,
        filed.officer_action(DecideInput, decision="approve", reason=REASON, reason_code="eligible"),
        id=f"{receipt}-dec",
    )
    result = await handle.result()
    assert (result.receipt_number, result.decision, result.final_status) == (receipt, "approve", "card_mailed")

    with session_scope(filed.database_url) as session:
        case = session.get(Case, receipt)
        assert case is not None
        assert (case.stage, case.status_code, case.decision, case.decision_reason, case.decision_reason_code) == (
            "closed", "card_mailed", "approve", REASON, "eligible"
        )
        # intake, biometrics, booked, taken, claimed, approved, after the decision, produced, mailed, closed
        assert (case.applicant_id, case.assigned_officer_id, case.last_seq) == (
            filed.applicant.id, filed.officer.id, 10
        )
        assert case.tracking_number is not None and case.tracking_number.startswith("9400")
        # The biometrics appointment was booked at the support center serving the ZIP code, and kept.
        [appointment] = session.exec(select(Appointment).where(Appointment.receipt_number == receipt)).all()
        assert (appointment.kind, appointment.office, appointment.status) == ("biometrics", "ACH", "attended")
        events = session.exec(
            select(CaseEvent).where(CaseEvent.receipt_number == receipt).order_by(CaseEvent.seq)
        ).all()
        # Steps without a public status (entering biometrics, the move after the decision) are not events.
        assert [(e.seq, e.status_code) for e in events] == list(zip([1, 3, 4, 5, 6, 8, 9], LIFECYCLE, strict=True))
        assert [e.actor_id for e in events] == [None, None, *[filed.officer.id] * 3, None, None]
        tasks = session.exec(select(HumanTask).where(HumanTask.receipt_number == receipt)).all()
        assert sorted((t.kind, t.status) for t in tasks) == [("biometrics", "done"), ("review", "done")]
        emails = session.exec(
            select(OutboundEmail).where(OutboundEmail.receipt_number == receipt).order_by(OutboundEmail.id)
        ).all()
        assert [(e.status, e.attempts, e.to_address) for e in emails] == [("sent", 1, filed.applicant.email)] * 7
        assert all(e.sent_at is not None and e.last_error is None for e in emails)

    mails = read_mailbox(filed.maildir)
    expected = [f"Your case {receipt}: {status.text.title}" for status in LIFECYCLE]
    assert sorted(m.subject for m in mails) == sorted(expected)
    assert len(mails) == 7
    for mail in mails:
        assert mail.to == filed.applicant.email
        assert f"{BASE_URL}/cases/{receipt}" in mail.body
        assert filed.applicant.full_name not in mail.body  # status mails carry no personal data
    assert len({m.message_id for m in mails}) == 7


async def test_a_case_waiting_in_review_is_found_by_visibility(filed: Filed) -> None:
    await filed.record_biometrics()
    query = f'CaseStage="review" AND ReceiptNumber="{filed.receipt}" AND FormType="I-765"'

    async def found() -> list[str]:
        return [wf.id async for wf in filed.client.list_workflows(query)]

    assert await wait_until(found, timeout=10, interval=0.2, what="the case in the visibility store") == [
        filed.receipt
    ]
    # The record was updated, not added to: the case is no longer listed under biometrics.
    stale = f'CaseStage="biometrics" AND ReceiptNumber="{filed.receipt}"'
    assert [wf.id async for wf in filed.client.list_workflows(stale)] == []


@pytest.mark.parametrize("filed", ["es"], indirect=True)
async def test_a_spanish_speaking_applicant_gets_mail_in_spanish(filed: Filed) -> None:
    await filed.record_biometrics()

    def three_mails():
        mails = read_mailbox(filed.maildir)
        return mails if len(mails) == 3 else None

    mails = await wait_until(three_mails, timeout=15, what="three mails in the sink")
    subjects = sorted(m.subject for m in mails)
    assert subjects == sorted(
        f"Su caso {filed.receipt}: {title}"
        for title in (
            "Se recibió el caso",
            "Se programó la cita de servicios biométricos",
            "Se actualizó el caso para mostrar que se tomaron las huellas dactilares",
        )
    )
    assert all(m.language == "es" for m in mails)
    assert all("Your case" not in m.body and filed.receipt in m.body for m in mails)
