"""Paying filing fees: card checks, the payment provider, and the service the e-filing pages call.

Three layers:

1. ``validate_card`` checks what the person typed, field by field, *before* any provider is called,
   and gives a ``CardDetails`` (in memory only) or error msgids keyed by field name.
2. A ``PaymentProvider`` works like a real card processor's API: payment intents created with an
   idempotency key, confirmed with a card and another idempotency key. ``SandboxProvider`` is the
   built-in one; it keeps its books in the ``sandbox_intent`` and ``sandbox_charge`` tables.
3. ``payment_for_draft`` and ``pay`` keep our own ``Payment`` row (one per draft and amount) in step
   with the provider, so a double submission or a retried request never charges twice.

Card data: the full card number and the security code (CVC) live only in ``CardDetails``, in memory,
for one request. They are never stored and never logged; the database gets the brand and the last 4
digits. ``repr(CardDetails)`` shows only those too.

Sandbox test cards (any name, any expiry date in the future, any security code of the right length,
any ZIP code)::

    number                 brand        outcome
    4242 4242 4242 4242    Visa         approved
    5555 5555 5555 4444    Mastercard   approved
    4000 0000 0000 0002    Visa         declined: card_declined
    4000 0000 0000 9995    Visa         declined: insufficient_funds
    4000 0000 0000 0069    Visa         declined: expired_card
    4000 0000 0000 0127    Visa         declined: incorrect_cvc

Any other number that passes the Luhn check is approved (like Stripe's test mode); the sandbox
declines one that fails it (``incorrect_number``), although ``validate_card`` refuses those first.
``TEST_CARDS`` holds the same table for the web pages and the README.

Transactions: nothing here commits. The caller's session (``models.db.session_scope``) commits the
sandbox's books and our ``Payment`` row together.

Concurrency: confirming an intent locks its ``sandbox_intent`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite a first write takes the database's write lock, which serialises writers), so two
confirmations racing for the same intent make at most one successful charge. Idempotency keys are
unique in the tables; an insert that loses a race reads the winner's row instead.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from babel.numbers import format_currency
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from i18n import N_, normalize_language
from models.tables import Draft, Payment, SandboxCharge, SandboxIntent, utcnow

log = logging.getLogger("caseline.payments")

CURRENCY = "usd"
REQUIRES_PAYMENT = "requires_payment"
SUCCEEDED = "succeeded"
DECLINED = "declined"  # a charge's status (an intent stays REQUIRES_PAYMENT after a decline)

MAX_KEY_LENGTH = 120  # the idempotency_key columns
MAX_ATTEMPT_KEY_LENGTH = 64
_ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MAX_AMOUNT_CENTS = 10**9  # $10 million: far above any fee; a guard against nonsense
REFERENCE_PREFIX = "PAY-"
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_REFERENCE_LENGTH = 10


# --- errors ------------------------------------------------------------------------------------


class PaymentError(Exception):
    """A programming or data error in the payment layer (never a card decline: those are results)."""


class IdempotencyConflict(PaymentError, ValueError):
    """An idempotency key used again for a different request (another amount, another intent)."""


class UnknownIntent(PaymentError, LookupError):
    """No payment intent with this id."""


# --- cards -------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CardDetails:
    """A card as typed, checked by ``validate_card``. In memory only: never store or log it whole.

    ``number`` holds digits only; ``expiry_year`` four digits; ``postal_code`` ``12345`` or
    ``12345-6789``."""

    number: str
    name: str
    expiry_month: int
    expiry_year: int
    cvc: str
    postal_code: str

    @property
    def brand(self) -> str:
        return card_brand(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:  # what a log line or a traceback may show
        return f"CardDetails(brand={self.brand!r}, last4={self.last4!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class TestCard:
    """A sandbox test card, for the payment page and the README."""

    __test__ = False  # not a pytest test class

    number: str  # as printed on a card, in groups
    brand: str
    decline_code: str | None  # None: approved
    description: str  # msgid


TEST_CARDS: Mapping[str, TestCard] = MappingProxyType(
    {
        card.number.replace(" ", ""): card
        for card in (
            TestCard("4242 4242 4242 4242", "visa", None, N_("Approved")),
            TestCard("5555 5555 5555 4444", "mastercard", None, N_("Approved")),
            TestCard("4000 0000 0000 0002", "visa", "card_declined", N_("Declined: the card is declined")),
            TestCard("4000 0000 0000 9995", "visa", "insufficient_funds", N_("Declined: not enough money")),
            TestCard("4000 0000 0000 0069", "visa", "expired_card", N_("Declined: the card has expired")),
            TestCard("4000 0000 0000 0127", "visa", "incorrect_cvc", N_("Declined: wrong security code")),
        )
    }
)

# What the person reads after a decline. Each says that no money was taken and what to do next.
DECLINE_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "card_declined": N_("Your card was declined. No money was taken. Try another card."),
        "insufficient_funds": N_(
            "Your card was declined because there is not enough money in the account. No money was taken. "
            "Try another card."
        ),
        "expired_card": N_(
            "Your card was declined because it has expired. No money was taken. Check the expiry date or "
            "try another card."
        ),
        "incorrect_cvc": N_(
            "Your card was declined because the security code is not right. No money was taken. Check the "
            "security code on your card or try another card."
        ),
        "incorrect_number": N_(
            "Your card was declined because the card number is not right. No money was taken. Check the "
            "card number or try another card."
        ),
    }
)


def decline_message(code: str | None) -> str:
    """The msgid for a decline code; an unknown code gets the general message."""
    return DECLINE_MESSAGES.get(code or "", DECLINE_MESSAGES["card_declined"])


def luhn_valid(digits: str) -> bool:
    """The Luhn check digit test of a card number (ASCII digits only)."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(number: str) -> str:
    """``visa``, ``mastercard``, ``amex``, ``discover`` or ``card`` from the number's prefix."""
    if not number.isascii() or not number.isdigit():
        return "card"

    def prefix(n: int) -> int:
        return int(number[:n]) if len(number) >= n else -1

    if number.startswith("4"):
        return "visa"
    if prefix(2) in (34, 37):
        return "amex"
    if 51 <= prefix(2) <= 55 or 2221 <= prefix(4) <= 2720:
        return "mastercard"
    if prefix(4) == 6011 or prefix(2) == 65 or 644 <= prefix(3) <= 649 or 622126 <= prefix(6) <= 622925:
        return "discover"
    return "card"


CARD_FIELDS = ("card_number", "card_name", "card_expiry_month", "card_expiry_year", "card_cvc", "card_postal_code")
MAX_NAME_LENGTH = 100
_MAX_RAW_LENGTH = 200  # longer input is refused before it is looked at
_SEPARATORS_RE = re.compile(r"[\s\-]+")
_DIGITS_RE = re.compile(r"[0-9]+")
_ZIP_RE = re.compile(r"([0-9]{5})(?:[\s\-]?([0-9]{4}))?")

NUMBER_MISSING = N_("Enter the card number")
NUMBER_CHARACTERS = N_("Enter the card number using only the digits on the card")
NUMBER_LENGTH = N_("The card number must be between 12 and 19 digits")
NUMBER_INVALID = N_("The card number is not right. Check it for typing mistakes")
NAME_MISSING = N_("Enter the name on the card")
NAME_TOO_LONG = N_("The name on the card must be 100 characters or fewer")
NAME_CHARACTERS = N_("The name on the card has characters we cannot accept")
MONTH_MISSING = N_("Enter the month the card expires")
MONTH_INVALID = N_("Enter the expiry month as a number from 1 to 12")
YEAR_MISSING = N_("Enter the year the card expires")
YEAR_INVALID = N_("Enter the expiry year as 2 or 4 digits, like 29 or 2029")
CARD_EXPIRED = N_("This card has expired. Use a card that has not expired")
YEAR_TOO_FAR = N_("Check the expiry year. It is more than 20 years from now")
CVC_MISSING = N_("Enter the security code")
CVC_THREE_DIGITS = N_("Enter the 3-digit security code from the back of your card")
CVC_FOUR_DIGITS = N_("Enter the 4-digit security code from the front of your card")
CVC_INVALID = N_("Enter the security code: 3 or 4 digits")
POSTAL_CODE_MISSING = N_("Enter the ZIP code of the card's billing address")
POSTAL_CODE_INVALID = N_("Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000")
MAX_YEARS_AHEAD = 20


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in value)


def _check_number(raw: str) -> tuple[str | None, str | None]:
    if len(raw) > _MAX_RAW_LENGTH:
        return None, NUMBER_LENGTH
    digits = _SEPARATORS_RE.sub("", raw)
    if not digits:
        return None, NUMBER_MISSING
    if not _DIGITS_RE.fullmatch(digits):
        return None, NUMBER_CHARACTERS
    if not 12 <= len(digits) <= 19:
        return None, NUMBER_LENGTH
    if not luhn_valid(digits):
        return None, NUMBER_INVALID
    return digits, None


def _check_name(raw: str) -> tuple[str | None, str | None]:
    if len(raw) > _MAX_RAW_LENGTH * 4:
        return None, NAME_TOO_LONG
    if _has_control_characters(raw.strip()):
        return None, NAME_CHARACTERS
    name = " ".join(raw.split())
    if not name:
        return None, NAME_MISSING
    if len(name) > MAX_NAME_LENGTH:
        return None, NAME_TOO_LONG
    return name, None


def _check_expiry(raw_month: str, raw_year: str, today: date) -> tuple[int | None, int | None, dict[str, str]]:
    errors: dict[str, str] = {}
    month_text, year_text = raw_month.strip(), raw_year.strip()
    month = year = None
    if not month_text:
        errors["card_expiry_month"] = MONTH_MISSING
    elif len(month_text) <= 2 and _DIGITS_RE.fullmatch(month_text) and 1 <= int(month_text) <= 12:
        month = int(month_text)
    else:
        errors["card_expiry_month"] = MONTH_INVALID
    if not year_text:
        errors["card_expiry_year"] = YEAR_MISSING
    elif len(year_text) in (2, 4) and _DIGITS_RE.fullmatch(year_text):
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    else:
        errors["card_expiry_year"] = YEAR_INVALID
    if year is not None:
        if year < today.year:
            errors["card_expiry_year"] = CARD_EXPIRED
            year = None
        elif year > today.year + MAX_YEARS_AHEAD:
            errors["card_expiry_year"] = YEAR_TOO_FAR
            year = None
    if month is not None and year is not None and (year, month) < (today.year, today.month):
        # A card is good until the end of its expiry month.
        errors["card_expiry_month"] = CARD_EXPIRED
        month = None
    return month, year, errors


def _check_cvc(raw: str, brand: str | None) -> tuple[str | None, str | None]:
    cvc = raw.strip()
    if not cvc:
        return None, CVC_MISSING
    if brand is None:  # the number is wrong: the brand is not known
        return (cvc, None) if len(cvc) in (3, 4) and _DIGITS_RE.fullmatch(cvc) else (None, CVC_INVALID)
    wanted = 4 if brand == "amex" else 3
    if len(cvc) != wanted or not _DIGITS_RE.fullmatch(cvc):
        return None, CVC_FOUR_DIGITS if wanted == 4 else CVC_THREE_DIGITS
    return cvc, None


def _check_postal_code(raw: str) -> tuple[str | None, str | None]:
    value = raw.strip()
    if not value:
        return None, POSTAL_CODE_MISSING
    match = _ZIP_RE.fullmatch(value) if len(value) <= 10 else None
    if match is None:
        return None, POSTAL_CODE_INVALID
    return match.group(1) + (f"-{match.group(2)}" if match.group(2) else ""), None


def validate_card(form: Mapping[str, str], *, today: date) -> tuple[CardDetails | None, dict[str, str]]:
    """Check the card fields of a form: ``(CardDetails, {})`` or ``(None, {field: msgid})``.

    Fields: ``card_number`` (spaces and dashes allowed, 12 to 19 digits, Luhn check), ``card_name``,
    ``card_expiry_month`` (1 to 12), ``card_expiry_year`` (2 or 4 digits; the card is good until the
    end of its expiry month, and at most 20 years ahead), ``card_cvc`` (3 digits, 4 for American
    Express), ``card_postal_code`` (US ZIP code, 5 or 5+4 digits). Errors come in field order."""

    def raw(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    errors: dict[str, str] = {}
    number, error = _check_number(raw("card_number"))
    if error:
        errors["card_number"] = error
    name, error = _check_name(raw("card_name"))
    if error:
        errors["card_name"] = error
    month, year, expiry_errors = _check_expiry(raw("card_expiry_month"), raw("card_expiry_year"), today)
    errors.update(expiry_errors)
    cvc, error = _check_cvc(raw("card_cvc"), card_brand(number) if number else None)
    if error:
        errors["card_cvc"] = error
    postal_code, error = _check_postal_code(raw("card_postal_code"))
    if error:
        errors["card_postal_code"] = error
    if errors:
        return None, {field: errors[field] for field in CARD_FIELDS if field in errors}
    assert number and name and month and year and cvc and postal_code
    return CardDetails(
        number=number, name=name, expiry_month=month, expiry_year=year, cvc=cvc, postal_code=postal_code
    ), {}


# --- the provider ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderIntent:
    """A payment intent as the provider reports it. After a decline the status stays
    ``requires_payment`` (another card can be tried) and ``last_decline_code`` says why."""

    id: str
    amount_cents: int
    currency: str
    status: str  # requires_payment | succeeded
    last_decline_code: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


@runtime_checkable
class PaymentProvider(Protocol):
    """What Caseline needs from a card processor."""

    name: str  # stored in Payment.provider

    def create_intent(
        self, session: Session, *, amount_cents: int, currency: str, idempotency_key: str
    ) -> ProviderIntent:
        """A new intent to take ``amount_cents``; the same key gives the same intent. The same key
        with another amount or currency raises ``IdempotencyConflict``."""
        ...

    def confirm(self, session: Session, *, intent_id: str, card: CardDetails, idempotency_key: str) -> ProviderIntent:
        """Charge the card for the intent, once. An intent that has succeeded is returned as it is,
        without a new charge; the same ``idempotency_key`` gives the earlier result without a new
        charge; a decline leaves the intent ``requires_payment``. Raises ``UnknownIntent``."""
        ...

    def retrieve(self, session: Session, intent_id: str) -> ProviderIntent:
        """The intent as it is now. Raises ``UnknownIntent``."""
        ...


def _check_amount(amount_cents: int) -> None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError(f"amount_cents must be a positive whole number of cents, not {amount_cents!r}")


def _check_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key is 1 to {MAX_KEY_LENGTH} characters")


def _random_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def sandbox_decline_code(number: str) -> str | None:
    """What the sandbox does with a card number: None approves, else the decline code."""
    if not luhn_valid(number):
        return "incorrect_number"
    card = TEST_CARDS.get(number)
    return card.decline_code if card else None


class SandboxProvider:
    """The built-in provider: no money moves. Its books are the ``sandbox_intent`` and
    ``sandbox_charge`` tables, written in the caller's transaction. Test cards: ``TEST_CARDS``."""

    name = "sandbox"

    # intents

    def create_intent(
        self, session: Session, *, amount_cents: int, currency: str = CURRENCY, idempotency_key: str
    ) -> ProviderIntent:
        _check_amount(amount_cents)
        _check_key(idempotency_key)
        currency = currency.lower()
        existing = self._intent_by_key(session, idempotency_key)
        if existing is None:
            intent = SandboxIntent(
                id=_random_id("pi_sbx_"), idempotency_key=idempotency_key, amount_cents=amount_cents,
                currency=currency, status=REQUIRES_PAYMENT,
            )
            try:
                with session.begin_nested():
                    session.add(intent)
                    session.flush()
            except IntegrityError:
                # Created meanwhile by another request with the same key: that one is the intent.
                existing = self._intent_by_key(session, idempotency_key)
                if existing is None:
                    raise
            else:
                log.info("sandbox intent %s created for %d %s", intent.id, amount_cents, currency)
                return self._view(session, intent)
        if existing.amount_cents != amount_cents or existing.currency != currency:
            raise IdempotencyConflict("this idempotency key was used for an intent with another amount")
        return self._view(session, existing)

    def retrieve(self, session: Session, intent_id: str) -> ProviderIntent:
        intent = session.get(SandboxIntent, intent_id)
        if intent is None:
            raise UnknownIntent(intent_id)
        return self._view(session, intent)

    # charges

    def confirm(self, session: Session, *, intent_id: str, card: CardDetails, idempotency_key: str) -> ProviderIntent:
        _check_key(idempotency_key)
        intent = self._lock_intent(session, intent_id)
        earlier = self._charge_by_key(session, idempotency_key)
        if earlier is not None:
            return self._replay(intent, earlier)
        if intent.status == SUCCEEDED:
            return self._view(session, intent)
        decline_code = sandbox_decline_code(card.number)
        charge = SandboxCharge(
            id=_random_id("ch_sbx_"), intent_id=intent.id, idempotency_key=idempotency_key,
            amount_cents=intent.amount_cents, status=DECLINED if decline_code else SUCCEEDED,
            decline_code=decline_code, card_brand=card.brand, card_last4=card.last4,
        )
        try:
            with session.begin_nested():
                session.add(charge)
                if decline_code is None:
                    intent.status = SUCCEEDED
                    session.add(intent)
                session.flush()
        except IntegrityError:
            # The same key was used meanwhile (for this intent or, wrongly, for another one).
            earlier = self._charge_by_key(session, idempotency_key)
            if earlier is None:
                raise
            intent = self._lock_intent(session, intent_id)
            return self._replay(intent, earlier)
        log.info(
            "sandbox charge %s for intent %s: %s%s (%s ending %s)", charge.id, intent.id, charge.status,
            f" {decline_code}" if decline_code else "", charge.card_brand, charge.card_last4,
        )
        return self._from_charge(intent, charge)

    # helpers

    @staticmethod
    def _intent_by_key(session: Session, idempotency_key: str) -> SandboxIntent | None:
        return session.exec(select(SandboxIntent).where(SandboxIntent.idempotency_key == idempotency_key)).first()

    @staticmethod
    def _charge_by_key(session: Session, idempotency_key: str) -> SandboxCharge | None:
        return session.exec(
            select(SandboxCharge).where(SandboxCharge.idempotency_key == idempotency_key).execution_options(
                populate_existing=True
            )
        ).first()

    @staticmethod
    def _lock_intent(session: Session, intent_id: str) -> SandboxIntent:
        """The intent, locked until the transaction ends, read fresh from the database."""
        if session.get_bind().dialect.name == "sqlite":
            # SQLite ignores FOR UPDATE. A write as the first statement of the transaction waits for,
            # then holds, the database's write lock, so concurrent confirmations run one after another
            # and each reads what the one before committed.
            table = SandboxIntent.__table__  # type: ignore[attr-defined]
            session.execute(sa.update(table).where(table.c.id == intent_id).values(status=table.c.status))
        intent = session.get(SandboxIntent, intent_id, with_for_update=True, populate_existing=True)
        if intent is None:
            raise UnknownIntent(intent_id)
        return intent

    @staticmethod
    def _from_charge(intent: SandboxIntent, charge: SandboxCharge) -> ProviderIntent:
        return ProviderIntent(
            id=intent.id, amount_cents=intent.amount_cents, currency=intent.currency,
            status=SUCCEEDED if charge.status == SUCCEEDED else REQUIRES_PAYMENT,
            last_decline_code=charge.decline_code, card_brand=charge.card_brand, card_last4=charge.card_last4,
        )

    def _replay(self, intent: SandboxIntent, earlier: SandboxCharge) -> ProviderIntent:
        """The result of an earlier confirmation with the same key, as it was (like a real provider)."""
        if earlier.intent_id != intent.id:
            raise IdempotencyConflict("this idempotency key was used to confirm another intent")
        return self._from_charge(intent, earlier)

    def _view(self, session: Session, intent: SandboxIntent) -> ProviderIntent:
        """The intent now: the card that paid it, or the last card declined."""
        wanted = [SandboxCharge.intent_id == intent.id]
        if intent.status == SUCCEEDED:
            wanted.append(SandboxCharge.status == SUCCEEDED)
        charge = session.exec(
            select(SandboxCharge).where(*wanted).order_by(col(SandboxCharge.created_at).desc()).limit(1)
        ).first()
        if charge is None:
            return ProviderIntent(
                id=intent.id, amount_cents=intent.amount_cents, currency=intent.currency, status=intent.status
            )
        view = self._from_charge(intent, charge)
        return ProviderIntent(
            id=view.id, amount_cents=view.amount_cents, currency=view.currency, status=intent.status,
            last_decline_code=None if intent.status == SUCCEEDED else view.last_decline_code,
            card_brand=view.card_brand, card_last4=view.card_last4,
        )


_PROVIDERS: dict[str, type] = {"sandbox": SandboxProvider}


def provider_for(name: str) -> PaymentProvider:
    """The provider called ``name`` (the ``payment_provider`` setting). Raises ``ValueError``."""
    factory = _PROVIDERS.get((name or "").strip().lower())
    if factory is None:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(sorted(_PROVIDERS))}")
    return factory()


# --- the service the web calls -----------------------------------------------------------------


@dataclass(frozen=True)
class PaymentOutcome:
    """What happened when the person paid. ``message`` is a msgid for a decline (None on success)."""

    succeeded: bool
    message: str | None
    payment: Payment
    decline_code: str | None = None


def draft_payment_key(draft_id: str, amount_cents: int) -> str:
    return f"draft:{draft_id}:{amount_cents}"


def _payment_by_key(session: Session, idempotency_key: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.idempotency_key == idempotency_key)).first()


def _new_reference(session: Session) -> str:
    """A payment reference like ``PAY-7K2M9Q4XZ1``, not yet given to another payment."""
    for _ in range(20):
        reference = REFERENCE_PREFIX + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(_REFERENCE_LENGTH))
        if session.exec(select(Payment.id).where(Payment.reference == reference)).first() is None:
            return reference
    raise PaymentError("could not find a free payment reference")  # pragma: no cover - 32**10 of them


def _apply_intent(session: Session, payment: Payment, intent: ProviderIntent, now: datetime) -> None:
    """Copy the provider's answer onto our row. A succeeded payment is never set back."""
    if intent.amount_cents != payment.amount_cents:
        raise PaymentError(f"intent {intent.id} is for {intent.amount_cents}, the payment for {payment.amount_cents}")
    if payment.status == SUCCEEDED:
        return
    if intent.card_brand is not None:
        payment.card_brand = intent.card_brand
        payment.card_last4 = intent.card_last4
    if intent.status == SUCCEEDED:
        payment.status = SUCCEEDED
        payment.last_decline_code = None
        payment.paid_at = now
        payment.reference = _new_reference(session)
    else:
        payment.last_decline_code = intent.last_decline_code
    payment.updated_at = now


def payment_for_draft(
    session: Session, *, draft: Draft, user_id: int, amount_cents: int, provider: PaymentProvider
) -> Payment:
    """The payment of ``amount_cents`` for the draft: found, or made with its provider intent.

    Keyed by ``draft:<draft id>:<amount>`` (the intent too), so a double submission or a retried
    request never makes a second payment or intent. The caller has checked that ``user_id`` may act
    on the draft; a payment found by its key is returned as it is."""
    _check_amount(amount_cents)
    key = draft_payment_key(draft.id, amount_cents)
    existing = _payment_by_key(session, key)
    if existing is not None:
        return existing
    intent = provider.create_intent(session, amount_cents=amount_cents, currency=CURRENCY, idempotency_key=key)
    now = utcnow()
    payment = Payment(
        id=str(uuid.uuid4()), idempotency_key=key, user_id=user_id, draft_id=draft.id, form_type=draft.form_type,
        amount_cents=amount_cents, currency=intent.currency, provider=provider.name,
        provider_intent_id=intent.id, status=REQUIRES_PAYMENT, created_at=now, updated_at=now,
    )
    _apply_intent(session, payment, intent, now)  # an intent paid already (its payment row lost) stays paid
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        existing = _payment_by_key(session, key)
        if existing is None:
            raise
        return existing
    return payment


def _check_attempt_key(attempt_key: str) -> None:
    if not isinstance(attempt_key, str) or not _ATTEMPT_KEY_RE.fullmatch(attempt_key):
        raise ValueError("an attempt key is 8 to 64 letters, digits, '-' or '_' (secrets.token_urlsafe(16))")


def _lock_payment(session: Session, payment_id: str) -> Payment:
    """Our payment row, locked until the transaction ends and read fresh (as ``_lock_intent``)."""
    if session.get_bind().dialect.name == "sqlite":
        table = Payment.__table__  # type: ignore[attr-defined]
        session.execute(sa.update(table).where(table.c.id == payment_id).values(status=table.c.status))
    row = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise PaymentError(f"payment {payment_id} is not in the database")
    return row


def pay(
    session: Session, *, payment: Payment, card: CardDetails, attempt_key: str, provider: PaymentProvider
) -> PaymentOutcome:
    """Charge the card for the payment through its provider, and record what happened.

    ``attempt_key`` comes from the form (a fresh random key each time the form is shown), so a
    double-clicked submission confirms once and both requests get the same answer. Show a new key
    with the form after a decline: a key sent again gives the earlier answer, whatever the card.
    A payment that has succeeded is returned as succeeded without asking the provider. Raises
    ``ValueError`` for a malformed attempt key and ``PaymentError`` for a payment that does not match
    its provider."""
    if payment.status == SUCCEEDED:
        return PaymentOutcome(succeeded=True, message=None, payment=payment)
    _check_attempt_key(attempt_key)
    if payment.provider != provider.name:
        raise PaymentError(f"payment {payment.id} belongs to provider {payment.provider!r}, not {provider.name!r}")
    intent = provider.confirm(
        session, intent_id=payment.provider_intent_id, card=card, idempotency_key=f"pay:{payment.id}:{attempt_key}"
    )
    # Locked after the intent (always in this order), read fresh: another request may have paid it.
    row = _lock_payment(session, payment.id)
    _apply_intent(session, row, intent, utcnow())
    session.add(row)
    session.flush()
    if row.status == SUCCEEDED:
        log.info("payment %s succeeded: %s (%s ending %s)", row.id, row.reference, row.card_brand, row.card_last4)
        return PaymentOutcome(succeeded=True, message=None, payment=row)
    log.info("payment %s declined: %s (%s ending %s)", row.id, intent.last_decline_code, card.brand, card.last4)
    return PaymentOutcome(
        succeeded=False, message=decline_message(intent.last_decline_code), payment=row,
        decline_code=intent.last_decline_code,
    )


def format_amount(cents: int, language: str) -> str:
    """An amount in US dollars as US readers write it, ``$470.00``, in English and in US Spanish
    (the pages, the notices and the emails all show amounts this way)."""
    locale = "es_US" if normalize_language(language) == "es" else "en_US"
    return format_currency(Decimal(cents) / 100, "USD", locale=locale)


__all__ = [
    "CARD_FIELDS", "CURRENCY", "DECLINE_MESSAGES", "REQUIRES_PAYMENT", "SUCCEEDED", "TEST_CARDS", "CardDetails",
    "IdempotencyConflict", "PaymentError", "PaymentOutcome", "PaymentProvider", "ProviderIntent",
    "SandboxProvider", "TestCard", "UnknownIntent", "card_brand", "decline_message", "draft_payment_key",
    "format_amount", "luhn_valid", "pay", "payment_for_draft", "provider_for", "sandbox_decline_code",
    "validate_card",
]
