"""A case portfolio (as in USCIS Case Status Online): any account watches up to 100 cases by
receipt number, each with an optional nickname and an opt-in to emails when the case changes.

Only receipt numbers of cases that exist can be watched, and a portfolio shows nothing of a case
but its receipt number, form, public status and the date of its last change (no personal data).

The limit holds under concurrency: every addition first locks the owner's ``app_user`` row
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite a write as the first statement of the
transaction, which waits for and then holds the database's write lock), then counts inside that
transaction. Two additions for the same account therefore run one after the other, and the second
sees what the first committed.

Service functions work in the caller's transaction (they flush, never commit).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from i18n import N_
from models.domain import ReceiptNumberError, normalize_receipt_number
from models.receipts import AGENCY_TIME_ZONE
from models.tables import Case, Filing, User, WatchedCase

MAX_WATCHED = 100
NICKNAME_MAX_LENGTH = 60
MAX_PASTED_LINES = 200  # a paste longer than this is refused as a whole (the limit is 100 anyway)


class Outcome(StrEnum):
    """What became of one receipt number given to add."""

    ADDED = "added"
    ALREADY_WATCHED = "already_watched"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    OVER_LIMIT = "over_limit"
    NICKNAME_TOO_LONG = "nickname_too_long"
    MISSING = "missing"  # a nickname with no receipt number before it


# Msgids; %(receipt)s, %(limit)s and %(count)s are filled in where they are shown.
OUTCOME_MESSAGES: dict[Outcome, str] = {
    Outcome.ADDED: N_("Added"),
    Outcome.ALREADY_WATCHED: N_("%(receipt)s is already in your portfolio."),
    Outcome.MALFORMED: N_("Enter the receipt number as 3 letters and 10 numbers, like IOE2690123456"),
    Outcome.NOT_FOUND: N_("We found no case with the receipt number %(receipt)s. Check the number on your notice."),
    Outcome.OVER_LIMIT: N_(
        "Your portfolio is full: you follow %(count)s cases and the limit is %(limit)s. Remove a case to add another."
    ),
    Outcome.NICKNAME_TOO_LONG: N_("The nickname must be 60 characters or fewer."),
    Outcome.MISSING: N_("Enter the receipt number"),
}

PROBLEMS = frozenset({Outcome.MALFORMED, Outcome.NOT_FOUND, Outcome.OVER_LIMIT, Outcome.NICKNAME_TOO_LONG, Outcome.MISSING})


class NicknameTooLong(ValueError):
    pass


class NotInPortfolio(LookupError):
    """No such entry in this account's portfolio (another account's entry is the same: not found)."""


@dataclass(frozen=True)
class PastedLine:
    line: int  # 1-based, counting blank lines, as the person sees them in the box
    receipt_text: str  # the receipt number as typed
    nickname_text: str  # the nickname as typed ("" when none)


@dataclass(frozen=True)
class AddResult:
    line: int
    receipt_text: str
    receipt_number: str  # normalised; "" when malformed
    nickname: str
    outcome: Outcome
    entry: WatchedCase | None = None

    @property
    def added(self) -> bool:
        return self.outcome == Outcome.ADDED

    @property
    def problem(self) -> bool:
        return self.outcome in PROBLEMS


@dataclass(frozen=True)
class PortfolioRow:
    """One watched case as its watcher sees it: nothing but public facts about the case."""

    id: int
    receipt_number: str
    nickname: str
    notify: bool
    form_type: str
    status_code: str | None  # None while the filing waits for its workflow (shown as "being processed")
    last_change: datetime | None
    is_party: bool  # the watcher is the applicant or the representative of the filing: may open the case

    @property
    def last_change_day(self) -> date | None:
        """The date of the last change, in the agency's time zone."""
        return self.last_change.astimezone(AGENCY_TIME_ZONE).date() if self.last_change else None


# --- reading ------------------------------------------------------------------------------------


def clean_nickname(raw: str | None) -> str:
    """Whitespace collapsed (no tabs or line breaks kept); at most 60 characters."""
    nickname = " ".join((raw or "").split())
    if len(nickname) > NICKNAME_MAX_LENGTH:
        raise NicknameTooLong(nickname)
    return nickname


def count_watched(session: Session, *, user_id: int) -> int:
    return session.exec(select(func.count()).select_from(WatchedCase).where(WatchedCase.user_id == user_id)).one()


def watched_receipt_numbers(session: Session, *, user_id: int) -> set[str]:
    return set(session.exec(select(WatchedCase.receipt_number).where(WatchedCase.user_id == user_id)).all())


def existing_receipt_numbers(session: Session, receipt_numbers: Iterable[str]) -> set[str]:
    """Those of ``receipt_numbers`` that are cases: filed (a filing), or projected by a workflow (a case)."""
    wanted = sorted(set(receipt_numbers))
    if not wanted:
        return set()
    filed = session.exec(select(Filing.receipt_number).where(col(Filing.receipt_number).in_(wanted))).all()
    cases = session.exec(select(Case.receipt_number).where(col(Case.receipt_number).in_(wanted))).all()
    return set(filed) | set(cases)


def get_entry(session: Session, *, user_id: int, entry_id: int) -> WatchedCase:
    entry = session.exec(
        select(WatchedCase).where(WatchedCase.id == entry_id, WatchedCase.user_id == user_id)
    ).first()
    if entry is None:
        raise NotInPortfolio(entry_id)
    return entry


def portfolio_rows(session: Session, *, user_id: int) -> list[PortfolioRow]:
    """The account's watched cases, in the order they were added (see ``sort_rows``)."""
    rows = session.exec(
        select(
            WatchedCase, Case.form_type, Case.status_code, Case.status_changed_at,
            Filing.form_type, Filing.filed_at, Filing.applicant_id, Filing.representative_id,
        )
        .join(Case, col(Case.receipt_number) == col(WatchedCase.receipt_number), isouter=True)
        .join(Filing, col(Filing.receipt_number) == col(WatchedCase.receipt_number), isouter=True)
        .where(WatchedCase.user_id == user_id)
        .order_by(col(WatchedCase.created_at), col(WatchedCase.id))
    ).all()
    result = []
    for entry, case_form, status_code, changed_at, filing_form, filed_at, applicant_id, representative_id in rows:
        result.append(PortfolioRow(
            id=entry.id or 0,
            receipt_number=entry.receipt_number,
            nickname=entry.nickname,
            notify=entry.notify,
            form_type=case_form or filing_form or "",
            status_code=str(status_code) if status_code else None,
            last_change=changed_at or filed_at,
            is_party=user_id in (applicant_id, representative_id),
        ))
    return result


# --- sorting ------------------------------------------------------------------------------------

SORT_KEYS = ("receipt_number", "nickname", "form", "status", "last_change")
DEFAULT_SORT = "last_change"
# The order a column sorts in when first chosen: the newest change first, the rest A to Z.
FIRST_ORDER = {"receipt_number": "asc", "nickname": "asc", "form": "asc", "status": "asc", "last_change": "desc"}


def sort_rows(
    rows: Sequence[PortfolioRow], *, sort: str, order: str, status_title: Callable[[str | None], str] = lambda c: c or "",
) -> list[PortfolioRow]:
    """Rows sorted by a column (``SORT_KEYS``) and order (asc | desc); ties by receipt number.
    ``status_title`` gives the status as shown (translated), so it sorts as the reader reads it."""
    if sort not in SORT_KEYS:
        raise ValueError(sort)
    if order not in ("asc", "desc"):
        raise ValueError(order)
    oldest = datetime.min.replace(tzinfo=AGENCY_TIME_ZONE)

    def key(row: PortfolioRow):
        if sort == "receipt_number":
            return (row.receipt_number,)
        if sort == "nickname":
            # Cases without a nickname come last in A to Z.
            return (row.nickname == "", row.nickname.casefold(), row.receipt_number)
        if sort == "form":
            return (row.form_type, row.receipt_number)
        if sort == "status":
            return (status_title(row.status_code).casefold(), row.receipt_number)
        return (row.last_change or oldest, row.receipt_number)

    return sorted(rows, key=key, reverse=order == "desc")


# --- changing -----------------------------------------------------------------------------------


def lock_owner(session: Session, *, user_id: int) -> None:
    """Hold the account's row until the transaction ends, so portfolio changes of one account
    run one after another (see the module's docstring)."""
    table = User.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.update(table).where(table.c.id == user_id).values(language=table.c.language))
    else:
        session.execute(sa.select(table.c.id).where(table.c.id == user_id).with_for_update())


def parse_pasted(text: str) -> list[PastedLine]:
    """One receipt number a line, optionally followed by a comma or a tab and a nickname. Blank
    lines are skipped but counted, so line numbers match what the person sees."""
    lines = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        receipt_text, _separator, nickname_text = _split(raw)
        lines.append(PastedLine(line=number, receipt_text=receipt_text.strip(), nickname_text=nickname_text.strip()))
    return lines


def _split(raw: str) -> tuple[str, str, str]:
    match = re.search(r"[,\t]", raw)
    if match is None:
        return raw, "", ""
    return raw[: match.start()], match.group(), raw[match.end():]


def add_cases(
    session: Session, *, user_id: int, lines: Sequence[PastedLine], notify: bool = False,
) -> list[AddResult]:
    """Add each line's case to the account's portfolio, in order, and say what became of each.

    Checked in this order: a receipt number is given and well formed, the nickname fits, the case
    is not watched already (nor earlier in ``lines``), the case exists, and there is room (100)."""
    lock_owner(session, user_id=user_id)
    watched = watched_receipt_numbers(session, user_id=user_id)
    count = len(watched)
    parsed: list[tuple[PastedLine, str | None, str | None, Outcome | None]] = []
    for item in lines:
        outcome: Outcome | None = None
        receipt_number = nickname = None
        if not item.receipt_text.strip():
            outcome = Outcome.MISSING
        else:
            try:
                receipt_number = normalize_receipt_number(item.receipt_text)
            except ReceiptNumberError:
                outcome = Outcome.MALFORMED
        if outcome is None:
            try:
                nickname = clean_nickname(item.nickname_text)
            except NicknameTooLong:
                outcome = Outcome.NICKNAME_TOO_LONG
        parsed.append((item, receipt_number, nickname, outcome))
    existing = existing_receipt_numbers(session, (rn for _, rn, _, outcome in parsed if rn and outcome is None))
    results = []
    for item, receipt_number, nickname, outcome in parsed:
        entry = None
        if outcome is None:
            assert receipt_number is not None and nickname is not None
            if receipt_number in watched:
                outcome = Outcome.ALREADY_WATCHED
            elif receipt_number not in existing:
                outcome = Outcome.NOT_FOUND
            elif count >= MAX_WATCHED:
                outcome = Outcome.OVER_LIMIT
            else:
                entry = WatchedCase(user_id=user_id, receipt_number=receipt_number, nickname=nickname, notify=notify)
                session.add(entry)
                watched.add(receipt_number)
                count += 1
                outcome = Outcome.ADDED
        results.append(AddResult(
            line=item.line, receipt_text=item.receipt_text, receipt_number=receipt_number or "",
            nickname=nickname if nickname is not None else item.nickname_text, outcome=outcome, entry=entry,
        ))
    session.flush()
    return results


def add_case(
    session: Session, *, user_id: int, receipt_number: str, nickname: str = "", notify: bool = False,
) -> AddResult:
    """Add one case; the result's ``outcome`` says whether it was added and, if not, why."""
    return add_cases(
        session, user_id=user_id, lines=[PastedLine(line=1, receipt_text=receipt_number, nickname_text=nickname)],
        notify=notify,
    )[0]


def add_pasted(session: Session, *, user_id: int, text: str, notify: bool = False) -> list[AddResult]:
    """``add_cases`` for text pasted into a box (see ``parse_pasted``)."""
    return add_cases(session, user_id=user_id, lines=parse_pasted(text), notify=notify)


def update_entry(
    session: Session, *, user_id: int, entry_id: int, nickname: str | None = None, notify: bool | None = None,
) -> WatchedCase:
    """Change an entry's nickname and/or email opt-in. Raises NotInPortfolio, NicknameTooLong."""
    entry = get_entry(session, user_id=user_id, entry_id=entry_id)
    if nickname is not None:
        entry.nickname = clean_nickname(nickname)
    if notify is not None:
        entry.notify = notify
    session.add(entry)
    session.flush()
    return entry


def remove_entry(session: Session, *, user_id: int, entry_id: int) -> WatchedCase:
    """Stop watching a case; returns the entry removed. Raises NotInPortfolio."""
    entry = get_entry(session, user_id=user_id, entry_id=entry_id)
    session.delete(entry)
    session.flush()
    return entry


# --- export -------------------------------------------------------------------------------------

CSV_COLUMNS = ("receipt_number", "nickname", "form", "status", "last_change")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def portfolio_csv(rows: Iterable[PortfolioRow], *, status_title: Callable[[str | None], str]) -> str:
    """The portfolio as CSV text with a byte order mark (Excel then reads UTF-8), one row a case:
    receipt number, nickname, form, status title (as ``status_title`` gives it), ISO date of the last change."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        day = row.last_change_day
        writer.writerow([
            csv_cell(value) for value in (
                row.receipt_number, row.nickname, row.form_type, status_title(row.status_code),
                day.isoformat() if day else "",
            )
        ])
    return out.getvalue()
