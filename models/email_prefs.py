"""Who is emailed about a case change, how often, and the unsubscribe links in those emails.

Every account chooses how often it hears about case changes (``User.case_email_frequency``):
``each`` change by email, a ``daily`` digest (``models.case_digest``), or ``none`` (the account
still shows everything). The people concerned by a change are the case's applicant, the
representative on its filing (both get the applicant's version of the mail, which links the case
and any notice), and every other account that watches the case (``WatchedCase``) and opted in to
emails about it (they get the public version: the status page link, never the notice).

An unsubscribe link works without signing in: its token is an HMAC (``settings.secret_key``) of
the user id and a scope, ``all`` (case emails stop: frequency ``none``) or one watched case
(``w<id>``: its ``notify`` is turned off). Tokens carry their version (``v1.``) so the format can
change while old mails keep working; they do not expire.

No web imports: the activities, the web app and the tests share this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session, col, select

from i18n import N_
from models.tables import User, WatchedCase

EACH = "each"
DAILY = "daily"
NONE = "none"
FREQUENCIES: tuple[str, ...] = (EACH, DAILY, NONE)
FREQUENCY_LABELS: dict[str, str] = {
    EACH: N_("An email each time a case changes"),
    DAILY: N_("One email a day that lists the cases that changed"),
    NONE: N_("No emails about case changes"),
}

SCOPE_ALL = "all"
UNSUBSCRIBE_PATH = "/email/unsubscribe"
TOKEN_VERSION = "v1"
_SCOPE_RE = re.compile(r"^(all|w[1-9][0-9]{0,17})$")
_TOKEN_RE = re.compile(r"^(v[0-9]{1,3})\.([1-9][0-9]{0,17})\.(all|w[1-9][0-9]{0,17})\.([A-Za-z0-9_-]{16,64})$")

Audience = Literal["applicant", "watcher"]


# --- unsubscribe tokens ---------------------------------------------------------------------------


def watch_scope(watched_case_id: int) -> str:
    """The token scope of one watched case."""
    return f"w{int(watched_case_id)}"


def _signature_v1(secret_key: str, user_id: int, scope: str) -> str:
    mac = hmac.new(secret_key.encode(), f"caseline:unsubscribe:v1:{user_id}:{scope}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()


# Every version still accepted; a new format gets a new entry and ``TOKEN_VERSION`` moves on.
_SIGNERS = {"v1": _signature_v1}


def unsubscribe_token(secret_key: str, *, user_id: int, scope: str) -> str:
    if not _SCOPE_RE.fullmatch(scope) or user_id <= 0:
        raise ValueError(f"bad unsubscribe scope {scope!r} or user id {user_id!r}")
    return f"{TOKEN_VERSION}.{user_id}.{scope}.{_SIGNERS[TOKEN_VERSION](secret_key, user_id, scope)}"


@dataclass(frozen=True)
class UnsubscribeRequest:
    user_id: int
    scope: str  # "all" or "w<watched case id>"

    @property
    def watched_case_id(self) -> int | None:
        return None if self.scope == SCOPE_ALL else int(self.scope[1:])


def read_unsubscribe_token(secret_key: str, token: str | None) -> UnsubscribeRequest | None:
    """What a token asks for, or None when it was not made with this key (changed, cut, forged)."""
    match = _TOKEN_RE.fullmatch(token or "")
    if match is None:
        return None
    version, user_id, scope, signature = match.groups()
    signer = _SIGNERS.get(version)
    if signer is None:
        return None
    if not hmac.compare_digest(signature, signer(secret_key, int(user_id), scope)):
        return None
    return UnsubscribeRequest(user_id=int(user_id), scope=scope)


@dataclass(frozen=True)
class Unsubscriber:
    """Makes the unsubscribe links printed in case emails (``{base_url}/email/unsubscribe?token=...``)."""

    base_url: str
    secret_key: str

    def url(self, user_id: int, scope: str) -> str:
        token = unsubscribe_token(self.secret_key, user_id=user_id, scope=scope)
        return f"{self.base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={token}"


# What deliver_email looks for on the last line of a case email (it becomes List-Unsubscribe).
UNSUBSCRIBE_URL_RE = re.compile(r"^https?://[A-Za-z0-9._~:/@!$&'()*+,;=%-]+/email/unsubscribe\?token=[A-Za-z0-9._-]+$")


def unsubscribe_url_in(body_text: str) -> str | None:
    """The unsubscribe link a case email ends with, or None."""
    last = body_text.rstrip().rsplit("\n", 1)[-1].strip()
    return last if UNSUBSCRIBE_URL_RE.fullmatch(last) else None


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What a valid token would change, read without changing anything (the confirmation page)."""

    request: UnsubscribeRequest
    receipt_number: str | None  # the watched case (scope of one case)
    exists: bool  # False: the account or the watched case is gone
    already: bool  # it is already off


def describe_unsubscribe(session: Session, request: UnsubscribeRequest) -> UnsubscribeTarget:
    user = session.get(User, request.user_id)
    if user is None:
        return UnsubscribeTarget(request, None, exists=False, already=True)
    if request.watched_case_id is None:
        return UnsubscribeTarget(request, None, exists=True, already=user.case_email_frequency == NONE)
    watch = session.get(WatchedCase, request.watched_case_id)
    if watch is None or watch.user_id != request.user_id:
        return UnsubscribeTarget(request, None, exists=False, already=True)
    return UnsubscribeTarget(request, watch.receipt_number, exists=True, already=not watch.notify)


def apply_unsubscribe(session: Session, request: UnsubscribeRequest) -> UnsubscribeTarget:
    """Turn the emails off (scope all: frequency ``none``; one case: its ``notify``). Returns what
    it found before the change. Doing it twice is harmless."""
    target = describe_unsubscribe(session, request)
    if not target.exists or target.already:
        return target
    if request.watched_case_id is None:
        user = session.get(User, request.user_id)
        assert user is not None
        user.case_email_frequency = NONE
        session.add(user)
    else:
        watch = session.get(WatchedCase, request.watched_case_id)
        assert watch is not None
        watch.notify = False
        session.add(watch)
    session.flush()
    return target


# --- preferences (the settings page) -----------------------------------------------------------


def watched_cases(session: Session, *, user_id: int) -> list[WatchedCase]:
    return list(
        session.exec(
            select(WatchedCase).where(WatchedCase.user_id == user_id).order_by(col(WatchedCase.receipt_number))
        ).all()
    )


def save_preferences(session: Session, *, user: User, frequency: str, notify: dict[int, bool]) -> None:
    """Store the account's frequency and, for each of its watched cases in ``notify``, the opt-in.
    Ids of cases that are not this account's are ignored."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    row = session.get(User, user.id)
    assert row is not None
    row.case_email_frequency = frequency
    session.add(row)
    if notify:
        watches = session.exec(
            select(WatchedCase).where(WatchedCase.user_id == user.id, col(WatchedCase.id).in_(list(notify)))
        ).all()
        for watch in watches:
            watch.notify = bool(notify[watch.id or 0])
            session.add(watch)
    session.flush()


# --- recipients of a change -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    language: str
    frequency: str  # each | daily | none
    audience: Audience  # applicant: the applicant's version (case and notice links); watcher: the public one
    scope: str  # what their unsubscribe link turns off


def change_recipients(
    session: Session, *, receipt_number: str, applicant_id: int, representative_id: int | None
) -> list[Recipient]:
    """Everyone concerned by a change of the case, once each: the applicant, the representative on
    the filing, then the watchers who opted in (not the applicant or representative again), in
    the order of their watch. Their frequency is not applied here."""
    people: list[Recipient] = []
    seen: set[int] = set()
    for user_id in (applicant_id, representative_id):
        if user_id is None or user_id in seen:
            continue
        user = session.get(User, user_id)
        if user is None:
            continue
        seen.add(user_id)
        people.append(Recipient(user_id, user.email, user.language, user.case_email_frequency or EACH, "applicant",
                                SCOPE_ALL))
    rows = session.exec(
        select(WatchedCase, User)
        .join(User, col(User.id) == col(WatchedCase.user_id))
        .where(WatchedCase.receipt_number == receipt_number, col(WatchedCase.notify).is_(True))
        .order_by(col(WatchedCase.id))
    ).all()
    for watch, user in rows:
        if user.id is None or user.id in seen:
            continue
        seen.add(user.id)
        people.append(Recipient(user.id, user.email, user.language, user.case_email_frequency or EACH, "watcher",
                                watch_scope(watch.id or 0)))
    return people


__all__ = [
    "DAILY", "EACH", "FREQUENCIES", "FREQUENCY_LABELS", "NONE", "SCOPE_ALL", "TOKEN_VERSION", "UNSUBSCRIBE_PATH",
    "Recipient", "UnsubscribeRequest", "UnsubscribeTarget", "Unsubscriber", "apply_unsubscribe", "change_recipients",
    "describe_unsubscribe", "read_unsubscribe_token", "save_preferences", "unsubscribe_token", "unsubscribe_url_in",
    "watch_scope", "watched_cases",
]
