"""Case Status Online: anyone, without an account, looks up one case by its receipt number.

The answer is the same on the page (``GET /status?receipt_number=...``, a plain GET form that can
be shared and works without JavaScript) and in the versioned JSON API
(``GET /api/v1/cases/{receipt_number}/status``): the receipt number, the form type, the public
status title with its explanation, and the date of that status in the agency's calendar. Nothing
about the person or the office.

A receipt number nobody was given and a case that cannot be shown (not yet projected from its
workflow, or holding a status that has no public wording) get the same answer. Lookups are counted
per client address, the page and the API together (``models.ratelimit``); the address is the
connection's (``request.client.host``), never a forwarded-for header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

import i18n
from i18n import N_
from models.domain import ReceiptNumberError, StatusCode, normalize_receipt_number
from models.forms import FORMS
from models.notices import local_date
from models.ratelimit import client_key, hit
from models.receipts import AGENCY_TIME_ZONE
from models.tables import Case
from web.deps import SessionDep
from web.routers.public import _FIELD_MAX, RECEIPT_MALFORMED, RECEIPT_MISSING
from web.templating import render

router = APIRouter()

# Lookups allowed per client address in a window, the page and the API together.
LOOKUP_LIMIT = 30
LOOKUP_WINDOW = timedelta(minutes=5)
THROTTLE_PURPOSE = "status"

NOT_FOUND = N_(
    "We could not find a case with this receipt number. Check that you typed it as it is printed on your "
    "notice. A case filed in the last few days may not be shown yet."
)
TOO_MANY = N_("Too many attempts. Wait %(minutes)s minutes and try again.")
TOO_MANY_ONE = N_("Too many attempts. Wait a minute and try again.")
FORM_LINE = N_("Form %(code)s, %(title)s")
STATUS_LABELS = {"receipt_number": N_("Receipt number")}

API_TAG = "Case status (v1)"
ErrorCode = Literal["malformed_receipt_number", "not_found", "rate_limited"]

# Dashes people paste from documents and word processors, besides the ASCII one.
_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")


# --- the lookup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicStatus:
    """All a lookup shows: nothing here identifies a person."""

    receipt_number: str
    form_type: str
    code: StatusCode
    day: date  # of the status change, in the agency's calendar
    changed_at_text: str  # the same day written out in the language asked for


def normalize(raw: str | None) -> str:
    """The receipt number as stored; raises ``ReceiptNumberError`` unless it is 3 letters and
    10 digits once spaces and dashes are dropped and letters are upper-cased."""
    raw = raw or ""
    if len(raw) > 4 * _FIELD_MAX:
        raise ReceiptNumberError(raw[:_FIELD_MAX])
    return normalize_receipt_number(_DASHES.sub("", raw))


def find_public_status(db: Session, receipt_number: str, language: str) -> PublicStatus | None:
    """The case's public status, or ``None`` when there is no case to show. Reads only the case
    row's receipt number, form type, status code and date."""
    case = db.get(Case, receipt_number)
    if case is None:
        return None
    try:
        code = StatusCode(case.status_code)
    except ValueError:  # a status with no public wording is not shown
        return None
    return PublicStatus(
        receipt_number=case.receipt_number,
        form_type=case.form_type,
        code=code,
        day=case.status_changed_at.astimezone(AGENCY_TIME_ZONE).date(),
        changed_at_text=local_date(case.status_changed_at, language),
    )


def count_lookup(request: Request, db: Session) -> int:
    """Count one lookup for the client; seconds to wait when it is over the limit, else 0."""
    host = request.client.host if request.client else None
    allowed, retry_after = hit(db, client_key(THROTTLE_PURPOSE, host), limit=LOOKUP_LIMIT, window=LOOKUP_WINDOW)
    db.commit()  # release the counter's row at once
    return 0 if allowed else retry_after


def wait_message(retry_after: int, language: str) -> str:
    minutes = -(-retry_after // 60)
    if minutes <= 1:
        return i18n.gettext(language, TOO_MANY_ONE)
    return i18n.gettext(language, TOO_MANY, minutes=minutes)


def form_line(form_type: str, language: str) -> str:
    form = FORMS.get(form_type)
    if form is None:
        return form_type
    return i18n.gettext(language, FORM_LINE, code=form.code, title=i18n.gettext(language, form.title))


# --- the page -----------------------------------------------------------------------------------


def _page(request: Request, *, receipt_number: str = "", errors: dict[str, str] | None = None,
          result: PublicStatus | None = None, not_found: bool = False, wait: str = "",
          status_code: int = 200) -> Response:
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    context = {
        "values": {"receipt_number": receipt_number},
        "errors": errors or {},
        "labels": STATUS_LABELS,
        "result": result,
        "form_line": form_line(result.form_type, lang) if result else "",
        "not_found": not_found,
        "not_found_message": NOT_FOUND,
        "wait": wait,
    }
    return render(request, "public/status.html", context, status_code=status_code)


@router.get("/status", include_in_schema=False)  # a page: the API below is the documented way
def status_page(request: Request, db: SessionDep, receipt_number: str | None = None) -> Response:
    """The lookup form; with ``receipt_number``, the case's public status under it."""
    if receipt_number is None:
        return _page(request)
    shown = receipt_number.strip()[:_FIELD_MAX]
    if not shown:
        return _page(request, errors={"receipt_number": RECEIPT_MISSING}, status_code=422)
    try:
        normalized = normalize(receipt_number)
    except ReceiptNumberError:
        return _page(request, receipt_number=shown, errors={"receipt_number": RECEIPT_MALFORMED}, status_code=422)
    retry_after = count_lookup(request, db)
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    if retry_after:
        response = _page(request, receipt_number=normalized, wait=wait_message(retry_after, lang), status_code=429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    found = find_public_status(db, normalized, lang)
    if found is None:
        return _page(request, receipt_number=normalized, not_found=True)
    return _page(request, receipt_number=normalized, result=found)


# --- the API ------------------------------------------------------------------------------------


class CaseStatusDetail(BaseModel):
    code: str = Field(description="Stable identifier of the status, such as `case_received`.",
                      examples=["case_received"])
    title: str = Field(description="The public title of the status, in `language`.", examples=["Case Was Received"])
    explanation: str = Field(description="What the status means for the person, in `language`.")


class CaseStatus(BaseModel):
    """The public status of one case. It holds no personal data."""

    receipt_number: str = Field(description="The receipt number, normalised: 3 letters and 10 digits.",
                                examples=["IOE2690123456"])
    form_type: str = Field(description="The form the case was filed on.", examples=["I-765"])
    status: CaseStatusDetail
    status_date: date = Field(description="The day the case reached this status, in the agency's calendar "
                                          "(America/New_York), as an ISO 8601 date.", examples=["2026-11-22"])
    language: Literal["en", "es"] = Field(description="The language of `title` and `explanation`.")


class ApiErrorDetail(BaseModel):
    code: ErrorCode = Field(description="What went wrong, for programs.")
    message: str = Field(description="What went wrong, for people, in the language asked for.")


class ApiError(BaseModel):
    """Every error of the API has this shape."""

    error: ApiErrorDetail


def api_language(request: Request, lang: str | None) -> str:
    """``lang`` when it names a supported language, else the best of Accept-Language, else English."""
    if lang and lang.strip().lower() in i18n.LANGUAGES:
        return lang.strip().lower()
    best, best_q = i18n.DEFAULT_LANGUAGE, 0.0
    for part in request.headers.get("accept-language", "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in i18n.LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:  # on a tie the first listed wins
            best, best_q = code, q
    return best


API_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept-Language"}


def _api_error(
    status: int, code: ErrorCode, message: str, language: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``message``: already in ``language``."""
    body = ApiError(error=ApiErrorDetail(code=code, message=message))
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status,
        headers={**API_HEADERS, "Content-Language": language, **(headers or {})},
    )


_API_PARAMETERS = [
    {"name": "receipt_number", "in": "path", "required": True,
     "description": "The receipt number on the case's notices: 3 letters and 10 digits. Spaces, dashes and "
                    "lower case are accepted.",
     "schema": {"type": "string", "maxLength": 160}, "example": "IOE2690123456"},
    {"name": "lang", "in": "query", "required": False,
     "description": "`en` or `es`: the language of the answer, before Accept-Language. Other values are ignored.",
     "schema": {"type": "string", "enum": ["en", "es"]}, "example": "es"},
    {"name": "Accept-Language", "in": "header", "required": False,
     "description": "Used when `lang` is not given; English when it names neither English nor Spanish.",
     "schema": {"type": "string"}, "example": "es-US,es;q=0.9,en;q=0.8"},
]

_ERROR_EXAMPLE = {"error": {"code": "not_found", "message": "We could not find a case with this receipt number. ..."}}


@router.get(
    "/api/v1/cases/{receipt_number}/status",
    response_model=CaseStatus,
    openapi_extra={"parameters": _API_PARAMETERS},
    tags=[API_TAG],
    operation_id="getCaseStatusV1",
    summary="Get the public status of a case",
    description=(
        "The current public status of one case: its receipt number, form type, status title and explanation "
        "and the date of the status. No account is needed and no personal data is returned.\n\n"
        "The receipt number may be given with spaces or dashes and in lower case. Title, explanation and "
        "error messages are in English or Spanish: `lang` when given (`en` or `es`), else the best match of "
        "`Accept-Language`, else English.\n\n"
        f"Lookups are limited to {LOOKUP_LIMIT} every {int(LOOKUP_WINDOW.total_seconds() // 60)} minutes per "
        "client address, shared with the status page; over the limit the answer is 429 with `Retry-After`. "
        "An unknown receipt number and a case that cannot be shown both answer 404 `not_found`. "
        "Answers are not cached (`Cache-Control: no-store`)."
    ),
    responses={
        200: {"description": "The case's public status."},
        400: {"model": ApiError, "description": "The receipt number is not 3 letters and 10 digits "
              "(`malformed_receipt_number`)."},
        404: {"model": ApiError, "description": "No case with this receipt number can be shown (`not_found`).",
              "content": {"application/json": {"example": _ERROR_EXAMPLE}}},
        429: {"model": ApiError, "description": "Too many lookups from this address (`rate_limited`).",
              "headers": {"Retry-After": {"description": "Seconds to wait before the next lookup.",
                                          "schema": {"type": "integer"}}}},
    },
)
def case_status_v1(request: Request, response: Response, db: SessionDep) -> CaseStatus | JSONResponse:
    # Parameters are read from the request (and documented in ``_API_PARAMETERS``): declared
    # ones would make FastAPI document a 422 answer that this route never gives.
    receipt_number = request.path_params["receipt_number"]
    lang = request.query_params.get("lang")
    language = api_language(request, lang)
    try:
        normalized = normalize(receipt_number)
    except ReceiptNumberError:
        return _api_error(400, "malformed_receipt_number", i18n.gettext(language, RECEIPT_MALFORMED), language)
    retry_after = count_lookup(request, db)
    if retry_after:
        return _api_error(429, "rate_limited", wait_message(retry_after, language), language,
                          headers={"Retry-After": str(retry_after)})
    found = find_public_status(db, normalized, language)
    if found is None:
        return _api_error(404, "not_found", i18n.gettext(language, NOT_FOUND), language)
    text = found.code.text
    response.headers.update({**API_HEADERS, "Content-Language": language})
    return CaseStatus(
        receipt_number=found.receipt_number,
        form_type=found.form_type,
        status=CaseStatusDetail(code=found.code.value, title=i18n.gettext(language, text.title),
                                explanation=i18n.gettext(language, text.explanation)),
        status_date=found.day,
        language=language,  # type: ignore[arg-type]
    )


__all__ = ["LOOKUP_LIMIT", "LOOKUP_WINDOW", "NOT_FOUND", "PublicStatus", "api_language", "find_public_status",
           "normalize", "router"]
