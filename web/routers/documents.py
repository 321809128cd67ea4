"""Serving stored documents to the people allowed to see them, in a way a hostile file cannot abuse.

Who may see a document is ``models.documents.visible_document``: its uploader, the applicant of
the case it is attached to, and officers and supervisors for a case's documents. Everyone else,
and any unknown or malformed id, gets the same 404.

The response is the stored bytes with the type sniffed at upload, ``nosniff``, no caching, and a
Content-Security-Policy of its own that lets nothing run. The app's security-header middleware
only fills in headers a response does not set (``setdefault``), so this route's policy is the one
the browser gets; the middleware still adds ``X-Frame-Options: DENY`` and the rest.
"""

from __future__ import annotations

import logging
import unicodedata
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from models.documents import ACCEPTED_TYPES, DocumentMissing, visible_document
from web.deps import CurrentUser, SessionDep
from web.uploads import DocumentStoreDep

log = logging.getLogger("caseline.web.documents")

router = APIRouter()

# Nothing in a served file may run, load anything but its own images, submit a form or be framed;
# ``sandbox`` gives the document a unique opaque origin, so even a script that ran could not read
# this origin's pages or cookies. Chromium (156, checked with Playwright) still shows PDFs inline and
# images under this policy. ``plugin-types`` is left out: CSP3 removed it and browsers ignore it.
DOCUMENT_CSP = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"


def content_disposition(disposition: str, name: str) -> str:
    """``inline``/``attachment`` with an ASCII ``filename`` and the real one as ``filename*`` (RFC 6266)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c for c in ascii_name if 0x20 <= ord(c) < 0x7F and c not in '"\\%;')
    stem, dot, extension = ascii_name.rpartition(".")
    if not stem.strip(" ._-"):
        ascii_name = "document" + (dot + extension if dot else "")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/documents/{document_id}")
def serve_document(
    document_id: str, user: CurrentUser, db: SessionDep, store: DocumentStoreDep, download: bool = False
) -> Response:
    document = visible_document(db, document_id, user)
    if document is None:
        raise HTTPException(status_code=404)
    try:
        data = store.get(document.sha256)
    except (DocumentMissing, ValueError):
        log.error("document %s has no stored content (sha256 %s)", document.id, document.sha256)
        raise HTTPException(status_code=404) from None
    content_type = document.content_type
    disposition = "attachment" if download else "inline"
    if content_type not in ACCEPTED_TYPES:
        content_type, disposition = "application/octet-stream", "attachment"  # never rendered
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Content-Disposition": content_disposition(disposition, document.display_name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOCUMENT_CSP,
            "Cache-Control": "private, no-store",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )
