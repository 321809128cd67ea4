"""A case as its applicant sees it: status, explanation and timeline, updating by itself, and what
the applicant can do now: move an appointment once, answer a request for evidence, ask for an
expedite, withdraw. Each of those is a Workflow Update (see ``web.actions``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from i18n import N_
from models import casefile
from models.casefile import is_party
from models.documents import UploadRejected, documents_for_case, store_upload
from models.domain import BEFORE_DECISION, ReceiptNumberError, Role, Stage, normalize_receipt_number
from models.forms import FORMS
from models.queries import UPLOAD_KINDS, timeline_with_uploads
from models.scheduling import office_address
from models.messaging import threads_for_party
from models.notices import appointment_when, notices_for_case
from models.tables import Case, Filing, Office, Payment, User
from web.actions import new_action_id, run_update
from web.deps import CurrentUser, SessionDep
from web.templating import is_htmx_fragment, render
from web.uploads import DocumentStoreDep, read_upload
from workflows.case import CaseWorkflow
from workflows.types import (
    REASON_MAX_LENGTH,
    EvidenceResponseInput,
    ExpediteRequestInput,
    RescheduleInput,
    WithdrawInput,
)

router = APIRouter()
MAX_RESPONSE_FILES = 10


def filing_or_404(db, receipt_number: str) -> Filing:
    """The filing with this receipt number (typed in any usual way), else a 404."""
    try:
        receipt_number = normalize_receipt_number(receipt_number)
    except ReceiptNumberError:
        raise HTTPException(status_code=404) from None
    filing = db.get(Filing, receipt_number)
    if filing is None:
        raise HTTPException(status_code=404)
    return filing


def visible_filing(db, receipt_number: str, user: User) -> Filing:
    """The filing when this user may see it; anything else is a 404, never a 403."""
    filing = filing_or_404(db, receipt_number)
    if not is_party(filing, user) and not Role(user.role).adjudicates:
        raise HTTPException(status_code=404)
    return filing


def own_filing(db, receipt_number: str, user: User) -> Filing:
    """The filing when this user is its applicant or their representative (staff act from the workspace)."""
    filing = visible_filing(db, receipt_number, user)
    if not is_party(filing, user):
        raise HTTPException(status_code=404)
    return filing


def _page(
    request: Request, db, filing: Filing, *, errors: dict | None = None, values: dict | None = None,
    failed_action: str | None = None, status_code: int = 200,
) -> Response:
    case = db.get(Case, filing.receipt_number)
    seq = case.last_seq if case else 0
    appointment = casefile.current_appointment(db, receipt_number=filing.receipt_number)
    stage = Stage(case.stage) if case else Stage.INTAKE
    return render(
        request,
        "cases/case.html",
        {
            "filing": filing,
            "form": FORMS.get(filing.form_type),
            "case": case,
            "events": timeline_with_uploads(db, receipt_number=filing.receipt_number),
            "seq": seq,
            "just_filed": request.query_params.get("filed") == "1",
            "done": request.query_params.get("done"),
            "appointment": appointment,
            "appointment_place": office_address(db, appointment.office) if appointment else "",
            "appointment_when": _appointment_when(db, appointment, request.state.lang) if appointment else "",
            "can_reschedule": bool(
                appointment and appointment.kind not in casefile.rescheduled_kinds(db, receipt_number=filing.receipt_number)
            ),
            "rfe": casefile.open_evidence_request(db, receipt_number=filing.receipt_number),
            "documents": [d for d in documents_for_case(db, filing.receipt_number) if d.kind not in ("notice", "message")],
            "threads": threads_for_party(db, request.state.user, receipt_number=filing.receipt_number)
            if is_party(filing, request.state.user) else [],
            "notices": notices_for_case(db, filing.receipt_number),
            "payment": db.get(Payment, filing.payment_id) if filing.payment_id else None,
            "is_party": is_party(filing, request.state.user),
            "before_decision": case is not None and stage in BEFORE_DECISION,
            "errors": errors or {},
            "values": values or {},
            "failed_action": failed_action,
            "action_id": new_action_id(),
        },
        status_code=status_code,
        block="case_status",
    )


def _appointment_when(db, appointment, language: str) -> str:
    office = db.get(Office, appointment.office)
    return appointment_when(appointment.starts_at, office.state if office else "", language)


@router.get("/cases/{receipt_number}")
def case_page(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, since: int | None = None) -> Response:
    filing = visible_filing(db, receipt_number, user)
    case = db.get(Case, filing.receipt_number)
    seq = case.last_seq if case else 0
    if since is not None and since == seq and is_htmx_fragment(request):
        return Response(status_code=204)  # nothing new: htmx keeps the page as it is
    return _page(request, db, filing)


async def _apply(
    request: Request, db, filing: Filing, *, update, arg, action: str, action_id: str, values: dict
) -> Response:
    refusal = await run_update(request, filing.receipt_number, update, arg, action, action_id)
    if refusal:
        db.expire_all()
        return _page(request, db, filing, errors={action: refusal}, values=values, failed_action=action,
                     status_code=422)
    return RedirectResponse(f"/cases/{filing.receipt_number}?done={action}", status_code=303)


def _text(form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/cases/{receipt_number}/reschedule")
async def reschedule(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = own_filing(db, receipt_number, user)
    form = await request.form()
    kind = _text(form, "kind")
    if kind not in ("biometrics", "interview", "oath"):
        return _page(request, db, filing, errors={"reschedule": N_("There is no appointment of this kind to reschedule.")},
                     failed_action="reschedule", status_code=422)
    arg = RescheduleInput(actor_id=user.id or 0, actor_role=user.role, kind=kind)
    return await _apply(request, db, filing, update=CaseWorkflow.reschedule, arg=arg, action="reschedule",
                        action_id=_text(form, "action_id"), values={})


@router.post("/cases/{receipt_number}/expedite")
async def request_expedite(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = own_filing(db, receipt_number, user)
    form = await request.form()
    reason = _text(form, "expedite_reason")
    errors = {}
    if not reason:
        errors["expedite_reason"] = N_("Tell us why the case should be expedited.")
    elif len(reason) > REASON_MAX_LENGTH:
        errors["expedite_reason"] = N_("The text must be 2,000 characters or fewer.")
    values = {"expedite_reason": reason}
    if errors:
        return _page(request, db, filing, errors=errors, values=values, failed_action="expedite", status_code=422)
    arg = ExpediteRequestInput(actor_id=user.id or 0, actor_role=user.role, reason=reason)
    return await _apply(request, db, filing, update=CaseWorkflow.request_expedite, arg=arg, action="expedite",
                        action_id=_text(form, "action_id"), values=values)


@router.get("/cases/{receipt_number}/withdraw")
def withdraw_page(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = own_filing(db, receipt_number, user)
    return render(request, "cases/withdraw.html", {"filing": filing, "errors": {}, "values": {},
                                                   "action_id": new_action_id()})


@router.post("/cases/{receipt_number}/withdraw")
async def withdraw(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = own_filing(db, receipt_number, user)
    form = await request.form()
    reason = _text(form, "reason")
    values = {"reason": reason}
    errors = {}
    if _text(form, "confirm") != "yes":
        errors["confirm"] = N_("Confirm that you want to withdraw this case")
    if len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = N_("The text must be 2,000 characters or fewer.")
    if errors:
        return render(request, "cases/withdraw.html",
                      {"filing": filing, "errors": errors, "values": values, "action_id": _text(form, "action_id")},
                      status_code=422)
    arg = WithdrawInput(actor_id=user.id or 0, actor_role=user.role, reason=reason)
    refusal = await run_update(request, filing.receipt_number, CaseWorkflow.withdraw, arg, "withdraw",
                               _text(form, "action_id"))
    if refusal:
        return render(request, "cases/withdraw.html",
                      {"filing": filing, "errors": {"action": refusal}, "values": values,
                       "action_id": new_action_id()}, status_code=422)
    return RedirectResponse(f"/cases/{filing.receipt_number}?done=withdraw", status_code=303)


MAX_CASE_DOCUMENTS = 100


@router.post("/cases/{receipt_number}/documents")
async def upload_document(
    request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, store: DocumentStoreDep
) -> Response:
    """More evidence after filing: one file at a time, for one of the form's documents or "other"."""
    filing = own_filing(db, receipt_number, user)
    form = await request.form()
    item = _text(form, "item")
    spec = FORMS.get(filing.form_type)
    case = db.get(Case, filing.receipt_number)
    errors: dict[str, str] = {}
    if case is None or Stage(case.stage) not in BEFORE_DECISION:
        errors["upload"] = N_("This case no longer takes new documents.")
    elif item != "other" and (spec is None or spec.evidence_item(item) is None):
        errors["item"] = N_("Select which document this is")
    elif sum(d.kind in UPLOAD_KINDS for d in documents_for_case(db, filing.receipt_number)) >= MAX_CASE_DOCUMENTS:
        errors["file"] = N_("This case has the most documents it can take. Write to us instead.")
    if not errors:
        upload = form.get("file")
        try:
            data, name = await read_upload(upload if isinstance(upload, UploadFile) else None)
            store_upload(db, store, data=data, raw_name=name, owner_id=user.id or 0, kind="evidence",
                         receipt_number=filing.receipt_number, evidence_item=item)
        except UploadRejected as exc:
            db.rollback()
            errors["file"] = exc.message
    if errors:
        return _page(request, db, filing, errors=errors, values={"item": item}, failed_action="upload", status_code=422)
    db.commit()
    return RedirectResponse(f"/cases/{filing.receipt_number}?done=upload", status_code=303)


@router.post("/cases/{receipt_number}/evidence-response")
async def respond_to_evidence_request(
    request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, store: DocumentStoreDep
) -> Response:
    filing = own_filing(db, receipt_number, user)
    form = await request.form()
    note = _text(form, "response_note")
    values = {"response_note": note}
    errors: dict[str, str] = {}
    rfe = casefile.open_evidence_request(db, receipt_number=filing.receipt_number)
    if rfe is None:
        errors["rfe"] = N_("There is no request for evidence waiting for your response.")
    if len(note) > REASON_MAX_LENGTH:
        errors["response_note"] = N_("The text must be 2,000 characters or fewer.")
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
    if len(uploads) > MAX_RESPONSE_FILES:
        errors["files"] = N_("Upload at most 10 files at once.")
    if not uploads and not note and not errors:
        errors["files"] = N_("Upload at least one document or write a note.")
    received: list[tuple[bytes, str]] = []
    if not errors:
        for upload in uploads:
            try:
                received.append(await read_upload(upload))
            except UploadRejected as exc:
                errors["files"] = exc.message
                break
    if errors:
        return _page(request, db, filing, errors=errors, values=values, failed_action="rfe", status_code=422)
    document_ids: list[str] = []
    try:
        for data, name in received:
            document = store_upload(
                db, store, data=data, raw_name=name, owner_id=user.id or 0, kind="rfe_response",
                receipt_number=filing.receipt_number, evidence_request_id=rfe.id if rfe else None,
            )
            document_ids.append(document.id)
    except UploadRejected as exc:
        db.rollback()
        return _page(request, db, filing, errors={"files": exc.message}, values=values, failed_action="rfe",
                     status_code=422)
    db.commit()  # the documents are kept even if the workflow refuses; the applicant can send them again
    arg = EvidenceResponseInput(actor_id=user.id or 0, actor_role=user.role, note=note, document_ids=document_ids)
    return await _apply(request, db, filing, update=CaseWorkflow.respond_to_evidence_request, arg=arg, action="rfe",
                        action_id=_text(form, "action_id"), values=values)
