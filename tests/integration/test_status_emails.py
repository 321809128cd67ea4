"""Status emails to the applicant and the people who follow the case, through the worker built by
worker.py on the real dev server, a real SMTP sink and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import mailbox
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from pathlib import Path

from sqlmodel import func, select
from temporalio.client import WorkflowExecutionStatus

from models.db import session_scope
from models.domain import Role
from models.email_prefs import DAILY
from models.tables import DigestItem, HumanTask, OutboundEmail, WatchedCase
from settings import Settings
from tests.helpers import case_input, file_i765, make_user, unique_office, wait_until
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.client import start_case
from workflows.types import RecordBiometricsInput

BASE_URL = "http://caseline.test"


def messages(maildir: Path) -> list:
    if not maildir.exists():
        return []
    box = mailbox.Maildir(str(maildir), create=False)
    return [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.keys()]


async def test_the_applicant_and_each_opted_in_follower_get_each_change_once(
    dev_server_env, database_url: str, smtp_sink: tuple[int, Path], tmp_path: Path
) -> None:
    port, maildir = smtp_sink
    settings = Settings(_env_file=None, env="test", data_dir=tmp_path, DATABASE_URL=database_url, base_url=BASE_URL,
                        smtp_host="127.0.0.1", smtp_port=port, temporal_task_queue=f"cases-{uuid.uuid4()}")
    client = dev_server_env.client
    with session_scope(database_url) as db:
        applicant = make_user(db, "applicant")
        officer = make_user(db, "officer", role=Role.OFFICER)
        follower = make_user(db, "follower", language="es")
        quiet = make_user(db, "quiet")
        daily = make_user(db, "daily")
        daily.case_email_frequency = DAILY
        filing = file_i765(db, applicant_id=applicant.id, office=unique_office(), category="c8")
        receipt = filing.receipt_number
        for person, notify in ((follower, True), (quiet, False), (daily, True)):
            db.add(WatchedCase(user_id=person.id, receipt_number=receipt, notify=notify))

    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="activity") as executor:
        async with build_worker(client, settings, executor):
            handle = await start_case(client, case_input(receipt, category="c8", applicant_id=applicant.id,
                                                         office=filing.office, filed_at=filing.filed_at),
                                      task_queue=settings.temporal_task_queue)
            try:
                def biometrics_task():
                    with session_scope(database_url) as db:
                        return db.exec(select(HumanTask).where(HumanTask.receipt_number == receipt,
                                                               HumanTask.kind == "biometrics")).first()

                await wait_until(biometrics_task, timeout=15, what="the biometrics task")
                await handle.execute_update(
                    CaseWorkflow.record_biometrics,
                    RecordBiometricsInput(actor_id=officer.id, actor_role=officer.role.value), id=f"{receipt}-bio",
                )
                # Received, biometrics scheduled, fingerprints taken: three changes, two people each.
                await wait_until(lambda: len(messages(maildir)) >= 6, timeout=20, what="six mails in the sink")
            finally:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")

    mails = messages(maildir)
    assert len(mails) == 6 and len({m["Message-ID"] for m in mails}) == 6
    to_applicant = [m for m in mails if m["To"] == applicant.email]
    to_follower = [m for m in mails if m["To"] == follower.email]
    assert len(to_applicant) == 3 and len(to_follower) == 3
    # (a long subject is folded by the mail stack; mailsink.read_mailbox strips it the same way)
    assert all(str(m["Subject"]).strip().startswith(f"Your case {receipt}: ") for m in to_applicant)
    assert all(str(m["Subject"]).strip().startswith(f"Caso {receipt}: ") for m in to_follower)
    assert all(m["Content-Language"] == "es" for m in to_follower)
    for message in mails:
        body = message.get_body(preferencelist=("plain",)).get_content()
        assert applicant.full_name not in body and follower.full_name not in body
        assert message["List-Unsubscribe"].startswith(f"<{BASE_URL}/email/unsubscribe?token=v1.")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        if message["To"] == follower.email:
            assert "/documents/" not in body and f"{BASE_URL}/status?receipt_number={receipt}" in body
    with session_scope(database_url) as db:
        rows = db.exec(select(OutboundEmail).where(OutboundEmail.receipt_number == receipt)).all()
        assert sorted((r.to_address, r.status, r.attempts) for r in rows) == sorted(
            [(applicant.email, "sent", 1)] * 3 + [(follower.email, "sent", 1)] * 3
        )
        items = db.exec(select(func.count()).select_from(DigestItem).where(DigestItem.user_id == daily.id)).one()
        assert items == 3
