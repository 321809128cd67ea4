"""Official notices: what each PDF says (read back with pypdf), in English and Spanish; issuing them
once per transition; verification codes; the projection issuing them and the mail linking to them."""

from __future__ import annotations

import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlmodel import func, select
from temporalio.testing import ActivityEnvironment

import i18n
from activities.case import CaseActivities
from activities.types import EvidenceRequestChange, TransitionInput
from models.db import session_scope
from models.documents import LocalDocumentStore
from models.domain import Stage, StatusCode
from models.notices import (
    CODE_ALPHABET,
    NOTICE_FILE_NAMES,
    NOTICE_FOR_STATUS,
    NOTICE_KINDS,
    NOTICE_TITLES,
    NoticeAppointment,
    NoticeData,
    NoticeKind,
    format_verification_code,
    issue_notice,
    new_verification_code,
    notice_kind_for,
    notices_for_case,
    printable,
    render_notice_pdf,
    verify_notice,
)
from models.projection import NoticeIssuer, apply_transition
from models.scheduling import book_appointment, cancel_appointment, moved_from, office_address
from models.tables import Appointment, Document, Filing, Notice, OutboundEmail, User
from tests.helpers import FILED_AT

BASE_URL = "https://caseline.test"
# 03:30 UTC is still the evening before in the agency's time zone (Eastern): the notice date is the 22nd.
ISSUED = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
NOTICE_DATE = {"en": "November 22, 2026", "es": "22 de noviembre de 2026"}
# Due at 04:59 UTC on the 18th: 23:59 on the 17th in Eastern time.
RFE_DUE = datetime(2027, 2, 18, 4, 59, tzinfo=UTC)
RFE_DUE_TEXT = {"en": "February 17, 2027", "es": "17 de febrero de 2027"}
MONDAY = date(2027, 1, 4)
APPOINTMENT_DAY = {"en": "Monday, January 4, 2027", "es": "lunes, 4 de enero de 2027"}
# The first slot of the day, 08:00 in the office's own time zone (Chicago).
APPOINTMENT_TIME = {"en": "8:00 AM (Central Time)", "es": "8:00 (hora central)"}
FORM_TITLES = {
    ("I-765", "en"): "Application for Employment Authorization",
    ("I-765", "es"): "Solicitud de Autorización de Empleo",
    ("N-400", "en"): "Application for Naturalization",
    ("N-400", "es"): "Solicitud de Naturalización",
}
EVIDENCE = {"en": ["Two passport-style photos", "Proof of your eligibility category"],
            "es": ["Dos fotos tipo pasaporte", "Prueba de su categoría de elegibilidad"]}
DENIAL_LABEL = {"en": "The evidence does not establish eligibility", "es": "La evidencia no establece la elegibilidad"}
DENIAL_TEXT = "The photographs show a different person than the passport."
TRACKING = "9400111899223344556677"
ANSWERS = {
    "given_name": "Zoë",
    "middle_name": "Thị",
    "family_name": "Nguyễn Müller",
    "date_of_birth": "1990-04-27",
    "eligibility_category": "c8",
    "street": "4821 North Broadway Street",
    "apartment": "Apt 12B",
    "city": "Chicago",
    "state": "IL",
    "zip_code": "60640",
}
NAME = "Zoë Thị Nguyễn Müller"
ADDRESS = ["4821 North Broadway Street, Apt 12B", "Chicago, IL 60640"]

_receipts = iter(range(1, 10**6))


def words(text: str) -> str:
    """Text with every run of white space (line breaks, no-break spaces) as one space."""
    return " ".join(text.split())


def pdf_text(data: bytes) -> tuple[str, pypdf.PdfReader]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return words(" ".join(page.extract_text() for page in reader.pages)), reader


def new_filing(url: str, *, language: str = "en", form_type: str = "I-765", **fields: Any) -> str:
    """An applicant (no password: nobody signs in here) and a filing of theirs; returns the receipt number."""
    receipt_number = f"IOE27003{next(_receipts):05d}"
    with session_scope(url) as session:
        user = User(email=f"applicant-{receipt_number}@example.com", full_name="Zoe Nguyen", language=language,
                    password_hash="unused")
        session.add(user)
        session.flush()
        session.add(Filing(
            receipt_number=receipt_number, form_type=form_type, applicant_id=user.id or 0, office="IOE",
            answers=dict(ANSWERS), filed_at=FILED_AT, fee_cents=fields.pop("fee_cents", 47_000), **fields,
        ))
    return receipt_number


class Case:
    """One case and the transitions applied to it, as record_transition applies them."""

    def __init__(self, url: str, store: LocalDocumentStore, receipt_number: str) -> None:
        self.url, self.store, self.receipt = url, store, receipt_number
        self.activities = CaseActivities(database_url=url, base_url=BASE_URL, documents=store)
        self.seq = 0

    def apply(self, stage: Stage, status: StatusCode | None, *, again: bool = False, **kw: Any) -> tuple[bool, list[int]]:
        if not again:
            self.seq += 1
        args: dict[str, Any] = dict(
            receipt_number=self.receipt, seq=self.seq, occurred_at=ISSUED, stage=stage.value, stage_entered_at=ISSUED,
            status_code=status.value if status else None, actor_id=None, note=None, assigned_officer_id=None,
            decision=None, overdue=False, open_task=None, task_due_at=None, close_task_kinds=[],
            render_email=self.activities.render_status_email,
            notices=NoticeIssuer(store=self.store, base_url=BASE_URL),
        )
        args.update(kw)
        with session_scope(self.url) as session:
            return apply_transition(session, **args)

    def book(self, kind: str) -> None:
        with session_scope(self.url) as session:
            book_appointment(
                session, idempotency_key=f"{self.receipt}:{kind}:{self.seq}", receipt_number=self.receipt, kind=kind,
                case_form_type="I-765", zip_code=ANSWERS["zip_code"], earliest=MONDAY,
                exclude_office_day=moved_from(session, receipt_number=self.receipt, kind=kind),
            )

    def reach(self, kind: NoticeKind) -> None:
        """Apply what a case goes through to have the notice of ``kind`` issued."""
        self.apply(Stage.INTAKE, StatusCode.CASE_RECEIVED)
        if kind == NoticeKind.BIOMETRICS:
            self.apply(Stage.BIOMETRICS, None)
            self.book("biometrics")
            self.apply(Stage.BIOMETRICS, StatusCode.BIOMETRICS_SCHEDULED)
        elif kind == NoticeKind.INTERVIEW:
            self.apply(Stage.INTERVIEW, None)
            self.book("interview")
            self.apply(Stage.INTERVIEW, StatusCode.INTERVIEW_SCHEDULED)
        elif kind == NoticeKind.RFE:
            self.apply(Stage.EVIDENCE_REQUESTED, StatusCode.RFE_SENT, evidence_request=EvidenceRequestChange(
                action="open", due_at=RFE_DUE, items=["photos", "eligibility_proof"],
                instructions="Send two photos taken in the last 30 days.",
            ))
        elif kind == NoticeKind.APPROVAL:
            self.apply(Stage.DECISION, StatusCode.APPROVED, decision="approve", note="Eligible.", reason_code="eligible")
        elif kind == NoticeKind.DENIAL:
            self.apply(Stage.DECISION, StatusCode.DENIED, decision="deny", note=DENIAL_TEXT,
                       reason_code="insufficient_evidence")
        elif kind == NoticeKind.CARD_MAILED:
            self.apply(Stage.DECISION, StatusCode.APPROVED, decision="approve", note="Eligible.", reason_code="eligible")
            self.apply(Stage.POST_DECISION, StatusCode.CARD_MAILED, decision="approve", tracking_number=TRACKING)

    def notice(self, kind: NoticeKind) -> tuple[Notice, Document, bytes]:
        with session_scope(self.url) as session:
            [notice] = session.exec(
                select(Notice).where(Notice.receipt_number == self.receipt, Notice.kind == kind.value)
            ).all()
            document = session.get(Document, notice.document_id)
            assert document is not None
            return notice, document, self.store.get(document.sha256)

    def count(self, table: type, **where: Any) -> int:
        with session_scope(self.url) as session:
            query = select(func.count()).select_from(table).where(table.receipt_number == self.receipt)
            for name, value in where.items():
                query = query.where(getattr(table, name) == value)
            return session.exec(query).one()


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    return LocalDocumentStore(tmp_path / "documents")


# --- what each notice says -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", NOTICE_KINDS)
def test_each_notice_prints_the_case_the_person_and_what_it_is_about(
    sqlite_url: str, store: LocalDocumentStore, kind: NoticeKind, language: str
) -> None:
    form_type = "N-400" if kind == NoticeKind.INTERVIEW else "I-765"
    case = Case(sqlite_url, store, new_filing(sqlite_url, language=language, form_type=form_type))
    case.reach(kind)
    notice, document, data = case.notice(kind)
    text, reader = pdf_text(data)

    t = lambda message, **kw: words(i18n.gettext(language, message, **kw))  # noqa: E731
    # What every notice carries.
    assert data.startswith(b"%PDF-")
    assert t(NOTICE_TITLES[kind]) in text
    assert case.receipt in text
    assert f"{form_type} — {FORM_TITLES[form_type, language]}" in text
    assert NAME in text
    for line in ADDRESS:
        assert line in text
    assert NOTICE_DATE[language] in text
    assert re.fullmatch(r"[A-Z2-9]{12}", notice.verification_code)
    assert format_verification_code(notice.verification_code) in text
    assert f"{BASE_URL}/verify" in text
    assert t("Caseline — Immigration benefits") in text
    assert "USCIS" not in text
    assert t("Page %(page)s of %(pages)s", page=1, pages=len(reader.pages)) in text
    # Metadata: the title names the notice and the receipt number; the document's language is the person's.
    assert reader.metadata is not None and reader.metadata.title == f"{i18n.gettext(language, NOTICE_TITLES[kind])} {case.receipt}"
    assert reader.trailer["/Root"]["/Lang"] == language
    # The document row: the applicant's, on the case, named in their language.
    with session_scope(sqlite_url) as session:
        filing = session.get(Filing, case.receipt)
        assert (document.owner_id, document.kind, document.receipt_number) == (filing.applicant_id, "notice", case.receipt)
    assert document.display_name == i18n.gettext(language, NOTICE_FILE_NAMES[kind], receipt=case.receipt)
    assert (document.content_type, document.size) == ("application/pdf", len(data))
    assert (notice.language, notice.issued_at) == (language, ISSUED)

    # What this kind says.
    if kind == NoticeKind.RECEIPT:
        assert "$470.00" in text
        assert t("Fee received") in text
    elif kind in (NoticeKind.BIOMETRICS, NoticeKind.INTERVIEW):
        with session_scope(sqlite_url) as session:
            place = office_address(session, "ACH" if kind == NoticeKind.BIOMETRICS else "CHI")
        assert place in text
        assert APPOINTMENT_DAY[language] in text
        assert APPOINTMENT_TIME[language] in text
    elif kind == NoticeKind.RFE:
        for label in EVIDENCE[language]:
            assert label in text
        assert "Send two photos taken in the last 30 days." in text
        assert t("We must receive your response by %(date)s.", date=RFE_DUE_TEXT[language]) in text
    elif kind == NoticeKind.APPROVAL:
        assert t("We approved your Form %(code)s, %(title)s.", code="I-765", title=FORM_TITLES["I-765", language]) in text
    elif kind == NoticeKind.DENIAL:
        assert DENIAL_LABEL[language] in text
        assert DENIAL_TEXT in text
    elif kind == NoticeKind.CARD_MAILED:
        assert TRACKING in text


def test_a_receipt_notice_says_when_a_fee_waiver_was_requested(sqlite_url: str, store: LocalDocumentStore) -> None:
    case = Case(sqlite_url, store, new_filing(sqlite_url, fee_cents=0, fee_waiver_requested=True))
    case.reach(NoticeKind.RECEIPT)
    text, _ = pdf_text(case.notice(NoticeKind.RECEIPT)[2])
    assert "Fee waiver requested" in text
    assert "$" not in text


def test_a_rescheduled_interview_issues_a_new_notice_that_replaces_the_first(
    sqlite_url: str, store: LocalDocumentStore
) -> None:
    case = Case(sqlite_url, store, new_filing(sqlite_url))
    case.reach(NoticeKind.INTERVIEW)
    first, _, _ = case.notice(NoticeKind.INTERVIEW)
    with session_scope(sqlite_url) as session:
        [appointment] = session.exec(select(Appointment).where(Appointment.receipt_number == case.receipt)).all()
        cancel_appointment(session, appointment_id=appointment.id or 0, status="cancelled")
    case.book("interview")
    case.apply(Stage.INTERVIEW, StatusCode.INTERVIEW_RESCHEDULED)
    with session_scope(sqlite_url) as session:
        notices = [n for n in notices_for_case(session, case.receipt) if n.kind == "interview"]
        second = notices[-1]
        document = session.get(Document, second.document_id)
    assert [n.seq for n in notices] == [first.seq, case.seq]
    text, _ = pdf_text(store.get(document.sha256))
    assert "This notice replaces any earlier interview notice for this case." in text
    assert "Tuesday, January 5, 2027" in text  # the day it moved to: never the day it moved from


def test_a_long_notice_runs_over_pages_and_numbers_them() -> None:
    data = NoticeData(
        kind=NoticeKind.RFE, language="en", receipt_number="IOE2703800001", form_type="I-765", issued_at=ISSUED,
        received_at=FILED_AT, applicant_name=NAME, address_lines=tuple(ADDRESS), verification_code="ABCDEFGHJKLM",
        verify_url=f"{BASE_URL}/verify", evidence_items=("photos",) * 10,
        evidence_instructions="Send the documents again, in colour. " * 120, evidence_due_at=RFE_DUE,
    )
    text, reader = pdf_text(render_notice_pdf(data))
    pages = len(reader.pages)
    assert pages >= 2
    for number, page in enumerate(reader.pages, 1):
        assert f"Page {number} of {pages}" in words(page.extract_text())
    assert "We must receive your response by February 17, 2027." in text
    assert "Keep this notice with your records." in words(reader.pages[-1].extract_text())


def test_an_appointment_notice_prints_the_offices_local_time() -> None:
    from zoneinfo import ZoneInfo

    data = NoticeData(
        kind=NoticeKind.BIOMETRICS, language="en", receipt_number="IOE2703800001", form_type="I-765", issued_at=ISSUED,
        received_at=FILED_AT, applicant_name=NAME, address_lines=tuple(ADDRESS), verification_code="ABCDEFGHJKLM",
        verify_url=f"{BASE_URL}/verify",
        appointment=NoticeAppointment(starts_at=datetime(2027, 1, 5, 16, 40, tzinfo=UTC),
                                      place="Los Angeles Application Support Center", time_zone=ZoneInfo("America/Los_Angeles")),
    )
    text, _ = pdf_text(render_notice_pdf(data))
    assert "Tuesday, January 5, 2027" in text and "8:40 AM (Pacific Time)" in text


def test_characters_the_font_lacks_are_replaced_never_dropped() -> None:
    assert printable("Nguye\u0302\u0303n") == "Nguyễn"  # decomposed input is composed
    assert printable("8:00\u202fAM") == "8:00 AM"  # a narrow no-break space the font lacks
    assert printable("Müller Ørsted Łukasz") == "Müller Ørsted Łukasz"
    assert printable("Пётр") == "????"
    assert printable("ℌ") == "H"  # a compatibility form the font lacks: its plain letter
    assert printable("a\u200bb") == "ab"


# --- kinds and verification codes ----------------------------------------------------------------


def test_status_codes_issue_the_notices_of_the_issue() -> None:
    assert {status.value: kind.value for status, kind in NOTICE_FOR_STATUS.items()} == {
        "case_received": "receipt", "biometrics_scheduled": "biometrics", "rfe_sent": "rfe",
        "interview_scheduled": "interview", "interview_rescheduled": "interview", "approved": "approval",
        "denied": "denial", "card_mailed": "card_mailed",
    }
    assert notice_kind_for(StatusCode.ACTIVELY_REVIEWED) is None and notice_kind_for(None) is None
    assert set(NOTICE_KINDS) == set(NOTICE_TITLES) == set(NOTICE_FILE_NAMES)


def test_verification_codes_are_random_unambiguous_and_printed_in_groups() -> None:
    codes = {new_verification_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(re.fullmatch(r"[A-Z2-9]{12}", code) for code in codes)
    assert not set("".join(codes)) & set("0O1I")
    assert set("".join(codes)) == set(CODE_ALPHABET)  # every character is used
    assert format_verification_code("ABCDEFGHJKLM") == "ABCD-EFGH-JKLM"


# --- issuing and verifying -----------------------------------------------------------------------


def test_issue_notice_is_idempotent_per_transition_and_kind(database_url: str, store: LocalDocumentStore) -> None:
    receipt = new_filing(database_url)
    issue = dict(receipt_number=receipt, seq=1, kind="receipt", issued_at=ISSUED, base_url=BASE_URL)
    with session_scope(database_url) as session:
        first = issue_notice(session, store, **issue)
    with session_scope(database_url) as session:
        again = issue_notice(session, store, **issue)
        other_transition = issue_notice(session, store, **{**issue, "seq": 2})
    assert first is not None and again is not None and other_transition is not None
    assert (again.id, again.document_id, again.verification_code) == (first.id, first.document_id, first.verification_code)
    assert other_transition.id != first.id and other_transition.verification_code != first.verification_code
    with session_scope(database_url) as session:
        assert [n.seq for n in notices_for_case(session, receipt)] == [1, 2]
        assert session.exec(select(func.count()).select_from(Document).where(Document.receipt_number == receipt)).one() == 2


def test_a_notice_the_case_cannot_fill_is_not_issued(database_url: str, store: LocalDocumentStore) -> None:
    case = Case(database_url, store, new_filing(database_url))
    case.apply(Stage.INTAKE, StatusCode.CASE_RECEIVED)
    with session_scope(database_url) as session:
        # No appointment is booked, and no tracking number is known.
        assert issue_notice(session, store, receipt_number=case.receipt, seq=5, kind="biometrics", issued_at=ISSUED,
                            base_url=BASE_URL) is None
        assert issue_notice(session, store, receipt_number=case.receipt, seq=6, kind="card_mailed", issued_at=ISSUED,
                            base_url=BASE_URL) is None
    assert case.count(Notice) == 1  # the receipt notice


def test_verify_notice_accepts_the_code_as_people_type_it_and_refuses_anything_else(
    database_url: str, store: LocalDocumentStore
) -> None:
    first = Case(database_url, store, new_filing(database_url))
    first.reach(NoticeKind.RECEIPT)
    other = Case(database_url, store, new_filing(database_url))
    other.reach(NoticeKind.RECEIPT)
    notice, _, _ = first.notice(NoticeKind.RECEIPT)
    others, _, _ = other.notice(NoticeKind.RECEIPT)
    code = notice.verification_code
    with session_scope(database_url) as session:
        for typed in (code, code.lower(), format_verification_code(code), " ".join(format_verification_code(code).lower().split("-"))):
            found = verify_notice(session, first.receipt, typed)
            assert found is not None and found.id == notice.id
        assert verify_notice(session, first.receipt.lower(), code) is not None
        wrong = code[:-1] + ("A" if code[-1] != "A" else "B")
        for receipt_number, typed in [
            (first.receipt, wrong),
            (first.receipt, others.verification_code),  # a real code, of another case
            (other.receipt, code),
            ("IOE2799999999", code),  # no such case
            ("IOE27", code),  # malformed receipt number
            (first.receipt, code[:11]),  # malformed code
            (first.receipt, ""),
        ]:
            assert verify_notice(session, receipt_number, typed) is None


# --- the projection ------------------------------------------------------------------------------


def test_the_projection_issues_one_notice_per_notice_bearing_transition_and_links_it_in_the_mail(
    database_url: str, store: LocalDocumentStore
) -> None:
    case = Case(database_url, store, new_filing(database_url, language="es"))
    steps: list[tuple[Stage, StatusCode | None, dict[str, Any], NoticeKind | None]] = [
        (Stage.INTAKE, StatusCode.CASE_RECEIVED, {}, NoticeKind.RECEIPT),
        (Stage.BIOMETRICS, None, {}, None),
        (Stage.BIOMETRICS, StatusCode.BIOMETRICS_SCHEDULED, {}, NoticeKind.BIOMETRICS),
        (Stage.REVIEW, StatusCode.FINGERPRINTS_TAKEN, {}, None),
        (Stage.REVIEW, StatusCode.ACTIVELY_REVIEWED, {}, None),
        (Stage.EVIDENCE_REQUESTED, StatusCode.RFE_SENT, {"evidence_request": EvidenceRequestChange(
            action="open", due_at=RFE_DUE, items=["photos"])}, NoticeKind.RFE),
        (Stage.REVIEW, StatusCode.RFE_RESPONSE_RECEIVED, {"evidence_request": EvidenceRequestChange(action="answer")}, None),
        (Stage.DECISION, StatusCode.APPROVED, {"decision": "approve", "reason_code": "eligible"}, NoticeKind.APPROVAL),
        (Stage.POST_DECISION, StatusCode.CARD_PRODUCED, {"decision": "approve"}, None),
        (Stage.POST_DECISION, StatusCode.CARD_MAILED, {"decision": "approve", "tracking_number": TRACKING},
         NoticeKind.CARD_MAILED),
    ]
    for stage, status, kw, kind in steps:
        if status == StatusCode.BIOMETRICS_SCHEDULED:
            case.book("biometrics")
        applied, email_ids = case.apply(stage, status, **kw)
        assert applied
        # A retried activity: nothing new, and the same mail still to deliver.
        assert case.apply(stage, status, again=True, **kw) == (False, email_ids)
        with session_scope(database_url) as session:
            notices = session.exec(select(Notice).where(Notice.receipt_number == case.receipt, Notice.seq == case.seq)).all()
            mails = [session.get(OutboundEmail, email_id) for email_id in email_ids]
        assert [n.kind for n in notices] == ([kind.value] if kind else [])
        assert len(mails) == (1 if status else 0)
        if kind is not None:
            [notice] = notices
            body = mails[0].body_text
            assert f"{BASE_URL}/documents/{notice.document_id}" in body
            assert notice.verification_code not in body and format_verification_code(notice.verification_code) not in body
            assert NAME not in body and ADDRESS[0] not in body  # the link only, not the notice's content
        elif mails:
            assert f"{BASE_URL}/documents/" not in mails[0].body_text

    kinds = [step[3] for step in steps if step[3]]
    assert case.count(Notice) == len(kinds) == 5
    assert case.count(Document, kind="notice") == 5
    assert case.count(OutboundEmail) == sum(1 for step in steps if step[1])
    with session_scope(database_url) as session:
        assert [n.kind for n in notices_for_case(session, case.receipt)] == [k.value for k in kinds]
        assert {n.language for n in notices_for_case(session, case.receipt)} == {"es"}


def test_without_a_document_store_the_projection_issues_no_notice(database_url: str, store: LocalDocumentStore) -> None:
    case = Case(database_url, store, new_filing(database_url))
    applied, [email_id] = case.apply(Stage.INTAKE, StatusCode.CASE_RECEIVED, notices=None)
    assert applied and case.count(Notice) == 0
    with session_scope(database_url) as session:
        assert "/documents/" not in session.get(OutboundEmail, email_id).body_text


def test_the_record_transition_activity_issues_the_notice_once_when_retried(
    database_url: str, store: LocalDocumentStore
) -> None:
    receipt = new_filing(database_url)
    activities = CaseActivities(database_url=database_url, base_url=BASE_URL + "/", documents=store)
    inp = TransitionInput(receipt_number=receipt, seq=1, occurred_at=ISSUED, stage="intake", stage_entered_at=ISSUED,
                          status_code="case_received")
    first = ActivityEnvironment().run(activities.record_transition, inp)
    retried = ActivityEnvironment().run(activities.record_transition, inp)
    assert first.applied and not retried.applied
    assert retried.email_ids == first.email_ids and len(first.email_ids) == 1
    with session_scope(database_url) as session:
        [notice] = notices_for_case(session, receipt)
        mail = session.get(OutboundEmail, first.email_ids[0])
    assert f"{BASE_URL}/documents/{notice.document_id}\n" in mail.body_text  # one slash: the base URL is trimmed


def test_concurrent_attempts_of_one_transition_issue_one_notice(postgres_url: str, store: LocalDocumentStore) -> None:
    """Two attempts of the same transition at once (a retry while the first still runs): the case
    row's lock makes the second find the work done."""
    case = Case(postgres_url, store, new_filing(postgres_url))
    case.apply(Stage.INTAKE, StatusCode.CASE_RECEIVED)
    case.seq += 1
    barrier = threading.Barrier(2)

    def attempt(_: int) -> bool:
        barrier.wait(timeout=30)
        return case.apply(Stage.DECISION, StatusCode.DENIED, again=True, decision="deny", note=DENIAL_TEXT,
                          reason_code="insufficient_evidence")[0]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(attempt, range(2)))
    assert results == [False, True]
    assert case.count(Notice, kind="denial") == 1
    assert case.count(OutboundEmail) == 2  # received, denied


def test_the_sample_tool_renders_every_kind_without_a_database() -> None:
    """The sample renderer (tools/render_notices.py) and the projection share one renderer."""
    from tools.render_notices import sample

    for kind in NOTICE_KINDS:
        data = sample(kind, "es")
        text, _ = pdf_text(render_notice_pdf(replace(data, verification_code="ABCDEFGHJKLM")))
        assert "ABCD-EFGH-JKLM" in text and data.receipt_number in text
