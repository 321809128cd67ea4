"""Filing a form through the e-filing journey with a test client, one page at a time, as a browser
without JavaScript does: the start page, one page per section of questions (for a representative,
their client first), the documents, the fee, check your answers and sign, the payment when a fee is
paid, and the case page with its receipt number.

Answers are given as a browser sends them (``VALID``): dates in month, day and year parts, ticked
checkboxes as a list of values. Every helper checks the status of what it posts, so a test that
uses them fails where the journey breaks. ``file_form`` is the whole walk; the steps are separate so
a test can do more on a page before moving on.

    url = start_draft(client, form)               # the first page of a new draft
    answer_all(client, url, form, VALID[form.code])
    upload_required_evidence(client, url, form)
    choose_fee(client, url, form)
    sign(client, url, "Maria Lopez")
    receipt = receipt_of(pay(client, url))        # or simply: file_form(client, form)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from starlette.testclient import TestClient

from models.forms import FormSpec
from tests.web.conftest import csrf_from
from web.journey import question_steps

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
APPROVED_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
CARD = {"card_name": "Maria Lopez", "card_expiry_month": "12", "card_expiry_year": "2035", "card_cvc": "123",
        "card_postal_code": "78701"}

DRAFT_URL_RE = re.compile(r"^/efile/drafts/([0-9a-f-]{36})(?:/([a-z0-9-]+))?(?:\?[^#]*)?(?:#.*)?$")
CASE_URL_RE = re.compile(r"^/cases/(IOE\d{10})\?filed=1$")
ATTEMPT_KEY_RE = re.compile(r'name="attempt_key" value="([^"]+)"')

ADDRESS = {"street": "1 Main St", "city": "Austin", "state": "TX", "zip_code": "78701"}

# What a browser sends for a valid form: dates in parts, ticked checkboxes as repeated names.
VALID: dict[str, dict[str, str | list[str]]] = {
    "I-765": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "4", "date_of_birth_day": "27", "date_of_birth_year": "1990",
        "eligibility_category": "c8", **ADDRESS,
    },
    "I-130": {
        "family_name": "Lopez", "given_name": "Maria", "petitioner_status": "citizen", "relationship": "spouse",
        "beneficiary_family_name": "Nguyen", "beneficiary_given_name": "Linh",
        "beneficiary_date_of_birth_month": "8", "beneficiary_date_of_birth_day": "3",
        "beneficiary_date_of_birth_year": "1992", "beneficiary_country_of_birth": "VN", "beneficiary_abroad": "yes",
        "beneficiary_country": "VN", **ADDRESS,
    },
    "N-400": {
        "family_name": "Lopez", "given_name": "Maria", "a_number": "a-123 456 789",
        "date_of_birth_month": "2", "date_of_birth_day": "10", "date_of_birth_year": "1980",
        "lpr_date_month": "6", "lpr_date_day": "1", "lpr_date_year": "2012",
        "eligibility_basis": "lpr_5", "reduced_fee": "no", **ADDRESS,
    },
    "I-589": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "12", "date_of_birth_day": "24", "date_of_birth_year": "1988",
        "nationality": "VE", "arrival_date_month": "3", "arrival_date_day": "2", "arrival_date_year": "2024",
        "language": "Spanish", "protected_grounds": ["political_opinion", "race"], "include_family": "no", **ADDRESS,
    },
}


# --- addresses -----------------------------------------------------------------------------------


def draft_id_of(url: str) -> str:
    match = DRAFT_URL_RE.match(url)
    assert match, f"not the address of a draft: {url}"
    return match.group(1)


def step_of(url: str) -> str | None:
    """The step an address of a draft names (None for the resume address)."""
    match = DRAFT_URL_RE.match(url)
    assert match, f"not the address of a draft: {url}"
    return match.group(2)


def step_url(draft_url: str, step: str) -> str:
    """The address of ``step`` of the draft that ``draft_url`` (any page of it) belongs to."""
    return f"/efile/drafts/{draft_id_of(draft_url)}/{step}"


def receipt_of(response) -> str:
    """The receipt number of the case a submission redirected to."""
    assert response.status_code == 303, response.text
    match = CASE_URL_RE.match(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def text_of(html: str) -> str:
    """The words of a page without its tags, spaces collapsed (for sentences split by markup)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- posting ------------------------------------------------------------------------------------


def _post(client: TestClient, url: str, data: Mapping[str, object], *, expect: int | None = 303, files=None):
    """Post a page's form as a browser does: with the CSRF token of the page it came from."""
    page = client.get(url.split("#")[0])
    assert page.status_code == 200, (url, page.status_code, page.text[:2000])
    response = client.post(url.split("#")[0], data={"csrf_token": csrf_from(page.text), **data}, files=files)
    if expect is not None:
        assert response.status_code == expect, (url, response.status_code, response.text[:4000])
    return response


def start_draft(client: TestClient, form: FormSpec) -> str:
    """Open the form's start page and press "Start now": the address of the draft's first page."""
    page = client.get(f"/efile/{form.slug}")
    assert page.status_code == 200, page.text
    response = client.post(f"/efile/{form.slug}", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    draft_id_of(location)
    return location


def page_answers(fields: Sequence, answers: Mapping[str, object]) -> dict[str, object]:
    """What a browser sends for these questions: the given answers that belong to them."""
    sent: dict[str, object] = {}
    for spec in fields:
        names = [f"{spec.name}_{part}" for part in ("month", "day", "year")] if spec.kind == "date" else [spec.name]
        sent.update({name: answers[name] for name in names if name in answers})
    return sent


def answer_step(
    client: TestClient, draft_url: str, form: FormSpec, step: str, answers: Mapping[str, object], *,
    expect: int | None = 303, query: str = "", **extra: object,
):
    """Post the answers that belong to one page of questions; returns the response."""
    fields = next(s.fields for s in question_steps(form) if s.name == step)
    url = step_url(draft_url, step) + query
    return _post(client, url, {**page_answers(fields, answers), **extra}, expect=expect)


def answer_all(client: TestClient, draft_url: str, form: FormSpec, answers: Mapping[str, object] | None = None) -> str:
    """Answer every page of questions in order, each going on to the next page; returns the address
    of the page after the questions (the documents)."""
    answers = VALID[form.code] if answers is None else answers
    steps = question_steps(form)
    for index, step in enumerate(steps):
        response = answer_step(client, draft_url, form, step.name, answers)
        following = steps[index + 1].name if index + 1 < len(steps) else "evidence"
        assert response.headers["location"] == step_url(draft_url, following), response.headers["location"]
    return step_url(draft_url, "evidence")


def choose_client(client: TestClient, draft_url: str, email: str, birth_date: str, *, expect: int | None = 303):
    """A representative names their client by email address and date of birth (YYYY-MM-DD)."""
    year, month, day = birth_date.split("-")
    data = {"client_email": email, "client_date_of_birth_month": month, "client_date_of_birth_day": day,
            "client_date_of_birth_year": year}
    return _post(client, step_url(draft_url, "client"), data, expect=expect)


def upload(client: TestClient, draft_url: str, item: str, *, data: bytes = PDF, name: str = "scan.pdf",
           content_type: str = "application/pdf", expect: int | None = 303, query: str = ""):
    """Upload one file for one document of the list (an evidence item's code, or "other")."""
    page = client.get(step_url(draft_url, "evidence") + query)
    assert page.status_code == 200, page.text
    response = client.post(
        step_url(draft_url, "evidence/upload") + query, data={"csrf_token": csrf_from(page.text), "item": item},
        files={"file": (name, data, content_type)},
    )
    if expect is not None:
        assert response.status_code == expect, response.text[:4000]
    return response


def upload_required_evidence(client: TestClient, draft_url: str, form: FormSpec, *, go_on: bool = True) -> str:
    """Upload a small PDF for every required document; with ``go_on``, continue to the fee."""
    for item in form.evidence:
        if item.required:
            upload(client, draft_url, item.code, name=f"{item.code}.pdf")
    if go_on:
        response = _post(client, step_url(draft_url, "evidence"), {})
        assert response.headers["location"] == step_url(draft_url, "fee")
    return step_url(draft_url, "fee")


def choose_fee(
    client: TestClient, draft_url: str, option: str = "pay", *, reason: str = "means_tested",
    explanation: str = "I receive SNAP benefits.", expect: int | None = 303,
):
    """Choose to pay the fee ("pay") or to ask for a waiver ("waiver", with a reason and why)."""
    data: dict[str, str] = {"fee_option": option}
    if option == "waiver":
        data |= {"waiver_reason": reason, "waiver_explanation": explanation}
    return _post(client, step_url(draft_url, "fee"), data, expect=expect)


def sign(client: TestClient, draft_url: str, name: str, *, attest: bool = True, expect: int | None = 303):
    """Sign on the check-your-answers page: to the payment, or (no fee to pay) the filed case."""
    data = {"signature": name} | ({"attest": "yes"} if attest else {})
    return _post(client, step_url(draft_url, "review"), data, expect=expect)


def pay(
    client: TestClient, draft_url: str, *, card: str = APPROVED_CARD, attempt_key: str | None = None,
    expect: int | None = 303, **fields: str,
):
    """Pay on the payment page with ``card`` (and ``fields`` over the usual name, expiry, CVC and ZIP
    code); the attempt key is the one the page gives unless ``attempt_key`` is set."""
    url = step_url(draft_url, "pay")
    page = client.get(url)
    assert page.status_code == 200, page.text[:4000]
    key = attempt_key or ATTEMPT_KEY_RE.search(page.text).group(1)
    data = {"csrf_token": csrf_from(page.text), "attempt_key": key, "card_number": card, **CARD, **fields}
    response = client.post(url, data=data)
    if expect is not None:
        assert response.status_code == expect, response.text[:4000]
    return response


def file_form(
    client: TestClient, form: FormSpec, answers: Mapping[str, object] | None = None, *, fee: str = "pay",
    card: str = APPROVED_CARD, signature: str | None = None, for_client: tuple[str, str] | None = None,
) -> str:
    """The whole journey, from the start page to the filed case; returns its receipt number.

    ``fee``: "pay" (by ``card``) or "waiver". ``for_client``: a representative's client, as
    (email, date of birth). ``signature``: by default the applicant's given and family names."""
    answers = VALID[form.code] if answers is None else answers
    url = start_draft(client, form)
    if for_client is not None:
        assert step_of(url) == "client", url
        choose_client(client, url, *for_client)
    answer_all(client, url, form, answers)
    upload_required_evidence(client, url, form)
    choose_fee(client, url, fee)
    signed = sign(client, url, signature or f"{answers['given_name']} {answers['family_name']}")
    if signed.headers["location"] == step_url(url, "pay"):
        return receipt_of(pay(client, url, card=card))
    return receipt_of(signed)
