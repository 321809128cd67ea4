"""Evidence and other documents: a content-addressed store for the bytes, a ``Document`` row for
who uploaded them, what they are attached to and how they are shown.

The bytes are kept under their SHA-256 (``root/ab/cd/<sha256>``), so a name a person chose is never
part of a path; the name they gave is cleaned for display only. What a file is comes from its first
bytes, never from its name or the type the browser claimed.

No web imports: the web app, activities and the command line share this module.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlmodel import Session, col, select

from i18n import N_
from models.domain import RECEIPT_RE, Role
from models.tables import Document, Filing, User

MAX_UPLOAD_BYTES = 6 * 1024 * 1024
MAX_UPLOAD_LABEL = "6 MB"

# What people may upload, by the type sniffed from the bytes, with the extension shown for it.
ACCEPTED_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/tiff": ".tif",
}
# The same, for the ``accept`` attribute of a file input (a hint to the browser's file picker only).
ACCEPT_ATTRIBUTE = ",".join([*ACCEPTED_TYPES, ".pdf", ".jpg", ".jpeg", ".png", ".tif", ".tiff"])
ACCEPTED_TYPES_LABEL = "PDF, JPEG, PNG, TIFF"

DOCUMENT_KINDS = frozenset({"evidence", "rfe_response", "notice", "message"})
DISPLAY_NAME_MAX = 120

_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_DOCUMENT_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


# --- the store ---------------------------------------------------------------------------------


class DocumentMissing(LookupError):
    """No stored content for this SHA-256."""


@runtime_checkable
class DocumentStore(Protocol):
    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its SHA-256 (hex). The same bytes twice are kept once."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes kept under ``sha256``; ``ValueError`` for anything but 64 hex digits,
        ``DocumentMissing`` when nothing is kept under it."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether content is kept under ``sha256`` (``False`` for a malformed name)."""
        ...


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256_RE.match(value) is not None


class LocalDocumentStore:
    """Files on a local (or shared, mounted) disk at ``root/ab/cd/<sha256>``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("a document is named by 64 lowercase hex digits")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if path.is_file():
            return digest  # content-addressed: these bytes are already kept
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)  # readers see the whole file or none
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DocumentMissing(sha256) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DocumentMissing(f"{sha256} is damaged on disk")
        return data

    def exists(self, sha256: str) -> bool:
        """Whether content is kept under ``sha256``; never for a malformed name (nothing could be)."""
        return is_sha256(sha256) and self.path_for(sha256).is_file()


def document_store(root: Path) -> DocumentStore:
    """The store kept at ``root`` (``Settings.documents_dir``)."""
    return LocalDocumentStore(root)


# --- what a file is ---------------------------------------------------------------------------


def sniff_content_type(data: bytes) -> str | None:
    """The type of ``data`` from its first bytes only (never the name or what the browser said)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    return None


_SAFE_PUNCTUATION = frozenset(" -_.,()[]+&'")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)), *(f"LPT{n}" for n in range(1, 10))}
)
_EXTENSION_RE = re.compile(r"\.[A-Za-z0-9]{1,5}\Z")
_FALLBACK_STEM = "document"


def _clean_char(char: str) -> str:
    """The character itself when safe, a plain space for any space, nothing otherwise."""
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    # Letters, marks and digits of any script, and a little punctuation. Never controls, format
    # characters (bidi overrides such as U+202E, zero-width characters), quotes, slashes, symbols,
    # private-use or unassigned code points.
    if char in _SAFE_PUNCTUATION or category[0] in ("L", "M", "N"):
        return char
    return ""


def safe_display_name(raw: str | None, content_type: str | None) -> str:
    """A name to show for an upload, at most 120 characters, ending in the extension of the type
    its bytes have. Only the last path part of ``raw`` counts. For display only: never a path."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r" {2,}", " ", "".join(_clean_char(char) for char in name))
    stem = _EXTENSION_RE.sub("", name).strip(" ._-'")
    if stem.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        stem = ""
    extension = ACCEPTED_TYPES.get(content_type or "", "")
    stem = stem[: DISPLAY_NAME_MAX - len(extension)].rstrip(" ._-'") or _FALLBACK_STEM
    return stem + extension


# --- uploads -----------------------------------------------------------------------------------


class UploadRejected(ValueError):
    """An upload refused for a reason to tell the person; ``message`` is a msgid (translate it where
    it is shown), ``code`` says which check refused it."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


NO_FILE = N_("Select a file to upload")
EMPTY_FILE = N_("The selected file is empty")
TOO_LARGE = N_("The selected file must be 6 MB or smaller")
WRONG_TYPE = N_("The selected file must be a PDF, JPEG, PNG or TIFF")


def check_upload(data: bytes) -> str:
    """The sniffed content type of an acceptable upload; ``UploadRejected`` otherwise."""
    if not data:
        raise UploadRejected(EMPTY_FILE, code="empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRejected(TOO_LARGE, code="too_large")
    content_type = sniff_content_type(data)
    if content_type not in ACCEPTED_TYPES:
        raise UploadRejected(WRONG_TYPE, code="type")
    return content_type


def store_upload(
    session: Session,
    store: DocumentStore,
    *,
    data: bytes,
    raw_name: str,
    owner_id: int,
    kind: str,
    receipt_number: str | None = None,
    draft_id: str | None = None,
    evidence_item: str | None = None,
    evidence_request_id: int | None = None,
    message_id: int | None = None,
) -> Document:
    """Check an upload, keep its bytes and add its ``Document`` row (flushed, not committed).

    ``UploadRejected`` for what the person can fix (empty, too large, not an accepted type);
    ``ValueError`` for a caller's mistake (unknown kind, malformed receipt number)."""
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    if receipt_number is not None and not RECEIPT_RE.match(receipt_number):
        raise ValueError("malformed receipt number")
    if evidence_item is not None and len(evidence_item) > 60:
        raise ValueError("evidence item names are at most 60 characters")
    content_type = check_upload(data)
    sha256 = store.put(data)
    document = Document(
        id=str(uuid.uuid4()),
        sha256=sha256,
        receipt_number=receipt_number,
        draft_id=draft_id,
        owner_id=owner_id,
        kind=kind,
        evidence_item=evidence_item,
        evidence_request_id=evidence_request_id,
        message_id=message_id,
        display_name=safe_display_name(raw_name, content_type),
        content_type=content_type,
        size=len(data),
    )
    session.add(document)
    session.flush()
    return document


def documents_for_case(session: Session, receipt_number: str) -> list[Document]:
    """The documents attached to a case, newest first."""
    statement = (
        select(Document)
        .where(Document.receipt_number == receipt_number)
        .order_by(col(Document.uploaded_at).desc(), col(Document.id))
    )
    return list(session.exec(statement).all())


def is_document_id(value: object) -> bool:
    return isinstance(value, str) and _DOCUMENT_ID_RE.match(value) is not None


def visible_document(session: Session, document_id: str, user: User) -> Document | None:
    """The document when ``user`` may see it: who uploaded it, the applicant of the case it is
    attached to and their representative, staff who adjudicate for a case's documents, and staff
    who answer messages for a message's attachments.
    ``None`` for anything else (unknown, malformed or someone else's: callers answer all three
    the same way)."""
    if not is_document_id(document_id):
        return None
    document = session.get(Document, document_id)
    if document is None:
        return None
    if document.owner_id == user.id:
        return document
    if document.receipt_number is None:
        return None  # on a draft: only its uploader
    if Role(user.role).adjudicates or (document.kind == "message" and Role(user.role).answers_messages):
        return document
    filing = session.get(Filing, document.receipt_number)
    if filing is not None and user.id in (filing.applicant_id, filing.representative_id):
        return document
    return None


__all__ = [
    "ACCEPTED_TYPES", "ACCEPTED_TYPES_LABEL", "ACCEPT_ATTRIBUTE", "DOCUMENT_KINDS", "DocumentMissing", "DocumentStore",
    "LocalDocumentStore", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_LABEL", "UploadRejected", "check_upload", "document_store",
    "documents_for_case", "is_document_id", "is_sha256", "safe_display_name", "sniff_content_type", "store_upload",
    "visible_document",
]
