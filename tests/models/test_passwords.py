"""The password policy: length, the common-password list, the account's own details, simple patterns."""

from __future__ import annotations

import gzip
import unicodedata

import pytest

from models.accounts import authenticate, create_user
from models.db import session_scope
from models.passwords import (
    COMMON_PASSWORDS_FILE,
    HAS_EMAIL,
    HAS_NAME,
    MAX_LENGTH,
    MIN_LENGTH,
    TOO_COMMON,
    TOO_LONG,
    TOO_SHORT,
    TOO_SIMPLE,
    check_password,
    common_password_count,
    is_common_password,
    normalize_password,
)

# Not in the list, no pattern: the base for the length cases.
UNCOMMON = "tulip harbor 7 quietly glows"


def test_the_limits_are_those_of_the_security_baseline():
    assert (MIN_LENGTH, MAX_LENGTH) == (12, 256)


def test_the_list_is_real_and_large():
    assert common_password_count() >= 100_000
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as f:
        entries = f.read().split("\n")
    assert entries[-1] == ""  # one entry a line, newline-terminated
    entries = entries[:-1]
    assert entries == sorted(set(entries))
    assert all(entry == unicodedata.normalize("NFKC", entry).lower() for entry in entries[:: 997])


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiop123", "iloveyou1234", "1qaz2wsx3edc", "passwordpassword", "michaeljordan",
     "iloveyouforever", "qwertyuiopasdfghjkl"],
)
def test_famous_passwords_are_refused(password):
    assert is_common_password(password)
    assert check_password(password) == [TOO_COMMON]


def test_the_list_is_compared_without_regard_to_case_or_unicode_form():
    assert check_password("PassWord1234") == [TOO_COMMON]
    assert check_password("ＰＡＳＳＷＯＲＤ１２３４") == [TOO_COMMON]  # fullwidth forms, NFKC folds them


def test_length_is_at_least_12():
    assert check_password("") == [TOO_SHORT]
    assert check_password(UNCOMMON[:11]) == [TOO_SHORT]
    assert check_password(UNCOMMON[:12]) == []


@pytest.mark.parametrize("length", [64, 200, 256])
def test_long_passwords_are_accepted(length):
    password = (UNCOMMON + " ") * (length // len(UNCOMMON) + 1)
    password = password[:length]
    assert len(password) == length
    assert check_password(password) == []


def test_more_than_256_characters_are_refused():
    password = (UNCOMMON * 10)[:257]
    assert check_password(password) == [TOO_LONG]
    assert check_password("é" * 100_000) == [TOO_LONG]


def test_any_characters_and_no_composition_rules():
    for password in ["café au lait à minuit", "пароль очень длинный", "我的密码是一句很长的中文短语", "all lower case words",
                     "    spaces    count   ", "emoji 🐢 turtle races 🏁"]:
        assert check_password(password) == [], password


def test_length_counts_the_normalised_characters():
    # "é" as e + combining acute is two code points, one character after NFKC.
    assert len("e\u0301" * 6) == 12
    assert check_password("e\u0301" * 6 + "rw") == [TOO_SHORT]
    assert normalize_password("e\u0301") == "é"
    assert normalize_password("ﬁsh  ") == "fish  "  # NFKC, nothing stripped


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaaaa", "zzzzzzzzzzzzzzzzzz", "            ", "123456789012", "987654321098", "abcdefghijkl",
     "lkjihgfedcba", "xyzabcdefghi", "qwertyuiopqw", "abababababab", "123123123123"],
)
def test_a_repeated_character_or_a_simple_sequence_is_refused(password):
    assert TOO_SIMPLE in check_password(password)


def test_the_email_address_is_refused():
    email = "ana.rivera@example.com"
    assert check_password("Ana.Rivera@Example.com", email=email) == [HAS_EMAIL]
    assert check_password("my address: ana.rivera@example.com", email=email) == [HAS_EMAIL]


@pytest.mark.parametrize("password", ["AnaRivera2026!", "ana.rivera!!!!!", "ana.rivera-password", "anarivera-qwerty",
                                      "anariveraanarivera"])
def test_the_email_local_part_with_something_guessable_around_it_is_refused(password):
    assert HAS_EMAIL in check_password(password, email="ana.rivera@example.com")


def test_the_email_local_part_inside_a_real_passphrase_is_accepted():
    assert check_password("demo-applicant-2026", email="applicant@caseline.example") == []
    assert check_password("my other mailbox is full of tulips", email="other@example.com") == []
    assert check_password("alphabet soup for dinner", email="al@example.com") == []  # too short to look for


def test_the_name_with_something_guessable_around_it_is_refused():
    assert check_password("Ana Rivera 2026!!", full_name=" Ana Rivera ") == [HAS_NAME]
    assert check_password("ana rivera draws tulips at dawn", full_name="Ana Rivera") == []


def test_the_demo_accounts_passwords_are_accepted():
    from cli import DEMO_ACCOUNTS

    for account in DEMO_ACCOUNTS:
        assert check_password(account.password, email=account.email, full_name=account.full_name) == []


def test_several_problems_are_all_reported():
    errors = check_password("abcdefghijk")
    assert errors[0] == TOO_SHORT
    assert TOO_SIMPLE in errors


def test_create_user_refuses_with_the_first_problem(sqlite_url: str):
    with pytest.raises(ValueError, match="too common"), session_scope(sqlite_url) as session:
        create_user(session, email="ana@example.com", password="password1234", full_name="Ana")
    with pytest.raises(ValueError, match="email"), session_scope(sqlite_url) as session:
        create_user(session, email="ana.rivera@example.com", password="ana.rivera.2026", full_name="Ana")


def test_passwords_are_hashed_and_checked_in_their_normalised_form(sqlite_url: str):
    decomposed = "cafe\u0301 au lait a\u0300 minuit"
    composed = unicodedata.normalize("NFC", decomposed)
    assert composed != decomposed
    with session_scope(sqlite_url) as session:
        user_id = create_user(session, email="ana@example.com", password=decomposed, full_name="Ana").id
    with session_scope(sqlite_url) as session:
        assert authenticate(session, email="ana@example.com", password=composed).id == user_id
        assert authenticate(session, email="ana@example.com", password=decomposed).id == user_id
