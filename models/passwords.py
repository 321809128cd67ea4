"""Password policy: NIST SP 800-63B as login.gov applies it.

At least 12 characters and at most 256, any characters at all (Unicode is normalised with NFKC,
spaces count), no composition rules. Refused: passwords that are common or known from breaches; the
account's email address, or its local part or the person's name with only something guessable around
it (digits, symbols, a few letters, a sequence, a common password: "ana.rivera2026!"); and a repeated
character or simple sequence.

The common-password list is ``models/data/common-passwords.txt.gz``: one lowercased, NFKC-normalised
entry a line, sorted. Where it comes from and how to rebuild it: ``tools/build_password_list.py``
and ``models/data/README.md``. It is read once, on first use, into a frozenset.
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import lru_cache
from pathlib import Path

from i18n import N_

MIN_LENGTH = 12
MAX_LENGTH = 256

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"

TOO_SHORT = N_("Use at least 12 characters")
TOO_LONG = N_("Use 256 characters or fewer")
TOO_COMMON = N_("This password is too common or has appeared in a data breach. Choose a different one.")
HAS_EMAIL = N_("Do not use your email address in your password")
HAS_NAME = N_("Do not use your name in your password")
TOO_SIMPLE = N_("Do not use a repeated character or a simple sequence")

# An email local part or a name shorter than this is not looked for inside a password ("al" would
# refuse every password with "al" in it); what is left around one must be longer than this.
_WORD_MIN = 3
# Longer input is refused before it is normalised: normalising megabytes is work for nothing.
_RAW_LIMIT = MAX_LENGTH * 4
# Walking along one of these (either way round, wrapping at the end) is a simple sequence.
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def normalize_password(password: str) -> str:
    """The form that is checked and hashed: Unicode NFKC, nothing stripped."""
    return unicodedata.normalize("NFKC", password or "")


def _key(text: str) -> str:
    """How a password is compared with the list: normalised, then lowercased."""
    return normalize_password(text).lower()


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8", newline="\n") as f:
        return frozenset(f.read().split("\n")) - {""}


def common_password_count() -> int:
    return len(_common_passwords())


def is_common_password(password: str) -> bool:
    return _key(password) in _common_passwords()


def _compact(text: str) -> str:
    return "".join(ch for ch in _key(text) if ch.isalnum())


def _is_repeated_or_sequence(key: str) -> bool:
    if len(set(key)) <= 1:
        return True
    # A short unit over and over: "abababababab", "123123123123".
    for period in (2, 3):
        if len(key) >= 2 * period and key == (key[:period] * (len(key) // period + 1))[: len(key)]:
            return True
    for sequence in _SEQUENCES:
        for direction in (sequence, sequence[::-1]):
            if key in direction * (len(key) // len(direction) + 2):
                return True
    return False


def _guessable_around(password_compact: str, word: str) -> bool:
    """Whether the password is ``word`` plus only something guessable: nothing, digits or symbols,
    a few letters, a repeated character or sequence, or a common password ("anarivera2026!")."""
    if len(word) < _WORD_MIN or word not in password_compact:
        return False
    rest = password_compact.replace(word, "")
    return (
        len(rest) <= _WORD_MIN or rest.isdigit() or _is_repeated_or_sequence(rest) or rest in _common_passwords()
    )


def _contains_email(key: str, email: str) -> bool:
    address = _key(email).strip()
    if not address:
        return False
    if address in key:
        return True
    local = "".join(ch for ch in address.split("@", 1)[0] if ch.isalnum())
    return _guessable_around("".join(ch for ch in key if ch.isalnum()), local)


def _contains_name(password: str, full_name: str) -> bool:
    return _guessable_around(_compact(password), _compact(full_name))


def check_password(password: str, *, email: str = "", full_name: str = "") -> list[str]:
    """The msgids of every rule the password breaks, most specific first; empty when it is acceptable."""
    password = password or ""
    if len(password) > _RAW_LIMIT:
        return [TOO_LONG]
    normalised = normalize_password(password)
    key = normalised.lower()
    errors: list[str] = []
    if len(normalised) < MIN_LENGTH:
        errors.append(TOO_SHORT)
    elif len(normalised) > MAX_LENGTH:
        errors.append(TOO_LONG)
    if _contains_email(key, email):
        errors.append(HAS_EMAIL)
    if _contains_name(normalised, full_name):
        errors.append(HAS_NAME)
    if key and _is_repeated_or_sequence(key):
        errors.append(TOO_SIMPLE)
    if key in _common_passwords():
        errors.append(TOO_COMMON)
    return errors
