"""Second factor: TOTP verification with replay protection, provisioning, QR codes, recovery codes."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pyotp
import pytest

from models.totp import (
    RECOVERY_CODE_RE,
    format_secret_for_humans,
    hash_recovery_code,
    match_recovery_code,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    qr_svg_data_uri,
    verify_code,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)


# A fixed key and time make every code below deterministic (no chance collisions between windows).
FIXED_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture(scope="module")
def secret() -> str:
    return FIXED_SECRET


def step_of(when: datetime) -> int:
    return int(when.timestamp()) // 30


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- TOTP -----------------------------------------------------------------------------------------


def test_new_secret_is_32_base32_chars():
    s = new_secret()
    assert len(s) == 32
    assert re.fullmatch(r"[A-Z2-7]{32}", s)
    assert new_secret() != s


def test_current_code_verifies_and_returns_its_step(secret):
    assert verify_code(secret=secret, code=code_at(secret, NOW), last_used_step=None, now=NOW) == step_of(NOW)


def test_same_code_replayed_is_refused(secret):
    code = code_at(secret, NOW)
    step = verify_code(secret=secret, code=code, last_used_step=None, now=NOW)
    assert step is not None
    assert verify_code(secret=secret, code=code, last_used_step=step, now=NOW) is None
    # ... still within its window a few seconds later.
    assert verify_code(secret=secret, code=code, last_used_step=step, now=NOW + timedelta(seconds=20)) is None


def test_previous_window_code_accepted_once_then_refused(secret):
    previous = NOW - timedelta(seconds=30)
    code = code_at(secret, previous)
    older = step_of(NOW) - 5
    step = verify_code(secret=secret, code=code, last_used_step=older, now=NOW)
    assert step == step_of(previous)
    assert verify_code(secret=secret, code=code, last_used_step=step, now=NOW) is None


def test_earlier_code_refused_after_a_later_one_was_used(secret):
    used = verify_code(secret=secret, code=code_at(secret, NOW), last_used_step=None, now=NOW)
    previous_code = code_at(secret, NOW - timedelta(seconds=30))
    assert verify_code(secret=secret, code=previous_code, last_used_step=used, now=NOW) is None


def test_next_window_code_accepted_for_clock_drift(secret):
    later = NOW + timedelta(seconds=30)
    assert verify_code(secret=secret, code=code_at(secret, later), last_used_step=None, now=NOW) == step_of(later)


def test_code_two_windows_old_is_refused(secret):
    old = code_at(secret, NOW - timedelta(seconds=60))
    assert old not in {code_at(secret, NOW + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    assert verify_code(secret=secret, code=old, last_used_step=None, now=NOW) is None
    assert verify_code(secret=secret, code=old, last_used_step=None, now=NOW, valid_window=0) is None


def test_valid_window_zero_accepts_only_current_step(secret):
    previous = code_at(secret, NOW - timedelta(seconds=30))
    assert previous != code_at(secret, NOW)
    assert verify_code(secret=secret, code=previous, last_used_step=None, now=NOW, valid_window=0) is None
    assert verify_code(secret=secret, code=code_at(secret, NOW), last_used_step=None, now=NOW, valid_window=0) == step_of(NOW)


def test_wrong_code_refused(secret):
    current = code_at(secret, NOW)
    window = {code_at(secret, NOW + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    wrong = other_code(current)
    while wrong in window:
        wrong = other_code(wrong)
    assert verify_code(secret=secret, code=wrong, last_used_step=None, now=NOW) is None


@pytest.mark.parametrize("bad", ["12345", "abcdef", "1234567", "", "   ", "12a456", "١٢٣٤٥٦", "123456\x00"])
def test_malformed_codes_refused(secret, bad):
    assert verify_code(secret=secret, code=bad, last_used_step=None, now=NOW) is None


def test_spaces_and_dashes_in_code_accepted(secret):
    code = code_at(secret, NOW)
    for typed in (f"{code[:3]} {code[3:]}", f"{code[:3]}-{code[3:]}", f"  {code}\n", f"{code[:2]} {code[2:4]} {code[4:]}"):
        assert verify_code(secret=secret, code=typed, last_used_step=None, now=NOW) == step_of(NOW), typed


def test_verification_is_deterministic_with_now(secret):
    code = code_at(secret, NOW)
    results = {verify_code(secret=secret, code=code, last_used_step=None, now=NOW) for _ in range(5)}
    assert results == {step_of(NOW)}


def test_default_now_is_current_time(secret):
    now = datetime.now(timezone.utc)
    assert verify_code(secret=secret, code=code_at(secret, now), last_used_step=None) is not None


def test_negative_valid_window_rejected(secret):
    with pytest.raises(ValueError):
        verify_code(secret=secret, code="123456", last_used_step=None, now=NOW, valid_window=-1)


# --- provisioning and QR --------------------------------------------------------------------------


def test_provisioning_uri_contains_issuer_email_and_secret(secret):
    email = "ana.b+visa@example.com"
    uri = provisioning_uri(secret=secret, email=email)
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert quote(email, safe="") in uri
    assert unquote(parts.path) == f"/Caseline:{email}"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Caseline"]
    # The URI round-trips through pyotp to the same generator.
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.issuer == "Caseline" and parsed.name == email


def test_provisioning_uri_custom_issuer_is_encoded(secret):
    uri = provisioning_uri(secret=secret, email="a@example.com", issuer="Caseline Staging")
    assert "Caseline%20Staging" in uri
    assert " " not in uri


def test_qr_data_uri_is_a_segno_svg(secret):
    data_uri = qr_svg_data_uri(provisioning_uri(secret=secret, email="a@example.com"))
    prefix = "data:image/svg+xml;base64,"
    assert data_uri.startswith(prefix)
    svg = base64.b64decode(data_uri[len(prefix) :], validate=True).decode("utf-8")
    assert svg.startswith("<?xml") or svg.startswith("<svg")
    assert "<svg" in svg and 'class="segno"' in svg
    assert "#fff" in svg.lower()  # light background, dark modules
    assert not re.search(r"[\s\"'<>]", data_uri)  # safe inside an attribute


def test_format_secret_for_humans():
    assert format_secret_for_humans("ABCDEFGHIJKLMNOP") == "ABCD EFGH IJKL MNOP"
    assert format_secret_for_humans("abcdef") == "ABCD EF"
    s = new_secret()
    grouped = format_secret_for_humans(s)
    assert grouped.replace(" ", "") == s
    assert all(len(group) == 4 for group in grouped.split(" "))


# --- recovery codes -------------------------------------------------------------------------------


def test_new_recovery_codes_format_and_uniqueness():
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code), code
        assert RECOVERY_CODE_RE.fullmatch(code)
        assert not set(code) & set("0O1IL"), code


def test_recovery_code_alphabet_over_many_codes():
    seen = set("".join(new_recovery_codes(200)).replace("-", ""))
    assert not seen & set("0O1IL")
    assert len(new_recovery_codes(3)) == 3


@pytest.fixture(scope="module")
def recovery() -> tuple[list[str], list[str]]:
    codes = new_recovery_codes()
    return codes, [hash_recovery_code(c) for c in codes]


def test_hash_and_match_finds_the_right_index(recovery):
    codes, hashes = recovery
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hash_recovery_code(codes[0]) != hashes[0]  # salted
    assert match_recovery_code(codes[7], hashes) == 7
    assert match_recovery_code(codes[0], hashes) == 0


def test_wrong_recovery_code_gives_none(recovery):
    codes, hashes = recovery
    wrong = next(c for c in new_recovery_codes(20) if c not in codes)
    assert match_recovery_code(wrong, hashes) is None
    assert match_recovery_code("", hashes) is None
    assert match_recovery_code("ABCDE-FGHJ", hashes) is None
    assert match_recovery_code(codes[3], []) is None


def test_used_code_blanked_no_longer_matches(recovery):
    codes, hashes = recovery
    remaining = list(hashes)
    remaining[2] = ""
    assert match_recovery_code(codes[2], remaining) is None
    assert match_recovery_code(codes[5], remaining) == 5


def test_recovery_code_normalisation():
    hashed = hash_recovery_code("ABCDE-FGHJK")
    assert match_recovery_code("abcde fghjk", [hashed]) == 0
    assert match_recovery_code("ABCDEFGHJK", [hashed]) == 0
    assert match_recovery_code(" abcde-fghjk\n", [hashed]) == 0
    assert hash_recovery_code("abcde fghjk") != hashed  # fresh salt, same code
    assert match_recovery_code("ABCDE-FGHJK", [hash_recovery_code("abcdefghjk")]) == 0


def test_hash_recovery_code_rejects_malformed():
    for bad in ("", "ABCDE", "ABCDE-FGHJK-X", "ABCDE-FGH0K"):
        with pytest.raises(ValueError):
            hash_recovery_code(bad)


def test_a_code_that_is_not_among_the_ten_matches_none(recovery):
    codes, hashes = recovery
    wrong = next(c for c in new_recovery_codes(20) if c not in codes)
    assert match_recovery_code(wrong, hashes) is None
