"""The public processing times page: the figures of a seeded set of cases, without signing in, in
English and Spanish, in accessible tables, with no personal data."""

from __future__ import annotations

import re
from datetime import timedelta

from babel.dates import format_date

from models.db import session_scope
from models.domain import StatusCode
from models.receipts import AGENCY_TIME_ZONE
from models.tables import Case, CaseEvent, utcnow
from tests.web.fake_temporal import file_n400, page

STATUS = {
    "intake": StatusCode.CASE_RECEIVED,
    "biometrics": StatusCode.BIOMETRICS_SCHEDULED,
    "interview": StatusCode.INTERVIEW_SCHEDULED,
    "review": StatusCode.INTERVIEW_COMPLETED,
    "decision": StatusCode.APPROVED,
}


def seed(settings, applicant_id: int) -> list[str]:
    """Five N-400 cases, filed and decided: intake 1 day, biometrics 10.5, 20.5, ... 50.5 days, an
    interview 30 days, review 9 days. Returns their receipt numbers."""
    now = utcnow()
    receipts = []
    with session_scope(settings.database_url) as db:
        for n, biometrics in enumerate((10.5, 20.5, 30.5, 40.5, 50.5)):
            start = now - timedelta(days=200 + n)
            filing = file_n400(db, applicant_id=applicant_id, filed_at=start)
            steps = [("intake", 0), ("biometrics", 1), ("interview", 1 + biometrics), ("review", 31 + biometrics),
                     ("decision", 40 + biometrics)]
            times = [(stage, start + timedelta(days=after)) for stage, after in steps]
            db.add(Case(
                receipt_number=filing.receipt_number, form_type=filing.form_type, office="IOE", stage="decision",
                status_code=StatusCode.APPROVED, status_changed_at=times[-1][1], stage_entered_at=times[-1][1],
                applicant_id=applicant_id, filed_at=filing.filed_at, decision="approve",
            ))
            db.flush()
            for seq, (stage, at) in enumerate(times, start=1):
                db.add(CaseEvent(receipt_number=filing.receipt_number, seq=seq, stage=stage, status_code=STATUS[stage],
                                 occurred_at=at))
            receipts.append(filing.receipt_number)
    return receipts


def n400_table(html: str) -> str:
    match = re.search(r'<section[^>]*aria-labelledby="times-n-400".*?</section>', html, re.S)
    assert match, "no N-400 table"
    return match.group(0)


def cells(table: str, row_header: str) -> list[str]:
    match = re.search(rf'<th scope="row">{re.escape(row_header)}</th>(.*?)</tr>', table, re.S)
    assert match, f"no row {row_header!r}"
    return [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)]


def test_anyone_sees_the_figures_without_signing_in(client, settings, ids) -> None:
    seed(settings, ids["applicant"])
    html = page(client.get("/processing-times")).text
    table = n400_table(html)
    assert "Form N-400, Application for Naturalization" in table
    assert cells(table, "Intake") == ["1", "1", "5 cases"]
    assert cells(table, "Biometrics") == ["30.5", "42.5", "5 cases"]  # 40.5 + 0.2 * 10
    assert cells(table, "Interview") == ["30", "30", "5 cases"]
    assert cells(table, "Review") == ["9", "9", "5 cases"]
    assert cells(table, "Whole case, from filing to decision") == ["70.5", "82.5", "5 cases"]
    assert cells(table, "Decision") == ["Not enough data", "0 cases"]  # still in the decision stage
    # A form without completed cases.
    assert "Form I-589" in html
    assert html.count("Not enough data") > 10
    assert "How we calculate these times" in html
    assert "linear interpolation" in html
    assert "When fewer than 5 cases back a figure" in html
    today = utcnow().astimezone(AGENCY_TIME_ZONE).date()
    assert f"Figures computed on {format_date(today, format='long', locale='en')}" in html


def test_the_tables_are_accessible(client, settings, ids) -> None:
    seed(settings, ids["applicant"])
    html = page(client.get("/processing-times")).text
    assert html.count("<table") == 4  # one per form
    assert html.count("<caption>") == 4
    assert "<caption>Time in each stage of Form N-400, in days</caption>" in html
    assert html.count('<th scope="col">Median (days)</th>') == 4
    assert '<th scope="col">80th percentile (days)</th>' in html
    assert '<th scope="row">Biometrics</th>' in html
    assert "<h1>Processing times</h1>" in html
    assert "hx-get" not in html and "hx-post" not in html  # nothing on the page needs JavaScript


def test_the_page_in_spanish(client, settings, ids) -> None:
    seed(settings, ids["applicant"])
    client.cookies.set("caseline_lang", "es")
    response = page(client.get("/processing-times"))
    html = response.text
    assert '<html lang="es">' in html
    table = n400_table(html)
    assert "Solicitud de Naturalización" in table
    assert cells(table, "Servicios biométricos")[:2] == ["30,5", "42,5"]  # a decimal comma
    assert cells(table, "Revisión")[:2] == ["9", "9"]
    today = utcnow().astimezone(AGENCY_TIME_ZONE).date()
    assert format_date(today, format="long", locale="es") in html


def test_no_personal_data_or_receipt_numbers(client, settings, ids) -> None:
    receipts = seed(settings, ids["applicant"])
    html = page(client.get("/processing-times")).text
    for receipt in receipts:
        assert receipt not in html
    for personal in ("Rivera", "A123456789", "1980-04-27", "Main Street", "Chicago", "@example.com"):
        assert personal not in html


def test_an_empty_system_says_there_is_not_enough_data(client) -> None:
    html = page(client.get("/processing-times")).text
    table = n400_table(html)
    assert cells(table, "Biometrics") == ["Not enough data", "0 cases"]
    assert cells(table, "Whole case, from filing to decision") == ["Not enough data", "0 cases"]


def test_an_htmx_request_gets_the_content_block(client) -> None:
    response = page(client.get("/processing-times", headers={"HX-Request": "true"}))
    assert "<h1>Processing times</h1>" in response.text
    assert "<html" not in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_the_home_page_links_to_processing_times(client) -> None:
    assert 'href="/processing-times"' in page(client.get("/")).text
