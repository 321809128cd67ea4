"""Sending a person's action to a case workflow as a Workflow Update.

The update id comes from a token in the submitted form, so a double click sends the same update
twice and Temporal applies it once. A refusal by the workflow's validator comes back as its
message (a msgid) for the page to show; nothing is written to the history.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from fastapi import HTTPException, Request
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from i18n import N_
from workflows.types import INVALID_ACTION

log = logging.getLogger("caseline.actions")
_ACTION_ID = re.compile(r"^[0-9a-f-]{36}$")
UPDATE_TIMEOUT_SECONDS = 30


def new_action_id() -> str:
    return str(uuid.uuid4())


async def run_update(request: Request, receipt_number: str, update, arg, action: str, action_id: str) -> str | None:
    """Send the update; returns the refusal message (a msgid) or None when it was applied."""
    if not _ACTION_ID.fullmatch(action_id or ""):
        action_id = new_action_id()
    client = await request.app.state.temporal.get()
    handle = client.get_workflow_handle(receipt_number)
    try:
        await asyncio.wait_for(
            handle.execute_update(update, arg, id=f"{action}:{action_id}"), timeout=UPDATE_TIMEOUT_SECONDS
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == INVALID_ACTION:
            return cause.message
        log.warning("update %s on %s failed", action, receipt_number, exc_info=True)
        return N_("The action could not be completed. Try again in a few minutes.")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return N_("This case is not waiting for this action any more. Reload the page to see where it is.")
        raise HTTPException(status_code=503, detail="temporal") from exc
    except TimeoutError:
        return N_("The action is taking longer than usual. Reload the page in a minute to see if it was recorded.")
    return None
