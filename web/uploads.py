"""Receiving files from forms, and the document store for routes.

How a page posts a file: a real form with ``method="post"`` and ``enctype="multipart/form-data"``
(without the enctype the browser sends only the file's name), the CSRF token as a hidden field as
in every form, and an ``<input type="file" name="...">`` (``templates/_upload.html``,
``file_input``). htmx sends such forms as multipart by itself (``hx-encoding`` is only needed for
a form without the enctype). The route takes the part as ``UploadFile``::

    @router.post("/cases/{receipt_number}/evidence")
    async def upload(request: Request, receipt_number: str, user: CurrentUser, db: SessionDep,
                     store: DocumentStoreDep, file: Annotated[UploadFile | None, File()] = None):
        try:
            data, name = await read_upload(file)
            store_upload(db, store, data=data, raw_name=name, owner_id=user.id, kind="evidence", ...)
        except UploadRejected as refused:
            errors["file"] = refused.message      # re-render with 422, the message by the field
        db.commit()

``read_upload`` keeps at most ``MAX_UPLOAD_BYTES + 1`` bytes in memory, whatever was sent; what
the file *is* is decided by ``store_upload`` from its bytes, never from its name or the browser's
``Content-Type``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, UploadFile

from models.documents import MAX_UPLOAD_BYTES, NO_FILE, TOO_LARGE, DocumentStore, UploadRejected
from models.s3store import store_from_settings
from web.deps import SettingsDep

CHUNK_BYTES = 64 * 1024


async def read_upload(upload: UploadFile | str | None) -> tuple[bytes, str]:
    """The bytes and the (raw, untrusted) file name of an uploaded file.

    ``UploadRejected`` when no file was chosen or it is larger than ``MAX_UPLOAD_BYTES``: reading
    stops one byte past the limit, so an oversized upload is never read into memory whole."""
    # No file chosen: the part is missing, or a plain field (a form without the multipart enctype).
    if upload is None or isinstance(upload, str):
        raise UploadRejected(NO_FILE, code="missing")
    filename = upload.filename or ""
    chunks: list[bytes] = []
    received = 0
    while received <= MAX_UPLOAD_BYTES:
        chunk = await upload.read(min(CHUNK_BYTES, MAX_UPLOAD_BYTES + 1 - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    if received > MAX_UPLOAD_BYTES:
        raise UploadRejected(TOO_LARGE, code="too_large")
    if received == 0 and not filename:
        raise UploadRejected(NO_FILE, code="missing")  # browsers send an empty nameless part
    return b"".join(chunks), filename


def get_document_store(request: Request, settings: SettingsDep) -> DocumentStore:
    """The store the settings choose (local disk or S3-compatible), made once per app."""
    store = getattr(request.app.state, "document_store", None)
    if store is None:
        store = request.app.state.document_store = store_from_settings(settings)
    return store


DocumentStoreDep = Annotated[DocumentStore, Depends(get_document_store)]
