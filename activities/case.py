"""Activities that write the case projection."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

import i18n
from activities.types import TransitionInput, TransitionResult
from models.db import session_scope
from models.domain import StatusCode
from models.projection import FilingMissing, RenderedEmail, apply_transition, pending_email_ids


class CaseActivities:
    def __init__(self, *, database_url: str, base_url: str) -> None:
        self._database_url = database_url
        self._base_url = base_url.rstrip("/")
        self._templates = i18n.make_environment()

    def render_status_email(self, language: str, status: StatusCode, receipt_number: str) -> RenderedEmail:
        language = i18n.normalize_language(language)
        title = i18n.gettext(language, status.text.title)
        subject = i18n.gettext(language, i18n.N_("Your case %(receipt)s: %(title)s"), receipt=receipt_number, title=title)
        body = self._templates.get_template("emails/status_change.txt").render(
            lang=language,
            receipt_number=receipt_number,
            title=title,
            explanation=i18n.gettext(language, status.text.explanation),
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
                    close_open_tasks=bool(tasks and tasks.close_open),
                    render_email=self.render_status_email,
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
