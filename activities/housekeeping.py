"""Activities of the daily housekeeping: the drafts' expiry warnings and deletion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_date
from temporalio import activity

import i18n
from models.db import session_scope
from models.drafts import BATCH_SIZE, DRAFT_LIFETIME, ExpiryWarning, SweepResult, sweep_drafts
from models.forms import FORMS
from models.projection import RenderedEmail
from models.receipts import AGENCY_TIME_ZONE as EASTERN

EXPIRY_SUBJECT = i18n.N_("Your draft Form %(form)s will be deleted on %(date)s")


@dataclass
class SweepInput:
    now: datetime  # the workflow's time, so that the sweep follows the (test) server's clock
    batch_size: int = BATCH_SIZE


class HousekeepingActivities:
    def __init__(self, database_url: str, base_url: str) -> None:
        self._database_url = database_url
        self._base_url = base_url.rstrip("/")
        self._templates = i18n.make_environment()

    def render_expiry_email(self, language: str, warning: ExpiryWarning) -> RenderedEmail:
        language = i18n.normalize_language(language)
        delete_date = format_date(warning.expires_at.astimezone(EASTERN).date(), format="long", locale=language)
        changed_date = format_date(warning.changed_at.astimezone(EASTERN).date(), format="long", locale=language)
        form = FORMS.get(warning.form_type)
        subject = i18n.gettext(language, EXPIRY_SUBJECT, form=warning.form_type, date=delete_date)
        body = self._templates.get_template("emails/draft_expiring.txt").render(
            lang=language,
            base_url=self._base_url,
            form=warning.form_type,
            title=i18n.gettext(language, form.title) if form is not None else warning.form_type,
            changed_date=changed_date,
            delete_date=delete_date,
            lifetime_days=DRAFT_LIFETIME.days,
            last_reminder=warning.days == 1,
        )
        return RenderedEmail(subject=subject, body_text=body)

    @activity.defn(name="sweep_drafts")
    def sweep_drafts(self, inp: SweepInput) -> SweepResult:
        """Queue the due expiry warnings and delete the expired drafts; returns the mails to deliver."""

        def progress(result: SweepResult) -> None:
            activity.heartbeat(result.queued, result.deleted)

        with session_scope(self._database_url) as session:
            result = sweep_drafts(
                session, now=inp.now, render=self.render_expiry_email, batch_size=inp.batch_size, progress=progress
            )
        activity.logger.info(
            "draft housekeeping: %d warning(s) queued, %d draft(s) deleted, %d paid draft(s) kept",
            result.queued, result.deleted, result.kept_paid,
        )
        return result
