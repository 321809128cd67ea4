"""Second factor building blocks: TOTP secrets, QR codes, code checks and recovery codes.

Pure functions: nothing here touches the database or the web layer. The caller stores what these
return (the secret, the last used time step, the recovery-code hashes) and marks recovery codes used.

TOTP follows RFC 6238 with the authenticator-app defaults (SHA-1, 6 digits, 30-second steps).
``verify_code`` refuses any code whose time step is at or before the last step the user already
used, so a code cannot be replayed inside its validity window and an older code cannot follow a
newer one.
"""

from __future__ import annotations

import base64
import hmac
import io
import re
import secrets
from datetime import datetime, timezone
from functools import lru_cache

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ISSUER = "Caseline"
CODE_DIGITS = 6
STEP_SECONDS = 30

# Recovery codes: 10 characters, shown as two groups of five ("ABCDE-FGHJK"). No 0/O, 1/I/L.
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECOVERY_CODE_RE = re.compile(rf"^[{RECOVERY_ALPHABET}]{{5}}-[{RECOVERY_ALPHABET}]{{5}}$")

_CODE_RE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
_SEPARATORS_RE = re.compile(r"[\s\-\u2010-\u2015]+")


def new_secret() -> str:
    """A new random base32 TOTP secret (32 characters, 160 bits)."""
    return pyotp.random_base32()


def provisioning_uri(*, secret: str, email: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans; label and issuer are URL-encoded."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg_data_uri(uri: str) -> str:
    """A ``data:image/svg+xml;base64,...`` URI of the QR code for ``uri`` (dark on light).

    Meant for ``<img src="..." alt="...">`` under a CSP with ``img-src 'self' data:``.
    """
    qr = segno.make(uri, error="m", micro=False)
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=5, border=2, dark="#000000", light="#ffffff", xmldecl=True)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def format_secret_for_humans(secret: str) -> str:
    """The secret in groups of four for typing by hand: ``ABCD EFGH ...``."""
    compact = _SEPARATORS_RE.sub("", secret or "").upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def normalize_code(code: str) -> str | None:
    """The six ASCII digits of a typed code (spaces and dashes removed), or None if malformed."""
    compact = _SEPARATORS_RE.sub("", code or "")
    return compact if _CODE_RE.fullmatch(compact) else None


def verify_code(
    *,
    secret: str,
    code: str,
    last_used_step: int | None,
    now: datetime | None = None,
    valid_window: int = 1,
) -> int | None:
    """The time step the code belongs to when it is valid and unused, else None.

    Accepts the current 30-second step and ``valid_window`` steps either side, except steps at or
    before ``last_used_step``. Store the returned step as the user's new ``last_used_step``.
    ``now`` should be timezone-aware; a naive datetime is read as local time (as pyotp does).
    """
    if valid_window < 0:
        raise ValueError("valid_window must not be negative")
    normalized = normalize_code(code)
    if normalized is None:
        return None
    totp = pyotp.TOTP(secret, digits=CODE_DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now if now is not None else datetime.now(timezone.utc))
    matched: int | None = None
    # Check every candidate (no early exit); on a collision keep the latest step, which burns
    # the most codes and so is the safe choice for replay protection.
    for step in range(current - valid_window, current + valid_window + 1):
        if step < 0 or (last_used_step is not None and step <= last_used_step):
            continue
        if hmac.compare_digest(totp.generate_otp(step).encode("ascii"), normalized.encode("ascii")):
            matched = step
    return matched


# --- recovery codes -------------------------------------------------------------------------------


@lru_cache
def recovery_code_hasher() -> PasswordHasher:
    """argon2id at OWASP's minimum (t=2, m=19 MiB, p=1).

    Recovery codes carry ~50 bits of randomness, so they need less stretching than passwords, and a
    sign-in attempt verifies against up to 10 hashes. With the password profile (t=3, m=64 MiB,
    p=4) 10 verifications took ~1.5-1.7 s on the development machine; with this one ~0.5 s.
    """
    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def _format_recovery_code(compact: str) -> str:
    return f"{compact[:5]}-{compact[5:]}"


def normalize_recovery_code(code: str) -> str | None:
    """The 10 characters of a typed recovery code (uppercased, spaces/dashes removed), or None."""
    compact = _SEPARATORS_RE.sub("", code or "").upper()
    if len(compact) != RECOVERY_CODE_LENGTH or any(ch not in RECOVERY_ALPHABET for ch in compact):
        return None
    return compact


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` distinct single-use recovery codes formatted for display, like ``ABCDE-FGHJK``."""
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < count:
        compact = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        if compact not in seen:
            seen.add(compact)
            codes.append(_format_recovery_code(compact))
    return codes


def hash_recovery_code(code: str) -> str:
    """The argon2id hash of a recovery code's normalised form. Raises ValueError if malformed."""
    compact = normalize_recovery_code(code)
    if compact is None:
        raise ValueError("not a recovery code")
    return recovery_code_hasher().hash(compact)


def match_recovery_code(code: str, hashes: list[str]) -> int | None:
    """The index in ``hashes`` of the hash that ``code`` matches, else None.

    Pass the user's unused hashes; an empty string (or None) in the list is skipped, so a caller
    may blank used entries and keep indexes stable. Every hash is checked, match or not.
    """
    compact = normalize_recovery_code(code)
    if compact is None:
        return None
    hasher = recovery_code_hasher()
    found: int | None = None
    for index, stored in enumerate(hashes):
        if not stored:
            continue
        try:
            hasher.verify(stored, compact)
        except (VerificationError, InvalidHashError):
            continue
        if found is None:
            found = index
    return found
