"""The remote codec the Temporal Web UI calls to show case payloads: ``POST /codec/decode``.

Temporal keeps every payload encrypted (``workflows.codec``); the Web UI shows them in clear only
through this endpoint, and it decodes only for a supervisor signed in to Caseline (the session
cookie, sent by the UI when "Include cross-origin credentials" is on in its codec settings) and only
for the Web UI's own origin (``settings.temporal_ui_url``): CORS with credentials names that one
origin, and a request from any other origin is refused. There is no encode endpoint. Each decode is
written to the staff audit log.

It is a plain route: the JSON body carries no CSRF token, and it needs none, as decoding changes
nothing and no other origin can read the answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from temporalio.api.common.v1 import Payloads

from models.account_security import audit
from models.db import session_scope
from models.domain import Role
from workflows.client import data_converter
from workflows.codec import PayloadKeyError

log = logging.getLogger("caseline.web.codec")

router = APIRouter()
DECODE_PATH = "/codec/decode"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PAYLOADS = 1000


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as browsers send it in ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _error(status: int, message: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _record(settings, user, count: int, namespace: str) -> None:
    with session_scope(settings.database_url) as db:
        audit(db, key=f"codec-decode:{uuid.uuid4()}", actor_id=user.id, action="payloads_decoded",
              detail=f"{count} payload(s) in namespace {namespace[:100]}")


async def decode(request: Request) -> Response:
    settings = request.app.state.settings
    allowed = origin_of(settings.temporal_ui_url)
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != allowed:
        return _error(403, "this origin may not use the codec", {"Vary": "Origin"})
    cors = {"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={
            **cors,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "content-type, x-namespace",
            "Access-Control-Max-Age": "600",
        })
    user = getattr(request.state, "user", None)
    if user is None:
        return _error(401, "sign in to Caseline as a supervisor, then reload this page", cors)
    if Role(user.role) != Role.SUPERVISOR:
        return _error(403, "only supervisors may decode case payloads", cors)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "too many payloads at once", cors)
    try:
        payloads = ParseDict(json.loads(body or b"{}"), Payloads())
    except (ValueError, ParseError):
        return _error(400, "the body must be {\"payloads\": [...]} as the Temporal codec protocol says", cors)
    if len(payloads.payloads) > MAX_PAYLOADS:
        return _error(413, "too many payloads at once", cors)
    try:
        decoded = await data_converter(settings.payload_keys).payload_codec.decode(list(payloads.payloads))
    except PayloadKeyError as exc:
        return _error(400, str(exc), cors)
    await run_in_threadpool(_record, settings, user, len(decoded), request.headers.get("x-namespace", ""))
    return JSONResponse(MessageToDict(Payloads(payloads=decoded)) or {"payloads": []}, headers=cors)


router.add_route(DECODE_PATH, decode, methods=["POST", "OPTIONS"], include_in_schema=False)
