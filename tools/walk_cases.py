"""Walk one case of each form through its whole life on a running system, through the web app.

    make run            # in one terminal
    .venv/bin/python tools/walk_cases.py [--base-url http://localhost:8000]

The demo applicant files each form; the demo officer and supervisor (signing in with their
development TOTP key) act on the cases from their workspace, exactly as the buttons do. The
script waits for the workflow's projection in the database between steps and prints each case's
timeline at the end. It only uses the demo accounts, so it refuses to run outside development.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli import DEMO_ACCOUNTS  # noqa: E402
from models.casefile import current_appointment  # noqa: E402
from models.db import session_scope  # noqa: E402
from models.domain import StatusCode  # noqa: E402
from models.forms import FORMS_BY_SLUG  # noqa: E402
from models.queries import timeline  # noqa: E402
from models.tables import Case  # noqa: E402
from settings import get_settings  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESS = {"street": "1 Main St", "city": "Chicago", "state": "IL", "zip_code": "60604"}
FILINGS = {
    "i-765": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "4", "date_of_birth_day": "27", "date_of_birth_year": "1990",
        "eligibility_category": "c8", **ADDRESS,
    },
    "i-130": {
        "family_name": "Lopez", "given_name": "Maria", "petitioner_status": "citizen", "relationship": "spouse",
        "beneficiary_family_name": "Nguyen", "beneficiary_given_name": "Linh",
        "beneficiary_date_of_birth_month": "8", "beneficiary_date_of_birth_day": "3",
        "beneficiary_date_of_birth_year": "1992", "beneficiary_country_of_birth": "VN", "beneficiary_abroad": "yes",
        "beneficiary_country": "VN", **ADDRESS,
    },
    "n-400": {
        "family_name": "Lopez", "given_name": "Maria", "a_number": "A123456789",
        "date_of_birth_month": "2", "date_of_birth_day": "10", "date_of_birth_year": "1980",
        "lpr_date_month": "6", "lpr_date_day": "1", "lpr_date_year": "2012",
        "eligibility_basis": "lpr_5", "reduced_fee": "no", **ADDRESS,
    },
    "i-589": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "12", "date_of_birth_day": "24", "date_of_birth_year": "1988",
        "nationality": "VE", "arrival_date_month": "3", "arrival_date_day": "2", "arrival_date_year": "2026",
        "language": "Spanish", "protected_grounds": ["political_opinion"], "include_family": "no", **ADDRESS,
    },
}
TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Person:
    def __init__(self, base_url: str, role: str) -> None:
        self.account = next(a for a in DEMO_ACCOUNTS if a.role == role)
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=60)
        self.sign_in()

    def token(self, path: str) -> str:
        page = self.http.get(path)
        page.raise_for_status()
        match = CSRF_RE.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self) -> None:
        answer = self.http.post("/sign-in", data={"csrf_token": self.token("/sign-in"), "email": self.account.email,
                                                  "password": self.account.password})
        assert answer.status_code == 303, answer.text[:500]
        if answer.headers["location"].startswith("/sign-in/two-factor"):
            token = self.token(answer.headers["location"])
            code = pyotp.TOTP(self.account.totp_secret).now()
            answer = self.http.post("/sign-in/two-factor", data={"csrf_token": token, "code": code})
            assert answer.status_code == 303, answer.text[:500]

    def post(self, path: str, data: dict, *, page: str, files=None, expect: int = 303) -> httpx.Response:
        answer = self.http.post(path, data={"csrf_token": self.token(page), "action_id": str(uuid.uuid4()), **data},
                                files=files)
        if answer.status_code != expect:
            alert = re.findall(r'usa-alert__text">([^<]+)<|usa-error-message"[^>]*>([^<]+)<', answer.text)
            raise SystemExit(f"POST {path} answered {answer.status_code}: {alert}")
        return answer


def wait_for(receipt: str, what: str, check: Callable[[Case, object], bool], timeout: float = 90) -> Case:
    deadline = time.monotonic() + timeout
    url = get_settings().database_url
    while True:
        with session_scope(url) as db:
            case = db.get(Case, receipt)
            appointment = current_appointment(db, receipt_number=receipt) if case else None
            if case is not None and check(case, appointment):
                db.expunge(case)
                return case
        if time.monotonic() > deadline:
            raise SystemExit(f"{receipt}: timed out waiting for {what}")
        time.sleep(0.3)


def in_stage(stage: str, *, appointment: bool = False):
    return lambda case, appt: case.stage == stage and (appt is not None) == appointment


def status_is(code: StatusCode):
    return lambda case, appt: case.status_code == code


def say(receipt: str, text: str) -> None:
    print(f"{receipt}  {text}", flush=True)


CARD = {"card_number": "4242 4242 4242 4242", "card_name": "Maria Lopez", "card_expiry_month": "12",
        "card_expiry_year": "2030", "card_cvc": "123", "card_postal_code": "60604"}


def file(applicant: Person, slug: str, *, fee_waiver: bool = False) -> str:
    """Walk the e-filing journey page by page: answers, one PDF per required document, the fee,
    the signature and (unless a fee waiver is asked for) a test card payment."""
    form = FORMS_BY_SLUG[slug]
    url = applicant.post(f"/efile/{slug}", {}, page=f"/efile/{slug}").headers["location"]
    while url.startswith("/efile/"):
        step = url.split("?")[0].rsplit("/", 1)[1]
        if step == "evidence":
            for item in form.evidence:
                if item.required:
                    applicant.post(f"{url.rsplit('/', 1)[0]}/evidence/upload", {"item": item.code}, page=url,
                                   files={"file": (f"{item.code}.pdf", TINY_PDF, "application/pdf")})
            data: dict = {}
        elif step == "fee":
            data = ({"fee_option": "waiver", "waiver_reason": "hardship",
                     "waiver_explanation": "I arrived recently and have no income yet."}
                    if fee_waiver else {"fee_option": "pay"})
        elif step == "review":
            data = {"attest": "yes", "signature": "Maria Lopez"}
        elif step == "pay":
            data = {**CARD, "attempt_key": str(uuid.uuid4())}
        else:
            data = FILINGS[slug]
        url = applicant.post(url, data, page=url).headers["location"]
    receipt = url.split("/")[2].split("?")[0]
    say(receipt, f"filed {slug.upper()}" + (" with a fee waiver request" if fee_waiver else ", fee paid by card"))
    return receipt


def act(person: Person, receipt: str, action: str, data: dict | None = None) -> None:
    person.post(f"/officer/cases/{receipt}/{action}", data or {}, page=f"/officer/cases/{receipt}")
    say(receipt, f"{person.account.role} {action} {data or ''}".rstrip())


def walk_i765(applicant: Person, officer: Person, supervisor: Person) -> str:
    receipt = _i765_decided(applicant, officer, "approve", "eligible",
                            "Eligible under (c)(8); identity and biometrics verified.")
    wait_for(receipt, "the card to be mailed", lambda c, a: c.stage == "closed")
    return receipt


def walk_i765_denied(applicant: Person, officer: Person, supervisor: Person) -> str:
    receipt = _i765_decided(applicant, officer, "deny", "insufficient_evidence",
                            "The record does not show a pending asylum application.")
    wait_for(receipt, "the denial", lambda c, a: c.stage == "closed")
    return receipt


def _i765_decided(applicant: Person, officer: Person, decision: str, reason_code: str, reason: str) -> str:
    """File an I-765, take the biometrics, and decide it in review."""
    receipt = file(applicant, "i-765")
    wait_for(receipt, "a biometrics appointment", in_stage("biometrics", appointment=True))
    act(officer, receipt, "biometrics", {"outcome": "taken"})
    wait_for(receipt, "review", in_stage("review"))
    act(officer, receipt, "claim")
    act(officer, receipt, "decide", {"decision": decision, "reason_code": reason_code, "reason": reason})
    return receipt


def walk_i130(applicant: Person, officer: Person, supervisor: Person) -> str:
    receipt = file(applicant, "i-130")
    wait_for(receipt, "review", in_stage("review"))
    act(officer, receipt, "claim")
    act(officer, receipt, "request-evidence", {"items": "relationship",
                                                "instructions": "Send your marriage certificate."})
    wait_for(receipt, "the request for evidence", in_stage("evidence_requested"))
    applicant.post(f"/cases/{receipt}/evidence-response", {"response_note": "Marriage certificate attached."},
                   page=f"/cases/{receipt}", files=[("files", ("marriage.pdf", TINY_PDF, "application/pdf"))])
    say(receipt, "applicant answered the request for evidence with marriage.pdf")
    wait_for(receipt, "review after the response", in_stage("review"))
    act(officer, receipt, "decide", {"decision": "approve", "reason_code": "eligible_after_rfe",
                                      "reason": "The marriage certificate establishes the relationship."})
    wait_for(receipt, "the case to go to the Department of State", lambda c, a: c.stage == "closed")
    return receipt


def walk_n400(applicant: Person, officer: Person, supervisor: Person) -> str:
    receipt = file(applicant, "n-400")
    wait_for(receipt, "a biometrics appointment", in_stage("biometrics", appointment=True))
    applicant.post(f"/cases/{receipt}/reschedule", {"kind": "biometrics"}, page=f"/cases/{receipt}")
    say(receipt, "applicant asked for a new biometrics date")
    wait_for(receipt, "the new biometrics appointment",
             lambda c, a: c.stage == "biometrics" and a is not None and c.last_seq >= 4)
    act(officer, receipt, "biometrics", {"outcome": "taken"})
    wait_for(receipt, "the interview appointment", in_stage("interview", appointment=True))
    act(officer, receipt, "interview", {"outcome": "failed"})
    wait_for(receipt, "the re-test appointment", status_is(StatusCode.INTERVIEW_RESCHEDULED))
    act(officer, receipt, "interview", {"outcome": "passed"})
    wait_for(receipt, "review", in_stage("review"))
    act(officer, receipt, "decide", {"decision": "approve", "reason_code": "eligible_after_interview",
                                      "reason": "Passed the English and civics re-test; eligible."})
    wait_for(receipt, "the oath ceremony", in_stage("post_decision", appointment=True))
    act(officer, receipt, "oath", {"outcome": "taken"})
    wait_for(receipt, "the case to close", lambda c, a: c.stage == "closed")
    return receipt


def walk_i589(applicant: Person, officer: Person, supervisor: Person) -> str:
    receipt = file(applicant, "i-589", fee_waiver=True)
    wait_for(receipt, "a biometrics appointment", in_stage("biometrics", appointment=True))
    applicant.post(f"/cases/{receipt}/expedite", {"expedite_reason": "My life is in danger if the case waits."},
                   page=f"/cases/{receipt}")
    say(receipt, "applicant asked for an expedite")
    wait_for(receipt, "the expedite request", lambda c, a: c.expedite_status == "requested")
    act(supervisor, receipt, "expedite", {"grant": "yes", "reason": "Urgent humanitarian reason documented."})
    wait_for(receipt, "the expedite decision", lambda c, a: c.expedited)
    act(officer, receipt, "biometrics", {"outcome": "taken"})
    wait_for(receipt, "the interview appointment", in_stage("interview", appointment=True))
    act(supervisor, receipt, "hold", {"reason": "Waiting for a security check."})
    wait_for(receipt, "the hold", in_stage("on_hold", appointment=True))
    act(supervisor, receipt, "resume")
    wait_for(receipt, "the resumed interview", in_stage("interview", appointment=True))
    act(officer, receipt, "interview", {"outcome": "passed"})
    wait_for(receipt, "review", in_stage("review"))
    act(officer, receipt, "decide", {"decision": "approve", "reason_code": "eligible_after_interview",
                                      "reason": "Credible testimony; persecution on account of political opinion."})
    wait_for(receipt, "the case to close", lambda c, a: c.stage == "closed")
    return receipt


def print_timeline(receipt: str) -> None:
    with session_scope(get_settings().database_url) as db:
        case = db.get(Case, receipt)
        assert case is not None
        print(f"\n{receipt} ({case.form_type}) stage={case.stage} decision={case.decision}"
              f"{' tracking=' + case.tracking_number if case.tracking_number else ''}")
        for event in reversed(timeline(db, receipt_number=receipt)):
            print(f"  #{event.seq:<3} {event.occurred_at:%Y-%m-%d %H:%M:%S}  {StatusCode(event.status_code).text.title}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://localhost:8000")
    args = parser.parse_args()
    if not get_settings().is_dev:
        raise SystemExit("walk_cases uses the demo accounts: development only")
    applicant, officer, supervisor = (Person(args.base_url, r) for r in ("applicant", "officer", "supervisor"))
    receipts = [walk(applicant, officer, supervisor) for walk in (walk_i765, walk_i130, walk_n400, walk_i589,
                                                                 walk_i765_denied)]
    for receipt in receipts:
        print_timeline(receipt)


if __name__ == "__main__":
    main()
