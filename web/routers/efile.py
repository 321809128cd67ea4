"""E-filing: the form, a check-your-answers page, the signed submission."""

from __future__ import annotations

import asyncio
import logging
import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from i18n import N_
from models.domain import Role
from models.forms import FORMS, FORMS_BY_SLUG, FormSpec, validate_answers
from models.tables import Draft, User, utcnow
from web.deps import CurrentUser, SessionDep, SettingsDep
from web.security import log_request_event
from web.filing import start_workflow, submit_draft
from web.routers.registration import VerifyEmailFirst
from web.templating import render

router = APIRouter(prefix="/efile")
log = logging.getLogger("caseline.efile")


def _filer(user: User) -> User:
    if Role(user.role) not in (Role.APPLICANT, Role.REPRESENTATIVE):
        raise HTTPException(status_code=403)
    if user.email_verified_at is None:
        raise VerifyEmailFirst()  # notices go by email: the address must be proved first
    return user


def _form(slug: str) -> FormSpec:
    form = FORMS_BY_SLUG.get(slug)
    if form is None:
        raise HTTPException(status_code=404)
    return form


def _own_draft(db, draft_id: str, user: User) -> Draft:
    draft = db.get(Draft, draft_id) if len(draft_id) <= 36 else None
    if draft is None or draft.user_id != user.id:
        raise HTTPException(status_code=404)
    return draft


def _form_page(request: Request, form: FormSpec, *, answers: dict, errors: dict, action: str, status_code: int = 200):
    return render(
        request,
        "efile/form.html",
        {"form": form, "answers": answers, "errors": errors, "action": action},
        status_code=status_code,
    )


async def _submitted_fields(request: Request, form: FormSpec) -> dict[str, str]:
    """One string per field; the ticked boxes of a group of checkboxes joined by commas."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}
    for spec in form.fields:
        if spec.kind == "checkboxes":
            fields[spec.name] = ",".join(v for v in data.getlist(spec.name) if isinstance(v, str))
    return fields


# A new form starts with what the filer gave at registration: their own address, birth date, A-Number.
_PROFILE_FIELDS = ("street", "apartment", "city", "state", "zip_code", "date_of_birth", "a_number")


def _from_profile(form: FormSpec, user: User) -> dict[str, str]:
    if Role(user.role) != Role.APPLICANT:
        return {}  # a representative files for someone else
    profile = {k: str(v) for k, v in (user.mailing_address or {}).items()}
    profile["date_of_birth"] = user.date_of_birth.isoformat() if user.date_of_birth else ""
    profile["a_number"] = user.a_number or ""
    names = {spec.name for spec in form.fields}
    return {name: profile[name] for name in _PROFILE_FIELDS if name in names and profile.get(name)}


@router.get("/{slug}")
def new_form(request: Request, slug: str, user: CurrentUser) -> Response:
    _filer(user)
    form = _form(slug)
    return _form_page(request, form, answers=_from_profile(form, user), errors={}, action=f"/efile/{form.slug}")


@router.post("/{slug}")
async def create_draft(request: Request, slug: str, user: CurrentUser, db: SessionDep) -> Response:
    _filer(user)
    form = _form(slug)
    answers, errors = validate_answers(form, await _submitted_fields(request, form), today=utcnow().date())
    if errors:
        return _form_page(request, form, answers=answers, errors=errors, action=f"/efile/{form.slug}", status_code=422)
    draft = Draft(id=str(uuid.uuid4()), user_id=user.id or 0, form_type=form.code, answers=answers)
    db.add(draft)
    db.commit()
    return RedirectResponse(f"/efile/drafts/{draft.id}/review", status_code=303)


@router.get("/drafts/{draft_id}")
def edit_draft(request: Request, draft_id: str, user: CurrentUser, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user)
    _filer(user)
    form = FORMS[draft.form_type]
    return _form_page(request, form, answers=draft.answers, errors={}, action=f"/efile/drafts/{draft.id}")


@router.post("/drafts/{draft_id}")
async def update_draft(request: Request, draft_id: str, user: CurrentUser, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user)
    _filer(user)
    form = FORMS[draft.form_type]
    answers, errors = validate_answers(form, await _submitted_fields(request, form), today=utcnow().date())
    if errors:
        return _form_page(request, form, answers=answers, errors=errors, action=f"/efile/drafts/{draft.id}", status_code=422)
    draft.answers = answers
    draft.updated_at = utcnow()
    db.add(draft)
    db.commit()
    return RedirectResponse(f"/efile/drafts/{draft.id}/review", status_code=303)


def _review_page(request: Request, draft: Draft, *, errors: dict, status_code: int = 200) -> Response:
    return render(
        request,
        "efile/review.html",
        {"form": FORMS[draft.form_type], "draft": draft, "errors": errors},
        status_code=status_code,
    )


@router.get("/drafts/{draft_id}/review")
def review(request: Request, draft_id: str, user: CurrentUser, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user)
    _filer(user)
    return _review_page(request, draft, errors={})


@router.post("/drafts/{draft_id}/submit")
async def submit(request: Request, draft_id: str, user: CurrentUser, db: SessionDep, settings: SettingsDep) -> Response:
    draft = _own_draft(db, draft_id, user)
    _filer(user)
    form = FORMS[draft.form_type]
    fields = await _submitted_fields(request, form)
    _, answer_errors = validate_answers(form, draft.answers, today=utcnow().date())
    if answer_errors:
        return RedirectResponse(f"/efile/drafts/{draft.id}", status_code=303)
    if fields.get("attest") != "yes":
        errors = {"attest": N_("Confirm that the information you gave is true and correct")}
        return _review_page(request, draft, errors=errors, status_code=422)
    filing = submit_draft(db, draft=draft, office=settings.online_office)
    log_request_event(request, db, user, "case_filed", detail=filing.receipt_number)
    db.commit()
    try:
        client = await request.app.state.temporal.get()
        await asyncio.wait_for(start_workflow(client, filing=filing, settings=settings), timeout=15)
    except Exception:
        # The filing and its receipt number are saved; the web app starts the case when Temporal is back.
        log.warning("could not start the case of %s now; it will be started later", filing.receipt_number, exc_info=True)
    return RedirectResponse(f"/cases/{filing.receipt_number}?filed=1", status_code=303)
