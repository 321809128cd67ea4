"""The case portfolio's services (models.portfolio), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from models.db import session_scope
from models.domain import Stage, StatusCode
from models.portfolio import (
    MAX_WATCHED,
    NicknameTooLong,
    NotInPortfolio,
    Outcome,
    PastedLine,
    add_case,
    add_cases,
    add_pasted,
    count_watched,
    csv_cell,
    parse_pasted,
    portfolio_csv,
    portfolio_rows,
    remove_entry,
    sort_rows,
    update_entry,
)
from models.tables import WatchedCase
from tests.helpers import file_i765, make_user
from tests.web.fake_temporal import make_case

UNKNOWN = "IOE0000000001"  # well formed, but no such case


@pytest.fixture
def people(database_url: str) -> dict[str, int]:
    with session_scope(database_url) as db:
        users = {name: make_user(db, name) for name in ("applicant", "watcher", "other")}
        db.flush()
        return {name: user.id for name, user in users.items()}


def make_cases(database_url: str, applicant_id: int, n: int) -> list[str]:
    with session_scope(database_url) as db:
        return [make_case(db, applicant_id=applicant_id, stage=Stage.INTAKE).receipt_number for _ in range(n)]


def watched(database_url: str, user_id: int) -> list[WatchedCase]:
    with session_scope(database_url) as db:
        return list(db.exec(select(WatchedCase).where(WatchedCase.user_id == user_id).order_by(WatchedCase.id)).all())


def test_add_a_case_with_a_nickname_and_emails(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        result = add_case(db, user_id=people["watcher"], receipt_number=receipt, nickname="  Client   one ", notify=True)
        assert result.outcome == Outcome.ADDED and result.entry is not None and result.entry.id
    [entry] = watched(database_url, people["watcher"])
    assert (entry.receipt_number, entry.nickname, entry.notify) == (receipt, "Client one", True)
    with session_scope(database_url) as db:
        [row] = portfolio_rows(db, user_id=people["watcher"])
    assert (row.receipt_number, row.nickname, row.form_type, row.status_code) == (receipt, "Client one", "I-765", "case_received")
    assert row.last_change is not None and row.last_change_day is not None
    assert row.is_party is False  # the watcher is not the applicant: the public status page


def test_the_applicant_watching_an_own_case_may_open_it(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["applicant"], receipt_number=receipt).added
        [row] = portfolio_rows(db, user_id=people["applicant"])
    assert row.is_party is True and row.notify is False and row.nickname == ""


def test_a_filing_whose_case_is_not_set_up_yet_can_be_watched(database_url, people):
    with session_scope(database_url) as db:
        filing = file_i765(db, applicant_id=people["applicant"], office="IOE")
        receipt, filed_at = filing.receipt_number, filing.filed_at
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["watcher"], receipt_number=receipt).added
        [row] = portfolio_rows(db, user_id=people["watcher"])
    assert row.status_code is None and row.form_type == "I-765" and row.last_change == filed_at


def test_a_case_already_watched_is_not_added_twice(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["watcher"], receipt_number=receipt).added
    with session_scope(database_url) as db:
        # Typed differently (lower case, spaces and dashes): the same receipt number.
        typed = f"{receipt[:3].lower()}-{receipt[3:8]} {receipt[8:]}"
        result = add_case(db, user_id=people["watcher"], receipt_number=typed, nickname="again")
        assert (result.outcome, result.receipt_number) == (Outcome.ALREADY_WATCHED, receipt)
    assert len(watched(database_url, people["watcher"])) == 1
    # Another account may watch the same case.
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["other"], receipt_number=receipt).added


def test_unknown_malformed_and_missing_receipt_numbers_are_refused_differently(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["watcher"], receipt_number=UNKNOWN).outcome == Outcome.NOT_FOUND
        for malformed in ("IOE123", "1234567890123", "IOE269012345X", "IOE26901234567"):
            assert add_case(db, user_id=people["watcher"], receipt_number=malformed).outcome == Outcome.MALFORMED
        assert add_case(db, user_id=people["watcher"], receipt_number="   ").outcome == Outcome.MISSING
        too_long = add_case(db, user_id=people["watcher"], receipt_number=receipt, nickname="x" * 61)
        assert too_long.outcome == Outcome.NICKNAME_TOO_LONG
        assert add_case(db, user_id=people["watcher"], receipt_number=receipt, nickname="x" * 60).added
    assert [w.nickname for w in watched(database_url, people["watcher"])] == ["x" * 60]


def test_the_hundred_and_first_case_is_refused(database_url, people):
    receipts = make_cases(database_url, people["applicant"], MAX_WATCHED + 1)
    with session_scope(database_url) as db:
        results = add_pasted(db, user_id=people["watcher"], text="\n".join(receipts[:MAX_WATCHED]))
        assert all(r.added for r in results) and len(results) == MAX_WATCHED
    with session_scope(database_url) as db:
        result = add_case(db, user_id=people["watcher"], receipt_number=receipts[-1])
        assert result.outcome == Outcome.OVER_LIMIT
        assert count_watched(db, user_id=people["watcher"]) == MAX_WATCHED
    # A duplicate is still called a duplicate when the portfolio is full, and others are unaffected.
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["watcher"], receipt_number=receipts[0]).outcome == Outcome.ALREADY_WATCHED
        assert add_case(db, user_id=people["other"], receipt_number=receipts[-1]).added
    # Removing one makes room for one.
    first = watched(database_url, people["watcher"])[0]
    with session_scope(database_url) as db:
        remove_entry(db, user_id=people["watcher"], entry_id=first.id)
        assert add_case(db, user_id=people["watcher"], receipt_number=receipts[-1]).added
        assert count_watched(db, user_id=people["watcher"]) == MAX_WATCHED


def test_pasted_lines_are_reported_line_by_line(database_url, people):
    a, b, c, d = make_cases(database_url, people["applicant"], 4)
    with session_scope(database_url) as db:
        assert add_case(db, user_id=people["watcher"], receipt_number=d).added
    text = "\n".join([
        a,                          # 1 added
        "",                         # 2 blank: skipped, still counted
        "IOE12345",                 # 3 malformed
        f"{b}, Smith family",       # 4 added with a nickname after a comma
        f"{c.lower()}\tGarcia",     # 5 added with a nickname after a tab
        a,                          # 6 already (earlier in the paste)
        d,                          # 7 already in the portfolio
        UNKNOWN,                    # 8 not found
        f"{UNKNOWN[:-1]}2, " + "y" * 61,  # 9 nickname too long
        ", only a nickname",        # 10 no receipt number
        "   ",                      # 11 blank
    ])
    with session_scope(database_url) as db:
        results = add_pasted(db, user_id=people["watcher"], text=text, notify=True)
    assert [(r.line, r.outcome) for r in results] == [
        (1, Outcome.ADDED), (3, Outcome.MALFORMED), (4, Outcome.ADDED), (5, Outcome.ADDED),
        (6, Outcome.ALREADY_WATCHED), (7, Outcome.ALREADY_WATCHED), (8, Outcome.NOT_FOUND),
        (9, Outcome.NICKNAME_TOO_LONG), (10, Outcome.MISSING),
    ]
    assert results[1].receipt_text == "IOE12345" and results[1].receipt_number == ""
    assert [r.problem for r in results] == [False, True, False, False, False, False, True, True, True]
    entries = {w.receipt_number: w for w in watched(database_url, people["watcher"])}
    assert set(entries) == {a, b, c, d}
    assert (entries[b].nickname, entries[c].nickname, entries[a].nickname) == ("Smith family", "Garcia", "")
    assert entries[a].notify and entries[b].notify and not entries[d].notify


def test_a_paste_over_the_limit_adds_until_full_and_reports_the_rest(database_url, people):
    receipts = make_cases(database_url, people["applicant"], MAX_WATCHED + 2)
    with session_scope(database_url) as db:
        assert all(r.added for r in add_pasted(db, user_id=people["watcher"], text="\n".join(receipts[:98])))
    with session_scope(database_url) as db:
        results = add_pasted(db, user_id=people["watcher"], text="\n".join([UNKNOWN, *receipts[98:]]))
    assert [(r.line, r.outcome) for r in results] == [
        (1, Outcome.NOT_FOUND), (2, Outcome.ADDED), (3, Outcome.ADDED), (4, Outcome.OVER_LIMIT), (5, Outcome.OVER_LIMIT),
    ]
    with session_scope(database_url) as db:
        assert count_watched(db, user_id=people["watcher"]) == MAX_WATCHED


def test_parse_pasted_splits_on_the_first_comma_or_tab():
    assert parse_pasted("IOE2690123456\n\n ioe2690123457 , Ana, Jr.\nIOE2690123458\tB\tC\r\n") == [
        PastedLine(1, "IOE2690123456", ""),
        PastedLine(3, "ioe2690123457", "Ana, Jr."),
        PastedLine(4, "IOE2690123458", "B\tC"),
    ]
    assert parse_pasted("") == [] and parse_pasted("\n  \n") == []


def _add_concurrently(database_url: str, user_id: int, receipts: list[str]) -> list[Outcome]:
    """Each receipt number added by its own thread and session, all starting together."""
    barrier = threading.Barrier(len(receipts))
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def add(receipt: str) -> None:
        try:
            with session_scope(database_url) as db:
                barrier.wait(timeout=30)
                outcomes.append(add_case(db, user_id=user_id, receipt_number=receipt).outcome)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(r,)) for r in receipts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_two_additions_at_once_never_pass_the_limit(database_url, people):
    receipts = make_cases(database_url, people["applicant"], MAX_WATCHED + 5)
    with session_scope(database_url) as db:
        assert all(r.added for r in add_pasted(db, user_id=people["watcher"], text="\n".join(receipts[:99])))
    spare = receipts[99:]
    for round_ in range(3):
        # The portfolio holds 99: two threads add the 100th and the 101st at the same moment.
        pair = spare[2 * round_: 2 * round_ + 2]
        outcomes = _add_concurrently(database_url, people["watcher"], pair)
        assert sorted(outcomes) == sorted([Outcome.ADDED, Outcome.OVER_LIMIT])
        with session_scope(database_url) as db:
            assert count_watched(db, user_id=people["watcher"]) == MAX_WATCHED
            # Make room again for the next round: remove the one just added.
            added = db.exec(
                select(WatchedCase).where(WatchedCase.user_id == people["watcher"], WatchedCase.receipt_number.in_(pair))
            ).one()
            remove_entry(db, user_id=people["watcher"], entry_id=added.id)


def test_many_additions_at_once_fill_the_portfolio_exactly(database_url, people):
    receipts = make_cases(database_url, people["applicant"], MAX_WATCHED + 3)
    with session_scope(database_url) as db:
        assert all(r.added for r in add_pasted(db, user_id=people["watcher"], text="\n".join(receipts[:97])))
    outcomes = _add_concurrently(database_url, people["watcher"], receipts[97:])
    assert outcomes.count(Outcome.ADDED) == 3 and outcomes.count(Outcome.OVER_LIMIT) == 3
    with session_scope(database_url) as db:
        assert count_watched(db, user_id=people["watcher"]) == MAX_WATCHED


def test_nickname_and_email_updates(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        entry_id = add_case(db, user_id=people["watcher"], receipt_number=receipt, nickname="old").entry.id
    with session_scope(database_url) as db:
        update_entry(db, user_id=people["watcher"], entry_id=entry_id, nickname=" New\tname ")
    assert (watched(database_url, people["watcher"])[0].nickname, watched(database_url, people["watcher"])[0].notify) == ("New name", False)
    with session_scope(database_url) as db:
        update_entry(db, user_id=people["watcher"], entry_id=entry_id, notify=True)
    entry = watched(database_url, people["watcher"])[0]
    assert (entry.nickname, entry.notify) == ("New name", True)
    with session_scope(database_url) as db:
        with pytest.raises(NicknameTooLong):
            update_entry(db, user_id=people["watcher"], entry_id=entry_id, nickname="z" * 61)
    with session_scope(database_url) as db:
        update_entry(db, user_id=people["watcher"], entry_id=entry_id, nickname="", notify=False)
    entry = watched(database_url, people["watcher"])[0]
    assert (entry.nickname, entry.notify) == ("", False)


def test_remove_and_another_accounts_entries_are_untouched(database_url, people):
    first, second = make_cases(database_url, people["applicant"], 2)
    with session_scope(database_url) as db:
        mine = add_case(db, user_id=people["watcher"], receipt_number=first, nickname="mine").entry.id
        add_case(db, user_id=people["watcher"], receipt_number=second)
        theirs = add_case(db, user_id=people["other"], receipt_number=first, nickname="theirs", notify=True).entry.id
    with session_scope(database_url) as db:
        for action in (
            lambda: update_entry(db, user_id=people["watcher"], entry_id=theirs, nickname="hijacked"),
            lambda: update_entry(db, user_id=people["watcher"], entry_id=theirs, notify=False),
            lambda: remove_entry(db, user_id=people["watcher"], entry_id=theirs),
            lambda: remove_entry(db, user_id=people["watcher"], entry_id=999_999),
        ):
            with pytest.raises(NotInPortfolio):
                action()
    with session_scope(database_url) as db:
        removed = remove_entry(db, user_id=people["watcher"], entry_id=mine)
        assert removed.receipt_number == first
    assert [w.receipt_number for w in watched(database_url, people["watcher"])] == [second]
    [entry] = watched(database_url, people["other"])
    assert (entry.id, entry.receipt_number, entry.nickname, entry.notify) == (theirs, first, "theirs", True)


def test_sorting_by_each_column(database_url, people):
    with session_scope(database_url) as db:
        specs = [  # (form, nickname, status, changed)
            ("I-765", "bravo", StatusCode.RFE_SENT, datetime(2026, 3, 1, 15, tzinfo=UTC)),
            ("N-400", "alpha", StatusCode.APPROVED, datetime(2026, 1, 10, 15, tzinfo=UTC)),
            ("I-765", "", StatusCode.CARD_MAILED, datetime(2026, 2, 1, 15, tzinfo=UTC)),
        ]
        receipts = []
        for form, nickname, status, changed in specs:
            case = make_case(db, applicant_id=people["applicant"], stage=Stage.REVIEW, form=form, status_code=status)
            case.status_changed_at = changed
            db.add(case)
            receipts.append(case.receipt_number)
            add_cases(db, user_id=people["watcher"], lines=[PastedLine(1, case.receipt_number, nickname)])
    a, b, c = receipts
    with session_scope(database_url) as db:
        rows = portfolio_rows(db, user_id=people["watcher"])
    title = {"rfe_sent": "Request for Additional Evidence Was Sent", "approved": "Case Was Approved",
             "card_mailed": "Card Was Mailed To Me"}
    expected = {
        "receipt_number": [a, b, c],
        "nickname": [b, a, c],  # no nickname last
        "form": [a, c, b],
        "status": [c, b, a],
        "last_change": [b, c, a],
    }
    for sort, ascending in expected.items():
        got = sort_rows(rows, sort=sort, order="asc", status_title=lambda code: title[code])
        assert [r.receipt_number for r in got] == ascending, sort
        got = sort_rows(rows, sort=sort, order="desc", status_title=lambda code: title[code])
        assert [r.receipt_number for r in got] == ascending[::-1], sort
    with pytest.raises(ValueError):
        sort_rows(rows, sort="applicant_name", order="asc")
    with pytest.raises(ValueError):
        sort_rows(rows, sort="nickname", order="sideways")


def test_csv_cells_that_look_like_formulas_are_quoted():
    for risky in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(risky) == "'" + risky
    for safe in ("Smith family", "IOE2690123456", "", "a=b", "I-765"):
        assert csv_cell(safe) == safe


def test_csv_export_holds_the_rows(database_url, people):
    [receipt] = make_cases(database_url, people["applicant"], 1)
    with session_scope(database_url) as db:
        add_case(db, user_id=people["watcher"], receipt_number=receipt, nickname='=HYPERLINK("http://x"), "quoted"')
        rows = portfolio_rows(db, user_id=people["watcher"])
    text = portfolio_csv(rows, status_title=lambda code: f"title of {code}")
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:])))
    assert parsed[0] == ["receipt_number", "nickname", "form", "status", "last_change"]
    assert parsed[1] == [receipt, "'" + '=HYPERLINK("http://x"), "quoted"', "I-765", "title of case_received",
                         rows[0].last_change_day.isoformat()]
    assert len(parsed) == 2
