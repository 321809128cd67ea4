"""Accounts: argon2id password hashes, creating users, checking credentials."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from models.domain import Role
from models.passwords import check_password, normalize_password
from models.tables import User



@lru_cache
def password_hasher() -> PasswordHasher:
    # argon2id, the library's RFC 9106 low-memory profile (t=3, m=64 MiB, p=4).
    return PasswordHasher()


@lru_cache
def _dummy_hash() -> str:
    return password_hasher().hash("caseline-timing-equaliser-not-a-password")


def hash_password(password: str) -> str:
    return password_hasher().hash(normalize_password(password))


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def create_user(
    session: Session, *, email: str, password: str, full_name: str, role: Role = Role.APPLICANT, language: str = "en"
) -> User:
    errors = check_password(password, email=email, full_name=full_name)
    if errors:
        raise ValueError(errors[0])
    user = User(
        email=normalize_email(email), full_name=full_name.strip(), role=role, language=language,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` (normalised as when it was hashed) matches ``password_hash``."""
    try:
        return password_hasher().verify(password_hash, normalize_password(password or ""))
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """The user when the password matches, else None. Unknown accounts cost the same hashing work."""
    user = get_user_by_email(session, email=email)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    hasher = password_hasher()
    password = normalize_password(password)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        session.add(user)
    return user
