"""Pages anyone can open: the home page, checking a notice's verification code, the language
switch, health checks."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

import i18n
from i18n import N_
from models.domain import ReceiptNumberError, normalize_receipt_number
from models.notices import local_date, looks_like_verification_code, notice_title, verify_notice
from web.deps import SessionDep, SettingsDep
from web.security import LANG_COOKIE, safe_next
from web.templating import render

router = APIRouter()

RECEIPT_MISSING = N_("Enter the receipt number")
RECEIPT_MALFORMED = N_("Enter the receipt number as 3 letters and 10 numbers, like IOE2690123456")
CODE_MISSING = N_("Enter the verification code")
CODE_MALFORMED = N_("Enter the verification code as it is printed on the notice: 12 letters and numbers, like ABCD-EFGH-JKLM")
VERIFY_LABELS = {"receipt_number": N_("Receipt number"), "verification_code": N_("Verification code")}
# Longer input than any receipt number or code is cut before it is shown again.
_FIELD_MAX = 40


@router.get("/")
def home(request: Request) -> Response:
    return render(request, "public/home.html")


def _verify_page(request: Request, *, values: dict[str, str], errors: dict[str, str], result: dict | None = None,
                 no_match: bool = False, status_code: int = 200) -> Response:
    return render(
        request, "public/verify.html",
        {"values": values, "errors": errors, "result": result, "no_match": no_match, "labels": VERIFY_LABELS},
        status_code=status_code,
    )


@router.get("/verify")
def verify_page(request: Request) -> Response:
    return _verify_page(request, values={"receipt_number": "", "verification_code": ""}, errors={})


@router.post("/verify")
def verify(
    request: Request,
    db: SessionDep,
    receipt_number: Annotated[str, Form()] = "",
    verification_code: Annotated[str, Form()] = "",
) -> Response:
    """Tell anyone whether a notice with this receipt number and verification code was issued.

    The answer names the kind of notice, its date and the receipt number, nothing about the person.
    A wrong code and an unknown receipt number get the same answer."""
    values = {"receipt_number": receipt_number.strip()[:_FIELD_MAX], "verification_code": verification_code.strip()[:_FIELD_MAX]}
    errors: dict[str, str] = {}
    normalized = ""
    if not values["receipt_number"]:
        errors["receipt_number"] = RECEIPT_MISSING
    else:
        try:
            normalized = normalize_receipt_number(receipt_number)
        except ReceiptNumberError:
            errors["receipt_number"] = RECEIPT_MALFORMED
    if not values["verification_code"]:
        errors["verification_code"] = CODE_MISSING
    elif not looks_like_verification_code(verification_code):
        errors["verification_code"] = CODE_MALFORMED
    if errors:
        return _verify_page(request, values=values, errors=errors, status_code=422)
    notice = verify_notice(db, normalized, verification_code)
    if notice is None:
        return _verify_page(request, values=values, errors={}, no_match=True)
    lang = getattr(request.state, "lang", i18n.DEFAULT_LANGUAGE)
    result = {
        "kind": notice_title(notice.kind, lang),
        "date": local_date(notice.issued_at, lang),
        "receipt_number": notice.receipt_number,
    }
    return _verify_page(request, values={"receipt_number": "", "verification_code": ""}, errors={}, result=result)


@router.post("/language")
def switch_language(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    lang: Annotated[str, Form()] = "en",
    next: Annotated[str, Form()] = "/",
) -> Response:
    language = i18n.normalize_language(lang)
    user = request.state.user
    if user is not None and user.language != language:
        user = db.merge(user)
        user.language = language  # emails follow the language the person reads the site in
        db.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=settings.secure_cookies
    )
    return response


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request, db: SessionDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        db.exec(sa.text("SELECT 1"))  # type: ignore[call-overload]
        checks["database"] = "ok"
    except Exception as exc:  # report, do not crash
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        client = await request.app.state.temporal.get()
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:
        checks["temporal"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
