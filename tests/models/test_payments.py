"""Paying filing fees: card checks, the sandbox provider's test cards, idempotency, retries after a
decline, concurrent confirmations, and no card number or security code in the database or the logs,
on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, func, select

from models.db import get_engine, session_scope
from models.payments import (
    CARD_EXPIRED,
    CARD_FIELDS,
    CVC_FOUR_DIGITS,
    CVC_INVALID,
    CVC_MISSING,
    CVC_THREE_DIGITS,
    DECLINE_MESSAGES,
    MONTH_INVALID,
    MONTH_MISSING,
    NAME_CHARACTERS,
    NAME_MISSING,
    NAME_TOO_LONG,
    NUMBER_CHARACTERS,
    NUMBER_INVALID,
    NUMBER_LENGTH,
    NUMBER_MISSING,
    POSTAL_CODE_INVALID,
    POSTAL_CODE_MISSING,
    TEST_CARDS,
    YEAR_INVALID,
    YEAR_MISSING,
    YEAR_TOO_FAR,
    CardDetails,
    IdempotencyConflict,
    PaymentError,
    PaymentProvider,
    ProviderIntent,
    SandboxProvider,
    UnknownIntent,
    card_brand,
    decline_message,
    format_amount,
    luhn_valid,
    pay,
    payment_for_draft,
    provider_for,
    validate_card,
)
from models.tables import Draft, Payment, SandboxCharge, SandboxIntent
from tests.helpers import make_user

TODAY = date(2026, 11, 22)
FEE = 47000  # I-765 online
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
DECLINED = "4000000000000002"
INSUFFICIENT = "4000000000009995"
EXPIRED = "4000000000000069"
BAD_CVC = "4000000000000127"
AMEX = "378282246310005"  # passes the Luhn check; not a special test card
DISCOVER = "6011111111111117"
NINETEEN_DIGITS = "4000000000000000006"  # a 19-digit Visa number that passes the Luhn check


def form(**changes: str) -> dict[str, str]:
    values = {
        "card_number": "4242 4242 4242 4242",
        "card_name": "Ana Rivera",
        "card_expiry_month": "04",
        "card_expiry_year": "2029",
        "card_cvc": "737",
        "card_postal_code": "62701",
    }
    values.update(changes)
    return values


def card(number: str = VISA, *, cvc: str | None = None) -> CardDetails:
    return CardDetails(
        number=number, name="Ana Rivera", expiry_month=4, expiry_year=2029,
        cvc=cvc or ("7391" if card_brand(number) == "amex" else "737"), postal_code="62701",
    )


def new_draft(url: str) -> tuple[int, str]:
    """A user and a draft of theirs: (user id, draft id)."""
    with session_scope(url) as session:
        user = make_user(session, "applicant")
        draft = Draft(id=str(uuid.uuid4()), user_id=user.id or 0, form_type="I-765", answers={})
        session.add(draft)
        return user.id or 0, draft.id


def new_payment(url: str, amount_cents: int = FEE) -> Payment:
    user_id, draft_id = new_draft(url)
    with session_scope(url) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        return payment_for_draft(
            session, draft=draft, user_id=user_id, amount_cents=amount_cents, provider=SandboxProvider()
        )


def pay_with(url: str, payment_id: str, number: str, attempt_key: str, provider: PaymentProvider | None = None):
    with session_scope(url) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        return pay(session, payment=payment, card=card(number), attempt_key=attempt_key,
                   provider=provider or SandboxProvider())


def charges(url: str, intent_id: str | None = None) -> list[SandboxCharge]:
    with session_scope(url) as session:
        query = select(SandboxCharge)
        if intent_id is not None:
            query = query.where(SandboxCharge.intent_id == intent_id)
        return list(session.exec(query).all())


def count(url: str, table: type[SQLModel]) -> int:
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def reload(url: str, payment_id: str) -> Payment:
    with session_scope(url) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        return payment


class CountingProvider(SandboxProvider):
    """The sandbox, counting the calls to confirm."""

    def __init__(self) -> None:
        self.confirms = 0

    def confirm(self, session, *, intent_id, card, idempotency_key):
        self.confirms += 1
        return super().confirm(session, intent_id=intent_id, card=card, idempotency_key=idempotency_key)


# --- card checks (no database) -----------------------------------------------------------------


def test_a_valid_card_gives_card_details_and_no_errors():
    details, errors = validate_card(form(card_number=" 4242-4242 4242-4242 ", card_name="  Ana   Rivera ",
                                         card_expiry_year="29", card_postal_code="62701-1234"), today=TODAY)
    assert errors == {}
    assert details is not None
    assert (details.number, details.name, details.expiry_month, details.expiry_year, details.cvc,
            details.postal_code) == (VISA, "Ana Rivera", 4, 2029, "737", "62701-1234")
    assert (details.brand, details.last4) == ("visa", "4242")


@pytest.mark.parametrize(
    ("number", "brand"),
    [(VISA, "visa"), (MASTERCARD, "mastercard"), ("2223003122003222", "mastercard"), (AMEX, "amex"),
     ("371449635398431", "amex"), (DISCOVER, "discover"), ("6445644564456445", "discover"),
     ("3566002020360505", "card"), (NINETEEN_DIGITS, "visa")],
)
def test_the_brand_comes_from_the_number(number: str, brand: str):
    assert luhn_valid(number)
    assert card_brand(number) == brand
    cvc = "7391" if brand == "amex" else "737"
    details, errors = validate_card(form(card_number=number, card_cvc=cvc), today=TODAY)
    assert errors == {}
    assert details is not None and details.brand == brand


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", NUMBER_MISSING),
        ("   ", NUMBER_MISSING),
        (" - - ", NUMBER_MISSING),
        ("4242 4242 4242 424a", NUMBER_CHARACTERS),
        ("four two four two", NUMBER_CHARACTERS),
        ("4242.4242.4242.4242", NUMBER_CHARACTERS),
        ("４２４２４２４２４２４２４２４２", NUMBER_CHARACTERS),  # full-width digits
        ("42424242424", NUMBER_LENGTH),  # 11 digits
        (NINETEEN_DIGITS + "0", NUMBER_LENGTH),  # 20 digits
        ("4" * 500, NUMBER_LENGTH),
        ("4242 4242 4242 4241", NUMBER_INVALID),  # fails the Luhn check
        ("4000000000000000007", NUMBER_INVALID),  # 19 digits, fails the Luhn check
    ],
)
def test_card_number_errors(number: str, message: str):
    details, errors = validate_card(form(card_number=number), today=TODAY)
    assert details is None
    assert errors == {"card_number": message}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", NAME_MISSING),
        ("  \t ", NAME_MISSING),
        ("Ana\tRivera", NAME_CHARACTERS),
        ("    ", NAME_MISSING),
        ("A" * 101, NAME_TOO_LONG),
        ("A" * 5000, NAME_TOO_LONG),
        ("Ana\x00Rivera", NAME_CHARACTERS),
        ("Ana\nRivera", NAME_CHARACTERS),
        ("Ana\u202eRivera", NAME_CHARACTERS),  # right-to-left override
    ],
)
def test_name_on_card_errors(name: str, message: str):
    assert validate_card(form(card_name=name), today=TODAY) == (None, {"card_name": message})


def test_names_of_100_characters_and_accents_are_accepted():
    for name in ("A" * 100, "José Ñúñez-O'Brien", "Nguyễn Thị Minh Khai"):
        details, errors = validate_card(form(card_name=name), today=TODAY)
        assert errors == {} and details is not None and details.name == name


@pytest.mark.parametrize(
    ("month", "year", "errors"),
    [
        ("", "2029", {"card_expiry_month": MONTH_MISSING}),
        ("04", "", {"card_expiry_year": YEAR_MISSING}),
        ("", "", {"card_expiry_month": MONTH_MISSING, "card_expiry_year": YEAR_MISSING}),
        ("13", "2029", {"card_expiry_month": MONTH_INVALID}),
        ("0", "2029", {"card_expiry_month": MONTH_INVALID}),
        ("ap", "2029", {"card_expiry_month": MONTH_INVALID}),
        ("004", "2029", {"card_expiry_month": MONTH_INVALID}),
        ("04", "202", {"card_expiry_year": YEAR_INVALID}),
        ("04", "20291", {"card_expiry_year": YEAR_INVALID}),
        ("04", "twenty", {"card_expiry_year": YEAR_INVALID}),
        ("04", "2025", {"card_expiry_year": CARD_EXPIRED}),
        ("04", "25", {"card_expiry_year": CARD_EXPIRED}),
        ("10", "2026", {"card_expiry_month": CARD_EXPIRED}),  # last month
        ("12", "2047", {"card_expiry_year": YEAR_TOO_FAR}),
        ("01", "99", {"card_expiry_year": YEAR_TOO_FAR}),
    ],
)
def test_expiry_errors(month: str, year: str, errors: dict[str, str]):
    assert validate_card(form(card_expiry_month=month, card_expiry_year=year), today=TODAY) == (None, errors)


@pytest.mark.parametrize(("month", "year"), [("11", "2026"), ("11", "26"), ("1", "2027"), ("12", "2046")])
def test_a_card_is_good_until_the_end_of_its_expiry_month_and_up_to_20_years_ahead(month: str, year: str):
    details, errors = validate_card(form(card_expiry_month=month, card_expiry_year=year), today=TODAY)
    assert errors == {}
    assert details is not None and (details.expiry_month, details.expiry_year) == (int(month), 2000 + int(year[-2:]))


@pytest.mark.parametrize(
    ("number", "cvc", "message"),
    [
        (VISA, "", CVC_MISSING),
        (VISA, "73", CVC_THREE_DIGITS),
        (VISA, "7391", CVC_THREE_DIGITS),  # 4 digits only for American Express
        (VISA, "7a7", CVC_THREE_DIGITS),
        (MASTERCARD, "7 37", CVC_THREE_DIGITS),
        (AMEX, "737", CVC_FOUR_DIGITS),
        (AMEX, "73910", CVC_FOUR_DIGITS),
        ("4242 4242 4242 4241", "12345", CVC_INVALID),  # the number is wrong too: brand unknown
    ],
)
def test_security_code_errors(number: str, cvc: str, message: str):
    details, errors = validate_card(form(card_number=number, card_cvc=cvc), today=TODAY)
    assert details is None
    assert errors["card_cvc"] == message


@pytest.mark.parametrize(
    ("zip_code", "message"),
    [("", POSTAL_CODE_MISSING), ("  ", POSTAL_CODE_MISSING), ("6270", POSTAL_CODE_INVALID),
     ("627011", POSTAL_CODE_INVALID), ("62701-12", POSTAL_CODE_INVALID), ("SW1A 1AA", POSTAL_CODE_INVALID),
     ("62701-1234-1", POSTAL_CODE_INVALID), ("６２７０１", POSTAL_CODE_INVALID)],
)
def test_zip_code_errors(zip_code: str, message: str):
    assert validate_card(form(card_postal_code=zip_code), today=TODAY) == (None, {"card_postal_code": message})


@pytest.mark.parametrize(("zip_code", "cleaned"), [(" 62701 ", "62701"), ("62701-1234", "62701-1234"),
                                                   ("627011234", "62701-1234"), ("62701 1234", "62701-1234")])
def test_zip_codes_are_accepted_and_tidied(zip_code: str, cleaned: str):
    details, errors = validate_card(form(card_postal_code=zip_code), today=TODAY)
    assert errors == {} and details is not None and details.postal_code == cleaned


def test_every_field_is_checked_at_once_and_errors_come_in_field_order():
    empty = {name: "" for name in CARD_FIELDS}
    details, errors = validate_card(empty, today=TODAY)
    assert details is None
    assert list(errors) == list(CARD_FIELDS)
    assert validate_card({}, today=TODAY) == (None, errors)  # missing fields are empty ones


def test_card_details_never_show_the_number_or_security_code():
    details = card(VISA, cvc="737")
    for text in (repr(details), str(details), f"{details}", repr([details])):
        assert VISA not in text and "737" not in text
        assert "4242" in text and "visa" in text


def test_test_cards_and_decline_messages():
    assert set(TEST_CARDS) == {VISA, MASTERCARD, DECLINED, INSUFFICIENT, EXPIRED, BAD_CVC}
    for number, test_card in TEST_CARDS.items():
        assert luhn_valid(number)
        assert test_card.number.replace(" ", "") == number
        assert card_brand(number) == test_card.brand
        if test_card.decline_code:
            assert test_card.decline_code in DECLINE_MESSAGES
    messages = list(DECLINE_MESSAGES.values())
    assert len(set(messages)) == len(messages)  # each its own message
    assert all("No money was taken." in message for message in messages)
    assert DECLINE_MESSAGES["card_declined"] == "Your card was declined. No money was taken. Try another card."
    assert decline_message("do_not_honor") == DECLINE_MESSAGES["card_declined"]
    assert decline_message(None) == DECLINE_MESSAGES["card_declined"]


def test_amounts_are_formatted_for_the_language():
    assert format_amount(47000, "en") == "$470.00"
    assert format_amount(47000, "es") == "$470.00"  # US Spanish writes dollars as US English does
    assert format_amount(71005, "en") == "$710.05"
    assert format_amount(38000, "xx") == "$380.00"  # an unknown language falls back to English


def test_providers_by_name():
    provider = provider_for("sandbox")
    assert isinstance(provider, SandboxProvider)
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "sandbox"
    for name in ("stripe", "", "sandbox2"):
        with pytest.raises(ValueError, match="unknown payment provider"):
            provider_for(name)


# --- the sandbox provider ----------------------------------------------------------------------


@pytest.mark.parametrize("number", sorted(TEST_CARDS))
def test_each_test_card_has_its_outcome(database_url: str, number: str):
    provider = SandboxProvider()
    expected = TEST_CARDS[number]
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key=f"t:{number}")
        assert (intent.status, intent.last_decline_code, intent.card_last4) == ("requires_payment", None, None)
        assert intent.id.startswith("pi_sbx_")
        result = provider.confirm(session, intent_id=intent.id, card=card(number), idempotency_key="attempt-1")
    assert (result.card_brand, result.card_last4, result.amount_cents) == (expected.brand, number[-4:], FEE)
    if expected.decline_code is None:
        assert (result.status, result.last_decline_code) == ("succeeded", None)
    else:
        assert (result.status, result.last_decline_code) == ("requires_payment", expected.decline_code)
    (charge,) = charges(database_url, intent.id)
    assert charge.id.startswith("ch_sbx_")
    assert (charge.status, charge.decline_code) == (
        "succeeded" if expected.decline_code is None else "declined", expected.decline_code
    )
    with session_scope(database_url) as session:
        assert provider.retrieve(session, intent.id) == result


@pytest.mark.parametrize("number", [AMEX, DISCOVER, NINETEEN_DIGITS, "4111111111111111"])
def test_any_other_number_that_passes_the_luhn_check_is_approved(database_url: str, number: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
        result = provider.confirm(session, intent_id=intent.id, card=card(number), idempotency_key="attempt-1")
    assert result.status == "succeeded"


def test_the_sandbox_declines_a_number_that_fails_the_luhn_check(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
        result = provider.confirm(session, intent_id=intent.id, card=card("4242424242424241"),
                                  idempotency_key="attempt-1")
    assert (result.status, result.last_decline_code) == ("requires_payment", "incorrect_number")


def test_creating_an_intent_is_idempotent(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        first = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="draft:x:47000")
    with session_scope(database_url) as session:
        again = provider.create_intent(session, amount_cents=FEE, currency="USD", idempotency_key="draft:x:47000")
        other = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="draft:y:47000")
    assert again == first
    assert other.id != first.id
    assert count(database_url, SandboxIntent) == 2
    with session_scope(database_url) as session:
        with pytest.raises(IdempotencyConflict):
            provider.create_intent(session, amount_cents=FEE + 1, currency="usd", idempotency_key="draft:x:47000")
        with pytest.raises(IdempotencyConflict):
            provider.create_intent(session, amount_cents=FEE, currency="eur", idempotency_key="draft:x:47000")
    assert count(database_url, SandboxIntent) == 2


@pytest.mark.parametrize("amount", [0, -100, True, 470.0])
def test_an_intent_needs_a_positive_whole_amount_of_cents(database_url: str, amount):
    with session_scope(database_url) as session, pytest.raises(ValueError):
        SandboxProvider().create_intent(session, amount_cents=amount, currency="usd", idempotency_key="k")


def test_unknown_intents(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        with pytest.raises(UnknownIntent):
            provider.retrieve(session, "pi_sbx_missing")
        with pytest.raises(UnknownIntent):
            provider.confirm(session, intent_id="pi_sbx_missing", card=card(), idempotency_key="a")
    assert count(database_url, SandboxCharge) == 0


def test_a_confirmation_retried_with_the_same_key_charges_once(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
    results = []
    for _ in range(3):
        with session_scope(database_url) as session:
            results.append(provider.confirm(session, intent_id=intent.id, card=card(VISA), idempotency_key="same"))
    assert all(result == results[0] for result in results)
    assert results[0].status == "succeeded"
    assert len(charges(database_url)) == 1


def test_a_retried_decline_gives_the_same_decline_without_a_new_charge(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
        first = provider.confirm(session, intent_id=intent.id, card=card(INSUFFICIENT), idempotency_key="same")
    with session_scope(database_url) as session:
        again = provider.confirm(session, intent_id=intent.id, card=card(VISA), idempotency_key="same")
    assert again == first
    assert (again.status, again.last_decline_code) == ("requires_payment", "insufficient_funds")
    assert len(charges(database_url)) == 1


def test_a_succeeded_intent_is_returned_without_a_new_charge(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
        paid = provider.confirm(session, intent_id=intent.id, card=card(MASTERCARD), idempotency_key="a1")
    with session_scope(database_url) as session:
        again = provider.confirm(session, intent_id=intent.id, card=card(DECLINED), idempotency_key="a2")
    assert again == paid
    assert (again.status, again.card_brand, again.card_last4) == ("succeeded", "mastercard", "4444")
    assert len(charges(database_url)) == 1


def test_a_confirmation_key_belongs_to_one_intent(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        one = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k1")
        two = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k2")
        provider.confirm(session, intent_id=one.id, card=card(DECLINED), idempotency_key="attempt")
    with session_scope(database_url) as session, pytest.raises(IdempotencyConflict):
        provider.confirm(session, intent_id=two.id, card=card(VISA), idempotency_key="attempt")
    assert len(charges(database_url)) == 1


def test_retrieve_after_a_decline_then_a_success(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
        provider.confirm(session, intent_id=intent.id, card=card(EXPIRED), idempotency_key="a1")
    with session_scope(database_url) as session:
        declined = provider.retrieve(session, intent.id)
    assert (declined.status, declined.last_decline_code, declined.card_last4) == (
        "requires_payment", "expired_card", "0069"
    )
    with session_scope(database_url) as session:
        provider.confirm(session, intent_id=intent.id, card=card(VISA), idempotency_key="a2")
    with session_scope(database_url) as session:
        paid = provider.retrieve(session, intent.id)
    assert (paid.status, paid.last_decline_code, paid.card_last4) == ("succeeded", None, "4242")


# --- the payment service -----------------------------------------------------------------------


def test_a_payment_for_a_draft_is_made_once(database_url: str):
    user_id, draft_id = new_draft(database_url)
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        payment = payment_for_draft(session, draft=draft, user_id=user_id, amount_cents=FEE, provider=provider)
        same_request = payment_for_draft(session, draft=draft, user_id=user_id, amount_cents=FEE, provider=provider)
    with session_scope(database_url) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None
        retried = payment_for_draft(session, draft=draft, user_id=user_id, amount_cents=FEE, provider=provider)
        reduced = payment_for_draft(session, draft=draft, user_id=user_id, amount_cents=38000, provider=provider)
    assert same_request.id == payment.id == retried.id
    assert retried.provider_intent_id == payment.provider_intent_id
    assert reduced.id != payment.id and reduced.provider_intent_id != payment.provider_intent_id
    assert payment.idempotency_key == f"draft:{draft_id}:{FEE}"
    assert (payment.user_id, payment.draft_id, payment.form_type, payment.amount_cents, payment.currency,
            payment.provider, payment.status) == (user_id, draft_id, "I-765", FEE, "usd", "sandbox", "requires_payment")
    assert (payment.reference, payment.paid_at, payment.card_last4) == (None, None, None)
    assert count(database_url, Payment) == 2
    assert count(database_url, SandboxIntent) == 2
    with session_scope(database_url) as session:
        intent = session.get(SandboxIntent, payment.provider_intent_id)
        assert intent is not None and intent.idempotency_key == payment.idempotency_key


def test_paying_with_a_good_card(database_url: str):
    payment = new_payment(database_url)
    outcome = pay_with(database_url, payment.id, VISA, "attempt-0001")
    assert (outcome.succeeded, outcome.message, outcome.decline_code) == (True, None, None)
    stored = reload(database_url, payment.id)
    assert (stored.status, stored.card_brand, stored.card_last4, stored.last_decline_code) == (
        "succeeded", "visa", "4242", None
    )
    assert stored.paid_at is not None
    assert stored.reference is not None and re.fullmatch(r"PAY-[0-9A-Z]{10}", stored.reference)
    assert outcome.payment.reference == stored.reference


@pytest.mark.parametrize("number", [DECLINED, INSUFFICIENT, EXPIRED, BAD_CVC])
def test_a_decline_says_what_happened_and_leaves_the_payment_payable(database_url: str, number: str):
    payment = new_payment(database_url)
    outcome = pay_with(database_url, payment.id, number, "attempt-0001")
    code = TEST_CARDS[number].decline_code
    assert code is not None
    assert (outcome.succeeded, outcome.decline_code, outcome.message) == (False, code, DECLINE_MESSAGES[code])
    stored = reload(database_url, payment.id)
    assert (stored.status, stored.last_decline_code, stored.card_last4, stored.reference, stored.paid_at) == (
        "requires_payment", code, number[-4:], None, None
    )


def test_a_double_clicked_payment_charges_once(database_url: str):
    payment = new_payment(database_url)
    first = pay_with(database_url, payment.id, VISA, "form-key-123")
    # The second request of the double-click: the same form key, the payment now paid.
    provider = CountingProvider()
    second = pay_with(database_url, payment.id, VISA, "form-key-123", provider)
    assert first.succeeded and second.succeeded
    assert provider.confirms == 0
    assert len(charges(database_url)) == 1


def test_a_retried_request_with_the_same_attempt_key_gives_one_charge(database_url: str):
    """The retry reaches the provider (our row was not updated yet: its first response was lost)."""
    payment = new_payment(database_url)
    outcomes = []
    for _ in range(2):
        with session_scope(database_url) as session:
            stale = session.get(Payment, payment.id)
            assert stale is not None
            session.expunge(stale)
            stale.status = "requires_payment"  # as the retried request read it, before the first finished
            outcomes.append(pay(session, payment=stale, card=card(VISA), attempt_key="attempt-0001",
                                provider=SandboxProvider()))
    assert [o.succeeded for o in outcomes] == [True, True]
    assert outcomes[0].payment.reference == outcomes[1].payment.reference
    assert len(charges(database_url)) == 1
    assert reload(database_url, payment.id).reference == outcomes[0].payment.reference


def test_a_retried_decline_with_the_same_attempt_key_gives_the_same_message_and_one_charge(database_url: str):
    payment = new_payment(database_url)
    first = pay_with(database_url, payment.id, INSUFFICIENT, "attempt-0001")
    again = pay_with(database_url, payment.id, INSUFFICIENT, "attempt-0001")
    assert (first.succeeded, again.succeeded) == (False, False)
    assert first.message == again.message == DECLINE_MESSAGES["insufficient_funds"]
    assert len(charges(database_url)) == 1


def test_another_card_after_a_decline_pays_once(database_url: str):
    payment = new_payment(database_url)
    declined = pay_with(database_url, payment.id, DECLINED, "attempt-0001")
    assert not declined.succeeded
    paid = pay_with(database_url, payment.id, MASTERCARD, "attempt-0002")
    assert paid.succeeded
    all_charges = charges(database_url, payment.provider_intent_id)
    assert sorted(c.status for c in all_charges) == ["declined", "succeeded"]
    stored = reload(database_url, payment.id)
    assert (stored.status, stored.card_brand, stored.card_last4, stored.last_decline_code) == (
        "succeeded", "mastercard", "4444", None
    )
    assert stored.reference is not None and stored.paid_at is not None


def test_paying_a_paid_payment_makes_no_charge(database_url: str):
    payment = new_payment(database_url)
    paid = pay_with(database_url, payment.id, VISA, "attempt-0001")
    provider = CountingProvider()
    again = pay_with(database_url, payment.id, MASTERCARD, "attempt-0002", provider)
    declining = pay_with(database_url, payment.id, DECLINED, "attempt-0003", provider)
    assert again.succeeded and declining.succeeded
    assert provider.confirms == 0
    assert len(charges(database_url)) == 1
    stored = reload(database_url, payment.id)
    assert (stored.reference, stored.card_last4) == (paid.payment.reference, "4242")


def test_a_stale_request_never_sets_a_paid_payment_back(database_url: str):
    """A request that read the payment before it was paid, declined at the provider: still paid."""
    payment = new_payment(database_url)
    pay_with(database_url, payment.id, VISA, "attempt-0001")
    reference = reload(database_url, payment.id).reference
    with session_scope(database_url) as session:
        stale = session.get(Payment, payment.id)
        assert stale is not None
        session.expunge(stale)
        stale.status = "requires_payment"
        outcome = pay(session, payment=stale, card=card(DECLINED), attempt_key="attempt-0002",
                      provider=SandboxProvider())
    assert outcome.succeeded
    stored = reload(database_url, payment.id)
    assert (stored.status, stored.reference, stored.last_decline_code) == ("succeeded", reference, None)
    assert len(charges(database_url)) == 1


@pytest.mark.parametrize("attempt_key", ["", "short", "x" * 65, "has space in it", "semi;colon;key"])
def test_a_malformed_attempt_key_is_refused(database_url: str, attempt_key: str):
    payment = new_payment(database_url)
    with pytest.raises(ValueError):
        pay_with(database_url, payment.id, VISA, attempt_key)
    assert len(charges(database_url)) == 0


def test_a_payment_is_paid_through_its_own_provider(database_url: str):
    payment = new_payment(database_url)

    class OtherProvider(SandboxProvider):
        name = "other"

    with pytest.raises(PaymentError):
        pay_with(database_url, payment.id, VISA, "attempt-0001", OtherProvider())


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_confirmations_of_one_intent_charge_once(database_url: str):
    payment = new_payment(database_url)
    threads = 4
    barrier = threading.Barrier(threads)

    def attempt(n: int):
        with session_scope(database_url) as session:
            row = session.get(Payment, payment.id)
            assert row is not None
            barrier.wait()
            return pay(session, payment=row, card=card(VISA if n % 2 else MASTERCARD),
                       attempt_key=f"attempt-{n:04d}", provider=SandboxProvider())

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(attempt, range(threads)))
    assert all(outcome.succeeded for outcome in outcomes)
    all_charges = charges(database_url)
    assert [c.status for c in all_charges] == ["succeeded"]
    stored = reload(database_url, payment.id)
    assert stored.status == "succeeded"
    assert stored.card_last4 == all_charges[0].card_last4
    assert {outcome.payment.reference for outcome in outcomes} == {stored.reference}


def test_concurrent_provider_confirmations_with_different_keys_make_one_succeeded_charge(database_url: str):
    provider = SandboxProvider()
    with session_scope(database_url) as session:
        intent = provider.create_intent(session, amount_cents=FEE, currency="usd", idempotency_key="k")
    threads = 4
    barrier = threading.Barrier(threads)

    def attempt(n: int) -> ProviderIntent:
        with session_scope(database_url) as session:
            barrier.wait()
            return provider.confirm(session, intent_id=intent.id, card=card(VISA), idempotency_key=f"a{n}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(attempt, range(threads)))
    assert all(result.status == "succeeded" for result in results)
    with session_scope(database_url) as session:
        succeeded = session.exec(
            select(func.count()).select_from(SandboxCharge).where(SandboxCharge.status == "succeeded")
        ).one()
    assert succeeded == 1
    assert count(database_url, SandboxCharge) == 1


def test_concurrent_submissions_of_a_draft_make_one_payment(database_url: str):
    user_id, draft_id = new_draft(database_url)
    threads = 4
    barrier = threading.Barrier(threads)

    def submit(_: int) -> str:
        with session_scope(database_url) as session:
            draft = session.get(Draft, draft_id)
            assert draft is not None
            barrier.wait()
            return payment_for_draft(
                session, draft=draft, user_id=user_id, amount_cents=FEE, provider=SandboxProvider()
            ).id

    with ThreadPoolExecutor(max_workers=threads) as pool:
        ids = set(pool.map(submit, range(threads)))
    assert len(ids) == 1
    assert count(database_url, Payment) == 1
    assert count(database_url, SandboxIntent) == 1


# --- card data stays out of the database and the logs ------------------------------------------


def test_no_card_number_or_security_code_is_stored_or_logged(database_url: str, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    secrets = [(AMEX, "7391"), (DECLINED, "737"), (VISA, "738")]
    payment = new_payment(database_url)
    for n, (number, cvc) in enumerate(secrets):
        with session_scope(database_url) as session:
            row = session.get(Payment, payment.id)
            assert row is not None
            session.expunge(row)
            row.status = "requires_payment"  # pay again, as a stale request would: more rows to scan
            details = CardDetails(number=number, name="Ana Rivera", expiry_month=4, expiry_year=2029, cvc=cvc,
                                  postal_code="62701")
            pay(session, payment=row, card=details, attempt_key=f"attempt-{n:04d}", provider=SandboxProvider())
    # the amex paid; the others confirm a paid intent, so add charges on another payment too
    other = new_payment(database_url, amount_cents=38000)
    pay_with(database_url, other.id, DECLINED, "attempt-0100")
    pay_with(database_url, other.id, VISA, "attempt-0101")

    values: list[tuple[str, str, str]] = []
    with get_engine(database_url).connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                values += [(table.name, column, str(value)) for column, value in row.items()
                           if value is not None and not isinstance(value, (datetime, date))]
    assert {t for t, _, _ in values} >= {"payment", "sandbox_intent", "sandbox_charge"}
    for table, column, value in values:  # every column of every table
        digits = re.sub(r"\D", "", value)
        for number, _ in secrets:
            assert number not in digits, (table, column)
            assert number[:12] not in digits, (table, column)  # not even most of it
    for table, column, value in values:
        if table in ("payment", "sandbox_intent", "sandbox_charge", "draft"):
            for _, cvc in secrets:
                assert cvc not in scrub_random_ids(value), (table, column)
    last4 = {v for _, c, v in values if c == "card_last4"}
    assert last4 == {"0005", "0002", "4242"}
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("caseline")]
    assert any("0005" in m for m in messages)  # the logs name the card by its last 4 digits
    for message in messages:
        for number, cvc in secrets:
            assert number not in re.sub(r"\D", "", message)
            assert cvc not in scrub_random_ids(message)


def scrub_random_ids(text: str) -> str:
    """Without the random ids and references, which may hold any 3 or 4 digits."""
    uuid_re = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    return re.sub(rf"(pi|ch)_sbx_[0-9a-f]+|{uuid_re}|PAY-[0-9A-Z]{{10}}", "", text)
