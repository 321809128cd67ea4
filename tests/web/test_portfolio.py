"""The case portfolio's pages: /portfolio, its forms, sorting and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

import i18n
from cli import DEMO_ACCOUNTS, DEMO_REPRESENTATIVE
from models.accounts import create_user
from models.db import session_scope
from models.domain import STATUS_TEXT, Stage, StatusCode
from models.portfolio import MAX_WATCHED, add_pasted
from models.tables import Case, User, WatchedCase, utcnow
from tests.web.conftest import csrf, sign_in
from tests.web.fake_temporal import make_case, page, user_id

APPLICANT, OFFICER, _SUPERVISOR = DEMO_ACCOUNTS
OTHER_EMAIL, OTHER_PASSWORD = "other.watcher@example.com", "another long password"
ROW_RE = re.compile(r'<th scope="row" data-label="[^"]*">\s*<a class="usa-link" href="([^"]+)">([A-Z]{3}\d{10})</a>')


@pytest.fixture
def rep_id(settings) -> int:
    with session_scope(settings.database_url) as db:
        return user_id(db, DEMO_REPRESENTATIVE.email)


@pytest.fixture
def applicant_id(settings) -> int:
    with session_scope(settings.database_url) as db:
        return user_id(db, APPLICANT.email)


def cases(settings, applicant_id: int, n: int, **kw) -> list[str]:
    with session_scope(settings.database_url) as db:
        return [make_case(db, applicant_id=applicant_id, stage=Stage.INTAKE, **kw).receipt_number for _ in range(n)]


def as_representative(client) -> None:
    sign_in(client, DEMO_REPRESENTATIVE.email, DEMO_REPRESENTATIVE.password)


def post(client, path: str, data: dict[str, str]):
    return client.post(path, data={"csrf_token": csrf(client, "/portfolio"), **data})


def entries(settings, owner_id: int) -> list[WatchedCase]:
    with session_scope(settings.database_url) as db:
        return list(db.exec(select(WatchedCase).where(WatchedCase.user_id == owner_id).order_by(WatchedCase.id)).all())


def receipt_order(html: str) -> list[str]:
    return [receipt for _href, receipt in ROW_RE.findall(html)]


def test_the_portfolio_needs_an_account(client):
    response = client.get("/portfolio")
    assert response.status_code == 303 and response.headers["location"] == "/sign-in?next=%2Fportfolio"
    assert client.get("/portfolio/export.csv").status_code == 303
    assert client.get("/portfolio/1/edit").status_code == 303
    token = csrf(client, "/")
    for path in ("/portfolio/add", "/portfolio/bulk", "/portfolio/1/edit", "/portfolio/1/notify", "/portfolio/1/remove"):
        refused = client.post(path, data={"csrf_token": token, "receipt_number": "IOE2690123456", "lines": "x"})
        assert refused.status_code == 303 and refused.headers["location"].startswith("/sign-in"), path


def test_forms_need_the_csrf_token(client, settings, applicant_id):
    [receipt] = cases(settings, applicant_id, 1)
    as_representative(client)
    assert client.post("/portfolio/add", data={"receipt_number": receipt}).status_code == 403
    assert client.post("/portfolio/add", data={"csrf_token": "0" * 64, "receipt_number": receipt}).status_code == 403


def test_the_dashboard_links_to_the_portfolio(client):
    as_representative(client)
    assert 'href="/portfolio"' in page(client.get("/account")).text and "My case portfolio" in client.get("/account").text
    empty = page(client.get("/portfolio"))
    assert "My case portfolio" in empty.text and "Your portfolio is empty" in empty.text
    assert "You follow 0 of 100 cases." in empty.text


def test_add_a_case_and_see_only_public_facts(client, settings, applicant_id, rep_id):
    [receipt] = cases(settings, applicant_id, 1)
    as_representative(client)
    response = post(client, "/portfolio/add", {"receipt_number": receipt.lower(), "nickname": "Lopez file", "notify": "yes"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/portfolio?done=added&receipt={receipt}"
    shown = page(client.get(response.headers["location"]))
    assert f"{receipt} was added to your portfolio." in shown.text
    assert receipt in shown.text and "Lopez file" in shown.text and "I-765" in shown.text
    assert "Case Was Received" in shown.text and "You follow 1 of 100 cases." in shown.text
    # Not the representative's case: the receipt number links to the public status lookup.
    assert ROW_RE.findall(shown.text) == [(f"/status?receipt_number={receipt}", receipt)]
    # Nothing personal about the case: not the applicant's name, birth date, address or account.
    for personal in ("Maria Lopez", "Rivera", "Ana", "1990-04-27", "Springfield", "Main Street", APPLICANT.email):
        assert personal not in shown.text, personal
    [entry] = entries(settings, rep_id)
    assert (entry.receipt_number, entry.nickname, entry.notify) == (receipt, "Lopez file", True)


def test_a_party_to_the_case_gets_a_link_to_the_case(client, settings, applicant_id):
    [receipt] = cases(settings, applicant_id, 1)
    sign_in(client, APPLICANT.email, APPLICANT.password)
    assert post(client, "/portfolio/add", {"receipt_number": receipt}).status_code == 303
    assert ROW_RE.findall(client.get("/portfolio").text) == [(f"/cases/{receipt}", receipt)]


def test_staff_accounts_may_keep_a_portfolio(client, settings, applicant_id):
    [receipt] = cases(settings, applicant_id, 1)
    sign_in(client, OFFICER.email, OFFICER.password)
    assert post(client, "/portfolio/add", {"receipt_number": receipt}).status_code == 303
    assert receipt_order(page(client.get("/portfolio")).text) == [receipt]


def test_add_errors_say_what_is_wrong_by_the_field(client, settings, applicant_id, rep_id):
    [receipt] = cases(settings, applicant_id, 1)
    as_representative(client)
    malformed = post(client, "/portfolio/add", {"receipt_number": "IOE12", "nickname": "kept"})
    assert malformed.status_code == 422
    assert "There is a problem" in malformed.text and 'href="#receipt_number"' in malformed.text
    assert "3 letters and 10 numbers, like IOE2690123456" in malformed.text
    assert 'value="IOE12"' in malformed.text and 'value="kept"' in malformed.text  # what was typed is kept
    assert 'aria-describedby="receipt_number-hint receipt_number-error"' in malformed.text

    unknown = post(client, "/portfolio/add", {"receipt_number": "IOE0000000001"})
    assert unknown.status_code == 422
    assert "We found no case with the receipt number IOE0000000001" in unknown.text
    assert "3 letters and 10 numbers" not in unknown.text.split("<h1>")[0]  # a different message

    empty = post(client, "/portfolio/add", {"receipt_number": " "})
    assert empty.status_code == 422 and "Enter the receipt number" in empty.text

    long_name = post(client, "/portfolio/add", {"receipt_number": receipt, "nickname": "n" * 61})
    assert long_name.status_code == 422 and 'href="#nickname"' in long_name.text
    assert "The nickname must be 60 characters or fewer." in long_name.text
    assert entries(settings, rep_id) == []

    assert post(client, "/portfolio/add", {"receipt_number": receipt}).status_code == 303
    again = post(client, "/portfolio/add", {"receipt_number": receipt})
    assert again.status_code == 422 and f"{receipt} is already in your portfolio." in again.text
    assert len(entries(settings, rep_id)) == 1


def test_the_hundred_and_first_case_is_refused_with_the_limit(client, settings, applicant_id, rep_id):
    receipts = cases(settings, applicant_id, MAX_WATCHED + 1)
    with session_scope(settings.database_url) as db:
        assert all(r.added for r in add_pasted(db, user_id=rep_id, text="\n".join(receipts[:MAX_WATCHED])))
    as_representative(client)
    full = page(client.get("/portfolio"))
    assert "You follow 100 of 100 cases." in full.text and len(receipt_order(full.text)) == MAX_WATCHED
    refused = post(client, "/portfolio/add", {"receipt_number": receipts[-1]})
    assert refused.status_code == 422
    assert "Your portfolio is full: you follow 100 cases and the limit is 100." in refused.text
    assert 'href="#receipt_number"' in refused.text
    assert len(entries(settings, rep_id)) == MAX_WATCHED
    bulk = post(client, "/portfolio/bulk", {"lines": receipts[-1]})
    assert bulk.status_code == 422 and 'data-outcome="over_limit"' in bulk.text


def test_pasting_many_reports_each_line(client, settings, applicant_id, rep_id):
    a, b, c = cases(settings, applicant_id, 3)
    as_representative(client)
    assert post(client, "/portfolio/add", {"receipt_number": c}).status_code == 303
    lines = "\n".join([a, "IOE12345", "", f"{b}, Smith family", c, "IOE0000000001"])
    response = post(client, "/portfolio/bulk", {"lines": lines, "notify": "yes"})
    assert response.status_code == 422
    assert "There is a problem" in response.text and 'href="#lines"' in response.text
    assert "2 lines could not be added." in response.text
    report = re.findall(
        r'<th scope="row" data-label="Line">(\d+)</th>\s*<td data-label="Receipt number">([^<]*)</td>\s*'
        r'<td data-label="Result"[^>]*data-outcome="([a-z_]+)"',
        response.text,
    )
    assert report == [
        ("1", a, "added"), ("2", "IOE12345", "malformed"), ("4", b, "added"), ("5", c, "already_watched"),
        ("6", "IOE0000000001", "not_found"),
    ]
    assert f"{c} is already in your portfolio." in response.text
    assert "We found no case with the receipt number IOE0000000001" in response.text
    # The box keeps only the lines that were not added, to correct them.
    box = re.search(r'<textarea[^>]*id="lines"[^>]*>([^<]*)</textarea>', response.text).group(1)
    assert box.split("\n") == ["IOE12345", "IOE0000000001"]
    saved = {e.receipt_number: e for e in entries(settings, rep_id)}
    assert set(saved) == {a, b, c} and saved[b].nickname == "Smith family" and saved[b].notify and not saved[c].notify


def test_pasting_only_good_lines_redirects_with_a_count(client, settings, applicant_id, rep_id):
    a, b = cases(settings, applicant_id, 2)
    as_representative(client)
    response = post(client, "/portfolio/bulk", {"lines": f"{a}\t First \n{b}\n"})
    assert response.status_code == 303 and response.headers["location"] == "/portfolio?done=bulk&count=2"
    assert "2 cases were added to your portfolio." in page(client.get(response.headers["location"])).text
    assert [e.nickname for e in entries(settings, rep_id)] == ["First", ""]
    empty = post(client, "/portfolio/bulk", {"lines": "\n \n"})
    assert empty.status_code == 422 and "Enter at least one receipt number" in empty.text
    too_many = post(client, "/portfolio/bulk", {"lines": "\n".join([a] * 201)})
    assert too_many.status_code == 422 and "Paste at most 200 lines at a time" in too_many.text


def test_edit_nickname_toggle_emails_and_remove(client, settings, applicant_id, rep_id):
    [receipt] = cases(settings, applicant_id, 1)
    as_representative(client)
    post(client, "/portfolio/add", {"receipt_number": receipt, "nickname": "first"})
    [entry] = entries(settings, rep_id)

    form = page(client.get(f"/portfolio/{entry.id}/edit"))
    assert 'value="first"' in form.text and f'action="/portfolio/{entry.id}/edit"' in form.text
    too_long = post(client, f"/portfolio/{entry.id}/edit", {"nickname": "q" * 61, "notify": "yes"})
    assert too_long.status_code == 422 and 'href="#nickname"' in too_long.text
    saved = post(client, f"/portfolio/{entry.id}/edit", {"nickname": "  second ", "notify": "yes"})
    assert saved.status_code == 303 and saved.headers["location"] == f"/portfolio?done=updated&receipt={receipt}"
    assert f"Your changes to {receipt} are saved." in client.get(saved.headers["location"]).text
    [entry] = entries(settings, rep_id)
    assert (entry.nickname, entry.notify) == ("second", True)

    off = post(client, f"/portfolio/{entry.id}/notify", {"notify": "off", "sort": "nickname", "order": "desc"})
    assert off.status_code == 303
    assert off.headers["location"] == f"/portfolio?sort=nickname&order=desc&done=emails_off&receipt={receipt}"
    assert entries(settings, rep_id)[0].notify is False
    assert post(client, f"/portfolio/{entry.id}/notify", {"notify": "on"}).headers["location"].startswith("/portfolio?done=emails_on")
    assert entries(settings, rep_id)[0].notify is True

    confirm = page(client.get(f"/portfolio/{entry.id}/remove"))
    assert f"Remove {receipt} from your portfolio?" in confirm.text
    assert "Remove from my portfolio" in confirm.text and f'action="/portfolio/{entry.id}/remove"' in confirm.text
    assert entries(settings, rep_id) != []  # asking is not removing
    removed = post(client, f"/portfolio/{entry.id}/remove", {})
    assert removed.status_code == 303 and removed.headers["location"] == f"/portfolio?done=removed&receipt={receipt}"
    assert f"{receipt} was removed from your portfolio." in client.get(removed.headers["location"]).text
    assert entries(settings, rep_id) == []


def test_another_accounts_entries_are_a_404(client, settings, applicant_id, rep_id):
    [receipt] = cases(settings, applicant_id, 1)
    with session_scope(settings.database_url) as db:
        other = create_user(db, email=OTHER_EMAIL, password=OTHER_PASSWORD, full_name="Other Watcher")
        other.email_verified_at = utcnow()
    with session_scope(settings.database_url) as db:
        other_id = user_id(db, OTHER_EMAIL)
        add_pasted(db, user_id=other_id, text=f"{receipt}, theirs", notify=True)
    [theirs] = entries(settings, other_id)
    as_representative(client)
    assert client.get(f"/portfolio/{theirs.id}/edit").status_code == 404
    assert client.get(f"/portfolio/{theirs.id}/remove").status_code == 404
    assert client.get("/portfolio/999999/edit").status_code == 404
    assert client.get("/portfolio/not-a-number/edit").status_code == 404
    for path, data in (
        (f"/portfolio/{theirs.id}/edit", {"nickname": "mine now"}),
        (f"/portfolio/{theirs.id}/notify", {"notify": "off"}),
        (f"/portfolio/{theirs.id}/remove", {}),
    ):
        assert post(client, path, data).status_code == 404, path
    [after] = entries(settings, other_id)
    assert (after.nickname, after.notify) == ("theirs", True)
    shown = page(client.get("/portfolio"))
    assert receipt not in shown.text and "theirs" not in shown.text


@pytest.fixture
def three_cases(settings, applicant_id, rep_id) -> tuple[str, str, str]:
    """Three watched cases that sort differently by every column."""
    specs = [  # (form, nickname, status, last change)
        ("I-765", "bravo", StatusCode.RFE_SENT, datetime(2026, 3, 1, 15, tzinfo=UTC)),
        ("N-400", "alpha", StatusCode.APPROVED, datetime(2026, 1, 10, 15, tzinfo=UTC)),
        ("I-765", "charlie", StatusCode.CARD_MAILED, datetime(2026, 2, 1, 15, tzinfo=UTC)),
    ]
    receipts = []
    with session_scope(settings.database_url) as db:
        for form, nickname, status, changed in specs:
            case = make_case(db, applicant_id=applicant_id, stage=Stage.REVIEW, form=form, status_code=status)
            case.status_changed_at = changed
            db.add(case)
            receipts.append((case.receipt_number, nickname))
    with session_scope(settings.database_url) as db:
        add_pasted(db, user_id=rep_id, text="\n".join(f"{r}, {n}" for r, n in receipts))
    return tuple(r for r, _ in receipts)  # type: ignore[return-value]


def test_sorting_by_each_column_both_ways(client, three_cases):
    a, b, c = three_cases
    as_representative(client)
    ascending = {
        "receipt_number": [a, b, c],
        "nickname": [b, a, c],
        "form": [a, c, b],
        "status": [c, b, a],  # Card Was Mailed, Case Was Approved, Request for Additional Evidence
        "last_change": [b, c, a],
    }
    for sort, order in ascending.items():
        for direction, expected in (("asc", order), ("desc", order[::-1])):
            response = page(client.get(f"/portfolio?sort={sort}&order={direction}"))
            assert receipt_order(response.text) == expected, (sort, direction)
            sorted_headers = re.findall(r'<th scope="col" aria-sort="(ascending|descending)">\s*<a class="usa-link" href="([^"]+)"', response.text)
            assert sorted_headers == [(
                "ascending" if direction == "asc" else "descending",
                f"/portfolio?sort={sort}&amp;order={'desc' if direction == 'asc' else 'asc'}",
            )]
    # The default: the latest change first; nonsense falls back to it.
    assert receipt_order(client.get("/portfolio").text) == [a, c, b]
    assert receipt_order(page(client.get("/portfolio?sort=applicant&order=up")).text) == [a, c, b]
    # Every column header is a sorting link.
    default = client.get("/portfolio").text
    for key in ascending:
        assert f'href="/portfolio?sort={key}&amp;order=' in default


def test_sorting_by_status_follows_the_language(client, settings, three_cases):
    a, b, c = three_cases
    as_representative(client)
    client.post("/language", data={"csrf_token": csrf(client, "/portfolio"), "lang": "es", "next": "/portfolio"})
    spanish = page(client.get("/portfolio?sort=status&order=asc")).text
    # Sorted by the Spanish titles, whatever they are.
    titles = {r: i18n.gettext("es", STATUS_TEXT[s].title) for r, s in
              ((a, StatusCode.RFE_SENT), (b, StatusCode.APPROVED), (c, StatusCode.CARD_MAILED))}
    assert receipt_order(spanish) == sorted(titles, key=lambda r: (titles[r].casefold(), r))
    assert i18n.gettext("es", "Case Was Approved") in spanish


def read_csv(response) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_export(client, settings, applicant_id, rep_id):
    first, second = cases(settings, applicant_id, 2)
    as_representative(client)
    post(client, "/portfolio/add", {"receipt_number": first, "nickname": "=HYPERLINK(\"http://evil.example\",\"x\")"})
    post(client, "/portfolio/add", {"receipt_number": second, "nickname": "Niño, José"})
    response = client.get("/portfolio/export.csv?sort=receipt_number&order=asc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="caseline-portfolio.csv"'
    assert response.headers["cache-control"] == "no-store"
    rows = read_csv(response)
    with session_scope(settings.database_url) as db:
        changed = db.get(Case, first).status_changed_at
    # The date of the last change in the agency's time zone (Eastern), as ISO 8601.
    today = changed.astimezone(ZoneInfo("America/New_York")).date().isoformat()
    assert rows == [
        ["receipt_number", "nickname", "form", "status", "last_change"],
        [first, "'=HYPERLINK(\"http://evil.example\",\"x\")", "I-765", "Case Was Received", today],
        [second, "Niño, José", "I-765", "Case Was Received", today],
    ]
    for personal in ("Maria Lopez", "Rivera", "Springfield", "1990-04-27"):
        assert personal not in response.text
    # The page links to it, outside htmx (a download, not a page to swap in).
    assert 'href="/portfolio/export.csv?sort=last_change&amp;order=desc" hx-boost="false" download' in client.get("/portfolio").text


def test_csv_export_uses_the_accounts_language(client, settings, applicant_id, rep_id):
    [receipt] = cases(settings, applicant_id, 1)
    with session_scope(settings.database_url) as db:
        db.get(User, rep_id).language = "es"
    as_representative(client)
    post(client, "/portfolio/add", {"receipt_number": receipt, "nickname": "-1+1"})
    rows = read_csv(client.get("/portfolio/export.csv"))
    assert rows[1][:4] == [receipt, "'-1+1", "I-765", "Se recibió el caso"]


def test_an_empty_csv_export_has_the_header(client):
    as_representative(client)
    assert read_csv(client.get("/portfolio/export.csv")) == [["receipt_number", "nickname", "form", "status", "last_change"]]
