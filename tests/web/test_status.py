"""Case Status Online: the public lookup page and its JSON API. What a case shows (and what it never
shows), the visitor's language, malformed and unknown receipt numbers, throttling per client
address, and the OpenAPI document."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS, DEMO_APPLICANT_BIRTH_DATE
from models.accounts import get_user_by_email
from models.db import session_scope
from models.domain import Stage, StatusCode
from tests.helpers import I765_ANSWERS, file_i765
from tests.web.conftest import csrf_from
from tests.web.fake_temporal import make_case
from web.routers.status import LOOKUP_LIMIT
from web.security import LANG_COOKIE

APPLICANT = DEMO_ACCOUNTS[0]
CHANGED_AT = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 22 November in the agency's time zone
TITLE = "Case Is Being Actively Reviewed By USCIS"
EXPLANATION = ("An officer is reviewing your case. We will tell you if we need anything else from you or when we "
               "make a decision.")
NOT_FOUND = "We could not find a case with this receipt number."
MALFORMED = "Enter the receipt number as 3 letters and 10 numbers, like IOE2690123456"
PERSONAL = (I765_ANSWERS["family_name"], I765_ANSWERS["given_name"], I765_ANSWERS["street"], I765_ANSWERS["city"],
            I765_ANSWERS["zip_code"], DEMO_APPLICANT_BIRTH_DATE, "April 27, 1990", APPLICANT.email, APPLICANT.full_name)
API = "/api/v1/cases/{}/status"


@pytest.fixture
def receipts(settings) -> dict[str, str]:
    """A case being reviewed; a filing whose case is not projected yet; a case whose status has no
    public wording."""
    with session_scope(settings.database_url) as db:
        applicant = get_user_by_email(db, email=APPLICANT.email)
        case = make_case(db, applicant_id=applicant.id, stage=Stage.REVIEW, status_code=StatusCode.ACTIVELY_REVIEWED)
        case.status_changed_at = CHANGED_AT
        case.office = "NBC"  # where it is worked is not shown
        pending = file_i765(db, applicant_id=applicant.id, office="IOE")
        hidden = make_case(db, applicant_id=applicant.id, stage=Stage.REVIEW)
        db.flush()
        db.exec(  # type: ignore[call-overload]
            sa.text("UPDATE case_record SET status_code = 'internal_only' WHERE receipt_number = :receipt"),
            params={"receipt": hidden.receipt_number},
        )
        return {"case": case.receipt_number, "pending": pending.receipt_number, "hidden": hidden.receipt_number}


def lookup(client: TestClient, receipt_number: str, **kw):
    return client.get("/status", params={"receipt_number": receipt_number}, **kw)


def result(page: str) -> str:
    """The text of the answer (the status, the not-found message or the wait message)."""
    match = re.search(r'<(section|div) class="usa-[^"]*"[^>]*id="status-result"[^>]*>(.*?)</\1>', page, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split()) if match else ""


def client_at(client: TestClient, host: str) -> TestClient:
    """Another client of the same app, connecting from ``host``."""
    return TestClient(client.app, base_url="http://testserver", follow_redirects=False, client=(host, 50000))


# --- the page -----------------------------------------------------------------------------------


def test_the_page_has_a_get_form_that_works_without_javascript(client) -> None:
    page = client.get("/status")
    assert page.status_code == 200
    form = re.search(r'<form[^>]*action="/status"[^>]*>(.*?)</form>', page.text, re.S)
    assert form and 'method="get"' in form.group(0)
    assert 'name="receipt_number"' in form.group(1) and "csrf_token" not in form.group(1)  # a shareable GET
    assert "status-result" not in page.text and "There is a problem" not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_case_shows_its_status_title_date_and_explanation_and_nothing_personal(client, receipts) -> None:
    page = lookup(client, receipts["case"])
    assert page.status_code == 200
    shown = result(page.text)
    assert shown == (f"{TITLE} Receipt number {receipts['case']} Form Form I-765, Application for Employment "
                     f"Authorization Date November 22, 2026 {EXPLANATION}")
    assert '<time datetime="2026-11-22">' in page.text
    for personal in PERSONAL:
        assert personal not in page.text
    assert "NBC" not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_the_page_is_in_the_visitors_language(client, receipts) -> None:
    client.cookies.set(LANG_COOKIE, "es")
    page = lookup(client, receipts["case"])
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    shown = result(page.text)
    assert shown.startswith("USCIS está revisando activamente el caso ")
    assert "22 de noviembre de 2026" in shown
    assert "Formulario I-765" in shown
    assert TITLE not in shown and EXPLANATION not in shown


def test_the_language_can_come_from_the_browser(client, receipts) -> None:
    page = lookup(client, receipts["case"], headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert "22 de noviembre de 2026" in result(page.text)


@pytest.mark.parametrize("typed", ["{r}", "{lower}", " {r} ", "{a} {b} {c}", "{a}-{b}-{c}", "{a}\u2013{b}\u2013{c}",
                                   "{lower_a} {b}-{c}"])
def test_spaces_dashes_and_lower_case_are_accepted(client, receipts, typed) -> None:
    r = receipts["case"]
    given = typed.format(r=r, lower=r.lower(), a=r[:3], b=r[3:8], c=r[8:], lower_a=r[:3].lower())
    page = lookup(client, given)
    assert page.status_code == 200
    assert result(page.text).startswith(f"{TITLE} Receipt number {r} ")
    assert f'value="{r}"' in page.text  # the form shows the number as it is written


@pytest.mark.parametrize("typed", ["IOE12345", "1234567890123", "IOE269012345X", "IO2690123456", "IOE26901234567",
                                   "IOE 2690 12345 67", "EAC-269-012-345", "<b>IOE</b>", "IOE2690123456?",
                                   "x" * 500])
def test_a_malformed_receipt_number_is_explained_by_the_field(client, typed) -> None:
    page = lookup(client, typed)
    assert page.status_code == 422
    assert "There is a problem" in page.text  # the error summary, linked to the field
    assert 'href="#receipt_number"' in page.text
    assert page.text.count(MALFORMED) == 2  # in the summary and by the field
    assert 'id="receipt_number-error"' in page.text
    assert "3 letters and 10 numbers, like IOE2690123456" in page.text  # the hint shows the shape
    assert f'value="{html.escape(typed.strip()[:40])}"' in page.text  # what was typed is kept (escaped, cut)
    assert "<b>IOE</b>" not in page.text
    assert "status-result" not in page.text


def test_an_empty_lookup_asks_for_the_number(client) -> None:
    page = lookup(client, "   ")
    assert page.status_code == 422
    assert "Enter the receipt number</a>" in page.text


def test_unknown_numbers_and_cases_that_cannot_be_shown_get_the_same_answer(client, receipts) -> None:
    unknown = lookup(client, "IOE2799999999")
    other_office = lookup(client, "EAC" + receipts["case"][3:])
    pending = lookup(client, receipts["pending"])
    hidden = lookup(client, receipts["hidden"])
    answers = {result(page.text) for page in (unknown, other_office, pending, hidden)}
    assert len(answers) == 1
    assert NOT_FOUND in answers.pop()
    assert {page.status_code for page in (unknown, other_office, pending, hidden)} == {200}
    for page in (unknown, pending, hidden):
        assert TITLE not in page.text and "Case Was Received" not in page.text
        assert "There is a problem" not in page.text


# --- throttling ---------------------------------------------------------------------------------


def test_the_page_refuses_lookups_over_the_limit_from_one_address(client, receipts) -> None:
    visitor, neighbour = client_at(client, "192.0.2.10"), client_at(client, "192.0.2.11")
    for _ in range(LOOKUP_LIMIT):
        assert lookup(visitor, receipts["case"]).status_code == 200
    refused = lookup(visitor, receipts["case"])
    assert refused.status_code == 429
    assert result(refused.text) == "Too many attempts. Wait 5 minutes and try again."
    assert TITLE not in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 300
    # The form stays, to try again later.
    assert 'action="/status"' in refused.text
    # Another address is not affected.
    assert lookup(neighbour, receipts["case"]).status_code == 200
    # Claiming another address in a header changes nothing: there is no trusted proxy.
    claimed = {"X-Forwarded-For": "198.51.100.77", "X-Real-IP": "198.51.100.77", "Forwarded": "for=198.51.100.77"}
    spoofed = lookup(visitor, receipts["case"], headers=claimed)
    assert spoofed.status_code == 429


def test_the_api_refuses_lookups_over_the_limit_with_retry_after(client, receipts) -> None:
    visitor, neighbour = client_at(client, "192.0.2.20"), client_at(client, "192.0.2.21")
    for _ in range(LOOKUP_LIMIT):
        assert visitor.get(API.format(receipts["case"])).status_code == 200
    refused = visitor.get(API.format(receipts["case"]))
    assert refused.status_code == 429
    assert refused.json() == {"error": {"code": "rate_limited",
                                        "message": "Too many attempts. Wait 5 minutes and try again."}}
    assert 1 <= int(refused.headers["retry-after"]) <= 300
    assert refused.headers["cache-control"] == "no-store"
    assert neighbour.get(API.format(receipts["case"])).status_code == 200


def test_the_page_and_the_api_share_one_count(client, receipts) -> None:
    visitor = client_at(client, "192.0.2.30")
    for n in range(LOOKUP_LIMIT):
        if n % 2:
            assert lookup(visitor, receipts["case"]).status_code == 200
        else:
            assert visitor.get(API.format(receipts["case"])).status_code == 200
    assert lookup(visitor, receipts["case"]).status_code == 429
    assert visitor.get(API.format(receipts["case"])).status_code == 429
    # Unknown numbers count as much as known ones: guessing is throttled too.
    guesser = client_at(client, "192.0.2.31")
    for n in range(LOOKUP_LIMIT):
        assert lookup(guesser, f"IOE27{n:08d}").status_code == 200
    assert guesser.get(API.format("IOE2799999999")).status_code == 429


def test_malformed_numbers_are_answered_without_counting(client, receipts) -> None:
    visitor = client_at(client, "192.0.2.40")
    for _ in range(LOOKUP_LIMIT + 5):
        assert lookup(visitor, "IOE123").status_code == 422
        assert visitor.get(API.format("IOE123")).status_code == 400
    assert lookup(visitor, receipts["case"]).status_code == 200


# --- the JSON API -------------------------------------------------------------------------------


def test_the_api_answers_the_public_status_as_json(client, receipts) -> None:
    answer = client.get(API.format(receipts["case"].lower()))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "receipt_number": receipts["case"],
        "form_type": "I-765",
        "status": {"code": "actively_reviewed", "title": TITLE, "explanation": EXPLANATION},
        "status_date": "2026-11-22",
        "language": "en",
    }
    for personal in PERSONAL:
        assert personal not in answer.text
    assert "NBC" not in answer.text


@pytest.mark.parametrize(
    ("query", "headers", "language"),
    [
        ("?lang=es", {}, "es"),
        ("?lang=ES", {"Accept-Language": "en"}, "es"),
        ("?lang=en", {"Accept-Language": "es"}, "en"),
        ("", {"Accept-Language": "es-US,es;q=0.9,en;q=0.8"}, "es"),
        ("", {"Accept-Language": "en;q=0.2, es;q=0.9"}, "es"),
        ("", {"Accept-Language": "fr-CA,fr;q=0.9"}, "en"),
        ("", {"Accept-Language": "es;q=0, en;q=0.5"}, "en"),
        ("?lang=fr", {"Accept-Language": "es"}, "es"),
        ("", {}, "en"),
    ],
)
def test_the_api_answers_in_the_language_asked_for(client, receipts, query, headers, language) -> None:
    answer = client.get(API.format(receipts["case"]) + query, headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["language"] == language
    assert answer.headers["content-language"] == language
    assert body["status_date"] == "2026-11-22"
    if language == "es":
        assert body["status"]["title"] == "USCIS está revisando activamente el caso"
        assert body["status"]["explanation"] != EXPLANATION
    else:
        assert body["status"] == {"code": "actively_reviewed", "title": TITLE, "explanation": EXPLANATION}


def test_the_api_does_not_follow_the_pages_language_cookie(client, receipts) -> None:
    client.cookies.set(LANG_COOKIE, "es")
    assert client.get(API.format(receipts["case"])).json()["language"] == "en"


@pytest.mark.parametrize("typed", ["IOE12345", "IOE269012345X", "EAC-269-012-345", "x" * 300])
def test_the_api_refuses_a_malformed_number_with_400(client, typed) -> None:
    answer = client.get(API.format(typed))
    assert answer.status_code == 400
    assert answer.json() == {"error": {"code": "malformed_receipt_number", "message": MALFORMED}}
    assert answer.headers["cache-control"] == "no-store"


def test_the_api_error_messages_follow_the_language(client) -> None:
    answer = client.get(API.format("IOE12345") + "?lang=es")
    assert answer.json()["error"] == {
        "code": "malformed_receipt_number",
        "message": "Ingrese el número de recibo con 3 letras y 10 números, como IOE2690123456",
    }


def test_the_api_gives_the_same_404_for_unknown_numbers_and_cases_that_cannot_be_shown(client, receipts) -> None:
    answers = [client.get(API.format(r)) for r in ("IOE2799999999", receipts["pending"], receipts["hidden"])]
    assert {a.status_code for a in answers} == {404}
    bodies = [a.json() for a in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["error"]["code"] == "not_found"
    assert bodies[0]["error"]["message"].startswith(NOT_FOUND)


def test_the_api_takes_spaces_and_dashes_in_the_path(client, receipts) -> None:
    r = receipts["case"]
    answer = client.get(API.format(f"{r[:3].lower()}-{r[3:8]} {r[8:]}"))
    assert answer.status_code == 200 and answer.json()["receipt_number"] == r


def test_the_openapi_document_describes_the_endpoint_and_its_errors(client) -> None:
    document = client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/v1/cases/{receipt_number}/status"]["get"]
    assert operation["tags"] == ["Case status (v1)"]
    assert operation["summary"] and "no personal data" in operation["description"]
    assert set(operation["responses"]) == {"200", "400", "404", "429"}
    schema_of = lambda code: operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]  # noqa: E731
    assert schema_of("200") == "#/components/schemas/CaseStatus"
    assert schema_of("400") == schema_of("404") == schema_of("429") == "#/components/schemas/ApiError"
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    parameters = {(p["name"], p["in"]) for p in operation["parameters"]}
    assert {("receipt_number", "path"), ("lang", "query")} <= parameters
    schemas = document["components"]["schemas"]
    assert set(schemas["CaseStatus"]["properties"]) == {
        "receipt_number", "form_type", "status", "status_date", "language"}
    assert schemas["CaseStatus"]["properties"]["status_date"]["format"] == "date"
    assert set(schemas["CaseStatusDetail"]["properties"]) == {"code", "title", "explanation"}
    assert set(schemas["ApiErrorDetail"]["properties"]["code"]["enum"]) == {"malformed_receipt_number", "not_found",
                                                                            "rate_limited"}
    assert client.get("/api/docs").status_code == 200


# --- links and the notice check -------------------------------------------------------------------


def test_the_home_page_and_the_header_link_to_the_lookup(client) -> None:
    home = client.get("/")
    assert home.text.count('href="/status"') >= 2  # the header and the home page
    nav = re.search(r'<nav[^>]*class="caseline-nav"[^>]*>(.*?)</nav>', client.get("/sign-in").text, re.S)
    assert nav and 'href="/status"' in nav.group(1)


def test_the_status_page_carries_the_notice_check_to_verify(client) -> None:
    page = client.get("/status")
    form = re.search(r'<form[^>]*action="/verify"[^>]*>(.*?)</form>', page.text, re.S)
    assert form and 'method="post"' in form.group(0)
    assert 'name="verification_code"' in form.group(1) and 'name="receipt_number"' in form.group(1)
    answer = client.post("/verify", data={"csrf_token": csrf_from(page.text), "receipt_number": "IOE2799999999",
                                          "verification_code": "ABCD-EFGH-JKLM"})
    assert answer.status_code == 200
    assert "We found no notice with this receipt number and verification code." in answer.text
    assert 'href="/status"' in client.get("/verify").text
