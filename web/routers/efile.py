"""E-filing as a guided journey: one topic per page, documents, the fee, a check-your-answers page
with an e-signature, payment, and the submission that issues the receipt number.

Every page saves the draft, even with answers still to correct, so nothing typed is lost; a page
posted just after the session timed out is saved too before the person is asked to sign in again.
A representative files for a client whose applicant account they name first.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from i18n import N_
from models import payments
from models.accounts import get_user_by_email
from models.documents import MAX_UPLOAD_LABEL, UploadRejected, store_upload
from models.domain import Role
from models.forms import FEE_WAIVER_REASONS, FORMS, FORMS_BY_SLUG, FieldSpec, FormSpec, validate_answers
from models.tables import Document, Draft, Filing, Payment, User, utcnow
from settings import Settings
from web import journey
from web.deps import SessionDep, SettingsDep, SignInRequired, current_user
from web.filing import SubmissionError, start_workflow, submit_draft
from web.journey import CLIENT, EVIDENCE, FEE, PAY, REVIEW, Step
from web.routers.registration import VerifyEmailFirst
from web.security import log_request_event
from web.templating import render
from web.uploads import DocumentStoreDep, read_upload

router = APIRouter(prefix="/efile")
log = logging.getLogger("caseline.efile")

MAX_DRAFT_DOCUMENTS = 40
OTHER_EVIDENCE = "other"
WAIVER_EXPLANATION_MAX = 2000
SIGNATURE_MAX = 200
ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")


# --- who may file, and which draft -------------------------------------------------------------


def _filer(user: User) -> User:
    if Role(user.role) not in (Role.APPLICANT, Role.REPRESENTATIVE):
        raise HTTPException(status_code=403)
    if user.email_verified_at is None:
        raise VerifyEmailFirst()  # notices go by email: the address must be proved first
    return user


def filer_or_timed_out(request: Request) -> User | None:
    """The signed-in filer; ``None`` when the session has just timed out (the page saves what was
    posted, then asks to sign in); otherwise the usual sign-in redirect."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return _filer(current_user(user))
    if getattr(request.state, "expired_user_id", None) is None:
        raise SignInRequired()
    return None


FilerOrTimedOut = Annotated[User | None, Depends(filer_or_timed_out)]


def filer(request: Request) -> User:
    user = getattr(request.state, "user", None)
    if user is None:
        raise SignInRequired()
    return _filer(current_user(user))


Filer = Annotated[User, Depends(filer)]


def _form(slug: str) -> FormSpec:
    form = FORMS_BY_SLUG.get(slug)
    if form is None:
        raise HTTPException(status_code=404)
    return form


def _own_draft(db: Session, draft_id: str, user_id: int | None) -> Draft:
    draft = db.get(Draft, draft_id) if len(draft_id) <= 36 else None
    if draft is None or user_id is None or draft.user_id != user_id:
        raise HTTPException(status_code=404)
    return draft


def _is_representative(user: User) -> bool:
    return Role(user.role) == Role.REPRESENTATIVE


def _steps(form: FormSpec, draft: Draft, user: User) -> list[Step]:
    return journey.steps_for(form, draft, representative=_is_representative(user))


def _step(steps: list[Step], name: str) -> Step:
    step = journey.step_named(steps, name)
    if step is None:
        raise HTTPException(status_code=404)
    return step


def _step_url(draft: Draft, step: Step | str, *, back_to_review: bool = False) -> str:
    name = step if isinstance(step, str) else step.name
    return f"/efile/drafts/{draft.id}/{name}" + ("?return=review" if back_to_review else "")


def _touch(db: Session, draft: Draft) -> None:
    """A saved draft lives 30 days from now; warnings about its deletion start over."""
    draft.updated_at = utcnow()
    draft.expiry_warning_days = None
    db.add(draft)


def _unsign(draft: Draft) -> None:
    """What was signed has changed: the signature no longer covers it and is asked for again."""
    draft.signature = ""
    draft.signed_at = None


def _complete(draft: Draft, step: Step) -> None:
    if step.name not in (draft.completed_steps or []):
        draft.completed_steps = [*(draft.completed_steps or []), step.name]


# --- starting -----------------------------------------------------------------------------------


@router.get("/{slug}")
def start_page(request: Request, slug: str, user: Filer) -> Response:
    form = _form(slug)
    return render(request, "efile/start.html", {"form": form, "representative": _is_representative(user)})


# A new form starts with what the filer gave at registration: their own address, birth date, A-Number.
_PROFILE_FIELDS = ("street", "apartment", "city", "state", "zip_code", "date_of_birth", "a_number")


def _from_profile(form: FormSpec, user: User) -> dict[str, str]:
    if Role(user.role) != Role.APPLICANT:
        return {}  # a representative files for someone else, and sees nothing of the client's profile
    profile = {k: str(v) for k, v in (user.mailing_address or {}).items()}
    profile["date_of_birth"] = user.date_of_birth.isoformat() if user.date_of_birth else ""
    profile["a_number"] = user.a_number or ""
    names = {spec.name for spec in form.fields}
    return {name: profile[name] for name in _PROFILE_FIELDS if name in names and profile.get(name)}


@router.post("/{slug}")
def create_draft(request: Request, slug: str, user: Filer, db: SessionDep) -> Response:
    form = _form(slug)
    draft = Draft(id=str(uuid.uuid4()), user_id=user.id or 0, form_type=form.code, answers=_from_profile(form, user))
    db.add(draft)
    log_request_event(request, db, user, "draft_started", detail=form.code)
    db.commit()
    return RedirectResponse(_step_url(draft, _steps(form, draft, user)[0]), status_code=303)


@router.get("/drafts/{draft_id}")
def resume(draft_id: str, user: Filer, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    form = FORMS[draft.form_type]
    steps = _steps(form, draft, user)
    return RedirectResponse(_step_url(draft, journey.resume_step(steps, draft)), status_code=303)


# --- pages ------------------------------------------------------------------------------------


def _page(
    request: Request, template: str, *, form: FormSpec, draft: Draft, steps: list[Step], step: Step,
    errors: Mapping[str, str] | None = None, status_code: int = 200, **extra,
) -> Response:
    previous = journey.previous_before(steps, step.name)
    back_to_review = request.query_params.get("return") == "review" and step.name not in (REVIEW, PAY)
    return render(
        request,
        template,
        {
            "form": form, "draft": draft, "steps": steps, "step": step,
            "step_index": [s.name for s in steps].index(step.name) + 1,
            "back_url": _step_url(draft, REVIEW) if back_to_review else (_step_url(draft, previous) if previous else f"/efile/{form.slug}"),
            "back_to_review": back_to_review,
            "errors": dict(errors or {}), "action": _step_url(draft, step),
            **extra,
        },
        status_code=status_code,
    )


def _section_errors(form: FormSpec, answers: Mapping[str, str], step: Step) -> tuple[dict[str, str], dict[str, str]]:
    """(cleaned answers of the whole form, the errors of this page's questions).

    ``validate_answers`` runs the checks across answers only once the whole form is valid; while
    other pages are still to be answered, those checks are run here for this page's questions (with
    the answers still wrong elsewhere left out), so a mistake shows on the page where it was made."""
    today = utcnow().date()
    cleaned, errors = validate_answers(form, answers, today=today)
    names = {f.name for f in step.fields}
    page_errors = {name: message for name, message in errors.items() if name in names}
    if errors and not page_errors:
        valid = {name: "" if name in errors else value for name, value in cleaned.items()}
        for check in form.checks:
            page_errors.update({name: message for name, message in check(valid, today).items() if name in names})
    return cleaned, page_errors


def _evidence_context(db: Session, form: FormSpec, draft: Draft) -> dict:
    documents = list(
        db.exec(select(Document).where(Document.draft_id == draft.id).order_by(col(Document.uploaded_at))).all()
    )
    by_item: dict[str, list[Document]] = {}
    for document in documents:
        by_item.setdefault(document.evidence_item or OTHER_EVIDENCE, []).append(document)
    return {"by_item": by_item, "documents": documents, "max_upload": MAX_UPLOAD_LABEL, "other": OTHER_EVIDENCE}


def _evidence_errors(form: FormSpec, by_item: Mapping[str, list[Document]]) -> dict[str, str]:
    return {
        f"file-{item.code}": N_("Upload at least one file for this document")
        for item in form.evidence
        if item.required and not by_item.get(item.code)
    }


def _client(db: Session, draft: Draft) -> User | None:
    return db.get(User, draft.client_id) if draft.client_id else None


def _fee_context(form: FormSpec, draft: Draft) -> dict:
    return {
        "fee": form.fee_for(draft.answers), "full_fee": form.fee_cents, "waiver_reasons": FEE_WAIVER_REASONS,
        "waiver_allowed": form.fee_waiver,
    }


def _payment_context(form: FormSpec, draft: Draft, settings: Settings) -> dict:
    return {
        "amount": journey.fee_owed(form, draft),
        "test_cards": payments.TEST_CARDS if settings.payment_provider == "sandbox" else {},
        "attempt_key": str(uuid.uuid4()),
    }


def _review_problems(
    db: Session, form: FormSpec, draft: Draft, steps: list[Step], by_item: Mapping[str, list[Document]] | None = None,
) -> list[tuple[str, str]]:
    """What still stops the filing: (message msgid, link to the page that fixes it). ``by_item``:
    the draft's documents by evidence item, when the caller has them already."""
    problems: list[tuple[str, str]] = []
    client_step = journey.step_named(steps, CLIENT)
    if client_step is not None and _client(db, draft) is None:
        problems.append((N_("Tell us who your client is"), _step_url(draft, CLIENT, back_to_review=True)))
    _, errors = validate_answers(form, draft.answers, today=utcnow().date())
    for spec in form.fields:
        if spec.name in errors:
            step = journey.step_of_field(steps, spec.name)
            url = _step_url(draft, step or steps[0], back_to_review=True) + f"#{spec.name}"
            problems.append((errors[spec.name], url))
    if by_item is None:
        by_item = _evidence_context(db, form, draft)["by_item"]
    if _evidence_errors(form, by_item):
        problems.append((N_("Upload the documents marked as required"), _step_url(draft, EVIDENCE, back_to_review=True)))
    if draft.fee_option not in ("pay", "waiver") or (draft.fee_option == "waiver" and not form.fee_waiver):
        problems.append((N_("Tell us how you will pay the fee"), _step_url(draft, FEE, back_to_review=True)))
    return problems


def _render_step(
    request: Request, db: Session, settings: Settings, *, form: FormSpec, draft: Draft, steps: list[Step], step: Step,
    errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None, status_code: int = 200,
) -> Response:
    if step.name == CLIENT:
        client = _client(db, draft)
        return _page(request, "efile/client.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                     status_code=status_code, client=client, values=values or {}, birth_spec=CLIENT_BIRTH_DATE)
    if step.name == EVIDENCE:
        return _page(request, "efile/evidence.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                     status_code=status_code, **_evidence_context(db, form, draft))
    if step.name == FEE:
        return _page(request, "efile/fee.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                     status_code=status_code, values=values or {}, **_fee_context(form, draft))
    if step.name == REVIEW:
        evidence = _evidence_context(db, form, draft)
        return _page(request, "efile/review.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                     status_code=status_code, problems=_review_problems(db, form, draft, steps, evidence["by_item"]),
                     client=_client(db, draft), values=values or {}, **evidence, **_fee_context(form, draft),
                     amount=journey.fee_owed(form, draft))
    if step.name == PAY:
        return _page(request, "efile/pay.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                     status_code=status_code, values=values or {}, **_payment_context(form, draft, settings))
    return _page(request, "efile/step.html", form=form, draft=draft, steps=steps, step=step, errors=errors,
                 status_code=status_code, answers={**draft.answers, **(values or {})})


@router.get("/drafts/{draft_id}/{step_name}")
def show_step(request: Request, draft_id: str, step_name: str, user: Filer, db: SessionDep, settings: SettingsDep) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    form = FORMS[draft.form_type]
    steps = _steps(form, draft, user)
    step = _step(steps, step_name)
    if step.name == PAY and (draft.signed_at is None or _review_problems(db, form, draft, steps)):
        return RedirectResponse(_step_url(draft, REVIEW), status_code=303)
    errors: dict[str, str] = {}
    if step.fields and step.name in (draft.completed_steps or []):
        _, errors = _section_errors(form, draft.answers, step)  # coming back to fix something: show what
    return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors)


async def _posted(request: Request) -> dict[str, str]:
    """One string per field; the ticked boxes of a group of checkboxes joined by commas."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}
    for key in set(data.keys()):
        values = [v for v in data.getlist(key) if isinstance(v, str)]
        if len(values) > 1:
            fields[key] = ",".join(values)
    return fields


def _take_section(form: FormSpec, draft: Draft, step: Step, posted: Mapping[str, str]) -> dict[str, str]:
    """Merge this page's answers into the draft (as typed when they are wrong); returns the errors."""
    names = {f.name for f in step.fields}
    submitted = {k: v for k, v in posted.items() if k in names or k.rsplit("_", 1)[0] in names}
    for spec in step.fields:
        if spec.kind == "checkboxes" and spec.name not in submitted:
            submitted[spec.name] = ""  # nothing ticked: the browser sends nothing at all
    merged = {**draft.answers, **submitted}
    for spec in step.fields:
        if spec.kind == "date" and any(f"{spec.name}_{p}" in submitted for p in ("year", "month", "day")):
            merged.pop(spec.name, None)  # the parts just posted win over the date saved before
    cleaned, errors = _section_errors(form, merged, step)
    answers = {**draft.answers, **{name: cleaned.get(name, "") for name in names}}
    if answers != draft.answers:
        _unsign(draft)
    draft.answers = answers
    return errors


def _after(request: Request, draft: Draft, steps: list[Step], step: Step, posted: Mapping[str, str]) -> Response:
    if "save_and_exit" in posted:
        return RedirectResponse("/account?saved=1", status_code=303)
    if request.query_params.get("return") == "review" and step.name not in (REVIEW, PAY):
        return RedirectResponse(_step_url(draft, REVIEW), status_code=303)
    following = journey.next_after(steps, step.name)
    return RedirectResponse(_step_url(draft, following or step), status_code=303)


@router.post("/drafts/{draft_id}/{step_name}")
async def save_step(
    request: Request, draft_id: str, step_name: str, user: FilerOrTimedOut, db: SessionDep, settings: SettingsDep,
    store: DocumentStoreDep,
) -> Response:
    if user is None:
        return await _save_after_timeout(request, db, draft_id, step_name)
    if step_name in (REVIEW, PAY) and db.get(Draft, draft_id[:36]) is None:
        # Signed or paid twice (a double click, a reload): the first made the case; show it.
        filed = _filed_case_url(db, draft_id, user)
        if filed:
            return RedirectResponse(filed, status_code=303)
    draft = _own_draft(db, draft_id, user.id)
    form = FORMS[draft.form_type]
    steps = _steps(form, draft, user)
    step = _step(steps, step_name)
    posted = await _posted(request)

    if step.name == CLIENT:
        return _save_client(request, db, settings, form=form, draft=draft, steps=steps, step=step, posted=posted)
    if step.name == EVIDENCE:
        by_item = _evidence_context(db, form, draft)["by_item"]
        errors = {} if "save_and_exit" in posted else _evidence_errors(form, by_item)
        _touch(db, draft)
        if not errors:
            _complete(draft, step)
        db.commit()
        if errors:
            return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                                status_code=422)
        return _after(request, draft, steps, step, posted)
    if step.name == FEE:
        return _save_fee(request, db, settings, form=form, draft=draft, user=user, step=step, posted=posted)
    if step.name == REVIEW:
        return await _sign(request, db, settings, form=form, draft=draft, user=user, steps=steps, step=step, posted=posted)
    if step.name == PAY:
        return await _pay(request, db, settings, form=form, draft=draft, user=user, steps=steps, step=step, posted=posted)

    errors = _take_section(form, draft, step, posted)
    _touch(db, draft)
    if not errors:
        _complete(draft, step)
    db.commit()
    if errors and "save_and_exit" not in posted:
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            status_code=422)
    return _after(request, draft, steps, step, posted)


async def _save_after_timeout(request: Request, db: Session, draft_id: str, step_name: str) -> Response:
    """The session ended while this page was open: keep what was typed, then ask to sign in."""
    owner_id = request.state.expired_user_id
    draft = db.get(Draft, draft_id) if len(draft_id) <= 36 else None
    saved = False
    if draft is not None and draft.user_id == owner_id:
        owner = db.get(User, owner_id)
        form = FORMS[draft.form_type]
        if owner is not None:
            step = journey.step_named(_steps(form, draft, owner), step_name)
            if step is not None and step.fields:
                _take_section(form, draft, step, await _posted(request))
                _touch(db, draft)
                db.commit()
                saved = True
                log.info("saved draft %s after the session timed out", draft.id)
    # "We saved your answers" only when they were: not for a page without questions (the fee, a
    # signature, a card), nor for a draft that is not this person's.
    raise SignInRequired(saved=saved)


# --- the representative's client ---------------------------------------------------------------

CLIENT_BIRTH_DATE = FieldSpec("client_date_of_birth", N_("Your client's date of birth"), kind="date",
                              hint=N_("As in their Caseline account. For example: 4 27 1990"))
CLIENT_NOT_FOUND = N_(
    "We could not find an applicant account with this email address and date of birth. "
    "Check them, or ask your client to create an account first."
)


def _save_client(
    request: Request, db: Session, settings: Settings, *, form: FormSpec, draft: Draft, steps: list[Step], step: Step,
    posted: Mapping[str, str],
) -> Response:
    email = " ".join(posted.get("client_email", "").split())[:254]
    birth_form = FormSpec(code=form.code, slug=form.slug, title=form.title, fee_cents=0, fields=(CLIENT_BIRTH_DATE,), sla_days={})
    birth, birth_errors = validate_answers(birth_form, posted, today=utcnow().date())
    errors: dict[str, str] = {}
    if not email or "@" not in email:
        errors["client_email"] = N_("Enter your client's email address, like name@example.com")
    errors.update(birth_errors)
    client = None
    if not errors:
        client = get_user_by_email(db, email=email)
        if (
            client is None or Role(client.role) != Role.APPLICANT or client.email_verified_at is None
            or client.date_of_birth is None or client.date_of_birth.isoformat() != birth["client_date_of_birth"]
        ):
            client = None
            errors["client_email"] = CLIENT_NOT_FOUND
    if errors:
        values = {"client_email": email, "client_date_of_birth": birth.get("client_date_of_birth", "")}
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            values=values, status_code=422)
    assert client is not None
    if draft.client_id != client.id:
        _unsign(draft)
    draft.client_id = client.id
    _complete(draft, step)
    _touch(db, draft)
    db.commit()
    return _after(request, draft, steps, step, posted)


# --- evidence -----------------------------------------------------------------------------------


def _evidence_url(request: Request, draft: Draft, item: str) -> str:
    """Back to the documents page at this document, still on the way back to check-your-answers
    when the person came from there."""
    back_to_review = request.query_params.get("return") == "review"
    return _step_url(draft, EVIDENCE, back_to_review=back_to_review) + f"#item-{item}"


@router.post("/drafts/{draft_id}/evidence/upload")
async def upload_evidence(
    request: Request, draft_id: str, user: Filer, db: SessionDep, settings: SettingsDep, store: DocumentStoreDep,
) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    form = FORMS[draft.form_type]
    steps = _steps(form, draft, user)
    step = _step(steps, EVIDENCE)
    data = await request.form()
    item = data.get("item")
    if not isinstance(item, str) or (item != OTHER_EVIDENCE and form.evidence_item(item) is None):
        raise HTTPException(status_code=404)
    field = f"file-{item}"
    count = len(_evidence_context(db, form, draft)["documents"])
    errors: dict[str, str] = {}
    try:
        if count >= MAX_DRAFT_DOCUMENTS:
            raise UploadRejected(N_("You can upload at most 40 documents with one application"), code="count")
        upload = data.get("file")
        content, name = await read_upload(upload if isinstance(upload, UploadFile) else None)
        store_upload(db, store, data=content, raw_name=name, owner_id=user.id or 0, kind="evidence", draft_id=draft.id,
                     evidence_item=item)
    except UploadRejected as refused:
        errors[field] = refused.message
        db.rollback()
    else:
        _unsign(draft)
        _touch(db, draft)
        db.commit()
    if errors:
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            status_code=422)
    return RedirectResponse(_evidence_url(request, draft, item), status_code=303)


@router.post("/drafts/{draft_id}/evidence/{document_id}/remove")
def remove_evidence(request: Request, draft_id: str, document_id: str, user: Filer, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    document = db.get(Document, document_id) if len(document_id) <= 36 else None
    if document is None or document.draft_id != draft.id or document.receipt_number is not None:
        raise HTTPException(status_code=404)
    item = document.evidence_item or OTHER_EVIDENCE
    db.delete(document)  # the bytes stay in the content-addressed store; other rows may share them
    _unsign(draft)
    _touch(db, draft)
    db.commit()
    return RedirectResponse(_evidence_url(request, draft, item), status_code=303)


# --- the fee ------------------------------------------------------------------------------------


def _save_fee(
    request: Request, db: Session, settings: Settings, *, form: FormSpec, draft: Draft, user: User, step: Step,
    posted: Mapping[str, str],
) -> Response:
    option = posted.get("fee_option", "") if form.fee_waiver else "pay"
    reason = posted.get("waiver_reason", "")
    explanation = posted.get("waiver_explanation", "").strip()
    errors: dict[str, str] = {}
    if option not in ("pay", "waiver"):
        errors["fee_option"] = N_("Select how you will pay the fee")
    if option == "waiver":
        if reason not in {code for code, _ in FEE_WAIVER_REASONS}:
            errors["waiver_reason"] = N_("Select why you ask for a fee waiver")
        if not explanation:
            errors["waiver_explanation"] = N_("Explain why you cannot pay the fee")
        elif len(explanation) > WAIVER_EXPLANATION_MAX or any(
            unicodedata.category(c) == "Cc" and c not in "\r\n\t" for c in explanation
        ):
            errors["waiver_explanation"] = N_("Use at most 2000 characters, without special characters")
    before = (draft.fee_option, draft.waiver_reason, draft.waiver_explanation)
    draft.fee_option = option if option in ("pay", "waiver") else ""
    draft.waiver_reason = reason if option == "waiver" and reason in {c for c, _ in FEE_WAIVER_REASONS} else ""
    draft.waiver_explanation = explanation[:WAIVER_EXPLANATION_MAX] if option == "waiver" else ""
    if (draft.fee_option, draft.waiver_reason, draft.waiver_explanation) != before:
        _unsign(draft)
    _touch(db, draft)
    if not errors:
        _complete(draft, step)
    db.commit()
    steps = _steps(form, draft, user)  # paying or not changes the last step
    if errors and "save_and_exit" not in posted:
        values = {"waiver_explanation": explanation}
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            values=values, status_code=422)
    return _after(request, draft, steps, step, posted)


# --- signing, paying, submitting --------------------------------------------------------------


def _signature_matches(typed: str, expected: str) -> bool:
    def words(text: str) -> list[str]:
        return unicodedata.normalize("NFC", text).casefold().split()

    typed_words = words(typed)
    return bool(typed_words) and all(word in typed_words for word in words(expected))


def _expected_signer(form: FormSpec, draft: Draft, user: User) -> str:
    """Who signs: the applicant, by the name in the answers; a representative, by their own name."""
    if _is_representative(user):
        return user.full_name
    return f"{draft.answers.get('given_name', '')} {draft.answers.get('family_name', '')}"


async def _sign(
    request: Request, db: Session, settings: Settings, *, form: FormSpec, draft: Draft, user: User, steps: list[Step],
    step: Step, posted: Mapping[str, str],
) -> Response:
    if _review_problems(db, form, draft, steps):
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, status_code=422)
    signature = " ".join(posted.get("signature", "").split())[:SIGNATURE_MAX]
    errors: dict[str, str] = {}
    if posted.get("attest") != "yes":
        errors["attest"] = N_("Confirm that the information you gave is true and correct")
    if not signature:
        errors["signature"] = N_("Type your full name to sign")
    elif not _signature_matches(signature, _expected_signer(form, draft, user)):
        errors["signature"] = N_("Type your full name as you gave it in this application")
    if errors:
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            values={"signature": signature}, status_code=422)
    draft.signature = signature
    draft.signed_at = utcnow()
    _complete(draft, step)
    _touch(db, draft)
    db.commit()
    if journey.pays_online(form, draft):
        return RedirectResponse(_step_url(draft, PAY), status_code=303)
    return await _submit(request, db, settings, draft=draft, user=user, payment=None)


async def _pay(
    request: Request, db: Session, settings: Settings, *, form: FormSpec, draft: Draft, user: User, steps: list[Step],
    step: Step, posted: Mapping[str, str],
) -> Response:
    if draft.signed_at is None or _review_problems(db, form, draft, steps):
        return RedirectResponse(_step_url(draft, REVIEW), status_code=303)
    card, errors = payments.validate_card(posted, today=utcnow().date())
    kept = {k: posted.get(k, "") for k in ("card_name", "card_expiry_month", "card_expiry_year", "card_postal_code")}
    if card is None:
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step, errors=errors,
                            values=kept, status_code=422)
    provider = payments.provider_for(settings.payment_provider)
    payment = payments.payment_for_draft(db, draft=draft, user_id=user.id or 0, amount_cents=journey.fee_owed(form, draft),
                                         provider=provider)
    db.commit()
    # The form carries a fresh key each time it is shown: a double-clicked "Pay" sends the same one twice.
    attempt_key = posted.get("attempt_key", "")
    if not ATTEMPT_KEY_RE.fullmatch(attempt_key):
        attempt_key = secrets.token_urlsafe(16)
    outcome = payments.pay(db, payment=payment, card=card, attempt_key=attempt_key, provider=provider)
    db.commit()
    if not outcome.succeeded:
        log_request_event(request, db, user, "payment_declined", detail=form.code)
        db.commit()
        return _render_step(request, db, settings, form=form, draft=draft, steps=steps, step=step,
                            errors={"card_number": outcome.message or payments.DECLINE_MESSAGES["card_declined"]},
                            values=kept, status_code=422)
    log_request_event(request, db, user, "payment_made", detail=payment.reference or "")
    db.commit()
    return await _submit(request, db, settings, draft=draft, user=user, payment=payment)


def _filed_case_url(db: Session, draft_id: str, user: User) -> str | None:
    """The case a draft of this person's became, for a submission that arrives twice."""
    filing = db.exec(select(Filing).where(Filing.draft_id == draft_id[:36])).first()
    if filing is None or user.id not in (filing.applicant_id, filing.representative_id):
        return None
    return f"/cases/{filing.receipt_number}?filed=1"


async def _submit(
    request: Request, db: Session, settings: Settings, *, draft: Draft, user: User, payment: Payment | None
) -> Response:
    try:
        filing = submit_draft(db, draft=draft, office=settings.online_office, payment=payment)
    except SubmissionError:
        # Submitted meanwhile (a second click, another tab): show the case it became.
        db.rollback()
        return RedirectResponse(_filed_case_url(db, draft.id, user) or "/account", status_code=303)
    log_request_event(request, db, user, "case_filed", detail=filing.receipt_number)
    db.commit()
    try:
        client = await request.app.state.temporal.get()
        await asyncio.wait_for(start_workflow(client, filing=filing, settings=settings), timeout=15)
    except Exception:
        # The filing and its receipt number are saved; the web app starts the case when Temporal is back.
        log.warning("could not start the case of %s now; it will be started later", filing.receipt_number, exc_info=True)
    return RedirectResponse(f"/cases/{filing.receipt_number}?filed=1", status_code=303)


# --- deleting a draft -----------------------------------------------------------------------------


@router.get("/drafts/{draft_id}/delete/confirm")
def confirm_delete(request: Request, draft_id: str, user: Filer, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    return render(request, "efile/delete.html", {"draft": draft, "form": FORMS[draft.form_type]})


@router.post("/drafts/{draft_id}/delete/confirm")
def delete_draft(request: Request, draft_id: str, user: Filer, db: SessionDep) -> Response:
    draft = _own_draft(db, draft_id, user.id)
    paid = db.exec(select(Payment).where(Payment.draft_id == draft.id, Payment.status == "succeeded")).first()
    if paid is not None:
        raise HTTPException(status_code=409)
    for document in db.exec(select(Document).where(Document.draft_id == draft.id)).all():
        db.delete(document)
    for payment in db.exec(select(Payment).where(Payment.draft_id == draft.id)).all():
        db.delete(payment)
    db.delete(draft)
    log_request_event(request, db, user, "draft_deleted", detail=draft.form_type)
    db.commit()
    return RedirectResponse("/account?deleted=1", status_code=303)

