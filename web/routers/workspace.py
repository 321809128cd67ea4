"""The case workspace: the application, evidence, status history, notes between officers and the
actions allowed right now.

Every action is a Workflow Update (see ``web.actions``): the form is checked here first so the
officer gets a message beside the field, then the workflow's validator has the last word (a
wrong stage, a case assigned to someone else), and its refusal is shown on the page. Nothing
here writes the case: the workflow's activities do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from i18n import N_
from models import casefile
from models.messaging import threads_for_case
from models.documents import documents_for_case
from models.domain import REASON_CODES, Decision, Role, Stage
from models.forms import FEE_WAIVER_REASONS, FORMS
from models.queries import open_task, timeline_with_uploads
from models.receipts import AGENCY_TIME_ZONE as EASTERN
from models.tables import Case, Filing, Payment, User, utcnow
from web.actions import new_action_id, run_update
from web.deps import OfficerUser, SessionDep
from web.routers.cases import visible_filing
from web.templating import render
from workflows.case import CaseWorkflow
from workflows.types import (
    REASON_MAX_LENGTH,
    RFE_DEFAULT_DAYS,
    RFE_MAX_DAYS,
    ClaimInput,
    DecideInput,
    ExpediteDecisionInput,
    ExtendEvidenceInput,
    HoldInput,
    ReassignInput,
    RecordBiometricsInput,
    RecordInterviewInput,
    RecordOathInput,
    ReleaseInput,
    RequestEvidenceInput,
    ResumeInput,
    RetryInput,
    ScheduleInterviewInput,
    TransferInput,
)

router = APIRouter(prefix="/officer")
OTHER_EVIDENCE = "other"

LABELS = {
    "outcome": N_("Outcome"),
    "decision": N_("Decision"),
    "reason_code": N_("Reason code"),
    "reason": N_("Reason"),
    "items": N_("Evidence to request"),
    "instructions": N_("Instructions"),
    "due_date": N_("Due date"),
    "officer_id": N_("Officer"),
    "office": N_("Office"),
    "grant": N_("Decision on the expedite request"),
    "note": N_("Note"),
}


def parse_due_date(raw: str) -> tuple[datetime | None, str | None]:
    """A date typed by an officer (YYYY-MM-DD) → the end of that day in Eastern time, as UTC."""
    raw = (raw or "").strip()
    if not raw:
        return None, None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, N_("Enter a real date, like 2027-03-31.")
    due = datetime.combine(day, time(23, 59), EASTERN).astimezone(UTC)
    now = utcnow()
    if due <= now:
        return None, N_("The due date must be in the future.")
    if due > now + timedelta(days=RFE_MAX_DAYS):
        return None, N_("The due date must be within a year.")
    return due, None


def _reason(form: dict[str, str], errors: dict[str, str], missing: str, *, name: str = "reason") -> str:
    text = (form.get(name) or "").strip()
    if not text:
        errors[name] = missing
    elif len(text) > REASON_MAX_LENGTH:
        errors[name] = N_("The text must be 2,000 characters or fewer.")
    return text


# --- what each action needs from the form ---------------------------------------------------

Builder = Callable[[dict[str, str], list[str], User, dict[str, str]], Any]


def _who(officer: User) -> dict[str, Any]:
    return {"actor_id": officer.id or 0, "actor_role": officer.role}


def _biometrics(form, items, officer, errors):
    outcome = form.get("outcome", "")
    if outcome not in ("taken", "no_show"):
        errors["outcome"] = N_("Choose what happened at the appointment.")
    return RecordBiometricsInput(**_who(officer), outcome=outcome)


def _interview(form, items, officer, errors):
    outcome = form.get("outcome", "")
    if outcome not in ("passed", "failed", "no_show"):
        errors["outcome"] = N_("Choose the outcome of the interview.")
    return RecordInterviewInput(**_who(officer), outcome=outcome)


def _oath(form, items, officer, errors):
    outcome = form.get("outcome", "")
    if outcome not in ("taken", "no_show"):
        errors["outcome"] = N_("Choose what happened at the ceremony.")
    return RecordOathInput(**_who(officer), outcome=outcome)


def _decide(form, items, officer, errors):
    decision = form.get("decision", "")
    if decision not in (Decision.APPROVE.value, Decision.DENY.value):
        errors["decision"] = N_("Choose to approve or deny the case.")
    code = form.get("reason_code", "")
    if decision in REASON_CODES and code not in REASON_CODES[decision]:
        errors["reason_code"] = N_("Choose the reason for the decision.")
    reason = _reason(form, errors, N_("Give the reason for the decision."))
    return DecideInput(**_who(officer), decision=decision, reason=reason, reason_code=code)


def _request_evidence(form, items, officer, errors):
    if not items:
        errors["items"] = N_("Choose at least one item of evidence to request.")
    instructions = (form.get("instructions") or "").strip()
    if OTHER_EVIDENCE in items and not instructions:
        errors["instructions"] = N_("Describe the other evidence you need.")
    elif len(instructions) > REASON_MAX_LENGTH:
        errors["instructions"] = N_("The text must be 2,000 characters or fewer.")
    due, problem = parse_due_date(form.get("due_date", ""))
    if problem:
        errors["due_date"] = problem
    return RequestEvidenceInput(**_who(officer), items=items, instructions=instructions, due_at=due)


def _extend(form, items, officer, errors):
    due, problem = parse_due_date(form.get("due_date", ""))
    if problem or due is None:
        errors["due_date"] = problem or N_("Enter the new due date.")
    return ExtendEvidenceInput(**_who(officer), due_at=due)


def _reassign(form, items, officer, errors):
    try:
        officer_id = int(form.get("officer_id", ""))
    except ValueError:
        officer_id = 0
    if officer_id <= 0:
        errors["officer_id"] = N_("Choose the officer to give the case to.")
    return ReassignInput(**_who(officer), officer_id=officer_id)


def _transfer(form, items, officer, errors):
    office = (form.get("office") or "").strip().upper()
    if len(office) != 3 or not office.isalpha():
        errors["office"] = N_("Choose the office to transfer the case to.")
    reason = _reason(form, errors, N_("Give the reason for the transfer."))
    return TransferInput(**_who(officer), office=office, reason=reason)


def _hold(form, items, officer, errors):
    return HoldInput(**_who(officer), reason=_reason(form, errors, N_("Give the reason for the hold.")))


def _expedite(form, items, officer, errors):
    grant = form.get("grant", "")
    if grant not in ("yes", "no"):
        errors["grant"] = N_("Choose to grant or refuse the request.")
    reason = _reason(form, errors, N_("Give the reason for the expedite decision."))
    return ExpediteDecisionInput(**_who(officer), grant=grant == "yes", reason=reason)


def _plain(cls) -> Builder:
    return lambda form, items, officer, errors: cls(**_who(officer))


@dataclass(frozen=True)
class OfficerAction:
    update: Any
    build: Builder
    supervisor_only: bool = False


ACTIONS: dict[str, OfficerAction] = {
    "biometrics": OfficerAction(CaseWorkflow.record_biometrics, _biometrics),
    "claim": OfficerAction(CaseWorkflow.claim, _plain(ClaimInput)),
    "release": OfficerAction(CaseWorkflow.release, _plain(ReleaseInput)),
    "reassign": OfficerAction(CaseWorkflow.reassign, _reassign, supervisor_only=True),
    "request-evidence": OfficerAction(CaseWorkflow.request_evidence, _request_evidence),
    "extend-evidence": OfficerAction(CaseWorkflow.extend_evidence_due_date, _extend),
    "schedule-interview": OfficerAction(CaseWorkflow.schedule_interview, _plain(ScheduleInterviewInput)),
    "interview": OfficerAction(CaseWorkflow.record_interview, _interview),
    "decide": OfficerAction(CaseWorkflow.decide, _decide),
    "oath": OfficerAction(CaseWorkflow.record_oath, _oath),
    "transfer": OfficerAction(CaseWorkflow.transfer, _transfer, supervisor_only=True),
    "hold": OfficerAction(CaseWorkflow.hold, _hold, supervisor_only=True),
    "resume": OfficerAction(CaseWorkflow.resume, _plain(ResumeInput), supervisor_only=True),
    "expedite": OfficerAction(CaseWorkflow.decide_expedite, _expedite, supervisor_only=True),
    "retry": OfficerAction(CaseWorkflow.retry, _plain(RetryInput), supervisor_only=True),
}


# --- the page -------------------------------------------------------------------------------


def _workspace(
    request: Request, db, filing: Filing, officer: User, *, errors: dict | None = None, values: dict | None = None,
    failed_action: str | None = None, status_code: int = 200,
) -> Response:
    case = db.get(Case, filing.receipt_number)
    form = FORMS.get(filing.form_type)
    return render(
        request,
        "officer/workspace.html",
        {
            "filing": filing,
            "form": form,
            "case": case,
            "task": open_task(db, receipt_number=filing.receipt_number),
            "assignee_name": casefile.user_name(db, case.assigned_officer_id) if case else None,
            "events": timeline_with_uploads(db, receipt_number=filing.receipt_number),
            "appointment": casefile.current_appointment(db, receipt_number=filing.receipt_number),
            "appointments": casefile.appointments(db, receipt_number=filing.receipt_number),
            "evidence_requests": casefile.evidence_requests(db, receipt_number=filing.receipt_number),
            "documents": [d for d in documents_for_case(db, filing.receipt_number) if d.kind != "message"],
            "threads": threads_for_case(db, officer, filing.receipt_number),
            "payment": db.get(Payment, filing.payment_id) if filing.payment_id else None,
            "waiver_reason_label": dict(FEE_WAIVER_REASONS).get(filing.waiver_reason),
            "representative_name": casefile.user_name(db, filing.representative_id) if filing.representative_id else None,
            "notes": casefile.notes(db, receipt_number=filing.receipt_number),
            "officers": casefile.officers(db) if Role(officer.role) == Role.SUPERVISOR else [],
            "offices": casefile.offices(db),
            "office_name": casefile.office_name(db, case.office if case else filing.office),
            "errors": errors or {},
            "labels": LABELS,
            "values": values or {},
            "failed_action": failed_action,
            "action_id": new_action_id(),
            "reason_codes": REASON_CODES,
            "rfe_default_due": (utcnow() + timedelta(days=RFE_DEFAULT_DAYS)).astimezone(EASTERN).date(),
            "is_supervisor": Role(officer.role) == Role.SUPERVISOR,
            "Stage": Stage,
        },
        status_code=status_code,
    )


@router.get("/cases/{receipt_number}")
def workspace(request: Request, receipt_number: str, officer: OfficerUser, db: SessionDep) -> Response:
    filing = visible_filing(db, receipt_number, officer)
    return _workspace(request, db, filing, officer)


@router.post("/cases/{receipt_number}/notes")
async def add_note(request: Request, receipt_number: str, officer: OfficerUser, db: SessionDep) -> Response:
    filing = visible_filing(db, receipt_number, officer)
    form = await request.form()
    body = str(form.get("note") or "").strip()
    errors: dict[str, str] = {}
    if not body:
        errors["note"] = N_("Write the note.")
    elif len(body) > casefile.NOTE_MAX_LENGTH:
        errors["note"] = N_("A note must be 4,000 characters or fewer.")
    if errors:
        return _workspace(request, db, filing, officer, errors=errors, values={"note": body}, failed_action="notes",
                          status_code=422)
    casefile.add_note(db, receipt_number=filing.receipt_number, author=officer, body=body)
    db.commit()
    return RedirectResponse(f"/officer/cases/{filing.receipt_number}?done=notes#notes", status_code=303)


@router.post("/cases/{receipt_number}/{action}")
async def act(request: Request, receipt_number: str, action: str, officer: OfficerUser, db: SessionDep) -> Response:
    spec = ACTIONS.get(action)
    if spec is None:
        raise HTTPException(status_code=404)
    filing = visible_filing(db, receipt_number, officer)
    if spec.supervisor_only and Role(officer.role) != Role.SUPERVISOR:
        raise HTTPException(status_code=403)
    data = await request.form()
    form = {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}
    items = [v for v in data.getlist("items") if isinstance(v, str)]
    evidence_codes = {e.code for e in FORMS[filing.form_type].evidence} | {OTHER_EVIDENCE} if filing.form_type in FORMS else {OTHER_EVIDENCE}
    items = [i for i in dict.fromkeys(items) if i in evidence_codes]
    errors: dict[str, str] = {}
    arg = spec.build(form, items, officer, errors)
    # The workflow cannot look these up: only offices and officers that exist (as the page lists them).
    if action == "transfer" and "office" not in errors and arg.office not in {o.code for o in casefile.offices(db)}:
        errors["office"] = N_("Choose the office to transfer the case to.")
    if action == "reassign" and "officer_id" not in errors and arg.officer_id not in {u.id for u in casefile.officers(db)}:
        errors["officer_id"] = N_("Choose the officer to give the case to.")
    values = {**form, "items": items}
    if errors:
        return _workspace(request, db, filing, officer, errors=errors, values=values, failed_action=action,
                          status_code=422)
    refusal = await run_update(request, filing.receipt_number, spec.update, arg, action, form.get("action_id", ""))
    if refusal:
        db.expire_all()
        return _workspace(request, db, filing, officer, errors={"action": refusal}, values=values,
                          failed_action=action, status_code=422)
    back = _return_to(form.get("return_to", ""))
    if back:
        joiner = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{joiner}done={action}&case={filing.receipt_number}", status_code=303)
    return RedirectResponse(f"/officer/cases/{filing.receipt_number}?done={action}", status_code=303)


_RETURN_TO = re.compile(r"^/supervisor(/stuck)?(\?[A-Za-z0-9_=&%.-]*)?$")


def _return_to(raw: str) -> str | None:
    """Where a row action on the supervisor's pages goes back to: only those pages, never elsewhere."""
    if not _RETURN_TO.fullmatch(raw):
        return None
    path, _, query = raw.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith(("done=", "case=")))
    return f"{path}?{kept}" if kept else path
