"""The case portfolio (Case Status Online): watch up to 100 cases by receipt number, one at a
time or pasted many at once; give each a nickname, opt in to emails, remove, sort, export as CSV.

Any signed-in account may keep one. It shows only a case's receipt number, form, public status
and the date of its last change; the services live in ``models.portfolio``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

import i18n
from i18n import N_
from models.domain import RECEIPT_RE, ReceiptNumberError, StatusCode, normalize_receipt_number
from models.portfolio import (
    DEFAULT_SORT,
    FIRST_ORDER,
    MAX_PASTED_LINES,
    MAX_WATCHED,
    NICKNAME_MAX_LENGTH,
    OUTCOME_MESSAGES,
    SORT_KEYS,
    NicknameTooLong,
    NotInPortfolio,
    Outcome,
    PortfolioRow,
    add_case,
    add_pasted,
    clean_nickname,
    count_watched,
    get_entry,
    parse_pasted,
    portfolio_csv,
    portfolio_rows,
    remove_entry,
    sort_rows,
    update_entry,
)
from models.tables import User, WatchedCase
from web.deps import CurrentUser, SessionDep
from web.templating import render

router = APIRouter()

BEING_PROCESSED = N_("Being processed")
LABELS = {
    "receipt_number": N_("Receipt number"),
    "nickname": N_("Nickname"),
    "lines": N_("Receipt numbers to add"),
}
COLUMNS = (
    ("receipt_number", N_("Receipt number")),
    ("nickname", N_("Nickname")),
    ("form", N_("Form")),
    ("status", N_("Status")),
    ("last_change", N_("Last change")),
)
DONE = frozenset({"added", "bulk", "updated", "removed", "emails_on", "emails_off"})
MAX_PASTE_CHARACTERS = 20_000


def status_msgid(code: str | None) -> str:
    """The status title's msgid; a filing whose case has not been set up yet is being processed."""
    return StatusCode(code).text.title if code else BEING_PROCESSED


def _titles(language: str):
    return lambda code: i18n.gettext(language, status_msgid(code))


def _sorting(sort: str | None, order: str | None) -> tuple[str, str]:
    sort = sort if sort in SORT_KEYS else DEFAULT_SORT
    order = order if order in ("asc", "desc") else FIRST_ORDER[sort]
    return sort, order


def _message(language: str, outcome: Outcome, **variables: object) -> str:
    return i18n.gettext(language, OUTCOME_MESSAGES[outcome], **variables)


def _outcome_message(db, language: str, user: User, outcome: Outcome, receipt_number: str) -> str:
    variables: dict[str, object] = {}
    if outcome in (Outcome.ALREADY_WATCHED, Outcome.NOT_FOUND):
        variables["receipt"] = receipt_number
    elif outcome == Outcome.OVER_LIMIT:
        variables = {"count": count_watched(db, user_id=user.id or 0), "limit": MAX_WATCHED}
    return _message(language, outcome, **variables)


def _sort_links(sort: str, order: str) -> list[dict[str, str]]:
    """Each column's header: its label, the link that sorts by it, and its aria-sort when sorted."""
    links = []
    for key, label in COLUMNS:
        if key == sort:
            next_order = "desc" if order == "asc" else "asc"
            aria = "ascending" if order == "asc" else "descending"
        else:
            next_order, aria = FIRST_ORDER[key], ""
        links.append({
            "key": key, "label": label, "aria_sort": aria,
            "href": "/portfolio?" + urlencode({"sort": key, "order": next_order}),
        })
    return links


def _page(
    request: Request, db, user: User, *, sort: str | None = None, order: str | None = None,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None, bulk_results=None,
    bulk_errors: dict[str, str] | None = None, status_code: int = 200,
) -> Response:
    sort, order = _sorting(sort, order)
    lang = request.state.lang
    rows = sort_rows(portfolio_rows(db, user_id=user.id or 0), sort=sort, order=order, status_title=_titles(lang))
    done = request.query_params.get("done")
    done_receipt = request.query_params.get("receipt", "")
    try:
        done_count = max(0, min(int(request.query_params.get("count", "0")), MAX_WATCHED))
    except ValueError:
        done_count = 0
    if done not in DONE or (done != "bulk" and not RECEIPT_RE.fullmatch(done_receipt)):
        done = None
    return render(
        request,
        "portfolio/index.html",
        {
            "rows": rows,
            "count": len(rows),
            "limit": MAX_WATCHED,
            "full": len(rows) >= MAX_WATCHED,
            "sort": sort,
            "order": order,
            "columns": _sort_links(sort, order),
            "export_href": "/portfolio/export.csv?" + urlencode({"sort": sort, "order": order}),
            "status_msgid": status_msgid,
            "errors": errors or {},
            "bulk_errors": bulk_errors or {},
            "labels": LABELS,
            "values": values or {},
            "bulk_results": bulk_results,
            "outcomes": Outcome,
            "done": done,
            "done_receipt": done_receipt,
            "done_count": done_count,
            "nickname_max": NICKNAME_MAX_LENGTH,
            "max_lines": MAX_PASTED_LINES,
        },
        status_code=status_code,
    )


def _back_to_portfolio(done: str, *, receipt: str = "", count: int | None = None, sort: str = "", order: str = "") -> Response:
    query: dict[str, str] = {}
    if sort in SORT_KEYS:
        query["sort"] = sort
        if order in ("asc", "desc"):
            query["order"] = order
    query["done"] = done
    if receipt:
        query["receipt"] = receipt
    if count is not None:
        query["count"] = str(count)
    return RedirectResponse("/portfolio?" + urlencode(query), status_code=303)


def _entry_or_404(db, user: User, entry_id: int) -> WatchedCase:
    try:
        return get_entry(db, user_id=user.id or 0, entry_id=entry_id)
    except NotInPortfolio:
        raise HTTPException(status_code=404) from None


# --- the portfolio ----------------------------------------------------------------------------


@router.get("/portfolio")
def portfolio_page(
    request: Request, user: CurrentUser, db: SessionDep, sort: str | None = None, order: str | None = None,
) -> Response:
    return _page(request, db, user, sort=sort, order=order)


@router.post("/portfolio/add")
def add_one(
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    receipt_number: Annotated[str, Form(max_length=200)] = "",
    nickname: Annotated[str, Form(max_length=1000)] = "",
    notify: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    lang = request.state.lang
    values = {"receipt_number": receipt_number, "nickname": nickname, "notify": notify}
    errors: dict[str, str] = {}
    normalized = ""
    if not receipt_number.strip():
        errors["receipt_number"] = _message(lang, Outcome.MISSING)
    else:
        try:
            normalized = normalize_receipt_number(receipt_number)
        except ReceiptNumberError:
            errors["receipt_number"] = _message(lang, Outcome.MALFORMED)
    try:
        clean_nickname(nickname)
    except NicknameTooLong:
        errors["nickname"] = _message(lang, Outcome.NICKNAME_TOO_LONG)
    if not errors:
        result = add_case(db, user_id=user.id or 0, receipt_number=normalized, nickname=nickname, notify=notify == "yes")
        if result.added:
            db.commit()
            return _back_to_portfolio("added", receipt=result.receipt_number)
        errors["receipt_number"] = _outcome_message(db, lang, user, result.outcome, result.receipt_number)
        db.rollback()
    return _page(request, db, user, errors=errors, values=values, status_code=422)


@router.post("/portfolio/bulk")
def add_many(
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    lines: Annotated[str, Form(max_length=MAX_PASTE_CHARACTERS * 2)] = "",
    notify: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    lang = request.state.lang
    values = {"lines": lines, "bulk_notify": notify}
    pasted = parse_pasted(lines)
    error = None
    if not pasted:
        error = N_("Enter at least one receipt number, one a line")
    elif len(lines) > MAX_PASTE_CHARACTERS or len(pasted) > MAX_PASTED_LINES:
        error = N_("Paste at most 200 lines at a time")
    if error:
        return _page(request, db, user, bulk_errors={"lines": i18n.gettext(lang, error)}, values=values, status_code=422)
    results = add_pasted(db, user_id=user.id or 0, text=lines, notify=notify == "yes")
    db.commit()
    added = sum(1 for r in results if r.added)
    if added == len(results):
        return _back_to_portfolio("bulk", count=added)
    report = [
        {
            "line": r.line,
            "typed": r.receipt_text,
            "receipt_number": r.receipt_number,
            "nickname": r.nickname,
            "outcome": r.outcome.value,
            "problem": r.problem,
            "message": (
                i18n.gettext(lang, N_("Added to your portfolio")) if r.added
                else _outcome_message(db, lang, user, r.outcome, r.receipt_number)
            ),
        }
        for r in results
    ]
    problems = [r for r in results if r.problem]
    bulk_errors = {}
    if problems:
        bulk_errors["lines"] = i18n.get_translations(lang).ngettext(
            "%(num)d line could not be added. The list below says why, line by line.",
            "%(num)d lines could not be added. The list below says why, line by line.",
            len(problems),
        ) % {"num": len(problems)}
    # The box keeps the lines that were not added, so they can be corrected and sent again.
    kept = "\n".join(
        (r.receipt_text + (", " + r.nickname if r.nickname else "")) for r in results if r.problem
    )
    return _page(
        request, db, user, bulk_results={"report": report, "added": added, "total": len(results)},
        bulk_errors=bulk_errors, values={"lines": kept, "bulk_notify": notify},
        status_code=422 if problems else 200,
    )


@router.get("/portfolio/export.csv")
def export_csv(
    request: Request, user: CurrentUser, db: SessionDep, sort: str | None = None, order: str | None = None,
) -> Response:
    sort, order = _sorting(sort, order)
    titles = _titles(i18n.normalize_language(user.language))
    rows: list[PortfolioRow] = sort_rows(portfolio_rows(db, user_id=user.id or 0), sort=sort, order=order, status_title=titles)
    return Response(
        portfolio_csv(rows, status_title=titles).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="caseline-portfolio.csv"'},
    )


# --- one entry --------------------------------------------------------------------------------


@router.get("/portfolio/{entry_id:int}/edit")
def edit_page(request: Request, entry_id: int, user: CurrentUser, db: SessionDep) -> Response:
    entry = _entry_or_404(db, user, entry_id)
    return render(request, "portfolio/edit.html", {
        "entry": entry, "errors": {}, "labels": LABELS, "nickname_max": NICKNAME_MAX_LENGTH,
        "values": {"nickname": entry.nickname, "notify": "yes" if entry.notify else ""},
    })


@router.post("/portfolio/{entry_id:int}/edit")
def edit(
    request: Request,
    entry_id: int,
    user: CurrentUser,
    db: SessionDep,
    nickname: Annotated[str, Form(max_length=1000)] = "",
    notify: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    entry = _entry_or_404(db, user, entry_id)
    try:
        update_entry(db, user_id=user.id or 0, entry_id=entry_id, nickname=nickname, notify=notify == "yes")
    except NicknameTooLong:
        return render(request, "portfolio/edit.html", {
            "entry": entry, "labels": LABELS, "nickname_max": NICKNAME_MAX_LENGTH,
            "errors": {"nickname": _message(request.state.lang, Outcome.NICKNAME_TOO_LONG)},
            "values": {"nickname": nickname, "notify": notify},
        }, status_code=422)
    db.commit()
    return _back_to_portfolio("updated", receipt=entry.receipt_number)


@router.post("/portfolio/{entry_id:int}/notify")
def set_notify(
    request: Request,
    entry_id: int,
    user: CurrentUser,
    db: SessionDep,
    notify: Annotated[str, Form(max_length=10)] = "",
    sort: Annotated[str, Form(max_length=20)] = "",
    order: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    _entry_or_404(db, user, entry_id)
    entry = update_entry(db, user_id=user.id or 0, entry_id=entry_id, notify=notify == "on")
    db.commit()
    return _back_to_portfolio("emails_on" if entry.notify else "emails_off", receipt=entry.receipt_number,
                              sort=sort, order=order)


@router.get("/portfolio/{entry_id:int}/remove")
def remove_page(request: Request, entry_id: int, user: CurrentUser, db: SessionDep) -> Response:
    entry = _entry_or_404(db, user, entry_id)
    return render(request, "portfolio/remove.html", {"entry": entry})


@router.post("/portfolio/{entry_id:int}/remove")
def remove(request: Request, entry_id: int, user: CurrentUser, db: SessionDep) -> Response:
    _entry_or_404(db, user, entry_id)
    entry = remove_entry(db, user_id=user.id or 0, entry_id=entry_id)
    db.commit()
    return _back_to_portfolio("removed", receipt=entry.receipt_number)
