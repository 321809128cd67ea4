"""Secure messages on the web (``web.routers.messages``): who may see and write what, sending a
new thread or a reply (validation, a form sent twice, attachments, throttling), the email
announcements, the staff inbox (assign, put back, close, reopen, the audit log), unread counts,
the Messages sections of the case page and the officer's workspace, and that messages are
written once and shown escaped."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

import i18n
import web.routers.messages as messages_router
from cli import DEMO_ACCOUNTS, DEMO_ADMIN, DEMO_REPRESENTATIVE, DEMO_SERVICE
from models.accounts import create_user
from models.db import session_scope
from models.documents import MAX_UPLOAD_BYTES, TOO_LARGE, WRONG_TYPE
from models.domain import Stage
from models.messaging import (
    BODY_REQUIRED, BODY_TOO_LONG, FORM_EXPIRED, SUBJECT_TOO_LONG, TOO_MANY_FILES, TOPIC_REQUIRED, message_email_key,
)
from models.tables import AuditEvent, Document, Filing, Message, MessageThread, OutboundEmail, User
from tests.helpers import PDF
from tests.web.conftest import csrf, csrf_from, sign_in
from tests.web.fake_temporal import make_case, page, user_id

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS
REPRESENTATIVE, SERVICE, ADMIN = DEMO_REPRESENTATIVE, DEMO_SERVICE, DEMO_ADMIN
OTHER_EMAIL, OTHER_PASSWORD = "other.writer@example.com", "another long password"
KEY_RE = re.compile(r'name="client_key" value="([^"]+)"')
SENT_RE = re.compile(r"^/(messages|inbox)/(\d+)\?sent=1#message-(\d+)$")
SUBJECT_MSGID = "New secure message about case %(receipt)s"
BODY = "My card has not arrived. My passport number is X1234567."
SUBJECT = "Card not delivered"
UNREAD_TAG_RE = re.compile(r'<span class="usa-tag">\d+ new messages?</span>')


# --- fixtures and helpers -------------------------------------------------------------------------


def browser(client: TestClient, **kw) -> TestClient:
    """A second browser on the same app (its own cookies)."""
    return TestClient(client.app, base_url="http://testserver", follow_redirects=False, **kw)


def login(c: TestClient, settings, account) -> TestClient:
    """Sign ``account`` in on ``c``. A staff code cannot be used twice (replay protection), so the
    last accepted step is forgotten first: a test may sign the same staff account in again."""
    if account.totp_secret:
        with session_scope(settings.database_url) as db:
            user = db.exec(select(User).where(User.email == account.email)).one()
            user.totp_last_step = None
            db.add(user)
    sign_in(c, account.email, account.password, totp_secret=account.totp_secret)
    return c


@pytest.fixture
def people(settings, ids) -> dict[str, int]:
    with session_scope(settings.database_url) as db:
        return {
            **ids,
            "representative": user_id(db, REPRESENTATIVE.email),
            "service": user_id(db, SERVICE.email),
            "admin": user_id(db, ADMIN.email),
        }


@pytest.fixture
def receipt(settings, people) -> str:
    """A case of the demo applicant in review, filed by the demo attorney."""
    with session_scope(settings.database_url) as db:
        case = make_case(db, applicant_id=people["applicant"], stage=Stage.REVIEW)
        filing = db.get(Filing, case.receipt_number)
        filing.representative_id = people["representative"]
        db.add(filing)
        return case.receipt_number


@pytest.fixture
def lone_receipt(settings, people) -> str:
    """A case of the demo applicant without a representative."""
    with session_scope(settings.database_url) as db:
        return make_case(db, applicant_id=people["applicant"], stage=Stage.REVIEW).receipt_number


@pytest.fixture
def other(settings) -> User:
    with session_scope(settings.database_url) as db:
        return create_user(db, email=OTHER_EMAIL, password=OTHER_PASSWORD, full_name="Other Person")


class Other:
    email, password, totp_secret = OTHER_EMAIL, OTHER_PASSWORD, None


@pytest.fixture
def as_(client, settings):
    """``as_(ACCOUNT)``: a browser signed in as that account; the first one asked for is ``client``."""
    browsers: dict[str, TestClient] = {}

    def get(account) -> TestClient:
        if account.email not in browsers:
            browsers[account.email] = login(client if not browsers else browser(client), settings, account)
        return browsers[account.email]

    return get


def client_key(html: str) -> str:
    match = KEY_RE.search(html)
    assert match, "no client_key on the page"
    uuid.UUID(match.group(1))
    return match.group(1)


def new_thread(
    c: TestClient, receipt: str, *, topic: str | None = "case_status", subject: str = SUBJECT, body: str = BODY,
    files=None, key: str | None = None, staff: bool = False,
):
    """Fill in and send the new-thread form (the staff one when ``staff``)."""
    form = page(c.get(f"/inbox/cases/{receipt}/new" if staff else f"/cases/{receipt}/messages/new"))
    data = {"csrf_token": csrf_from(form.text), "client_key": key or client_key(form.text), "subject": subject, "body": body}
    if topic is not None:
        data["topic"] = topic
    return c.post(f"/inbox/cases/{receipt}" if staff else f"/cases/{receipt}/messages", data=data, files=files)


def reply(c: TestClient, thread_id: int, *, body: str, staff: bool = False, files=None, key: str | None = None,
          token_from: str | None = None):
    """Send a reply from the thread page (``token_from``: another page to take the CSRF token from,
    so the thread is not opened, and so not read, first)."""
    path = f"/inbox/{thread_id}" if staff else f"/messages/{thread_id}"
    if token_from is None:
        html = page(c.get(path)).text
        token, key = csrf_from(html), key or client_key(html)
    else:
        token, key = csrf(c, token_from), key or str(uuid.uuid4())
    return c.post(f"{path}/reply", data={"csrf_token": token, "client_key": key, "body": body}, files=files)


def sent(response, kind: str = "messages") -> tuple[int, int]:
    """(thread id, message id) from the redirect after sending."""
    assert response.status_code == 303, response.text
    match = SENT_RE.match(response.headers["location"])
    assert match and match.group(1) == kind, response.headers["location"]
    return int(match.group(2)), int(match.group(3))


def staff_post(c: TestClient, thread_id: int | str, action: str, **data: str):
    return c.post(f"/inbox/{thread_id}/{action}", data={"csrf_token": csrf(c, "/inbox"), **data})


def rows(settings, model, *where) -> list:
    with session_scope(settings.database_url) as db:
        statement = select(model)
        if where:
            statement = statement.where(*where)
        return list(db.exec(statement.order_by(col(model.id))).all())


def thread_row(settings, thread_id: int) -> MessageThread:
    with session_scope(settings.database_url) as db:
        thread = db.get(MessageThread, thread_id)
        assert thread is not None
        return thread


def audits(settings, action: str | None = None) -> list[AuditEvent]:
    found = rows(settings, AuditEvent, col(AuditEvent.action).startswith("message"))
    return [a for a in found if action is None or a.action == action]


def nav_unread(html: str) -> str | None:
    match = re.search(r'<span class="usa-tag caseline-unread">([^<]*)</span>', html)
    return match.group(1) if match else None


def attach(name: str = "receipt notice.pdf", data: bytes = PDF):
    return [("files", (name, data, "application/pdf"))]


# --- who may see what ------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(client, receipt):
    for path in ("/messages", "/messages/1", f"/cases/{receipt}/messages/new", "/inbox", "/inbox/1",
                 f"/inbox/cases/{receipt}/new"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/sign-in?next=%2F"), path
    token = csrf(client, "/")
    for path in (f"/cases/{receipt}/messages", "/messages/1/reply", "/inbox/1/reply", "/inbox/1/assign",
                 "/inbox/1/status", f"/inbox/cases/{receipt}"):
        response = client.post(path, data={"csrf_token": token, "body": "hello", "client_key": str(uuid.uuid4())})
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in"), path


def test_forms_need_the_csrf_token(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    data = {"topic": "other", "subject": SUBJECT, "body": BODY, "client_key": str(uuid.uuid4())}
    assert applicant.post(f"/cases/{receipt}/messages", data=data).status_code == 403
    assert applicant.post(f"/cases/{receipt}/messages", data={**data, "csrf_token": "0" * 64}).status_code == 403
    assert rows(settings, Message) == []
    thread_id, _ = sent(new_thread(applicant, receipt))
    assert applicant.post(f"/messages/{thread_id}/reply", data={**data, "client_key": str(uuid.uuid4())}).status_code == 403
    service = as_(SERVICE)
    assert service.post(f"/inbox/{thread_id}/reply", data={"body": "x", "client_key": str(uuid.uuid4())}).status_code == 403
    assert service.post(f"/inbox/{thread_id}/assign", data={"assignee": "me"}).status_code == 403
    assert service.post(f"/inbox/{thread_id}/status", data={"status": "closed"}).status_code == 403
    assert service.post(f"/inbox/cases/{receipt}", data=data).status_code == 403
    assert len(rows(settings, Message)) == 1
    thread = thread_row(settings, thread_id)
    assert thread.assigned_to_id is None and thread.status == "open"
    assert audits(settings) == []


def test_another_applicant_gets_404_for_everything_of_the_case(client, settings, receipt, other, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt, files=attach("bank letter.pdf")))
    [document] = rows(settings, Document, Document.kind == "message")
    stranger = as_(Other)
    assert stranger.get(f"/cases/{receipt}/messages/new").status_code == 404
    assert stranger.get(f"/messages/{thread_id}").status_code == 404
    assert stranger.get(f"/documents/{document.id}").status_code == 404
    token = csrf(stranger, "/messages")
    refused = stranger.post(
        f"/cases/{receipt}/messages",
        data={"csrf_token": token, "topic": "other", "subject": "Mine now", "body": "hi", "client_key": str(uuid.uuid4())},
    )
    assert refused.status_code == 404
    refused = stranger.post(f"/messages/{thread_id}/reply",
                            data={"csrf_token": token, "body": "hi", "client_key": str(uuid.uuid4())})
    assert refused.status_code == 404
    # Their own list shows nothing of it, and the 404 looks like the one for a thread that does not exist.
    listing = page(stranger.get("/messages")).text
    assert SUBJECT not in listing and f"/messages/{thread_id}" not in listing and receipt not in listing
    assert "You have no messages yet." in listing
    missing = stranger.get(f"/messages/{thread_id + 1000}")
    assert missing.status_code == 404
    theirs = stranger.get(f"/messages/{thread_id}").text
    assert theirs.replace(f"/messages/{thread_id}", "/messages/ID") == missing.text.replace(
        f"/messages/{thread_id + 1000}", "/messages/ID")
    assert stranger.get("/inbox").status_code == 404
    assert len(rows(settings, Message)) == 1 and len(rows(settings, MessageThread)) == 1


@pytest.mark.parametrize("party", [APPLICANT, REPRESENTATIVE], ids=["applicant", "representative"])
def test_parties_get_404_on_the_staff_inbox(client, settings, receipt, as_, party):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    c = as_(party)
    for path in ("/inbox", "/inbox?view=closed", f"/inbox/{thread_id}", f"/inbox/cases/{receipt}/new"):
        assert c.get(path).status_code == 404, path
    token = csrf(c, "/messages")
    for path, data in (
        (f"/inbox/{thread_id}/reply", {"body": "as staff", "client_key": str(uuid.uuid4())}),
        (f"/inbox/{thread_id}/assign", {"assignee": "me"}),
        (f"/inbox/{thread_id}/status", {"status": "closed"}),
        (f"/inbox/cases/{receipt}", {"subject": "x", "body": "y", "client_key": str(uuid.uuid4())}),
    ):
        assert c.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    thread = thread_row(settings, thread_id)
    assert thread.assigned_to_id is None and thread.status == "open"
    assert len(rows(settings, Message)) == 1 and len(rows(settings, MessageThread)) == 1
    assert audits(settings) == []


def test_malformed_and_unknown_ids_and_receipts_are_404(client, settings, receipt, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    applicant = as_(APPLICANT)
    token = csrf(applicant, "/messages")
    bad_ids = ("abc", "0", "-1", "1.0", "99999", str(2**63), "9" * 40, "%00")
    for bad in bad_ids:
        assert applicant.get(f"/messages/{bad}").status_code == 404, bad
        reply_ = applicant.post(f"/messages/{bad}/reply",
                                data={"csrf_token": token, "body": "x", "client_key": str(uuid.uuid4())})
        assert reply_.status_code == 404, bad
    for bad in ("NOTARECEIPT", "IOE12345", "IOE9999999999", "XYZ0000000000"):
        assert applicant.get(f"/cases/{bad}/messages/new").status_code == 404, bad
        assert applicant.post(
            f"/cases/{bad}/messages",
            data={"csrf_token": token, "topic": "other", "subject": "s", "body": "b", "client_key": str(uuid.uuid4())},
        ).status_code == 404, bad
    service = as_(SERVICE)
    token = csrf(service, "/inbox")
    for bad in bad_ids:
        assert service.get(f"/inbox/{bad}").status_code == 404, bad
        for action, data in (("reply", {"body": "x", "client_key": str(uuid.uuid4())}), ("assign", {"assignee": "me"}),
                             ("status", {"status": "closed"})):
            assert service.post(f"/inbox/{bad}/{action}", data={"csrf_token": token, **data}).status_code == 404
    for bad in ("NOTARECEIPT", "IOE9999999999"):
        assert service.get(f"/inbox/cases/{bad}/new").status_code == 404, bad
        assert service.post(f"/inbox/cases/{bad}", data={"csrf_token": token, "subject": "s", "body": "b",
                                                         "client_key": str(uuid.uuid4())}).status_code == 404
    # An unknown status is not a change either.
    assert service.post(f"/inbox/{thread_id}/status", data={"csrf_token": token, "status": "deleted"}).status_code == 404
    assert len(rows(settings, Message)) == 1 and thread_row(settings, thread_id).status == "open"
    assert audits(settings) == []


@pytest.mark.parametrize(
    "spell", [lambda n: f"+{n}", lambda n: f"0{n}", lambda n: "".join(chr(0x0660 + int(d)) for d in str(n))],
    ids=["plus-sign", "leading-zero", "arabic-indic-digits"],
)
def test_thread_ids_in_other_spellings_are_404(client, receipt, as_, spell):
    """Only the id as the app writes it: a plus sign, a leading zero or other digits are malformed."""
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    applicant = as_(APPLICANT)
    assert applicant.get(f"/messages/{thread_id}").status_code == 200
    assert applicant.get(f"/messages/{spell(thread_id)}").status_code == 404


def test_admin_has_no_messages(client, settings, receipt, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    admin = as_(ADMIN)
    assert admin.get("/inbox").status_code == 404
    assert admin.get(f"/inbox/{thread_id}").status_code == 404
    assert admin.get(f"/messages/{thread_id}").status_code == 404
    assert admin.get(f"/inbox/cases/{receipt}/new").status_code == 404
    token = csrf(admin, "/admin/offices")
    assert admin.post(f"/inbox/{thread_id}/assign", data={"csrf_token": token, "assignee": "me"}).status_code == 404
    home = page(admin.get("/admin/offices")).text
    assert 'href="/inbox"' not in home and 'href="/messages"' not in home
    assert thread_row(settings, thread_id).assigned_to_id is None


def test_staff_following_the_email_link_land_in_the_inbox(client, receipt, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    service = as_(SERVICE)
    response = service.get(f"/messages/{thread_id}")
    assert response.status_code == 303 and response.headers["location"] == f"/inbox/{thread_id}"
    assert service.get("/messages").headers["location"] == "/inbox"
    # Staff answer from the inbox, not through the parties' form.
    token = csrf(service, "/inbox")
    assert service.post(f"/messages/{thread_id}/reply",
                        data={"csrf_token": token, "body": "x", "client_key": str(uuid.uuid4())}).status_code == 404


# --- sending ---------------------------------------------------------------------------------------


def test_the_applicant_starts_a_thread(client, settings, receipt, people, as_):
    applicant = as_(APPLICANT)
    form = page(applicant.get(f"/cases/{receipt}/messages/new?topic=address")).text
    assert f'action="/cases/{receipt}/messages"' in form and 'enctype="multipart/form-data"' in form
    assert 'id="topic-address" type="radio" name="topic" value="address" checked' in form
    response = new_thread(applicant, receipt, topic="address", files=attach("utility bill.pdf"))
    thread_id, message_id = sent(response)
    thread = thread_row(settings, thread_id)
    assert (thread.receipt_number, thread.topic, thread.subject) == (receipt, "address", SUBJECT)
    assert (thread.status, thread.awaiting, thread.assigned_to_id, thread.started_by_id) == (
        "open", "staff", None, people["applicant"])
    [message] = rows(settings, Message)
    assert (message.id, message.thread_id, message.author_id, message.from_staff, message.body) == (
        message_id, thread_id, people["applicant"], False, BODY)
    [document] = rows(settings, Document, Document.message_id == message_id)
    assert (document.kind, document.receipt_number, document.display_name) == ("message", receipt, "utility bill.pdf")

    shown = page(applicant.get(response.headers["location"])).text
    assert "Your message was sent." in shown
    assert f'id="message-{message_id}"' in shown and BODY in shown and f"<h1>{SUBJECT}</h1>" in shown
    assert f'href="/documents/{document.id}"' in shown and "utility bill.pdf" in shown
    assert f'action="/messages/{thread_id}/reply"' in shown
    assert "Manage this thread" not in shown and "/inbox" not in shown  # no staff controls for the applicant


def test_the_representative_reads_and_answers_the_applicants_thread(client, settings, receipt, people, other, as_):
    thread_id, first_id = sent(new_thread(as_(APPLICANT), receipt, files=attach("lease.pdf")))
    [document] = rows(settings, Document, Document.message_id == first_id)
    attorney = as_(REPRESENTATIVE)
    listing = page(attorney.get("/messages")).text
    assert f'href="/messages/{thread_id}"' in listing and SUBJECT in listing
    shown = page(attorney.get(f"/messages/{thread_id}")).text
    assert BODY in shown and "Maria Lopez" in shown  # the applicant's message, by her name
    _, reply_id = sent(reply(attorney, thread_id, body="I will send the lease as well."))
    [_, message] = rows(settings, Message)
    assert (message.id, message.author_id, message.from_staff) == (reply_id, people["representative"], False)
    # The applicant hears of it; the attorney, who wrote it, does not.
    mails = rows(settings, OutboundEmail, col(OutboundEmail.idempotency_key).startswith(f"message:{reply_id}:"))
    assert [(m.idempotency_key, m.to_address) for m in mails] == [
        (message_email_key(reply_id, people["applicant"]), APPLICANT.email)]
    # The attachment opens for the parties and the staff who answer messages, for nobody else.
    for account in (APPLICANT, REPRESENTATIVE, OFFICER, SERVICE):
        opened = as_(account).get(f"/documents/{document.id}")
        assert opened.status_code == 200 and opened.content == PDF, account.role
    assert as_(Other).get(f"/documents/{document.id}").status_code == 404


def test_validation_errors_keep_what_was_typed_and_save_nothing(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    response = new_thread(applicant, receipt, topic=None, subject="About my card", body="   ")
    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html and "<title>Error:" in html
    assert TOPIC_REQUIRED in html and BODY_REQUIRED in html and 'id="body-error"' in html
    assert 'value="About my card"' in html
    assert f'action="/cases/{receipt}/messages"' in html

    typed = "Line one\nLine two & more"
    response = new_thread(applicant, receipt, subject="x" * 121, body=typed)
    assert response.status_code == 422
    assert SUBJECT_TOO_LONG in response.text and 'id="subject-error"' in response.text
    assert "Line one\nLine two &amp; more</textarea>" in response.text
    assert 'id="topic-case_status" type="radio" name="topic" value="case_status" checked' in response.text

    response = new_thread(applicant, receipt, topic="no-such-topic", body="b" * 5001)
    assert response.status_code == 422
    assert TOPIC_REQUIRED in response.text and BODY_TOO_LONG in response.text

    # A form without its one-time key (or with a made-up one) cannot be sent; what was typed stays.
    for key in ("not a key!", "short"):
        response = new_thread(applicant, receipt, key=key, body="Kept for copying")
        assert response.status_code == 422, key
        assert FORM_EXPIRED in response.text and "Kept for copying</textarea>" in response.text

    thread_id, _ = sent(new_thread(applicant, receipt))
    response = reply(applicant, thread_id, body="\n \n")
    assert response.status_code == 422 and BODY_REQUIRED in response.text and "There is a problem" in response.text
    assert rows(settings, MessageThread)[0].id == thread_id and len(rows(settings, MessageThread)) == 1
    assert len(rows(settings, Message)) == 1
    assert len(rows(settings, OutboundEmail, col(OutboundEmail.idempotency_key).startswith("message:"))) == 1


def test_the_same_form_sent_twice_stores_one_message(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    key = str(uuid.uuid4())
    first = new_thread(applicant, receipt, key=key, files=attach())
    again = new_thread(applicant, receipt, key=key, files=attach())
    assert sent(first) == sent(again)
    thread_id, message_id = sent(first)
    assert len(rows(settings, MessageThread)) == 1 and len(rows(settings, Message)) == 1
    assert len(rows(settings, Document, Document.kind == "message")) == 1
    assert len(rows(settings, OutboundEmail, col(OutboundEmail.idempotency_key).startswith("message:"))) == 1

    service = as_(SERVICE)
    key = str(uuid.uuid4())
    answer = reply(service, thread_id, body="We are looking.", staff=True, key=key)
    assert sent(answer, "inbox") == sent(reply(service, thread_id, body="We are looking.", staff=True, key=key), "inbox")
    assert len(rows(settings, Message)) == 2
    assert len(rows(settings, OutboundEmail, col(OutboundEmail.idempotency_key).startswith("message:"))) == 3
    assert len(audits(settings, "message_sent")) == 1
    # A key another form already used is not a way into someone else's message.
    assert reply(as_(REPRESENTATIVE), thread_id, body="Mine", key=key).status_code == 422
    assert len(rows(settings, Message)) == 2
    assert message_id < max(m.id for m in rows(settings, Message))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (attach("huge.pdf", PDF + b"0" * MAX_UPLOAD_BYTES), TOO_LARGE),
        (attach("script.pdf", b"#!/bin/sh\necho hello\n"), WRONG_TYPE),
        (attach("a.pdf") + attach("b.pdf") + attach("c.pdf") + attach("d.pdf"), TOO_MANY_FILES),
    ],
    ids=["too-large", "wrong-type", "too-many"],
)
def test_refused_attachments_are_named_by_the_files_field(client, settings, receipt, as_, files, message):
    applicant = as_(APPLICANT)
    response = new_thread(applicant, receipt, files=files)
    assert response.status_code == 422
    assert f'<span class="usa-error-message" id="files-error">{message}</span>' in response.text
    assert 'aria-describedby="files-hint files-error"' in response.text
    assert "Choose your files again" in response.text and BODY in response.text
    assert rows(settings, MessageThread) == [] and rows(settings, Message) == []
    assert rows(settings, Document) == [] and rows(settings, OutboundEmail) == []


def test_too_many_messages_are_throttled(client, settings, receipt, as_, monkeypatch):
    monkeypatch.setattr(messages_router, "MESSAGE_LIMIT", 2)
    applicant = as_(APPLICANT)
    thread_id, _ = sent(new_thread(applicant, receipt))
    sent(reply(applicant, thread_id, body="Second message"))
    refused = reply(applicant, thread_id, body="Third message, kept in the box")
    assert refused.status_code == 429
    assert re.search(r"Wait \d+ minutes, then send this one again\.", refused.text)
    assert int(re.search(r"Wait (\d+) minutes", refused.text).group(1)) in range(1, 61)
    assert "Third message, kept in the box</textarea>" in refused.text
    refused = new_thread(applicant, receipt, subject="Another subject")
    assert refused.status_code == 429 and "Wait " in refused.text and 'value="Another subject"' in refused.text
    assert len(rows(settings, Message)) == 2 and len(rows(settings, MessageThread)) == 1
    assert len(rows(settings, OutboundEmail)) == 2
    # The limit is per account: the attorney may still write.
    sent(reply(as_(REPRESENTATIVE), thread_id, body="From the attorney"))
    assert len(rows(settings, Message)) == 3


# --- the emails ------------------------------------------------------------------------------------


def test_an_applicant_message_is_announced_to_the_representative_only(client, settings, receipt, people, as_):
    thread_id, message_id = sent(new_thread(as_(APPLICANT), receipt, files=attach("secret medical record.pdf")))
    [mail] = rows(settings, OutboundEmail)
    assert mail.idempotency_key == message_email_key(message_id, people["representative"])
    assert (mail.to_address, mail.language, mail.receipt_number, mail.status) == (
        REPRESENTATIVE.email, "en", receipt, "pending")
    assert mail.subject == f"New secure message about case {receipt}"
    assert receipt in mail.body_text
    assert f"{settings.base_url.rstrip('/')}/messages/{thread_id}" in mail.body_text
    assert BODY not in mail.body_text and "X1234567" not in mail.body_text
    assert SUBJECT not in mail.body_text and SUBJECT not in mail.subject
    assert "secret medical record" not in mail.body_text and "secret medical record" not in mail.subject
    assert "does not include the message" in mail.body_text


def test_without_a_representative_an_applicant_message_emails_nobody(client, settings, lone_receipt, as_):
    sent(new_thread(as_(APPLICANT), lone_receipt))
    assert len(rows(settings, Message)) == 1
    assert rows(settings, OutboundEmail) == []


def test_a_staff_answer_emails_both_parties_in_their_language(client, settings, receipt, people, as_):
    with session_scope(settings.database_url) as db:
        db.get(User, people["representative"]).language = "es"
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    answer = "We received your card request on 3 March; reference Q-77."
    _, answer_id = sent(reply(as_(SERVICE), thread_id, body=answer, staff=True, files=attach("label scan.pdf")), "inbox")
    mails = {m.to_address: m for m in rows(settings, OutboundEmail, col(OutboundEmail.idempotency_key).startswith(
        f"message:{answer_id}:"))}
    assert set(mails) == {APPLICANT.email, REPRESENTATIVE.email}  # never staff
    english, spanish = mails[APPLICANT.email], mails[REPRESENTATIVE.email]
    assert english.idempotency_key == message_email_key(answer_id, people["applicant"])
    assert spanish.idempotency_key == message_email_key(answer_id, people["representative"])
    assert (english.language, spanish.language) == ("en", "es")
    assert english.subject == f"New secure message about case {receipt}"
    # The Spanish catalogue decides the wording (English until the msgid is translated).
    assert spanish.subject == i18n.gettext("es", SUBJECT_MSGID, receipt=receipt)
    for mail in (english, spanish):
        assert receipt in mail.body_text and f"/messages/{thread_id}" in mail.body_text
        assert answer not in mail.body_text and "Q-77" not in mail.body_text and "label scan" not in mail.body_text
    staff_addresses = {OFFICER.email, SUPERVISOR.email, SERVICE.email, ADMIN.email}
    assert not staff_addresses & {m.to_address for m in rows(settings, OutboundEmail)}


# --- the staff inbox -------------------------------------------------------------------------------


def test_customer_service_takes_a_thread_and_hands_it_back(client, settings, receipt, people, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    service = as_(SERVICE)
    inbox = page(service.get("/inbox")).text
    assert "Unassigned (1)" in inbox and "Assigned to me (0)" in inbox and "All open (1)" in inbox
    assert f'href="/inbox/{thread_id}"><strong>{SUBJECT}</strong>' in inbox
    assert '<span class="usa-tag">1 new message</span>' in inbox and "Nobody yet" in inbox and receipt in inbox
    assert nav_unread(inbox) == "1 unread"

    response = staff_post(service, thread_id, "assign", assignee="me")
    assert response.status_code == 303 and response.headers["location"] == f"/inbox/{thread_id}?done=assigned"
    assert thread_row(settings, thread_id).assigned_to_id == people["service"]
    shown = page(service.get(response.headers["location"])).text
    assert "The thread is assigned to Priya Natarajan." in shown and "Put back in the unassigned list" in shown
    assert "No threads here." in page(service.get("/inbox?view=unassigned")).text
    mine = page(service.get("/inbox?view=mine")).text
    assert "Unassigned (0)" in mine and "Assigned to me (1)" in mine and f'href="/inbox/{thread_id}"' in mine
    assert ">You</td>" in mine

    response = staff_post(service, thread_id, "assign", assignee="none")
    assert response.status_code == 303
    assert thread_row(settings, thread_id).assigned_to_id is None
    assert "The thread is back in the unassigned list." in page(service.get(response.headers["location"])).text
    assert f'href="/inbox/{thread_id}"' in page(service.get("/inbox")).text
    assigned = audits(settings, "message_thread_assigned")
    assert [(a.actor_id, a.receipt_number, a.detail) for a in assigned] == [
        (people["service"], receipt, f"thread {thread_id} to {people['service']}"),
        (people["service"], receipt, f"thread {thread_id} to nobody"),
    ]


def test_answering_an_unassigned_thread_takes_it(client, settings, receipt, people, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    service = as_(SERVICE)
    _, answer_id = sent(reply(service, thread_id, body="We have your question.", staff=True), "inbox")
    thread = thread_row(settings, thread_id)
    assert (thread.assigned_to_id, thread.awaiting, thread.status) == (people["service"], "public", "open")
    [message] = rows(settings, Message, Message.id == answer_id)
    assert message.from_staff and message.author_id == people["service"]
    [event] = audits(settings, "message_sent")
    assert (event.actor_id, event.receipt_number, event.idempotency_key) == (
        people["service"], receipt, f"message:{answer_id}")
    shown = page(service.get(f"/inbox/{thread_id}?sent=1")).text
    assert "Your message was sent." in shown and "Priya Natarajan (Caseline staff)" in shown
    assert "Answered, waiting for the applicant" in shown


def test_only_a_supervisor_takes_a_thread_away_from_someone_else(client, settings, receipt, people, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    service = as_(SERVICE)
    assert staff_post(service, thread_id, "assign", assignee="me").status_code == 303
    assert thread_row(settings, thread_id).assigned_to_id == people["service"]
    officer = as_(OFFICER)
    shown = page(officer.get(f"/inbox/{thread_id}")).text
    assert "Put back in the unassigned list" not in shown  # not offered
    assert "Assign to me" not in shown
    for assignee in ("none", "me"):
        refused = staff_post(officer, thread_id, "assign", assignee=assignee)
        assert refused.status_code == 422
        assert "Only a supervisor can take a thread away from someone else" in refused.text
        assert thread_row(settings, thread_id).assigned_to_id == people["service"]
    before = len(audits(settings, "message_thread_assigned"))
    supervisor = as_(SUPERVISOR)
    assert "Put back in the unassigned list" in page(supervisor.get(f"/inbox/{thread_id}")).text
    assert staff_post(supervisor, thread_id, "assign", assignee="none").status_code == 303
    assert thread_row(settings, thread_id).assigned_to_id is None
    after = audits(settings, "message_thread_assigned")
    assert len(after) == before + 1 and after[-1].actor_id == people["supervisor"]


def test_a_supervisor_assigns_to_staff_only(client, settings, receipt, people, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    supervisor = as_(SUPERVISOR)
    shown = page(supervisor.get(f"/inbox/{thread_id}")).text
    options = dict((name, value) for value, name in re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', shown))
    assert options == {"Olivia Chen": str(people["officer"]), "Samuel Rivera": str(people["supervisor"]),
                       "Priya Natarajan": str(people["service"])}
    response = staff_post(supervisor, thread_id, "assign", assignee=str(people["officer"]))
    assert response.status_code == 303
    assert thread_row(settings, thread_id).assigned_to_id == people["officer"]
    assert "The thread is assigned to Olivia Chen." in page(supervisor.get(response.headers["location"])).text
    officer = as_(OFFICER)
    assert f'href="/inbox/{thread_id}"' in page(officer.get("/inbox?view=mine")).text
    for refused in (str(people["applicant"]), str(people["representative"]), str(people["admin"]), "99999", "", "x"):
        response = staff_post(supervisor, thread_id, "assign", assignee=refused)
        assert response.status_code == 422, refused
        assert "Choose someone from the list" in response.text
    # Naming someone else is for supervisors only.
    response = staff_post(officer, thread_id, "assign", assignee=str(people["service"]))
    assert response.status_code == 422 and "Choose someone from the list" in response.text
    assert thread_row(settings, thread_id).assigned_to_id == people["officer"]
    [event] = audits(settings, "message_thread_assigned")
    assert event.actor_id == people["supervisor"] and event.detail == f"thread {thread_id} to {people['officer']}"


def test_a_malformed_assignee_is_refused_like_any_other(client, settings, receipt, people, as_):
    thread_id, _ = sent(new_thread(as_(APPLICANT), receipt))
    supervisor = login(browser(client, raise_server_exceptions=False), settings, SUPERVISOR)
    # "²" is a digit to str.isdigit() but not to int().
    response = staff_post(supervisor, thread_id, "assign", assignee="²")
    assert response.status_code == 422
    assert "Choose someone from the list" in response.text
    assert thread_row(settings, thread_id).assigned_to_id is None


def test_closing_and_reopening_a_thread(client, settings, receipt, people, as_):
    applicant = as_(APPLICANT)
    thread_id, _ = sent(new_thread(applicant, receipt))
    service = as_(SERVICE)
    response = staff_post(service, thread_id, "status", status="closed")
    assert response.status_code == 303 and response.headers["location"] == f"/inbox/{thread_id}?done=closed"
    assert thread_row(settings, thread_id).status == "closed"
    shown = page(service.get(response.headers["location"])).text
    assert "The thread is closed." in shown and "Open the thread again" in shown
    closed = page(service.get("/inbox?view=closed")).text
    assert "Closed (1)" in closed and "Unassigned (0)" in closed and "All open (0)" in closed
    assert f'href="/inbox/{thread_id}"' in closed
    assert f'href="/inbox/{thread_id}"' not in page(service.get("/inbox")).text
    [event] = audits(settings, "message_thread_closed")
    assert (event.actor_id, event.receipt_number) == (people["service"], receipt)

    assert "We closed this conversation." in page(applicant.get(f"/messages/{thread_id}")).text
    sent(reply(applicant, thread_id, body="I still have a question."))
    thread = thread_row(settings, thread_id)
    assert (thread.status, thread.awaiting) == ("open", "staff")
    inbox = page(service.get("/inbox")).text
    assert "Closed (0)" in inbox and f'href="/inbox/{thread_id}"' in inbox

    staff_post(service, thread_id, "status", status="closed")
    response = staff_post(service, thread_id, "status", status="open")
    assert response.status_code == 303 and thread_row(settings, thread_id).status == "open"
    assert "The thread is open again." in page(service.get(response.headers["location"])).text
    assert [a.action for a in audits(settings)] == ["message_thread_closed", "message_thread_closed", "message_thread_open"]


def test_staff_start_a_thread_about_a_case(client, settings, receipt, people, as_):
    service = as_(SERVICE)
    form = page(service.get(f"/inbox/cases/{receipt}/new")).text
    assert f'action="/inbox/cases/{receipt}"' in form and 'name="topic"' not in form
    thread_id, message_id = sent(new_thread(service, receipt, topic=None, subject="Your address", staff=True,
                                            body="Please confirm your address."), "inbox")
    thread = thread_row(settings, thread_id)
    assert (thread.topic, thread.assigned_to_id, thread.awaiting, thread.started_by_id) == (
        "from_staff", people["service"], "public", people["service"])
    mails = rows(settings, OutboundEmail)
    assert sorted(m.idempotency_key for m in mails) == sorted(
        message_email_key(message_id, people[who]) for who in ("applicant", "representative"))
    [event] = audits(settings, "message_sent")
    assert event.actor_id == people["service"]
    # The applicant sees Caseline, not the staff member's name.
    shown = page(as_(APPLICANT).get(f"/messages/{thread_id}")).text
    assert "Please confirm your address." in shown and "A message from Caseline" in shown
    assert "Priya Natarajan" not in shown


# --- unread counts and the case's pages --------------------------------------------------------------


def test_unread_counts_for_parties_and_staff(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    thread_id, _ = sent(new_thread(applicant, receipt))
    service, officer = as_(SERVICE), as_(OFFICER)
    assert nav_unread(page(officer.get("/officer")).text) == "1 unread"
    assert nav_unread(page(service.get("/inbox")).text) == "1 unread"
    sent(reply(service, thread_id, body="Answer one.", staff=True), "inbox")  # opening it read it
    inbox = page(service.get("/inbox?view=mine")).text
    assert nav_unread(inbox) is None and not UNREAD_TAG_RE.search(inbox)
    assert nav_unread(page(officer.get("/officer")).text) is None  # assigned to someone else now
    assert '<span class="usa-tag">2 new messages</span>' in page(officer.get("/inbox?view=open")).text

    listing = page(applicant.get("/messages")).text
    assert nav_unread(listing) == "1 unread"
    assert f'href="/messages/{thread_id}"><strong>{SUBJECT}</strong>' in listing and '<span class="usa-tag">1 new message</span>' in listing
    assert '<span class="usa-tag">1 new message</span>' in page(applicant.get(f"/cases/{receipt}")).text
    attorney = as_(REPRESENTATIVE)
    assert nav_unread(page(attorney.get("/messages")).text) == "2 unread"

    opened = page(applicant.get(f"/messages/{thread_id}")).text
    assert nav_unread(opened) is None and "Answer one." in opened
    listing = page(applicant.get("/messages")).text
    assert nav_unread(listing) is None and not UNREAD_TAG_RE.search(listing)
    assert nav_unread(page(attorney.get("/messages")).text) == "2 unread"  # each person reads for themselves

    sent(reply(service, thread_id, body="Answer two.", staff=True, token_from="/inbox"), "inbox")
    assert nav_unread(page(applicant.get("/account")).text) == "1 unread"


def test_the_case_page_shows_its_messages_to_the_parties(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    before = page(applicant.get(f"/cases/{receipt}")).text
    assert '<h2 id="messages">Messages</h2>' in before and "No messages about this case yet." in before
    assert f'href="/cases/{receipt}/messages/new"' in before
    thread_id, _ = sent(new_thread(applicant, receipt, files=attach("tax transcript.pdf")))
    for account in (APPLICANT, REPRESENTATIVE):
        html = page(as_(account).get(f"/cases/{receipt}")).text
        assert f'<a class="usa-link" href="/messages/{thread_id}">{SUBJECT}</a>' in html, account.role
        assert "No messages about this case yet." not in html
        assert "tax transcript" not in html  # an attachment is not one of the case's documents
    workspace = page(as_(OFFICER).get(f"/officer/cases/{receipt}")).text
    section = workspace[workspace.index('id="messages-heading"'):workspace.index('id="notes-heading"')]
    assert f'<a class="usa-link" href="/inbox/{thread_id}">{SUBJECT}</a>' in section
    assert "Waiting for our answer" in section and '<span class="usa-tag">1 new message</span>' in section
    assert f'href="/inbox/cases/{receipt}/new"' in section
    assert "tax transcript" not in workspace


def test_the_officer_workspace_says_when_there_are_no_messages(client, receipt, as_):
    workspace = page(as_(OFFICER).get(f"/officer/cases/{receipt}")).text
    assert "Secure messages" in workspace and "No messages about this case." in workspace


# --- written once, shown safely ----------------------------------------------------------------------


def test_messages_cannot_be_changed_or_deleted_through_the_web(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    thread_id, message_id = sent(new_thread(applicant, receipt))
    service = as_(SERVICE)
    for c, base in ((applicant, f"/messages/{thread_id}"), (service, f"/inbox/{thread_id}")):
        token = csrf(c, base)
        headers = {"X-CSRF-Token": token}
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = c.request(method, base, data={"csrf_token": token, "body": "changed"}, headers=headers)
            assert response.status_code == 405, (method, base)
        for suffix in ("edit", "delete", f"messages/{message_id}", f"message-{message_id}/edit"):
            for method in ("GET", "POST", "DELETE"):
                response = c.request(method, f"{base}/{suffix}", data={"csrf_token": token, "body": "changed"},
                                     headers=headers)
                assert response.status_code in (404, 405), (method, base, suffix)
    # No route under /messages or /inbox takes anything but GET and POST, nor names an edit or a deletion.
    for route in client.app.routes:
        path = getattr(route, "path", "")
        if path.startswith(("/messages", "/inbox")) or "messages" in path:
            assert set(route.methods) <= {"GET", "HEAD", "POST"}, path
            assert not re.search(r"edit|delete|remove|update", path), path
    [message] = rows(settings, Message)
    assert (message.id, message.body) == (message_id, BODY)


def test_what_people_write_is_shown_escaped(client, settings, receipt, as_):
    script = "<script>alert(1)</script>"
    applicant = as_(APPLICANT)
    thread_id, _ = sent(new_thread(applicant, receipt, subject="<b>Bold</b> subject", body=f"Hi {script} & bye"))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for c, path in ((applicant, f"/messages/{thread_id}"), (applicant, "/messages"), (applicant, f"/cases/{receipt}"),
                    (as_(SERVICE), f"/inbox/{thread_id}"), (as_(SERVICE), "/inbox"),
                    (as_(OFFICER), f"/officer/cases/{receipt}")):
        html = page(c.get(path)).text
        assert script not in html and "<b>Bold</b>" not in html, path
        assert "&lt;b&gt;Bold&lt;/b&gt; subject" in html, path
    thread_page = page(applicant.get(f"/messages/{thread_id}")).text
    assert f"Hi {escaped} &amp; bye" in thread_page
    # Kept as it was written; escaping is the page's job.
    assert rows(settings, Message)[0].body == f"Hi {script} & bye"


def test_line_breaks_and_control_characters_in_the_text(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    sent(new_thread(applicant, receipt, subject="  Two\tspaced   words ", body="First line  \r\nSecond\x00 line\r\n\r\n"))
    [thread] = rows(settings, MessageThread)
    [message] = rows(settings, Message)
    assert thread.subject == "Two spaced words"
    assert message.body == "First line\nSecond line"


# --- languages -------------------------------------------------------------------------------------


def test_the_thread_page_in_spanish(client, settings, receipt, as_):
    applicant = as_(APPLICANT)
    thread_id, _ = sent(new_thread(applicant, receipt, files=attach("carta.pdf")))
    applicant.cookies.set("caseline_lang", "es")
    html = page(applicant.get(f"/messages/{thread_id}")).text
    assert '<html lang="es">' in html
    assert "Cerrar sesión" in html and "Descargar" in html  # strings the Spanish catalogue has
    assert BODY in html and "carta.pdf" in html and f'action="/messages/{thread_id}/reply"' in html
    form = page(applicant.get(f"/cases/{receipt}/messages/new")).text
    assert '<html lang="es">' in form and "Cancelar" in form and "Asunto" in form
    assert '<html lang="es">' in page(applicant.get("/messages")).text
    service = as_(SERVICE)
    service.cookies.set("caseline_lang", "es")
    inbox = page(service.get("/inbox")).text
    assert '<html lang="es">' in inbox and "Asunto" in inbox and SUBJECT in inbox
    # A refusal is shown in the chosen language's page too, with what was typed.
    refused = new_thread(applicant, receipt, body="")
    assert refused.status_code == 422 and '<html lang="es">' in refused.text and f'value="{SUBJECT}"' in refused.text
