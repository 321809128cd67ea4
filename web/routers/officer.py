"""The officers' workbench: queues, the case workspace and the actions allowed right now.

Every action is a Workflow Update. Its id comes from a token in the form, so a double click
sends the same update twice and Temporal applies it once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from i18n import N_
from models.domain import Decision, Stage
from models.queries import QUEUE_KINDS, open_task, queue_counts, queue_page, timeline
from models.tables import Case, Filing, User
from web.deps import OfficerUser, SessionDep
from web.routers.cases import visible_filing
from web.templating import render
from workflows.case import CaseWorkflow
from workflows.types import INVALID_ACTION, REASON_MAX_LENGTH, ClaimInput, DecideInput, RecordBiometricsInput

router = APIRouter(prefix="/officer")
log = logging.getLogger("caseline.officer")
_ACTION_ID = re.compile(r"^[0-9a-f-]{36}$")


@router.get("")
def overview(request: Request, officer: OfficerUser, db: SessionDep) -> Response:
    return render(request, "officer/overview.html", {"counts": queue_counts(db)})


@router.get("/queues/{kind}")
def queue(
    request: Request, kind: str, officer: OfficerUser, db: SessionDep, assignment: str = "all", page: int = 1
) -> Response:
    if kind not in QUEUE_KINDS:
        raise HTTPException(status_code=404)
    if assignment not in ("all", "mine", "unassigned"):
        assignment = "all"
    result = queue_page(db, kind=kind, officer_id=officer.id or 0, assignment=assignment, page=page)  # type: ignore[arg-type]
    return render(
        request,
        "officer/queue.html",
        {"kind": kind, "assignment": assignment, "result": result, "counts": queue_counts(db)},
        block="queue_table",
    )


def _workspace(
    request: Request, db, filing: Filing, officer: User, *, errors: dict | None = None, values: dict | None = None,
    status_code: int = 200,
) -> Response:
    case = db.get(Case, filing.receipt_number)
    assignee = db.get(User, case.assigned_officer_id) if case and case.assigned_officer_id else None
    return render(
        request,
        "officer/workspace.html",
        {
            "filing": filing,
            "case": case,
            "task": open_task(db, receipt_number=filing.receipt_number),
            "assignee": assignee,
            "events": timeline(db, receipt_number=filing.receipt_number),
            "errors": errors or {},
            "values": values or {},
            "action_id": str(uuid.uuid4()),
            "decisions": [Decision.APPROVE.value, Decision.DENY.value],
            "Stage": Stage,
        },
        status_code=status_code,
    )


@router.get("/cases/{receipt_number}")
def workspace(request: Request, receipt_number: str, officer: OfficerUser, db: SessionDep) -> Response:
    filing = visible_filing(db, receipt_number, officer)
    return _workspace(request, db, filing, officer)


async def _run_update(request: Request, receipt_number: str, update, arg, action: str, action_id: str) -> str | None:
    """Send the update; returns the refusal message (a msgid) or None when it was applied."""
    if not _ACTION_ID.fullmatch(action_id or ""):
        action_id = str(uuid.uuid4())
    client = await request.app.state.temporal.get()
    handle = client.get_workflow_handle(receipt_number)
    try:
        await asyncio.wait_for(handle.execute_update(update, arg, id=f"{action}:{action_id}"), timeout=30)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == INVALID_ACTION:
            return cause.message
        log.warning("update %s on %s failed", action, receipt_number, exc_info=True)
        return N_("The action could not be completed. Try again in a few minutes.")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return N_("This case is not waiting for this action any more. Reload the page to see where it is.")
        raise HTTPException(status_code=503, detail="temporal") from exc
    except TimeoutError:
        return N_("The action is taking longer than usual. Reload the page in a minute to see if it was recorded.")
    return None


async def _act(
    request: Request, db, receipt_number: str, officer: User, *, update, arg, action: str, action_id: str,
    values: dict | None = None,
) -> Response:
    filing = visible_filing(db, receipt_number, officer)
    refusal = await _run_update(request, filing.receipt_number, update, arg, action, action_id)
    if refusal:
        db.expire_all()
        return _workspace(request, db, filing, officer, errors={"action": refusal}, values=values, status_code=422)
    return RedirectResponse(f"/officer/cases/{filing.receipt_number}?done={action}", status_code=303)


@router.post("/cases/{receipt_number}/biometrics")
async def record_biometrics(
    request: Request, receipt_number: str, officer: OfficerUser, db: SessionDep, action_id: Annotated[str, Form()] = ""
) -> Response:
    arg = RecordBiometricsInput(actor_id=officer.id or 0, actor_role=officer.role)
    return await _act(request, db, receipt_number, officer, update=CaseWorkflow.record_biometrics, arg=arg,
                      action="biometrics", action_id=action_id)


@router.post("/cases/{receipt_number}/claim")
async def claim(
    request: Request, receipt_number: str, officer: OfficerUser, db: SessionDep, action_id: Annotated[str, Form()] = ""
) -> Response:
    arg = ClaimInput(actor_id=officer.id or 0, actor_role=officer.role)
    return await _act(request, db, receipt_number, officer, update=CaseWorkflow.claim, arg=arg, action="claim",
                      action_id=action_id)


@router.post("/cases/{receipt_number}/decide")
async def decide(
    request: Request,
    receipt_number: str,
    officer: OfficerUser,
    db: SessionDep,
    action_id: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    errors: dict[str, str] = {}
    if decision not in (Decision.APPROVE.value, Decision.DENY.value):
        errors["decision"] = N_("Choose to approve or deny the case.")
    if not reason.strip():
        errors["reason"] = N_("Give the reason for the decision.")
    elif len(reason.strip()) > REASON_MAX_LENGTH:
        errors["reason"] = N_("The reason must be 2,000 characters or fewer.")
    values = {"decision": decision, "reason": reason}
    if errors:
        filing = visible_filing(db, receipt_number, officer)
        return _workspace(request, db, filing, officer, errors=errors, values=values, status_code=422)
    arg = DecideInput(actor_id=officer.id or 0, actor_role=officer.role, decision=decision, reason=reason.strip())
    return await _act(request, db, receipt_number, officer, update=CaseWorkflow.decide, arg=arg, action="decide",
                      action_id=action_id, values=values)
