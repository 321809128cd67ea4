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
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.api.sdk.v1 import WorkflowMetadata
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
from workflows.codec import ENCODING
from workflows.types import ClaimInput, DecideInput, ExpediteRequestInput, RecordBiometricsInput

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


def payloads_in(message) -> list[Payload]:
    """Every Payload anywhere inside a protobuf message (a history and its events), except search
    attributes: the server indexes those, so they stay readable (and hold no personal data)."""
    found: list[Payload] = []
    for descriptor, value in message.ListFields():
        if descriptor.type != descriptor.TYPE_MESSAGE or descriptor.name == "search_attributes":
            continue
        is_map = descriptor.message_type.GetOptions().map_entry
        items = value.values() if is_map else value if descriptor.is_repeated else [value]
        for item in items:
            if isinstance(item, Payload):
                found.append(item)
            elif hasattr(item, "ListFields"):
                found.extend(payloads_in(item))
    return found


async def test_the_stored_history_holds_no_plain_personal_data(filed: Filed) -> None:
    """What people type travels in update payloads (an expedite reason, a decision's explanation);
    what the server stores is encrypted, and only a client with the key reads it back."""
    personal = ("Thị Ngọc Nguyễn-Müller", "1990-04-27", "12 Oak Street, Columbus")
    text = "Applicant {} (born {}) of {} asks for speed.".format(*personal)
    receipt = filed.receipt
    applicant = ExpediteRequestInput(actor_id=filed.applicant.id, actor_role="applicant", reason=text)
    await filed.handle.execute_update(CaseWorkflow.request_expedite, applicant, id=f"{receipt}-exp")
    await filed.record_biometrics()
    await filed.handle.execute_update(CaseWorkflow.claim, filed.officer_action(ClaimInput), id=f"{receipt}-claim")
    await filed.handle.execute_update(
        CaseWorkflow.decide, filed.officer_action(DecideInput, decision="deny", reason=text, reason_code="ineligible"),
        id=f"{receipt}-dec",
    )
    await filed.handle.result()

    # The server's copy, read by a client without the codec: every payload is encrypted.
    plain_client = Client(filed.client.service_client, namespace=filed.client.namespace)
    history = await plain_client.get_workflow_handle(receipt).fetch_history()
    raw = History(events=history.events).SerializeToString()
    for value in personal:
        assert value.encode() not in raw, value
    payloads = payloads_in(History(events=history.events))
    assert len(payloads) > 20
    assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
    # With the key, the same history gives the text back: the check above can fail.
    decoded = await filed.client.data_converter.payload_codec.decode(payloads)
    assert sum(text.encode() in p.data for p in decoded) >= 2


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
    # What the Web UI shows of the case: its summary, and the current details in markdown.
    description = await filed.handle.describe()
    assert await description.static_summary() == f"I-765 · {filed.receipt}"
    metadata = await filed.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = metadata.current_details
    assert "**Stage:** review since " in details and "**Waiting for:** officer" in details
    assert "**Until:** " in details and "**Assigned officer:** none" in details
    assert filed.applicant.full_name not in details


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
