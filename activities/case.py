"""Activities of a case: the projection, appointments, and work after an approval."""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import urlencode

from babel.dates import format_date

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

import i18n
from activities.types import (
    AppointmentChange,
    BookingInput,
    FulfilmentInput,
    FulfilmentResult,
    TransitionInput,
    TransitionResult,
)
from models import scheduling
from models.db import session_scope
from models.documents import DocumentStore
from models.domain import StatusCode
from models.email_prefs import Unsubscriber
from models.projection import FilingMissing, NoticeIssuer, RenderedEmail, apply_transition, pending_email_ids
from models.receipts import AGENCY_TIME_ZONE as EASTERN
from models.tables import Filing
from workflows.types import Appointment


class CaseActivities:
    """``documents`` keeps the notices the projection issues (``models.notices``); ``base_url`` is
    where the web app is, for links in mails and the verification address printed on notices;
    ``secret_key`` signs the unsubscribe links in status mails (``settings.secret_key``, which the
    web app checks them with; the settings' when not given)."""

    def __init__(
        self, *, database_url: str, base_url: str, documents: DocumentStore, secret_key: str | None = None
    ) -> None:
        self._database_url = database_url
        self._base_url = base_url.rstrip("/")
        self._documents = documents
        self._templates = i18n.make_environment()
        if secret_key is None:
            from settings import get_settings

            secret_key = get_settings().secret_key
        self._unsubscribe = Unsubscriber(base_url=self._base_url, secret_key=secret_key)

    def render_status_email(
        self,
        language: str,
        status: StatusCode,
        receipt_number: str,
        *,
        notice_document_id: str | None = None,
        audience: str = "applicant",
        unsubscribe_url: str | None = None,
    ) -> RenderedEmail:
        """The mail announcing a status change: the receipt number, the new status and what it
        means, and a link; no other personal data. The applicant's version (also the
        representative's) links the case and, when the change issued a notice, the notice (the
        page asks them to sign in; its content never goes by mail). A watcher's version links
        the public status page only. It ends with the unsubscribe link when there is one."""
        language = i18n.normalize_language(language)
        title = i18n.gettext(language, status.text.title)
        watcher = audience == "watcher"
        if watcher:
            case_label = i18n.gettext(language, i18n.N_("Case %(receipt)s"), receipt=receipt_number)
            subject = f"{case_label}: {title}"
        else:
            subject = i18n.gettext(language, i18n.N_("Your case %(receipt)s: %(title)s"), receipt=receipt_number, title=title)
        body = self._templates.get_template("emails/status_change.txt").render(
            lang=language,
            watcher=watcher,
            receipt_number=receipt_number,
            title=title,
            explanation=i18n.gettext(language, status.text.explanation),
            case_url=f"{self._base_url}/cases/{receipt_number}",
            status_url=f"{self._base_url}/status?{urlencode({'receipt_number': receipt_number})}",
            notice_url=f"{self._base_url}/documents/{notice_document_id}" if notice_document_id and not watcher else None,
            settings_url=f"{self._base_url}/account/notifications",
            unsubscribe_url=unsubscribe_url,
        )
        return RenderedEmail(subject=subject, body_text=body)

    def render_reminder_email(self, language: str, receipt_number: str, due_at: datetime) -> RenderedEmail:
        language = i18n.normalize_language(language)
        due = format_date(due_at.astimezone(EASTERN).date(), format="long", locale=language)
        subject = i18n.gettext(
            language, i18n.N_("Your case %(receipt)s: your response is due %(date)s"), receipt=receipt_number, date=due
        )
        body = self._templates.get_template("emails/rfe_reminder.txt").render(
            lang=language, receipt_number=receipt_number, due_date=due,
            case_url=f"{self._base_url}/cases/{receipt_number}",
        )
        return RenderedEmail(subject=subject, body_text=body)

    @activity.defn(name="record_transition")
    def record_transition(self, inp: TransitionInput) -> TransitionResult:
        activity.logger.info("record transition %s #%s -> %s", inp.receipt_number, inp.seq, inp.stage)
        tasks = inp.tasks
        try:
            with session_scope(self._database_url) as session:
                applied, email_ids = apply_transition(
                    session,
                    receipt_number=inp.receipt_number,
                    seq=inp.seq,
                    occurred_at=inp.occurred_at,
                    stage=inp.stage,
                    stage_entered_at=inp.stage_entered_at,
                    status_code=inp.status_code,
                    actor_id=inp.actor_id,
                    note=inp.note,
                    assigned_officer_id=inp.assigned_officer_id,
                    decision=inp.decision,
                    overdue=inp.overdue,
                    open_task=tasks.open_kind if tasks else None,
                    task_due_at=tasks.due_at if tasks else None,
                    close_task_kinds=list(tasks.close) if tasks else [],
                    render_email=self.render_status_email,
                    office=inp.office,
                    action=inp.action,
                    reason_code=inp.reason_code,
                    waiting_for=inp.waiting_for,
                    due_at=inp.due_at,
                    expedited=inp.expedited,
                    expedite_status=inp.expedite_status,
                    held_from_stage=inp.held_from_stage,
                    blocked_activity=inp.blocked_activity,
                    blocked_error=inp.blocked_error,
                    tracking_number=inp.tracking_number,
                    evidence_request=inp.evidence_request,
                    reminder_due=inp.reminder_due,
                    render_reminder=self.render_reminder_email,
                    notices=NoticeIssuer(store=self._documents, base_url=self._base_url),
                    unsubscribe=self._unsubscribe,
                )
        except FilingMissing as exc:
            raise ApplicationError(f"no filing for {exc}", type="FilingMissing", non_retryable=True) from exc
        except IntegrityError:
            # Another attempt of this same transition committed first: report what it left.
            with session_scope(self._database_url) as session:
                return TransitionResult(
                    applied=False, email_ids=pending_email_ids(session, receipt_number=inp.receipt_number, seq=inp.seq)
                )
        return TransitionResult(applied=applied, email_ids=email_ids)

    @activity.defn(name="book_appointment")
    def book_appointment(self, inp: BookingInput) -> Appointment:
        """Book the first free slot at the office that serves the applicant's ZIP code.

        Keyed by ``inp.idempotency_key``: a retry returns the same appointment. No capacity in the
        next months is not worth retrying; it fails for good and the case waits for a supervisor."""
        with session_scope(self._database_url) as session:
            filing = session.get(Filing, inp.receipt_number)
            if filing is None:
                raise ApplicationError(f"no filing for {inp.receipt_number}", type="FilingMissing", non_retryable=True)
            try:
                row = scheduling.book_appointment(
                    session,
                    idempotency_key=inp.idempotency_key,
                    receipt_number=inp.receipt_number,
                    kind=inp.kind,
                    case_form_type=filing.form_type,
                    zip_code=filing.answers.get("zip_code"),
                    earliest=inp.earliest.date(),
                    exclude_office_day=scheduling.moved_from(session, receipt_number=inp.receipt_number, kind=inp.kind),
                )
            except scheduling.NoCapacity as exc:
                raise ApplicationError(
                    f"no free {inp.kind} appointment in the next months", type="NoCapacity", non_retryable=True
                ) from exc
            activity.logger.info("booked %s appointment %s for %s", inp.kind, row.id, inp.receipt_number)
            return Appointment(appointment_id=row.id or 0, kind=row.kind, office=row.office, starts_at=row.starts_at)

    @activity.defn(name="close_appointment")
    def close_appointment(self, change: AppointmentChange) -> None:
        with session_scope(self._database_url) as session:
            scheduling.cancel_appointment(session, appointment_id=change.appointment_id, status=change.status)

    @activity.defn(name="fulfil")
    def fulfil(self, inp: FulfilmentInput) -> FulfilmentResult:
        """Hand an approved case to the system that does the next step and return its reference.

        The card production facility, the Postal Service and the Department of State are outside
        Caseline; this sandbox gives the deterministic references they would (a retry gets the
        same one)."""
        digest = hashlib.sha256(f"{inp.receipt_number}:{inp.step}".encode()).hexdigest()
        digits = str(int(digest[:16], 16)).zfill(20)[:20]
        if inp.step == "card_produced":
            reference = f"SRC{digits[:10]}"
        elif inp.step == "card_mailed":
            reference = f"9400{digits[:18]}"  # a USPS tracking number has 22 digits
        elif inp.step == "dos":
            reference = f"NVC{digits[:10]}"
        else:
            raise ApplicationError(f"unknown step {inp.step}", type="UnknownStep", non_retryable=True)
        activity.logger.info("%s for %s: %s", inp.step, inp.receipt_number, reference)
        return FulfilmentResult(reference=reference)
