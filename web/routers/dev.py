"""Developer-only pages (mounted when CASELINE_ENV is dev or test): the local mailbox."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from mailsink import read_mailbox
from web.deps import SettingsDep
from web.templating import render

router = APIRouter(prefix="/dev")


@router.get("/mailbox")
def mailbox(request: Request, settings: SettingsDep) -> Response:
    return render(request, "dev/mailbox.html", {"mails": read_mailbox(settings.mail_dir), "smtp_port": settings.smtp_port}, block="mail_list")


@router.get("/mailbox/{key}")
def mail(request: Request, key: str, settings: SettingsDep) -> Response:
    found = next((m for m in read_mailbox(settings.mail_dir) if m.key == key), None)
    if found is None:
        raise HTTPException(status_code=404)
    return render(request, "dev/mail.html", {"mail": found})
