"""Activities of the daily case digest (``workflows.digest``): queueing one mail per person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from babel.dates import format_date
from temporalio import activity

import i18n
from models.case_digest import BATCH_SIZE, Digest, DigestRunResult, collect_digests
from models.db import session_scope
from models.domain import StatusCode
from models.email_prefs import SCOPE_ALL, Unsubscriber
from models.projection import RenderedEmail
from models.receipts import AGENCY_TIME_ZONE as EASTERN

DIGEST_SUBJECT = i18n.N_("Your cases changed: daily update of %(date)s")


@dataclass
class DigestInput:
    now: datetime  # the workflow's time, so that the run follows the (test) server's clock
    batch_size: int = BATCH_SIZE


class DigestActivities:
    """``secret_key`` signs the unsubscribe links (``settings.secret_key``; the settings' when not given)."""

    def __init__(self, *, database_url: str, base_url: str, secret_key: str | None = None) -> None:
        self._database_url = database_url
        self._base_url = base_url.rstrip("/")
        self._templates = i18n.make_environment()
        if secret_key is None:
            from settings import get_settings

            secret_key = get_settings().secret_key
        self._unsubscribe = Unsubscriber(base_url=self._base_url, secret_key=secret_key)

    def render_digest(self, digest: Digest, *, today: datetime | None = None) -> RenderedEmail:
        """Each case's receipt number, latest status and its date, and a link: the case page for
        the person's own cases (where any notice is), the public status page for cases they
        follow. No other personal data (not the nicknames they gave the cases)."""
        language = i18n.normalize_language(digest.language)

        def day(moment: datetime) -> str:
            return format_date(moment.astimezone(EASTERN).date(), format="long", locale=language)

        entries = [
            {
                "receipt_number": entry.receipt_number,
                "title": i18n.gettext(language, StatusCode(entry.status_code).text.title),
                "date": day(entry.occurred_at),
                "url": f"{self._base_url}/cases/{entry.receipt_number}" if entry.own
                else f"{self._base_url}/status?{urlencode({'receipt_number': entry.receipt_number})}",
                "own": entry.own,
                "notice": entry.notice,
                "changes": entry.changes,
            }
            for entry in digest.entries
        ]
        latest = max(entry.occurred_at for entry in digest.entries)
        subject = i18n.gettext(language, DIGEST_SUBJECT, date=day(today or latest))
        body = self._templates.get_template("emails/case_digest.txt").render(
            lang=language,
            entries=entries,
            settings_url=f"{self._base_url}/account/notifications",
            unsubscribe_url=self._unsubscribe.url(digest.user_id, SCOPE_ALL),
        )
        return RenderedEmail(subject=subject, body_text=body)

    @activity.defn(name="collect_case_digests")
    def collect_case_digests(self, inp: DigestInput) -> DigestRunResult:
        """Queue today's digests (one per person with unsent changes); returns the mails to deliver."""

        def progress(result: DigestRunResult) -> None:
            activity.heartbeat(result.queued, result.items)

        def render(digest: Digest) -> RenderedEmail:
            return self.render_digest(digest, today=inp.now)

        with session_scope(self._database_url) as session:
            result = collect_digests(session, now=inp.now, render=render, batch_size=inp.batch_size,
                                     progress=progress)
        activity.logger.info(
            "case digest: %d digest(s) queued listing %d change(s), %d change(s) dropped",
            result.queued, result.items, result.dropped,
        )
        return result
