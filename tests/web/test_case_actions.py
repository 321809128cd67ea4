"""What an applicant can do on their case page (move an appointment, answer a request for
evidence, ask for an expedite, withdraw), with a fake Temporal client: each sends its Workflow
Update, or nothing when the form is wrong."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models.account_security import audit
from models.db import session_scope
from models.documents import document_store, store_upload
from models.domain import Stage
from models.notices import appointment_when
from models.tables import Document, Filing, utcnow
from tests.helpers import make_user
from tests.web.conftest import csrf_from, sign_in
from tests.web.fake_temporal import (
    ACCOUNTS, make_appointment, make_case, make_evidence_request, page,
)
from web.templating import format_datetime
from workflows.case import CaseWorkflow
from workflows.types import EvidenceResponseInput, ExpediteRequestInput, RescheduleInput, WithdrawInput

APPLICANT, OFFICER = ACCOUNTS["applicant"], ACCOUNTS["officer"]
ACTION_ID_RE = re.compile(r'name="action_id" value="([0-9a-f-]{36})"')
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def action_id_on(html: str) -> str:
    match = ACTION_ID_RE.search(html)
    assert match, "no action id on the page"
    return match.group(1)


def new_case(settings, ids, stage: Stage = Stage.REVIEW, **fields) -> str:
    with session_scope(settings.database_url) as db:
        return make_case(db, applicant_id=ids["applicant"], stage=stage, **fields).receipt_number


def as_applicant(client) -> None:
    sign_in(client, APPLICANT.email, APPLICANT.password)


def form_of(client, receipt: str, **data) -> dict:
    """The hidden fields of the case page (CSRF token, action id) with ``data``."""
    html = page(client.get(f"/cases/{receipt}")).text
    return {"csrf_token": csrf_from(html), "action_id": action_id_on(html), **data}


def documents_of(settings, receipt: str) -> list[Document]:
    with session_scope(settings.database_url) as db:
        return list(db.exec(select(Document).where(Document.receipt_number == receipt)).all())


# --- appointments -----------------------------------------------------------------------------


def test_the_case_page_shows_the_appointment_and_offers_a_new_date(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.BIOMETRICS)
    starts_at = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=20)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH", starts_at=starts_at)
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "Your biometrics appointment" in html
    # In the office's own time, with its zone: a Chicago appointment in Central Time.
    assert appointment_when(starts_at, "IL", "en") in html and "(Central Time)" in html
    assert "Chicago Application Support Center, 5851 West Cermak Road, Chicago, IL" in html
    assert "Ask for a new date" in html
    assert f'action="/cases/{receipt}/reschedule"' in html and 'name="kind" value="biometrics"' in html


def test_asking_for_a_new_date_sends_reschedule(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.INTERVIEW, form="N-400")
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="interview", office="CHI")
    as_applicant(client)
    form = form_of(client, receipt, kind="interview")
    response = client.post(f"/cases/{receipt}/reschedule", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{receipt}?done=reschedule"
    call = temporal.only()
    assert (call.receipt_number, call.name, call.id) == (receipt, "reschedule", f"reschedule:{form['action_id']}")
    assert call.arg == RescheduleInput(actor_id=ids["applicant"], actor_role="applicant", kind="interview")
    done = page(client.get(response.headers["location"])).text
    assert "We received your request." in done


def test_an_appointment_moved_once_cannot_be_moved_again(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.BIOMETRICS)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH", status="cancelled",
                         starts_at=utcnow() + timedelta(days=5))
        make_appointment(db, receipt, kind="biometrics", office="ACH", starts_at=utcnow() + timedelta(days=30))
        # What the workflow's reschedule transition writes to the audit log.
        audit(db, key=f"case:{receipt}:5", actor_id=ids["applicant"], action="reschedule_biometrics",
              receipt_number=receipt)
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "You have already moved this appointment once." in html
    assert "Ask for a new date" not in html and f'action="/cases/{receipt}/reschedule"' not in html


def test_a_slot_the_system_cancelled_does_not_use_up_the_reschedule(client, settings, ids, temporal):
    # A booking that lands while a case is on hold is cancelled by the workflow, not the applicant.
    receipt = new_case(settings, ids, Stage.BIOMETRICS)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH", status="cancelled",
                         starts_at=utcnow() + timedelta(days=5))
        make_appointment(db, receipt, kind="biometrics", office="ACH", starts_at=utcnow() + timedelta(days=30))
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "Ask for a new date" in html and "You have already moved this appointment once." not in html


def test_a_cancelled_appointment_of_another_kind_does_not_count(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.INTERVIEW, form="N-400")
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH", status="cancelled",
                         starts_at=utcnow() - timedelta(days=40))
        make_appointment(db, receipt, kind="interview", office="CHI")
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "Your interview" in html and "Chicago Field Office, 101 West Congress Parkway, Chicago, IL" in html
    assert "Ask for a new date" in html


def test_a_refused_reschedule_is_shown(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.BIOMETRICS)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH")
    temporal.refuse(CaseWorkflow.reschedule, "The appointment has already started. Contact us.")
    as_applicant(client)
    response = page(client.post(f"/cases/{receipt}/reschedule", data=form_of(client, receipt, kind="biometrics")), 422)
    assert "There is a problem" in response.text and "The appointment has already started. Contact us." in response.text
    assert 'href="#reschedule"' in response.text and 'id="reschedule"' in response.text
    assert temporal.sent == []


def test_reschedule_of_an_unknown_kind_sends_nothing(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.BIOMETRICS)
    as_applicant(client)
    response = page(client.post(f"/cases/{receipt}/reschedule", data=form_of(client, receipt, kind="dentist")), 422)
    assert "There is no appointment of this kind to reschedule." in response.text
    assert temporal.calls == []


# --- requests for evidence --------------------------------------------------------------------


def rfe_case(settings, ids, **kw) -> tuple[str, int, datetime]:
    receipt = new_case(settings, ids, Stage.EVIDENCE_REQUESTED, assigned_officer_id=ids["officer"])
    with session_scope(settings.database_url) as db:
        rfe = make_evidence_request(db, receipt, officer_id=ids["officer"], items=["photos", "eligibility_proof", "other"],
                                    instructions="Also your birth certificate, translated.", **kw)
        return receipt, rfe.id, rfe.due_at


def test_the_case_page_shows_the_request_for_evidence(client, settings, ids, temporal):
    receipt, _, due_at = rfe_case(settings, ids)
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "We need more evidence from you" in html
    assert f"Send it by {format_datetime(due_at, 'en')}." in html
    assert "Two passport-style photos" in html and "Proof of your eligibility category" in html
    assert "Other evidence, described below" in html and "Also your birth certificate, translated." in html
    assert 'enctype="multipart/form-data"' in html and f'action="/cases/{receipt}/evidence-response"' in html


def test_an_answer_to_the_request_stores_the_files_and_sends_their_ids(client, settings, ids, temporal):
    receipt, rfe_id, _ = rfe_case(settings, ids)
    as_applicant(client)
    form = form_of(client, receipt, response_note="  The photos and the receipt notice.  ")
    response = client.post(
        f"/cases/{receipt}/evidence-response", data=form,
        files=[("files", ("a.pdf", PDF, "application/pdf")), ("files", ("../../photo.png", PNG, "image/png"))],
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/cases/{receipt}?done=rfe"
    documents = documents_of(settings, receipt)
    assert len(documents) == 2
    assert {d.kind for d in documents} == {"rfe_response"}
    assert {d.evidence_request_id for d in documents} == {rfe_id}
    assert {d.owner_id for d in documents} == {ids["applicant"]}
    assert sorted(d.display_name for d in documents) == ["a.pdf", "photo.png"]
    store = document_store(settings.documents_dir)
    assert all(store.get(d.sha256) in (PDF, PNG) for d in documents)
    call = temporal.only()
    assert (call.receipt_number, call.name, call.id) == (
        receipt, "respond_to_evidence_request", f"rfe:{form['action_id']}")
    assert isinstance(call.arg, EvidenceResponseInput)
    assert (call.arg.actor_id, call.arg.actor_role, call.arg.note) == (
        ids["applicant"], "applicant", "The photos and the receipt notice.")
    assert sorted(call.arg.document_ids) == sorted(d.id for d in documents)
    html = page(client.get(response.headers["location"])).text
    assert "a.pdf" in html and "photo.png" in html  # the applicant's documents
    client.post("/sign-out", data={"csrf_token": csrf_from(html)})
    sign_in(client, OFFICER.email, OFFICER.password)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    assert "a.pdf" in workspace and "photo.png" in workspace  # and the officer's evidence list


def test_a_note_alone_answers_the_request(client, settings, ids, temporal):
    receipt, _, _ = rfe_case(settings, ids)
    as_applicant(client)
    # A browser sends an empty, nameless file part when no file was chosen.
    response = client.post(f"/cases/{receipt}/evidence-response",
                           data=form_of(client, receipt, response_note="I sent it by mail."),
                           files=[("files", ("", b"", "application/octet-stream"))])
    assert response.status_code == 303, response.text
    assert temporal.only().arg == EvidenceResponseInput(actor_id=ids["applicant"], actor_role="applicant",
                                                        note="I sent it by mail.", document_ids=[])
    assert documents_of(settings, receipt) == []


def test_a_renamed_program_is_refused(client, settings, ids, temporal):
    receipt, _, _ = rfe_case(settings, ids)
    as_applicant(client)
    response = page(client.post(
        f"/cases/{receipt}/evidence-response", data=form_of(client, receipt, response_note="Here it is."),
        files=[("files", ("a.pdf", PDF, "application/pdf")),
               ("files", ("x.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "application/pdf"))],
    ), 422)
    assert "The selected file must be a PDF, JPEG, PNG or TIFF" in response.text
    assert 'href="#files"' in response.text and 'id="files-error"' in response.text
    assert "Here it is." in response.text  # the note is kept
    assert temporal.calls == []
    assert documents_of(settings, receipt) == []  # not even the good file


@pytest.mark.parametrize("empty_part", [False, True], ids=["no file part", "empty file part"])
def test_an_empty_answer_is_refused(client, settings, ids, temporal, empty_part):
    receipt, _, _ = rfe_case(settings, ids)
    as_applicant(client)
    files = [("files", ("", b"", "application/octet-stream"))] if empty_part else None
    response = page(client.post(f"/cases/{receipt}/evidence-response",
                                data=form_of(client, receipt, response_note="  "), files=files), 422)
    assert "There is a problem" in response.text
    assert "Upload at least one document or write a note." in response.text
    assert temporal.calls == []
    assert documents_of(settings, receipt) == []


def test_an_answer_without_an_open_request_is_refused(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_applicant(client)
    response = page(client.post(f"/cases/{receipt}/evidence-response", data=form_of(client, receipt),
                                files=[("files", ("a.pdf", PDF, "application/pdf"))]), 422)
    assert "There is no request for evidence waiting for your response." in response.text
    assert temporal.calls == [] and documents_of(settings, receipt) == []


def test_a_refused_answer_keeps_the_documents(client, settings, ids, temporal):
    receipt, _, _ = rfe_case(settings, ids)
    temporal.refuse(CaseWorkflow.respond_to_evidence_request,
                    "This case is not waiting for this action any more. Reload the page to see where it is.")
    as_applicant(client)
    response = page(client.post(f"/cases/{receipt}/evidence-response", data=form_of(client, receipt),
                                files=[("files", ("a.pdf", PDF, "application/pdf"))]), 422)
    assert "This case is not waiting for this action any more." in response.text
    assert len(documents_of(settings, receipt)) == 1
    assert temporal.sent == []


# --- expedite and withdrawal ------------------------------------------------------------------


def test_an_expedite_needs_a_reason(client, settings, ids, temporal):
    receipt = new_case(settings, ids)
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert f'action="/cases/{receipt}/expedite"' in html
    missing = page(client.post(f"/cases/{receipt}/expedite", data=form_of(client, receipt, expedite_reason=" ")), 422)
    assert "There is a problem" in missing.text and "Tell us why the case should be expedited." in missing.text
    assert 'href="#expedite_reason"' in missing.text and 'id="expedite_reason"' in missing.text
    assert temporal.calls == []
    form = form_of(client, receipt, expedite_reason="My employer closes my position next month.")
    response = client.post(f"/cases/{receipt}/expedite", data=form)
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{receipt}?done=expedite"
    call = temporal.only()
    assert (call.name, call.id) == ("request_expedite", f"expedite:{form['action_id']}")
    assert call.arg == ExpediteRequestInput(actor_id=ids["applicant"], actor_role="applicant",
                                            reason="My employer closes my position next month.")


def test_a_refused_expedite_is_shown_by_the_field(client, settings, ids, temporal):
    receipt = new_case(settings, ids)
    temporal.refuse(CaseWorkflow.request_expedite, "You have already asked for this case to be expedited.")
    as_applicant(client)
    response = page(client.post(f"/cases/{receipt}/expedite", data=form_of(client, receipt, expedite_reason="Urgent.")),
                    422)
    assert "You have already asked for this case to be expedited." in response.text
    assert 'href="#expedite"' in response.text and 'id="expedite"' in response.text  # the summary links to the form
    assert "Urgent." in response.text


def test_no_expedite_form_once_one_was_asked_for_or_after_the_decision(client, settings, ids, temporal):
    asked = new_case(settings, ids, expedite_status="requested")
    decided = new_case(settings, ids, Stage.POST_DECISION, decision="approve")
    as_applicant(client)
    html = page(client.get(f"/cases/{asked}")).text
    assert f'action="/cases/{asked}/expedite"' not in html and f'href="/cases/{asked}/withdraw"' in html
    html = page(client.get(f"/cases/{decided}")).text
    assert f'action="/cases/{decided}/expedite"' not in html and f'href="/cases/{decided}/withdraw"' not in html


def test_withdrawing_needs_the_confirmation(client, settings, ids, temporal):
    receipt = new_case(settings, ids)
    as_applicant(client)
    confirmation = page(client.get(f"/cases/{receipt}/withdraw")).text
    assert f"Withdraw case {receipt}" in confirmation
    assert "I understand, and I want to withdraw this case" in confirmation
    form = {"csrf_token": csrf_from(confirmation), "action_id": action_id_on(confirmation), "reason": "I got a visa."}
    unconfirmed = page(client.post(f"/cases/{receipt}/withdraw", data=form), 422)
    assert "There is a problem" in unconfirmed.text and "Confirm that you want to withdraw this case" in unconfirmed.text
    assert 'href="#confirm"' in unconfirmed.text and "I got a visa." in unconfirmed.text
    assert temporal.calls == []
    response = client.post(f"/cases/{receipt}/withdraw", data={**form, "confirm": "yes"})
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{receipt}?done=withdraw"
    call = temporal.only()
    assert (call.receipt_number, call.name, call.id) == (receipt, "withdraw", f"withdraw:{form['action_id']}")
    assert call.arg == WithdrawInput(actor_id=ids["applicant"], actor_role="applicant", reason="I got a visa.")


def test_a_refused_withdrawal_is_shown(client, settings, ids, temporal):
    receipt = new_case(settings, ids)
    temporal.refuse(CaseWorkflow.withdraw, "A case can be withdrawn only before its decision.")
    as_applicant(client)
    confirmation = page(client.get(f"/cases/{receipt}/withdraw")).text
    response = page(client.post(f"/cases/{receipt}/withdraw", data={
        "csrf_token": csrf_from(confirmation), "action_id": action_id_on(confirmation), "confirm": "yes",
    }), 422)
    assert "The case was not withdrawn" in response.text
    assert "A case can be withdrawn only before its decision." in response.text
    assert temporal.sent == []


def test_a_withdrawal_reason_is_limited(client, settings, ids, temporal):
    receipt = new_case(settings, ids)
    as_applicant(client)
    token = csrf_from(page(client.get(f"/cases/{receipt}/withdraw")).text)
    response = page(client.post(f"/cases/{receipt}/withdraw",
                                data={"csrf_token": token, "confirm": "yes", "reason": "x" * 2001}), 422)
    assert "The text must be 2,000 characters or fewer." in response.text
    assert temporal.calls == []


# --- who may act, and CSRF --------------------------------------------------------------------


def test_an_officer_cannot_act_as_the_applicant(client, settings, ids, temporal):
    receipt, _, _ = rfe_case(settings, ids)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH")
    sign_in(client, OFFICER.email, OFFICER.password)
    token = csrf_from(page(client.get(f"/officer/cases/{receipt}")).text)
    officer_view = page(client.get(f"/cases/{receipt}")).text  # staff may read the case page...
    assert "Your biometrics appointment" in officer_view and "We need more evidence from you" in officer_view
    for path in ("reschedule", "evidence-response", "expedite"):  # ...without the applicant's forms
        assert f'action="/cases/{receipt}/{path}"' not in officer_view, path
    assert "You have already moved this appointment once." not in officer_view
    assert page(client.get(f"/cases/{receipt}/withdraw"), 404)  # ...but not act on it
    for path, data in [
        ("reschedule", {"kind": "biometrics"}),
        ("expedite", {"expedite_reason": "Urgent."}),
        ("withdraw", {"confirm": "yes"}),
        ("evidence-response", {"response_note": "Done."}),
    ]:
        response = client.post(f"/cases/{receipt}/{path}", data={"csrf_token": token, **data})
        assert response.status_code == 404, path
    response = client.post(f"/cases/{receipt}/evidence-response", data={"csrf_token": token},
                           files=[("files", ("a.pdf", PDF, "application/pdf"))])
    assert response.status_code == 404
    assert temporal.calls == [] and documents_of(settings, receipt) == []


def test_another_applicant_cannot_act_on_the_case(client, settings, ids, temporal):
    with session_scope(settings.database_url) as db:
        other = make_user(db, "another applicant")
        receipt = make_case(db, applicant_id=other.id, stage=Stage.REVIEW).receipt_number
        own = make_case(db, applicant_id=ids["applicant"], stage=Stage.REVIEW).receipt_number
    as_applicant(client)
    assert page(client.get(f"/cases/{receipt}"), 404)
    assert page(client.get(f"/cases/{receipt}/withdraw"), 404)
    token = csrf_from(client.get(f"/cases/{own}").text)
    for path, data in [("reschedule", {"kind": "biometrics"}), ("expedite", {"expedite_reason": "Urgent."}),
                       ("withdraw", {"confirm": "yes"}), ("evidence-response", {"response_note": "Done."})]:
        assert client.post(f"/cases/{receipt}/{path}", data={"csrf_token": token, **data}).status_code == 404, path
    assert temporal.calls == []


def test_every_action_needs_the_csrf_token(client, settings, ids, temporal):
    receipt, _, _ = rfe_case(settings, ids)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH")
    as_applicant(client)
    action_id = action_id_on(page(client.get(f"/cases/{receipt}")).text)
    for path, data in [("reschedule", {"kind": "biometrics"}), ("expedite", {"expedite_reason": "Urgent."}),
                       ("withdraw", {"confirm": "yes"}), ("evidence-response", {"response_note": "Done."})]:
        response = client.post(f"/cases/{receipt}/{path}", data={"action_id": action_id, **data})
        assert response.status_code == 403 and "Your form expired" in response.text, path
    multipart = client.post(f"/cases/{receipt}/evidence-response", data={"action_id": action_id},
                            files=[("files", ("a.pdf", PDF, "application/pdf"))])
    assert multipart.status_code == 403
    assert temporal.calls == [] and documents_of(settings, receipt) == []


def test_the_case_page_while_the_case_is_set_up(client, settings, ids, temporal):
    """A filing whose workflow has not written its case row yet: no actions, no errors."""
    from tests.helpers import file_i765

    with session_scope(settings.database_url) as db:
        receipt = file_i765(db, applicant_id=ids["applicant"], office="IOE").receipt_number
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "We are processing your filing" in html and "Other things you can do" not in html
    token = csrf_from(html)
    response = page(client.post(f"/cases/{receipt}/expedite", data={"csrf_token": token, "expedite_reason": ""}), 422)
    assert "Tell us why the case should be expedited." in response.text



# --- documents sent after filing --------------------------------------------------------------


def _send_document(client, receipt: str, *, item: str = "other", name: str = "letter.pdf", data: bytes = PDF):
    return client.post(f"/cases/{receipt}/documents", data=form_of(client, receipt, item=item),
                       files={"file": (name, data, "application/pdf")})


def _timeline_headings(html: str) -> list[str]:
    return re.findall(r'<h3 class="usa-process-list__heading">([^<]+)</h3>', html)


def test_a_document_sent_after_filing_joins_the_case_and_its_timeline(client, settings, ids, temporal) -> None:
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_applicant(client)
    before = _timeline_headings(page(client.get(f"/cases/{receipt}")).text)
    response = _send_document(client, receipt, item="photos", name="new photos.pdf")
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{receipt}?done=upload"
    (document,) = documents_of(settings, receipt)
    assert (document.kind, document.evidence_item, document.display_name) == ("evidence", "photos", "new photos.pdf")
    html = page(client.get(f"/cases/{receipt}?done=upload")).text
    assert "Your document was uploaded and added to your case." in html
    headings = _timeline_headings(html)
    assert headings[0] == "Document uploaded" and headings[1:] == before  # the newest step, on top
    assert "new photos.pdf (Two passport-style photos)" in html
    assert temporal.calls == []  # a document is not an action on the workflow


def test_documents_filed_with_the_application_are_not_steps_of_the_timeline(client, settings, ids) -> None:
    receipt = new_case(settings, ids, Stage.REVIEW)
    with session_scope(settings.database_url) as db:
        filed_at = db.get(Filing, receipt).filed_at
        store_upload(db, document_store(settings.documents_dir), data=PDF, raw_name="passport.pdf",
                     owner_id=ids["applicant"], kind="evidence", receipt_number=receipt, evidence_item="i94_or_passport")
        db.flush()
        for document in db.exec(select(Document).where(Document.receipt_number == receipt)).all():
            document.uploaded_at = filed_at - timedelta(minutes=5)  # uploaded on the draft, before submitting
            db.add(document)
    as_applicant(client)
    html = page(client.get(f"/cases/{receipt}")).text
    assert "passport.pdf" in html  # listed among the case's documents
    assert "Document uploaded" not in _timeline_headings(html)


@pytest.mark.parametrize(
    ("item", "data", "message"),
    [
        ("other", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "The selected file must be a PDF, JPEG, PNG or TIFF"),
        ("other", b"", "The selected file is empty"),
        ("not-an-item", PDF, "Select which document this is"),
    ],
)
def test_a_refused_document_says_why_and_keeps_nothing(client, settings, ids, item, data, message) -> None:
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_applicant(client)
    response = _send_document(client, receipt, item=item, data=data, name="x.pdf")
    assert response.status_code == 422 and message in response.text
    assert documents_of(settings, receipt) == []


def test_documents_are_refused_once_the_case_is_decided_and_for_other_peoples_cases(client, settings, ids) -> None:
    decided = new_case(settings, ids, Stage.CLOSED)
    as_applicant(client)
    token = csrf_from(page(client.get(f"/cases/{decided}")).text)
    response = client.post(f"/cases/{decided}/documents", data={"csrf_token": token, "item": "other"},
                           files={"file": ("a.pdf", PDF, "application/pdf")})
    assert response.status_code == 422 and "This case no longer takes new documents." in response.text
    officer = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(officer, OFFICER.email, OFFICER.password)
    theirs = new_case(settings, ids, Stage.REVIEW)
    token = csrf_from(officer.get("/account/security").text)
    refused = officer.post(f"/cases/{theirs}/documents", data={"csrf_token": token, "item": "other"},
                          files={"file": ("a.pdf", PDF, "application/pdf")})
    assert refused.status_code == 404  # staff add nothing here; only the applicant or representative
    assert documents_of(settings, decided) == [] and documents_of(settings, theirs) == []
