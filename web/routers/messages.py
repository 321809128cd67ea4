"""Secure messages (``models.messaging``): the applicant's and representative's pages under
``/messages`` and ``/cases/{receipt}/messages``, and the staff inbox under ``/inbox``.

Every page is a real form that works without JavaScript. A thread someone may not see is a 404,
whoever asks. Sending saves the message, its attachments and the email announcements in one
transaction, then starts the mail delivery (``web.mail.dispatch_soon``); a form sent twice stores
one message. Staff actions on a thread (answer, take, assign, close, reopen) go to the audit log.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

import i18n
from i18n import N_
from models import messaging
from models.account_security import audit
from models.documents import UploadRejected
from models.domain import Role
from models.ratelimit import hit
from models.tables import Case, Filing, MessageThread, User
from web.deps import CurrentUser, SessionDep, SettingsDep
from web.mail import dispatch_soon, queue_account_email
from web.routers.cases import filing_or_404, own_filing
from web.templating import render
from web.uploads import DocumentStoreDep, read_upload

router = APIRouter()
ID_RE = re.compile(r"^[1-9][0-9]{0,17}\Z")  # a row id as the forms write it, nothing else

MESSAGE_LIMIT = 20  # messages one account may send ...
MESSAGE_WINDOW = timedelta(hours=1)  # ... in this long
RATE_PURPOSE = "message"
TOO_MANY = N_("You have sent many messages in a short time. Wait %(minutes)s minutes, then send this one again.")

LABELS = {
    "topic": N_("What is your message about?"),
    "subject": N_("Subject"),
    "body": N_("Your message"),
    "files": N_("Attach files"),
    "assignee": N_("Assign to"),
}


# --- helpers ---------------------------------------------------------------------------------


def _filing_for_staff(db, receipt_number: str, user: User) -> Filing:
    if not messaging.works_inbox(user):
        raise HTTPException(status_code=404)
    return filing_or_404(db, receipt_number)


def _thread_or_404(db, thread_id: str, user: User) -> MessageThread:
    thread = messaging.thread_for(db, thread_id, user)
    if thread is None:
        raise HTTPException(status_code=404)
    return thread


def _staff_only(user: User) -> None:
    if not messaging.works_inbox(user):
        raise HTTPException(status_code=404)


async def _read_form(request: Request) -> tuple[dict[str, str], list[UploadFile]]:
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in ("topic", "subject", "body", "client_key")}
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
    return values, uploads


async def _attachments(uploads: list[UploadFile]) -> list[messaging.Attachment]:
    """The files as received; ``MessageRefused`` for too many or one that is too large."""
    if len(uploads) > messaging.MAX_ATTACHMENTS:
        raise messaging.MessageRefused({"files": messaging.TOO_MANY_FILES})
    received = []
    for upload in uploads:
        try:
            data, name = await read_upload(upload)
        except UploadRejected as refused:
            raise messaging.MessageRefused({"files": refused.message}) from None
        received.append(messaging.Attachment(data=data, name=name))
    return received


def _throttled(request: Request, db, user: User) -> dict[str, str] | None:
    """The field error when the account has sent too many messages lately (already translated:
    it says how many minutes to wait)."""
    allowed, retry_after = hit(db, f"{RATE_PURPOSE}:{user.id}", limit=MESSAGE_LIMIT, window=MESSAGE_WINDOW)
    db.commit()
    if allowed:
        return None
    minutes = max(1, math.ceil(retry_after / 60))
    return {"body": i18n.gettext(request.state.lang, TOO_MANY, minutes=minutes)}


def _announce(db, sent: messaging.Sent, settings) -> list[int]:
    """Queue the emails that say a message is waiting (once per message and recipient)."""
    ids = []
    for person in messaging.recipients(db, sent):
        row = queue_account_email(
            db, to=person.email, language=person.language, subject=N_("New secure message about case %(receipt)s"),
            subject_args={"receipt": sent.thread.receipt_number}, template="new_message.txt",
            context={
                "receipt_number": sent.thread.receipt_number,
                "thread_url": f"{settings.base_url.rstrip('/')}/messages/{sent.thread.id}",
            },
            settings=settings, key=messaging.message_email_key(sent.message.id or 0, person.id or 0),
            receipt_number=sent.thread.receipt_number,
        )
        ids.append(row.id)
    return [i for i in ids if i is not None]


def _thread_url(thread: MessageThread, staff: bool) -> str:
    return f"/inbox/{thread.id}" if staff else f"/messages/{thread.id}"


async def _send(request: Request, db, settings, sent: messaging.Sent, user: User, *, staff: bool) -> Response:
    email_ids: list[int] = []
    if sent.created:
        email_ids = _announce(db, sent, settings)
        if staff:
            audit(db, key=f"message:{sent.message.id}", actor_id=user.id, action="message_sent",
                  receipt_number=sent.thread.receipt_number, detail=f"thread {sent.thread.id}")
    db.commit()
    if email_ids:
        await dispatch_soon(request.app.state, email_ids=email_ids, settings=settings)
    return RedirectResponse(f"{_thread_url(sent.thread, staff)}?sent=1#message-{sent.message.id}", status_code=303)


# --- the applicant's and representative's pages -----------------------------------------------


@router.get("/messages")
def my_messages(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    if messaging.works_inbox(user):
        return RedirectResponse("/inbox", status_code=303)
    return render(
        request,
        "messages/index.html",
        {
            "threads": messaging.threads_for_party(db, user),
            "filings": messaging.party_filings(db, user),
            "topic_labels": messaging.TOPIC_LABELS,
        },
    )


def _new_thread_page(
    request: Request, db, filing: Filing, *, staff: bool, errors: dict | None = None, values: dict | None = None,
    status_code: int = 200,
) -> Response:
    values = dict(values or {})
    values["client_key"] = values.get("client_key") or str(uuid.uuid4())
    return render(
        request,
        "messages/new.html",
        {
            "filing": filing,
            "case": db.get(Case, filing.receipt_number),
            "staff": staff,
            "topics": messaging.TOPICS,
            "errors": errors or {},
            "labels": LABELS,
            "values": values,
            "subject_max": messaging.SUBJECT_MAX,
            "body_max": messaging.BODY_MAX,
            "max_files": messaging.MAX_ATTACHMENTS,
            "action": f"/inbox/cases/{filing.receipt_number}" if staff else f"/cases/{filing.receipt_number}/messages",
        },
        status_code=status_code,
    )


@router.get("/cases/{receipt_number}/messages/new")
def new_thread_form(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = own_filing(db, receipt_number, user)
    return _new_thread_page(request, db, filing, staff=False, values={"topic": request.query_params.get("topic", "")})


async def _start(
    request: Request, db, settings, store, filing: Filing, user: User, *, staff: bool
) -> Response:
    values, uploads = await _read_form(request)
    refusal = _throttled(request, db, user)
    if refusal is not None:
        return _new_thread_page(request, db, filing, staff=staff, errors=refusal, values=values, status_code=429)
    try:
        files = await _attachments(uploads)
        sent = messaging.start_thread(
            db, store, filing=filing, author=user, topic=values["topic"], subject=values["subject"], body=values["body"],
            client_key=values["client_key"], files=files,
        )
    except messaging.MessageRefused as refused:
        db.rollback()
        return _new_thread_page(request, db, filing, staff=staff, errors=refused.errors, values=values, status_code=422)
    return await _send(request, db, settings, sent, user, staff=staff)


@router.post("/cases/{receipt_number}/messages")
async def start_thread(
    request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, settings: SettingsDep,
    store: DocumentStoreDep,
) -> Response:
    filing = own_filing(db, receipt_number, user)
    return await _start(request, db, settings, store, filing, user, staff=False)


def _thread_page(
    request: Request, db, thread: MessageThread, user: User, *, errors: dict | None = None, values: dict | None = None,
    status_code: int = 200,
) -> Response:
    staff = messaging.works_inbox(user)
    entries = messaging.messages_in(db, thread)
    filing = db.get(Filing, thread.receipt_number)
    values = dict(values or {})
    values["client_key"] = values.get("client_key") or str(uuid.uuid4())
    if status_code == 200:  # the thread is read from now on
        messaging.mark_read(db, thread=thread, user=user)
        db.commit()
    return render(
        request,
        "messages/thread.html",
        {
            "thread": thread,
            "entries": entries,
            "filing": filing,
            "case": db.get(Case, thread.receipt_number),
            "staff": staff,
            "is_supervisor": Role(user.role) == Role.SUPERVISOR,
            "can_open_case": Role(user.role).adjudicates,
            "assignee": db.get(User, thread.assigned_to_id) if thread.assigned_to_id else None,
            "inbox_staff": messaging.inbox_staff(db) if staff else [],
            "topic_labels": messaging.TOPIC_LABELS,
            "errors": errors or {},
            "labels": LABELS,
            "values": values,
            "body_max": messaging.BODY_MAX,
            "max_files": messaging.MAX_ATTACHMENTS,
            "sent": request.query_params.get("sent") == "1",
            "done": request.query_params.get("done", ""),
            "reply_action": f"{_thread_url(thread, staff)}/reply",
        },
        status_code=status_code,
    )


@router.get("/messages/{thread_id}")
def read_thread(request: Request, thread_id: str, user: CurrentUser, db: SessionDep) -> Response:
    thread = _thread_or_404(db, thread_id, user)
    if messaging.works_inbox(user):
        return RedirectResponse(f"/inbox/{thread.id}", status_code=303)  # the link in an email, opened by staff
    return _thread_page(request, db, thread, user)


async def _reply(request: Request, db, settings, store, thread: MessageThread, user: User) -> Response:
    values, uploads = await _read_form(request)
    refusal = _throttled(request, db, user)
    if refusal is not None:
        return _thread_page(request, db, thread, user, errors=refusal, values=values, status_code=429)
    try:
        files = await _attachments(uploads)
        sent = messaging.reply(
            db, store, thread=thread, author=user, body=values["body"], client_key=values["client_key"], files=files
        )
    except messaging.MessageRefused as refused:
        db.rollback()
        return _thread_page(request, db, thread, user, errors=refused.errors, values=values, status_code=422)
    return await _send(request, db, settings, sent, user, staff=messaging.works_inbox(user))


@router.post("/messages/{thread_id}/reply")
async def reply_as_party(
    request: Request, thread_id: str, user: CurrentUser, db: SessionDep, settings: SettingsDep, store: DocumentStoreDep
) -> Response:
    thread = _thread_or_404(db, thread_id, user)
    if messaging.works_inbox(user):
        raise HTTPException(status_code=404)
    return await _reply(request, db, settings, store, thread, user)


# --- the staff inbox ----------------------------------------------------------------------------


@router.get("/inbox")
def staff_inbox(request: Request, user: CurrentUser, db: SessionDep, view: str = messaging.UNASSIGNED, page: int = 1) -> Response:
    _staff_only(user)
    if view not in messaging.INBOX_VIEWS:
        view = messaging.UNASSIGNED
    rows, total = messaging.inbox(db, user, view=view, page=max(page, 1))
    pages = max(1, math.ceil(total / messaging.INBOX_PAGE_SIZE))
    page = min(max(page, 1), pages)
    return render(
        request,
        "messages/inbox.html",
        {
            "rows": rows,
            "total": total,
            "view": view,
            "views": messaging.INBOX_VIEWS,
            "counts": messaging.inbox_counts(db, user),
            "page": page,
            "pages": pages,
            "page_url": lambda p: "/inbox?" + urlencode({"view": view, "page": p}),
            "topic_labels": messaging.TOPIC_LABELS,
            "waiting_since": messaging.waiting_since,
        },
    )


@router.get("/inbox/{thread_id}")
def staff_thread(request: Request, thread_id: str, user: CurrentUser, db: SessionDep) -> Response:
    _staff_only(user)
    return _thread_page(request, db, _thread_or_404(db, thread_id, user), user)


@router.post("/inbox/{thread_id}/reply")
async def reply_as_staff(
    request: Request, thread_id: str, user: CurrentUser, db: SessionDep, settings: SettingsDep, store: DocumentStoreDep
) -> Response:
    _staff_only(user)
    return await _reply(request, db, settings, store, _thread_or_404(db, thread_id, user), user)


@router.post("/inbox/{thread_id}/assign")
async def assign_thread(request: Request, thread_id: str, user: CurrentUser, db: SessionDep) -> Response:
    _staff_only(user)
    thread = _thread_or_404(db, thread_id, user)
    form = await request.form()
    choice = str(form.get("assignee") or "")
    supervisor = Role(user.role) == Role.SUPERVISOR
    if choice == "me":
        assignee: User | None = user
    elif choice == "none":
        assignee = None
    else:
        # Someone else: supervisors only, and only to staff who answer messages.
        target = db.get(User, int(choice)) if ID_RE.match(choice) else None
        if not supervisor or target is None or not messaging.works_inbox(target):
            return _thread_page(request, db, thread, user, errors={"assignee": N_("Choose someone from the list")},
                                status_code=422)
        assignee = target
    if thread.assigned_to_id not in (None, user.id) and not supervisor:
        return _thread_page(request, db, thread, user,
                            errors={"assignee": N_("Only a supervisor can take a thread away from someone else")},
                            status_code=422)
    messaging.assign(db, thread=thread, assignee=assignee)
    audit(db, key=f"thread-assign:{uuid.uuid4()}", actor_id=user.id, action="message_thread_assigned",
          receipt_number=thread.receipt_number, detail=f"thread {thread.id} to {assignee.id if assignee else 'nobody'}")
    db.commit()
    return RedirectResponse(f"/inbox/{thread.id}?done=assigned", status_code=303)


@router.post("/inbox/{thread_id}/status")
async def change_thread_status(request: Request, thread_id: str, user: CurrentUser, db: SessionDep) -> Response:
    _staff_only(user)
    thread = _thread_or_404(db, thread_id, user)
    form = await request.form()
    status = str(form.get("status") or "")
    if status not in (messaging.OPEN, messaging.CLOSED):
        raise HTTPException(status_code=404)
    messaging.set_status(db, thread=thread, status=status)
    audit(db, key=f"thread-status:{uuid.uuid4()}", actor_id=user.id, action=f"message_thread_{status}",
          receipt_number=thread.receipt_number, detail=f"thread {thread.id}")
    db.commit()
    return RedirectResponse(f"/inbox/{thread.id}?done={status}", status_code=303)


@router.get("/inbox/cases/{receipt_number}/new")
def staff_new_thread_form(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep) -> Response:
    filing = _filing_for_staff(db, receipt_number, user)
    return _new_thread_page(request, db, filing, staff=True)


@router.post("/inbox/cases/{receipt_number}")
async def staff_start_thread(
    request: Request, receipt_number: str, user: CurrentUser, db: SessionDep, settings: SettingsDep,
    store: DocumentStoreDep,
) -> Response:
    filing = _filing_for_staff(db, receipt_number, user)
    return await _start(request, db, settings, store, filing, user, staff=True)
