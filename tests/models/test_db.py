"""Database services on SQLite and PostgreSQL: receipt numbers, accounts, the case projection."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from models.accounts import authenticate, create_user
from models.db import session_scope
from models.domain import Role, Stage, StatusCode
from models.projection import FilingMissing, RenderedEmail, apply_transition
from models.receipts import issue_receipt_number
from models.tables import Case, CaseEvent, EvidenceRequest, HumanTask, OutboundEmail
from tests.helpers import FILED_AT, PASSWORD, file_i765, make_user

T0 = FILED_AT + timedelta(minutes=1)


def render(language: str, status: StatusCode, receipt_number: str) -> RenderedEmail:
    return RenderedEmail(subject=f"[{language}] {receipt_number}: {status.value}", body_text=f"body {status.value}")


def transition(url: str, receipt_number: str, seq: int, stage: str, status: str | None = None, **kw: Any):
    """Apply one transition in its own transaction, as the record_transition activity does."""
    args: dict[str, Any] = dict(
        receipt_number=receipt_number,
        seq=seq,
        occurred_at=T0 + timedelta(hours=seq),
        stage=stage,
        stage_entered_at=T0 + timedelta(hours=seq),
        status_code=status,
        actor_id=None,
        note=None,
        assigned_officer_id=None,
        decision=None,
        overdue=False,
        open_task=None,
        task_due_at=None,
        close_task_kinds=[],
        render_email=render,
    )
    args.update(kw)
    with session_scope(url) as session:
        return apply_transition(session, **args)


def count(url: str, table: type) -> int:
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def tasks(url: str, receipt_number: str) -> list[HumanTask]:
    with session_scope(url) as session:
        return list(
            session.exec(select(HumanTask).where(HumanTask.receipt_number == receipt_number).order_by(HumanTask.id))
        )


@pytest.fixture
def filed(database_url: str) -> dict[str, Any]:
    """An applicant (Spanish-speaking), an officer and one I-765 filing."""
    with session_scope(database_url) as session:
        applicant = make_user(session, "applicant", language="es")
        officer = make_user(session, "officer", role=Role.OFFICER)
        filing = file_i765(session, applicant_id=applicant.id, office="IOE")
        return {"url": database_url, "applicant": applicant, "officer": officer, "filing": filing,
                "receipt": filing.receipt_number}


# --- receipt numbers ------------------------------------------------------------------------


def test_issue_receipt_number_is_consecutive_per_office_and_day(database_url: str) -> None:
    with session_scope(database_url) as session:
        first = issue_receipt_number(session, office="IOE", now=FILED_AT)
        second = issue_receipt_number(session, office="IOE", now=FILED_AT + timedelta(hours=3))
    with session_scope(database_url) as session:
        third = issue_receipt_number(session, office="IOE", now=FILED_AT)
        other_office = issue_receipt_number(session, office="EAC", now=FILED_AT)
        next_day = issue_receipt_number(session, office="IOE", now=FILED_AT + timedelta(days=1))
    # FILED_AT is Monday 5 October 2026: FY27, workday 003.
    assert [first, second, third] == ["IOE2700300001", "IOE2700300002", "IOE2700300003"]
    assert other_office == "EAC2700300001"
    assert next_day == "IOE2700400001"


def test_a_rolled_back_issue_does_not_consume_the_number(database_url: str) -> None:
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        issue_receipt_number(session, office="IOE", now=FILED_AT)
        raise RuntimeError("filing failed")
    with session_scope(database_url) as session:
        assert issue_receipt_number(session, office="IOE", now=FILED_AT) == "IOE2700300001"


def test_concurrent_issuers_never_get_the_same_number(database_url: str) -> None:
    issuers = 20
    barrier = threading.Barrier(issuers)

    def issue(_: int) -> str:
        barrier.wait(timeout=30)
        with session_scope(database_url) as session:
            return issue_receipt_number(session, office="IOE", now=FILED_AT)

    with ThreadPoolExecutor(max_workers=issuers) as pool:
        numbers = list(pool.map(issue, range(issuers)))

    assert sorted(numbers) == [f"IOE27003{n:05d}" for n in range(1, issuers + 1)]


# --- accounts -------------------------------------------------------------------------------


def test_create_user_stores_an_argon2id_hash_and_a_normalised_email(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = create_user(
            session, email="  Ana.Rivera@Example.COM ", password=PASSWORD, full_name=" Ana Rivera ", language="es"
        )
        assert user.id is not None
    assert user.email == "ana.rivera@example.com"
    assert user.full_name == "Ana Rivera"
    assert user.role == Role.APPLICANT
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_authenticate(database_url: str) -> None:
    with session_scope(database_url) as session:
        user_id = create_user(session, email="ana@example.com", password=PASSWORD, full_name="Ana").id
    with session_scope(database_url) as session:
        found = authenticate(session, email="ana@example.com", password=PASSWORD)
        assert found is not None and found.id == user_id
        assert authenticate(session, email="  ANA@Example.com", password=PASSWORD).id == user_id
        assert authenticate(session, email="ana@example.com", password=PASSWORD + "!") is None
        assert authenticate(session, email="ana@example.com", password="") is None
        assert authenticate(session, email="nobody@example.com", password=PASSWORD) is None


def test_create_user_refuses_short_passwords_and_duplicate_emails(database_url: str) -> None:
    with pytest.raises(ValueError), session_scope(database_url) as session:
        create_user(session, email="short@example.com", password="x" * 11, full_name="Short")
    with session_scope(database_url) as session:
        create_user(session, email="ana@example.com", password=PASSWORD, full_name="Ana")
    with pytest.raises(IntegrityError), session_scope(database_url) as session:
        create_user(session, email="ANA@example.com", password=PASSWORD, full_name="Ana again")


# --- the case projection --------------------------------------------------------------------


def test_first_transition_creates_the_case_from_the_filing(filed: dict[str, Any]) -> None:
    url, receipt, filing, applicant = filed["url"], filed["receipt"], filed["filing"], filed["applicant"]

    applied, email_ids = transition(url, receipt, 1, "intake", "case_received")

    assert applied is True and len(email_ids) == 1
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert case is not None
        assert (case.form_type, case.office, case.applicant_id) == ("I-765", "IOE", applicant.id)
        assert case.filed_at == filing.filed_at
        assert (case.stage, case.status_code, case.last_seq) == (Stage.INTAKE, StatusCode.CASE_RECEIVED, 1)
        assert case.status_changed_at == T0 + timedelta(hours=1)
        events = session.exec(select(CaseEvent)).all()
        assert [(e.receipt_number, e.seq, e.status_code) for e in events] == [(receipt, 1, "case_received")]
        email = session.get(OutboundEmail, email_ids[0])
        assert email is not None
        assert email.to_address == applicant.email
        assert email.language == "es"
        assert email.subject == f"[es] {receipt}: case_received"
        assert email.status == "pending"
        assert email.idempotency_key == f"status:{receipt}:1:{applicant.id}"


def test_a_transition_without_a_status_writes_no_event_and_no_mail(filed: dict[str, Any]) -> None:
    url, receipt = filed["url"], filed["receipt"]
    transition(url, receipt, 1, "intake", "case_received")

    applied, email_ids = transition(url, receipt, 2, "review", None, open_task="review")

    assert (applied, email_ids) == (True, [])
    assert count(url, CaseEvent) == 1
    assert count(url, OutboundEmail) == 1
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert (case.stage, case.status_code, case.last_seq) == (Stage.REVIEW, StatusCode.CASE_RECEIVED, 2)
        assert case.status_changed_at == T0 + timedelta(hours=1)  # unchanged: no public status change
        assert case.stage_entered_at == T0 + timedelta(hours=2)


def test_transitions_open_assign_and_close_human_tasks(filed: dict[str, Any]) -> None:
    url, receipt, officer = filed["url"], filed["receipt"], filed["officer"]
    due = T0 + timedelta(days=45)
    transition(url, receipt, 1, "intake", "case_received")
    transition(url, receipt, 2, "biometrics", "biometrics_scheduled", open_task="biometrics", task_due_at=due)

    [bio] = tasks(url, receipt)
    assert (bio.kind, bio.status, bio.task_key, bio.due_at) == ("biometrics", "open", f"{receipt}:biometrics:2", due)
    assert (bio.form_type, bio.office, bio.assigned_officer_id) == ("I-765", "IOE", None)

    transition(url, receipt, 3, "review", "fingerprints_taken", actor_id=officer.id, open_task="review",
               close_task_kinds=["*"])
    bio, review = tasks(url, receipt)
    assert (bio.status, bio.closed_at) == ("done", T0 + timedelta(hours=3))
    assert (review.kind, review.status, review.closed_at) == ("review", "open", None)
    assert review.due_at == T0 + timedelta(hours=3)  # no due date given: due at once

    transition(url, receipt, 4, "review", "actively_reviewed", actor_id=officer.id,
               assigned_officer_id=officer.id, close_task_kinds=[])
    bio, review = tasks(url, receipt)
    assert (review.status, review.assigned_officer_id) == ("open", officer.id)
    assert bio.assigned_officer_id is None  # closed tasks keep who had them

    transition(url, receipt, 5, "decision", "approved", actor_id=officer.id, assigned_officer_id=officer.id,
               decision="approve", note="Eligible under (c)(8).", close_task_kinds=["*"])
    assert [t.status for t in tasks(url, receipt)] == ["done", "done"]
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert (case.decision, case.decision_reason, case.status_code) == ("approve", "Eligible under (c)(8).",
                                                                           StatusCode.APPROVED)
        assert case.assigned_officer_id == officer.id
        events = session.exec(select(CaseEvent).order_by(CaseEvent.seq)).all()
        assert [e.status_code for e in events] == [
            "case_received", "biometrics_scheduled", "fingerprints_taken", "actively_reviewed", "approved"
        ]
        assert events[-1].actor_id == officer.id and events[-1].note == "Eligible under (c)(8)."


def test_applying_the_same_transition_twice_writes_nothing_new(filed: dict[str, Any]) -> None:
    url, receipt = filed["url"], filed["receipt"]
    first = transition(url, receipt, 1, "intake", "case_received")
    second = transition(url, receipt, 2, "biometrics", "biometrics_scheduled", open_task="biometrics")

    # A retried activity: same seq, nothing written, the mail still to deliver is reported again.
    assert transition(url, receipt, 2, "biometrics", "biometrics_scheduled", open_task="biometrics") == (
        False, second[1]
    )
    # An older seq arriving late is ignored too.
    assert transition(url, receipt, 1, "intake", "case_received") == (False, first[1])
    assert (count(url, CaseEvent), count(url, OutboundEmail), count(url, HumanTask)) == (2, 2, 1)
    with session_scope(url) as session:
        assert session.get(Case, receipt).stage == Stage.BIOMETRICS

    # Once the mail is sent, a retry has nothing left to deliver.
    with session_scope(url) as session:
        session.get(OutboundEmail, second[1][0]).status = "sent"
    assert transition(url, receipt, 2, "biometrics", "biometrics_scheduled", open_task="biometrics") == (False, [])


def test_a_transition_without_a_filing_raises_filing_missing(database_url: str) -> None:
    with pytest.raises(FilingMissing):
        transition(database_url, "IOE2700399999", 1, "intake", "case_received")
    assert count(database_url, Case) == 0


# --- the lifecycle's projection: evidence requests, reminders, task kinds ---------------------


class _Evidence:
    def __init__(self, action: str, **kw: Any) -> None:
        self.action = action
        self.due_at = kw.get("due_at")
        self.officer_id = kw.get("officer_id")
        self.items = kw.get("items", [])
        self.instructions = kw.get("instructions", "")
        self.note = kw.get("note", "")
        self.document_ids = kw.get("document_ids", [])


def test_an_evidence_request_is_opened_extended_and_answered(filed: dict[str, Any]) -> None:
    url, receipt, officer = filed["url"], filed["receipt"], filed["officer"]
    due = T0 + timedelta(days=87)
    transition(url, receipt, 1, "intake", "case_received")
    transition(url, receipt, 2, "evidence_requested", "rfe_sent", actor_id=officer.id, close_task_kinds=["*"],
               evidence_request=_Evidence("open", due_at=due, officer_id=officer.id, items=["photos"],
                                          instructions="Two passport photos."))
    later = due + timedelta(days=30)
    transition(url, receipt, 3, "evidence_requested", None, actor_id=officer.id,
               evidence_request=_Evidence("extend", due_at=later))
    transition(url, receipt, 4, "review", "rfe_response_received", close_task_kinds=["*"], open_task="review",
               evidence_request=_Evidence("answer", note="Attached."))
    # A retry of the answer writes nothing new.
    assert transition(url, receipt, 4, "review", "rfe_response_received",
                      evidence_request=_Evidence("answer", note="Attached."))[0] is False
    with session_scope(url) as session:
        [request] = session.exec(select(EvidenceRequest)).all()
        assert (request.seq, request.items, request.instructions, request.officer_id) == (
            2, ["photos"], "Two passport photos.", officer.id
        )
        assert (request.due_at, request.outcome, request.response_note) == (later, "answered", "Attached.")
        assert request.responded_at == T0 + timedelta(hours=4)


def test_a_reminder_mails_the_applicant_without_a_status_change(filed: dict[str, Any]) -> None:
    url, receipt = filed["url"], filed["receipt"]
    due = T0 + timedelta(days=87)
    transition(url, receipt, 1, "intake", "case_received")

    def remind(language: str, receipt_number: str, due_at):
        return RenderedEmail(subject=f"[{language}] {receipt_number} due {due_at:%Y-%m-%d}", body_text="reminder")

    applied, email_ids = transition(url, receipt, 2, "evidence_requested", None, reminder_due=due,
                                    render_reminder=remind)
    assert applied and len(email_ids) == 1
    assert count(url, CaseEvent) == 1  # no timeline step
    with session_scope(url) as session:
        mail = session.get(OutboundEmail, email_ids[0])
        assert mail.subject == f"[es] {receipt} due {due:%Y-%m-%d}"  # the applicant's language
        assert mail.to_address == filed["applicant"].email


def test_supervisor_tasks_stay_unassigned_and_tasks_follow_the_case(filed: dict[str, Any]) -> None:
    url, receipt, officer = filed["url"], filed["receipt"], filed["officer"]
    transition(url, receipt, 1, "intake", "case_received")
    transition(url, receipt, 2, "review", None, open_task="review", assigned_officer_id=officer.id)
    transition(url, receipt, 3, "review", "expedite_received", open_task="expedite", close_task_kinds=["expedite"],
               assigned_officer_id=officer.id)
    review, expedite = tasks(url, receipt)
    assert (review.kind, review.status, review.assigned_officer_id) == ("review", "open", officer.id)
    assert (expedite.kind, expedite.status, expedite.assigned_officer_id) == ("expedite", "open", None)

    # Granted: the expedite task closes, the review task becomes a priority, and the case moves office.
    transition(url, receipt, 4, "review", "expedite_approved", close_task_kinds=["expedite"], expedited=True,
               assigned_officer_id=officer.id, office="NBC", expedite_status="granted")
    review, expedite = tasks(url, receipt)
    assert (review.status, review.expedited, review.office) == ("open", True, "NBC")
    assert expedite.status == "done"
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert (case.expedited, case.expedite_status, case.office) == (True, "granted", "NBC")


def test_blocked_details_are_kept_while_blocked_and_cleared_after(filed: dict[str, Any]) -> None:
    url, receipt = filed["url"], filed["receipt"]
    transition(url, receipt, 1, "intake", "case_received")
    transition(url, receipt, 2, "blocked", None, open_task="blocked", blocked_activity="book:biometrics",
               blocked_error="no free biometrics appointment")
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert (case.stage, case.blocked_activity, case.blocked_error) == (
            Stage.BLOCKED, "book:biometrics", "no free biometrics appointment"
        )
    transition(url, receipt, 3, "biometrics", "biometrics_scheduled", close_task_kinds=["blocked"],
               open_task="biometrics")
    with session_scope(url) as session:
        case = session.get(Case, receipt)
        assert (case.blocked_activity, case.blocked_error) == (None, None)
    assert [(t.kind, t.status) for t in tasks(url, receipt)] == [("blocked", "done"), ("biometrics", "open")]
