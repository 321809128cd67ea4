"""A case as its applicant sees it: status, explanation and timeline, updating by itself."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from models.domain import ReceiptNumberError, Role, normalize_receipt_number
from models.queries import timeline
from models.tables import Case, Filing, User
from web.deps import CurrentUser, SessionDep
from web.templating import is_htmx_fragment, render

router = APIRouter()


def visible_filing(db, receipt_number: str, user: User) -> Filing:
    """The filing when this user may see it; anything else is a 404, never a 403."""
    try:
        receipt_number = normalize_receipt_number(receipt_number)
    except ReceiptNumberError:
        raise HTTPException(status_code=404) from None
    filing = db.get(Filing, receipt_number)
    if filing is None:
        raise HTTPException(status_code=404)
    if filing.applicant_id != user.id and not Role(user.role).adjudicates:
        raise HTTPException(status_code=404)
    return filing


@router.get("/cases/{receipt_number}")
def case_page(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, since: int | None = None) -> Response:
    filing = visible_filing(db, receipt_number, user)
    case = db.get(Case, filing.receipt_number)
    seq = case.last_seq if case else 0
    if since is not None and since == seq and is_htmx_fragment(request):
        return Response(status_code=204)  # nothing new: htmx keeps the page as it is
    return render(
        request,
        "cases/case.html",
        {
            "filing": filing,
            "case": case,
            "events": timeline(db, receipt_number=filing.receipt_number),
            "seq": seq,
            "just_filed": request.query_params.get("filed") == "1",
        },
        block="case_status",
    )
