"""The public page that checks a notice's verification code: genuine, no match, malformed input,
CSRF, no personal data, the visitor's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cli import DEMO_ACCOUNTS
from models.accounts import get_user_by_email
from models.db import session_scope
from models.documents import LocalDocumentStore
from models.notices import format_verification_code, issue_notice
from tests.helpers import I765_ANSWERS, file_i765
from tests.web.conftest import csrf
from web.security import LANG_COOKIE

APPLICANT = DEMO_ACCOUNTS[0]
ISSUED = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 22 November in the agency's time zone
NO_MATCH = "We found no notice with this receipt number and verification code."
GENUINE = re.compile(r"This is a genuine notice: (.+?), issued (.+?), for receipt number ([A-Z0-9]+)\.")


@pytest.fixture
def notice(settings) -> dict[str, str]:
    """A receipt notice issued on a filing of the demo applicant."""
    with session_scope(settings.database_url) as db:
        applicant = get_user_by_email(db, email=APPLICANT.email)
        filing = file_i765(db, applicant_id=applicant.id, office="IOE")
        issued = issue_notice(
            db, LocalDocumentStore(settings.documents_dir), receipt_number=filing.receipt_number, seq=1, kind="receipt",
            issued_at=ISSUED, base_url="http://testserver",
        )
        assert issued is not None
        return {"receipt": filing.receipt_number, "code": issued.verification_code}


def check(client, receipt_number: str, code: str, *, token: str | None = None):
    return client.post("/verify", data={
        "csrf_token": token if token is not None else csrf(client, "/verify"),
        "receipt_number": receipt_number, "verification_code": code,
    })


def alert(html: str) -> str:
    """The text of the answer's alert (the result or the no-match message)."""
    match = re.search(r'<div class="usa-alert[^"]*"[^>]*id="verify-result">(.*?)</div>\s*</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()) if match else ""


def test_the_page_has_a_form_that_works_without_javascript(client) -> None:
    page = client.get("/verify")
    assert page.status_code == 200
    assert '<form class="usa-form usa-form--large" method="post" action="/verify"' in page.text
    assert 'name="csrf_token"' in page.text
    assert 'name="receipt_number"' in page.text and 'name="verification_code"' in page.text
    assert "verify-result" not in page.text


def test_a_genuine_notice_is_confirmed_without_personal_data(client, notice) -> None:
    # Typed the way people type it: lower case, spaces in the receipt number, the code's dashes or not.
    for code in (notice["code"], format_verification_code(notice["code"]).lower(), " ".join(notice["code"])):
        response = check(client, notice["receipt"].lower()[:6] + " " + notice["receipt"][6:], code)
        assert response.status_code == 200
        assert GENUINE.search(alert(response.text)).groups() == ("Receipt Notice", "November 22, 2026", notice["receipt"])
        assert "usa-alert--success" in response.text
        for personal in (I765_ANSWERS["family_name"], I765_ANSWERS["given_name"], I765_ANSWERS["street"],
                         I765_ANSWERS["zip_code"], APPLICANT.email):
            assert personal not in response.text


def test_the_answer_is_in_the_visitors_language(client, notice) -> None:
    client.cookies.set(LANG_COOKIE, "es")
    response = check(client, notice["receipt"], notice["code"])
    assert response.status_code == 200
    assert '<html lang="es">' in response.text
    assert "22 de noviembre de 2026" in alert(response.text)


def test_a_wrong_code_and_an_unknown_receipt_number_get_the_same_answer(client, notice) -> None:
    code = notice["code"]
    wrong_code = check(client, notice["receipt"], code[:-1] + ("A" if code[-1] != "A" else "B"))
    unknown_receipt = check(client, "IOE2799999999", code)
    other_office = check(client, "EAC" + notice["receipt"][3:], code)
    for response in (wrong_code, unknown_receipt, other_office):
        assert response.status_code == 200
        assert NO_MATCH in alert(response.text)
        assert "genuine notice:" not in response.text
    assert alert(wrong_code.text) == alert(unknown_receipt.text) == alert(other_office.text)


def test_a_malformed_receipt_number_gets_its_own_message(client, notice) -> None:
    response = check(client, "IOE12345", notice["code"])
    assert response.status_code == 422
    assert "There is a problem" in response.text  # the error summary
    message = "Enter the receipt number as 3 letters and 10 numbers, like IOE2690123456"
    assert response.text.count(message) == 2  # in the summary and by the field
    assert 'href="#receipt_number"' in response.text
    assert 'value="IOE12345"' in response.text  # what was typed is kept
    assert NO_MATCH not in response.text and "genuine notice:" not in response.text


def test_missing_and_malformed_codes_are_explained(client, notice) -> None:
    empty = check(client, "", "")
    assert empty.status_code == 422
    assert "Enter the receipt number</a>" in empty.text and "Enter the verification code</a>" in empty.text
    short = check(client, notice["receipt"], notice["code"][:8])
    assert short.status_code == 422
    assert "Enter the verification code as it is printed on the notice" in short.text
    assert NO_MATCH not in short.text


def test_checking_needs_the_forms_csrf_token(client, notice) -> None:
    client.get("/verify")
    response = check(client, notice["receipt"], notice["code"], token="0" * 64)
    assert response.status_code == 403
    assert "genuine notice:" not in response.text
