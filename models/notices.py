"""Official notices: PDF letters issued when a case reaches certain statuses, and their verification codes.

A notice is issued by the case projection (``models.projection.apply_transition``) in the same
transaction as the transition that causes it, once per (receipt number, transition, kind). Its PDF
is kept in the document store with a ``Document`` row of kind "notice" owned by the applicant, and
a ``Notice`` row holds the verification code anyone can check on the public page ``/verify``.

The notice is written in the applicant's language. Dates are those of the agency's calendar
(``AGENCY_TIME_ZONE``); an appointment's time is the office's local time, as it was booked.

No web imports: the activities, the web app and the tools share this module.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_timezone_name

from sqlmodel import Session, col, select

import i18n
from i18n import N_
from models.documents import DocumentStore
from models.domain import DENIAL_REASONS, ReceiptNumberError, StatusCode, normalize_receipt_number
from models.forms import FORMS, evidence_label
from models.payments import format_amount
from models.receipts import AGENCY_TIME_ZONE
from models.scheduling import office_address, office_time_zone
from models.tables import Appointment, Case, Document, EvidenceRequest, Filing, Notice, Office, User
from settings import PROJECT_ROOT

log = logging.getLogger("caseline.notices")

FONT_DIR = PROJECT_ROOT / "node_modules" / "@uswds" / "uswds" / "dist" / "fonts" / "public-sans"
FONT_REGULAR = FONT_DIR / "PublicSans-Regular.ttf"
FONT_BOLD = FONT_DIR / "PublicSans-Bold.ttf"
FONT_FAMILY = "PublicSans"


class NoticeKind(StrEnum):
    RECEIPT = "receipt"
    BIOMETRICS = "biometrics"
    RFE = "rfe"
    INTERVIEW = "interview"
    APPROVAL = "approval"
    DENIAL = "denial"
    CARD_MAILED = "card_mailed"


NOTICE_KINDS: tuple[NoticeKind, ...] = tuple(NoticeKind)

# Which status change issues which notice; other statuses issue none.
NOTICE_FOR_STATUS: dict[StatusCode, NoticeKind] = {
    StatusCode.CASE_RECEIVED: NoticeKind.RECEIPT,
    StatusCode.BIOMETRICS_SCHEDULED: NoticeKind.BIOMETRICS,
    StatusCode.RFE_SENT: NoticeKind.RFE,
    StatusCode.INTERVIEW_SCHEDULED: NoticeKind.INTERVIEW,
    StatusCode.INTERVIEW_RESCHEDULED: NoticeKind.INTERVIEW,
    StatusCode.APPROVED: NoticeKind.APPROVAL,
    StatusCode.DENIED: NoticeKind.DENIAL,
    StatusCode.CARD_MAILED: NoticeKind.CARD_MAILED,
}

NOTICE_TITLES: dict[NoticeKind, str] = {
    NoticeKind.RECEIPT: N_("Receipt Notice"),
    NoticeKind.BIOMETRICS: N_("Biometrics Appointment Notice"),
    NoticeKind.RFE: N_("Request for Evidence"),
    NoticeKind.INTERVIEW: N_("Interview Notice"),
    NoticeKind.APPROVAL: N_("Approval Notice"),
    NoticeKind.DENIAL: N_("Denial Notice"),
    NoticeKind.CARD_MAILED: N_("Card Mailed Notice"),
}

# The name the notice's document is shown (and downloaded) under.
NOTICE_FILE_NAMES: dict[NoticeKind, str] = {
    NoticeKind.RECEIPT: N_("Receipt notice %(receipt)s.pdf"),
    NoticeKind.BIOMETRICS: N_("Biometrics appointment notice %(receipt)s.pdf"),
    NoticeKind.RFE: N_("Request for evidence %(receipt)s.pdf"),
    NoticeKind.INTERVIEW: N_("Interview notice %(receipt)s.pdf"),
    NoticeKind.APPROVAL: N_("Approval notice %(receipt)s.pdf"),
    NoticeKind.DENIAL: N_("Denial notice %(receipt)s.pdf"),
    NoticeKind.CARD_MAILED: N_("Card mailed notice %(receipt)s.pdf"),
}

# The kind of appointment a notice announces.
APPOINTMENT_FOR_NOTICE: dict[NoticeKind, str] = {NoticeKind.BIOMETRICS: "biometrics", NoticeKind.INTERVIEW: "interview"}


def notice_kind_for(status_code: str | StatusCode | None) -> NoticeKind | None:
    """The notice a status change issues, if any."""
    if status_code is None:
        return None
    return NOTICE_FOR_STATUS.get(StatusCode(status_code))


def notice_title(kind: str, language: str) -> str:
    return i18n.gettext(language, NOTICE_TITLES[NoticeKind(kind)])


def notice_file_name(kind: str, language: str, receipt_number: str) -> str:
    return i18n.gettext(language, NOTICE_FILE_NAMES[NoticeKind(kind)], receipt=receipt_number)


# --- verification codes -------------------------------------------------------------------------

# No 0/O and 1/I: a code read off paper is typed back without guessing.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}\Z")
_CODE_SHAPE_RE = re.compile(rf"^[A-Z0-9]{{{CODE_LENGTH}}}\Z")


def new_verification_code() -> str:
    """12 random characters of ``CODE_ALPHABET`` (60 bits), as stored (no dashes)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_verification_code(code: str) -> str:
    """The code in groups of four joined by dashes (ABCD-EFGH-JKLM), as notices print it."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_verification_code(raw: str | None) -> str:
    """Upper case, without spaces and dashes (what people type back from the paper)."""
    return re.sub(r"[\s\-\u2010-\u2015]", "", raw or "").upper()


def looks_like_verification_code(raw: str | None) -> bool:
    """Whether ``raw`` has the shape of a code (12 letters and digits once spaces and dashes are
    dropped). A well-shaped code may still match no notice."""
    return _CODE_SHAPE_RE.match(normalize_verification_code(raw)) is not None


def _unused_code(session: Session) -> str:
    for _ in range(10):
        code = new_verification_code()
        if session.exec(select(Notice.id).where(Notice.verification_code == code)).first() is None:
            return code
    raise RuntimeError("could not draw an unused verification code")  # 60 bits: never in practice


# --- what a notice says -------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeAppointment:
    """Where and when the applicant must come: the office's line from ``office_address``."""

    starts_at: datetime  # aware (UTC)
    place: str
    time_zone: ZoneInfo


@dataclass(frozen=True)
class NoticeData:
    """Everything a notice prints. Built from the database by ``notice_data`` (or by hand in tools)."""

    kind: NoticeKind
    language: str
    receipt_number: str
    form_type: str
    issued_at: datetime  # aware; printed as the notice date in the agency's time zone
    received_at: datetime  # when the case was filed
    applicant_name: str
    address_lines: tuple[str, ...]
    verification_code: str
    verify_url: str
    beneficiary_name: str = ""  # I-130: the relative the petition is for
    fee_cents: int = 0
    fee_waiver_requested: bool = False
    appointment: NoticeAppointment | None = None
    rescheduled: bool = False
    evidence_items: tuple[str, ...] = ()  # evidence codes of the form, or "other"
    evidence_instructions: str = ""
    evidence_due_at: datetime | None = None
    reason_code: str | None = None
    reason_text: str | None = None
    tracking_number: str | None = None
    after_approval: tuple[str, ...] = field(default_factory=tuple)


def person_name(answers: dict[str, str], prefix: str = "") -> str:
    """Given, middle and family name, as the person wrote them."""
    parts = (answers.get(f"{prefix}{name}", "") for name in ("given_name", "middle_name", "family_name"))
    return " ".join(part.strip() for part in parts if part and part.strip())


def mailing_address(answers: dict[str, str]) -> tuple[str, ...]:
    """The address lines of a filing's answers (every form uses the same field names)."""
    street = ", ".join(p.strip() for p in (answers.get("street", ""), answers.get("apartment", "")) if p and p.strip())
    city, state, zip_code = (answers.get(k, "").strip() for k in ("city", "state", "zip_code"))
    last = " ".join(p for p in (f"{city}," if city and (state or zip_code) else city, state, zip_code) if p)
    return tuple(line for line in (street, last) if line)


def _scheduled_appointment(session: Session, *, receipt_number: str, kind: str) -> Appointment | None:
    """The case's latest appointment of this kind still scheduled: the one just booked (the
    workflow books it before it records the status that announces it)."""
    return session.exec(
        select(Appointment)
        .where(Appointment.receipt_number == receipt_number, Appointment.kind == kind, Appointment.status == "scheduled")
        .order_by(col(Appointment.id).desc())
    ).first()


def notice_data(
    session: Session,
    *,
    receipt_number: str,
    seq: int,
    kind: str,
    issued_at: datetime,
    verification_code: str,
    base_url: str,
    status_code: str | None = None,
) -> NoticeData | None:
    """What the notice of this kind says about the case, read from the database as it is now.

    ``None`` when the case lacks what the notice must print (no filing, no scheduled appointment
    for an appointment notice, no request for evidence, no tracking number)."""
    kind = NoticeKind(kind)
    filing = session.get(Filing, receipt_number)
    if filing is None:
        return None
    applicant = session.get(User, filing.applicant_id)
    language = i18n.normalize_language(applicant.language if applicant else None)
    answers = dict(filing.answers or {})
    case = session.get(Case, receipt_number)
    form = FORMS.get(filing.form_type)
    data = dict(
        kind=kind,
        language=language,
        receipt_number=receipt_number,
        form_type=filing.form_type,
        issued_at=issued_at,
        received_at=filing.filed_at,
        applicant_name=person_name(answers) or (applicant.full_name if applicant else ""),
        address_lines=mailing_address(answers),
        verification_code=verification_code,
        verify_url=f"{base_url.rstrip('/')}/verify",
        beneficiary_name=person_name(answers, "beneficiary_") if filing.form_type == "I-130" else "",
        fee_cents=filing.fee_cents,
        fee_waiver_requested=filing.fee_waiver_requested,
    )
    if kind in APPOINTMENT_FOR_NOTICE:
        appointment = _scheduled_appointment(session, receipt_number=receipt_number, kind=APPOINTMENT_FOR_NOTICE[kind])
        office = session.get(Office, appointment.office) if appointment else None
        if appointment is None or office is None:
            return None
        data["appointment"] = NoticeAppointment(
            starts_at=appointment.starts_at, place=office_address(session, office.code),
            time_zone=office_time_zone(office.state),
        )
        data["rescheduled"] = status_code == StatusCode.INTERVIEW_RESCHEDULED
    elif kind == NoticeKind.RFE:
        request = session.exec(
            select(EvidenceRequest)
            .where(EvidenceRequest.receipt_number == receipt_number, EvidenceRequest.seq <= seq)
            .order_by(col(EvidenceRequest.seq).desc())
        ).first()
        if request is None:
            return None
        data.update(evidence_items=tuple(request.items), evidence_instructions=request.instructions or "",
                    evidence_due_at=request.due_at)
    elif kind == NoticeKind.DENIAL:
        data.update(reason_code=case.decision_reason_code if case else None,
                    reason_text=case.decision_reason if case else None)
    elif kind == NoticeKind.CARD_MAILED:
        if case is None or not case.tracking_number:
            return None
        data["tracking_number"] = case.tracking_number
    elif kind == NoticeKind.APPROVAL:
        data["after_approval"] = tuple(form.after_approval(answers)) if form else ()
    return NoticeData(**data)


# --- issuing, listing, verifying ----------------------------------------------------------------


def issue_notice(
    session: Session,
    store: DocumentStore,
    *,
    receipt_number: str,
    seq: int,
    kind: str,
    issued_at: datetime,
    base_url: str,
    status_code: str | None = None,
) -> Notice | None:
    """Issue the notice of ``kind`` for transition ``seq`` of a case: render its PDF, keep the bytes,
    add its ``Document`` and ``Notice`` rows (flushed, not committed).

    Idempotent: the notice already issued for (receipt number, seq, kind) is returned as it is.
    ``None`` when the case lacks what the notice must print (see ``notice_data``)."""
    kind = NoticeKind(kind)
    existing = session.exec(
        select(Notice).where(Notice.receipt_number == receipt_number, Notice.seq == seq, Notice.kind == kind.value)
    ).first()
    if existing is not None:
        return existing
    code = _unused_code(session)
    data = notice_data(
        session, receipt_number=receipt_number, seq=seq, kind=kind, issued_at=issued_at, verification_code=code,
        base_url=base_url, status_code=status_code,
    )
    if data is None:
        log.warning("no %s notice for %s #%s: the case lacks what it must print", kind.value, receipt_number, seq)
        return None
    pdf = render_notice_pdf(data)
    sha256 = store.put(pdf)
    filing = session.get(Filing, receipt_number)
    assert filing is not None  # notice_data found it
    document = Document(
        id=str(uuid.uuid4()),
        sha256=sha256,
        receipt_number=receipt_number,
        owner_id=filing.applicant_id,
        kind="notice",
        display_name=notice_file_name(kind, data.language, receipt_number)[:120],
        content_type="application/pdf",
        size=len(pdf),
        uploaded_at=issued_at,
    )
    session.add(document)
    session.flush()  # the notice refers to it
    notice = Notice(
        id=str(uuid.uuid4()),
        receipt_number=receipt_number,
        seq=seq,
        kind=kind.value,
        document_id=document.id,
        verification_code=code,
        language=data.language,
        issued_at=issued_at,
    )
    session.add(notice)
    session.flush()
    return notice


def notices_for_case(session: Session, receipt_number: str) -> list[Notice]:
    """The notices of a case, oldest first."""
    return list(
        session.exec(
            select(Notice)
            .where(Notice.receipt_number == receipt_number)
            .order_by(col(Notice.issued_at), col(Notice.seq), col(Notice.kind))
        ).all()
    )


def verify_notice(session: Session, receipt_number: str, code: str) -> Notice | None:
    """The notice with this receipt number and verification code, or ``None`` (also for malformed
    input). The code is read case-insensitively, without spaces and dashes."""
    try:
        receipt_number = normalize_receipt_number(receipt_number)
    except ReceiptNumberError:
        return None
    normalized = normalize_verification_code(code)
    if not _CODE_RE.match(normalized):
        return None
    return session.exec(
        select(Notice).where(Notice.verification_code == normalized, Notice.receipt_number == receipt_number)
    ).first()


# --- rendering ----------------------------------------------------------------------------------

# Every string a notice prints, for extraction (translated where printed).
AGENCY = N_("Caseline — Immigration benefits")
NOT_A_BENEFIT = N_("This notice does not grant any immigration status or benefit.")
L_RECEIPT_NUMBER = N_("Receipt number")
L_NOTICE_DATE = N_("Notice date")
L_RECEIVED_DATE = N_("Received date")
L_FORM = N_("Form")
L_APPLICANT = N_("Applicant")
L_PETITIONER = N_("Petitioner")
L_BENEFICIARY = N_("Beneficiary")
L_PAGE = N_("Page %(page)s of %(pages)s")
L_VERIFICATION = N_("Verification code")
VERIFY_TEXT = N_("To check that this notice is genuine, go to %(url)s and enter the receipt number and this verification code.")
KEEP_TEXT = N_("Keep this notice with your records. Sign in to your Caseline account to follow your case and read every notice we send you.")
FORM_LINE = N_("Form %(code)s, %(title)s")

RECEIPT_INTRO = N_("We received your form. We will write to you, by mail and in your Caseline account, when we take the next step or if we need anything from you.")
RECEIPT_CHECK = N_("Check the information on this notice. If anything is wrong, tell us through your Caseline account.")
L_FEE_RECEIVED = N_("Fee received")
L_FEE = N_("Fee")
FEE_WAIVER = N_("Fee waiver requested")
NO_FEE = N_("No fee")

H_APPOINTMENT = N_("Your appointment")
L_DATE = N_("Date")
L_TIME = N_("Time")
L_PLACE = N_("Place")
TIME_WITH_ZONE = N_("%(time)s (%(zone)s)")
H_WHAT_TO_BRING = N_("What to bring")
H_IF_YOU_CANNOT_COME = N_("If you cannot come")
BIOMETRICS_INTRO = N_("We scheduled an appointment to take your fingerprints, photograph and signature (biometrics). We use them to confirm your identity and for the background checks your case needs.")
BIOMETRICS_BRING = N_("Bring this notice and a valid photo identity document, such as your passport, driver's license or national identity card. Without them we cannot take your biometrics.")
BIOMETRICS_MOVE = N_("You can move this appointment once, in your Caseline account, before it starts. If you do not come and did not move it, we may consider your case abandoned and deny it.")
INTERVIEW_INTRO = N_("We scheduled an interview for your case. An officer will ask you about your application, under oath.")
INTERVIEW_RESCHEDULED = N_("This notice replaces any earlier interview notice for this case.")
INTERVIEW_N400 = N_("At the interview you also take the English test and the civics test.")
INTERVIEW_BRING = N_("Bring this notice, a valid photo identity document and the originals of every document you sent us.")
INTERVIEW_MOVE = N_("You can move this interview once, in your Caseline account, before it starts. If you do not come and did not move it, we may deny your case.")

RFE_INTRO = N_("We need more evidence before we can decide your case. Send us every item listed below.")
H_EVIDENCE = N_("Evidence we need")
H_INSTRUCTIONS = N_("The officer's instructions")
OTHER_EVIDENCE = N_("Other evidence, described below")
H_DUE = N_("When your response is due")
RFE_DUE = N_("We must receive your response by %(date)s.")
RFE_HOW = N_("Upload your response in your Caseline account. Send everything we asked for at the same time: we continue with your case once we receive your response.")
RFE_LATE = N_("If we do not receive a response by the due date, we will decide your case on the evidence we have, and we may deny it.")

APPROVAL_INTRO = N_("We approved your Form %(code)s, %(title)s.")
H_NEXT = N_("What happens next")
APPROVAL_CARD = N_("We will produce your card and mail it to the address on this notice. We will tell you when we mail it, with its tracking number.")
APPROVAL_OATH = N_("We will schedule your oath ceremony and mail you a notice with its date, time and place. You become a US citizen when you take the Oath of Allegiance.")
APPROVAL_DOS = N_("We will send the approved petition to the Department of State, which will contact your relative about the next steps.")
APPROVAL_I130 = N_("The approval of this petition does not by itself give your relative any immigration status.")
APPROVAL_OTHER = N_("Keep this notice with your important documents.")

DENIAL_INTRO = N_("We denied your Form %(code)s, %(title)s.")
H_WHY = N_("Why we denied your case")
L_REASON = N_("Reason")
H_WHAT_YOU_CAN_DO = N_("What you can do")
DENIAL_OPTIONS = N_("If you believe our decision is wrong, you may be able to file a motion to reopen or reconsider within 30 days of this notice (33 days if you received it by mail). Read the instructions for Form I-290B, Notice of Appeal or Motion, to see whether you can and how.")

CARD_INTRO = N_("We mailed your new card to the address on this notice.")
L_TRACKING = N_("Tracking number")
CARD_TRACKING = N_("You can follow the delivery with this tracking number on the Postal Service's website.")
CARD_MISSING = N_("If you have not received your card within 30 days of this notice, or if the Postal Service returned it to us, tell us through your Caseline account.")


def local_date(value: datetime, language: str, *, zone: ZoneInfo = AGENCY_TIME_ZONE, format: str = "long") -> str:
    """A date as notices print it: in the agency's calendar unless another zone is given."""
    return format_date(value.astimezone(zone).date(), format=format, locale=i18n.normalize_language(language))


def appointment_time(value: datetime, zone: ZoneInfo, language: str) -> str:
    """The appointment's time in the office's local time, with the name of that time zone."""
    language = i18n.normalize_language(language)
    return i18n.gettext(
        language, TIME_WITH_ZONE,
        time=format_time(value, format="short", tzinfo=zone, locale=language),
        zone=get_timezone_name(zone, locale=language),
    )


def appointment_when(starts_at: datetime, office_state: str, language: str) -> str:
    """"Monday, December 7, 2026, 8:00 AM (Central Time)": the day and time at the office."""
    zone = office_time_zone(office_state)
    return f"{local_date(starts_at, language, zone=zone, format='full')}, {appointment_time(starts_at, zone, language)}"


@lru_cache(maxsize=1)
def _covered() -> frozenset[int]:
    """The characters both weights of the font can draw."""
    from fontTools.ttLib import TTFont

    regular = set(TTFont(str(FONT_REGULAR), lazy=True).getBestCmap())
    bold = set(TTFont(str(FONT_BOLD), lazy=True).getBestCmap())
    return frozenset(regular & bold)


def printable(text: str) -> str:
    """``text`` in characters the font has: NFC; any other space as a plain space; a letter the font
    lacks as its base letter (an accent dropped), else "?". The font is never asked for a glyph it
    lacks (fpdf2 would drop it silently)."""
    covered = _covered()
    out = []
    for char in unicodedata.normalize("NFC", text or ""):
        if ord(char) in covered or char in "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Zs", "Cc") or char in "\t\r":
            out.append(" ")
        elif unicodedata.category(char) in ("Cf", "Mn"):
            continue  # zero-width and format characters, stray combining marks
        else:
            parts = unicodedata.normalize("NFKD", char)
            if parts and ord(parts[0]) in covered:
                out.append(unicodedata.normalize("NFC", "".join(c for c in parts if ord(c) in covered)))
            else:
                out.append("?")
    return "".join(out)


# Layout (millimetres, US Letter).
_MARGIN = 19.0
_INK = (27, 27, 27)
_MUTED = (86, 92, 101)
_RULE = (169, 174, 177)
_ACCENT = (26, 68, 128)  # USWDS primary-dark
_SHADE = (240, 240, 240)
_BODY_SIZE = 10.5
_BODY_LINE = 5.2
_PAGES_ALIAS = "{nb}"  # replaced by the page count when the PDF is written


def _make_pdf(data: NoticeData, title: str):
    from fpdf import FPDF

    language = data.language
    footer_left = printable(f"{i18n.gettext(language, AGENCY)} · {title} · {data.receipt_number}")

    class NoticePDF(FPDF):
        def footer(self) -> None:
            self.set_y(-14)
            self.set_draw_color(*_RULE)
            self.set_line_width(0.2)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.set_y(-12)
            self.set_font(FONT_FAMILY, "", 8)
            self.set_text_color(*_MUTED)
            self.cell(0, 5, footer_left, align="L")
            self.set_x(self.l_margin)
            page = i18n.gettext(language, L_PAGE, page=self.page_no(), pages=_PAGES_ALIAS)
            self.cell(0, 5, page, align="R")

    pdf = NoticePDF(orientation="portrait", unit="mm", format="letter")
    pdf.add_font(FONT_FAMILY, "", str(FONT_REGULAR))
    pdf.add_font(FONT_FAMILY, "B", str(FONT_BOLD))
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=20)
    pdf.alias_nb_pages(_PAGES_ALIAS)
    pdf.set_lang(language)
    pdf.set_title(printable(f"{title} {data.receipt_number}"))
    pdf.set_subject(printable(title))
    pdf.set_author(printable(i18n.gettext(language, AGENCY)))
    pdf.set_creator("Caseline")
    pdf.set_creation_date(data.issued_at)
    pdf.set_display_mode("fullwidth")
    return pdf


def _text(pdf, text: str, *, size: float = _BODY_SIZE, bold: bool = False, color=_INK, line: float = _BODY_LINE,
          x: float | None = None, width: float = 0, after: float = 0) -> None:
    pdf.set_font(FONT_FAMILY, "B" if bold else "", size)
    pdf.set_text_color(*color)
    if x is not None:
        pdf.set_x(x)
    pdf.multi_cell(width, line, printable(text), align="L", new_x="LMARGIN", new_y="NEXT")
    if after:
        pdf.ln(after)


def _ensure_room(pdf, height: float) -> None:
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()


def _heading(pdf, text: str) -> None:
    _ensure_room(pdf, 18)
    pdf.ln(2)
    _text(pdf, text, size=12, bold=True, color=_ACCENT, line=6.5, after=1)


def _paragraph(pdf, text: str) -> None:
    _text(pdf, text, after=2)


def _lines_height(pdf, text: str, width: float, *, size: float, bold: bool, line: float) -> float:
    pdf.set_font(FONT_FAMILY, "B" if bold else "", size)
    lines = pdf.multi_cell(width, line, printable(text), dry_run=True, output="LINES")
    return max(len(lines), 1) * line


def _facts(pdf, rows: list[list[tuple[str, str]]]) -> None:
    """A ruled box of labelled facts: each row splits the full width between its cells."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pad, label_h, line = 2.2, 4.0, 5.4
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.3)
    y = pdf.get_y()
    for row in rows:
        cell_w = width / len(row)
        height = max(
            pad + label_h + _lines_height(pdf, value, cell_w - 2 * pad, size=10.5, bold=True, line=line) + pad
            for _, value in row
        )
        for index, (label, value) in enumerate(row):
            x = pdf.l_margin + index * cell_w
            pdf.rect(x, y, cell_w, height)
            pdf.set_xy(x + pad, y + pad)
            pdf.set_font(FONT_FAMILY, "", 7.5)
            pdf.set_text_color(*_MUTED)
            pdf.cell(cell_w - 2 * pad, label_h, printable(label))
            pdf.set_xy(x + pad, y + pad + label_h)
            pdf.set_font(FONT_FAMILY, "B", 10.5)
            pdf.set_text_color(*_INK)
            pdf.multi_cell(cell_w - 2 * pad, line, printable(value), align="L")
        y += height
    pdf.set_xy(pdf.l_margin, y)


def _rows(pdf, rows: list[tuple[str, str]]) -> None:
    """Label and value pairs, the labels in a column of their own."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(FONT_FAMILY, "", _BODY_SIZE)
    label_w = min(max(24.0, *(pdf.get_string_width(printable(label)) + 5 for label, _ in rows)), width / 3)
    for label, value in rows:
        height = _lines_height(pdf, value, width - label_w, size=_BODY_SIZE, bold=True, line=_BODY_LINE)
        _ensure_room(pdf, height)
        y = pdf.get_y()
        pdf.set_font(FONT_FAMILY, "", _BODY_SIZE)
        pdf.set_text_color(*_MUTED)
        pdf.multi_cell(label_w - 3, _BODY_LINE, printable(label), align="L")
        label_bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + label_w, y)
        pdf.set_font(FONT_FAMILY, "B", _BODY_SIZE)
        pdf.set_text_color(*_INK)
        pdf.multi_cell(width - label_w, _BODY_LINE, printable(value), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), label_bottom) + 0.8)
    pdf.ln(1.5)


def _bullets(pdf, items: list[str]) -> None:
    indent = 6.0
    width = pdf.w - pdf.l_margin - pdf.r_margin - indent
    for item in items:
        _ensure_room(pdf, _BODY_LINE * 2)
        y = pdf.get_y()
        pdf.set_font(FONT_FAMILY, "", _BODY_SIZE)
        pdf.set_text_color(*_INK)
        pdf.set_xy(pdf.l_margin + 1.5, y)
        pdf.cell(indent - 1.5, _BODY_LINE, "•")
        pdf.set_xy(pdf.l_margin + indent, y)
        pdf.multi_cell(width, _BODY_LINE, printable(item), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)
    pdf.ln(1.5)


def _address_and_verification(pdf, data: NoticeData) -> None:
    """The address block on the left, where a window envelope shows it, and the verification code
    in a shaded box on the right."""
    language = data.language
    top = pdf.get_y()
    box_w = 80.0
    box_x = pdf.w - pdf.r_margin - box_w
    address_w = box_x - pdf.l_margin - 6
    for index, line in enumerate((data.applicant_name, *data.address_lines)):
        _text(pdf, line, size=11, bold=index == 0, line=5.4, width=address_w)
    address_bottom = pdf.get_y()

    pad = 3.5
    instructions = i18n.gettext(language, VERIFY_TEXT, url=data.verify_url)
    text_h = _lines_height(pdf, instructions, box_w - 2 * pad, size=8.5, bold=False, line=4.2)
    height = pad + 4 + 8 + text_h + pad
    pdf.set_fill_color(*_SHADE)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.3)
    pdf.rect(box_x, top, box_w, height, style="DF")
    pdf.set_xy(box_x + pad, top + pad)
    pdf.set_font(FONT_FAMILY, "", 8)
    pdf.set_text_color(*_MUTED)
    pdf.cell(box_w - 2 * pad, 4, printable(i18n.gettext(language, L_VERIFICATION)))
    pdf.set_xy(box_x + pad, top + pad + 4)
    pdf.set_font(FONT_FAMILY, "B", 15)
    pdf.set_text_color(*_INK)
    pdf.cell(box_w - 2 * pad, 8, format_verification_code(data.verification_code))
    pdf.set_xy(box_x + pad, top + pad + 12)
    pdf.set_font(FONT_FAMILY, "", 8.5)
    pdf.multi_cell(box_w - 2 * pad, 4.2, printable(instructions), align="L")
    pdf.set_xy(pdf.l_margin, max(address_bottom, top + height))


def _form_line(data: NoticeData, message: str) -> str:
    form = FORMS.get(data.form_type)
    title = i18n.gettext(data.language, form.title) if form else ""
    return i18n.gettext(data.language, message, code=data.form_type, title=title) if title else data.form_type


def _body(pdf, data: NoticeData) -> None:
    """What the notice says, by kind."""
    t = lambda message, **kw: i18n.gettext(data.language, message, **kw)  # noqa: E731
    kind = data.kind
    if kind == NoticeKind.RECEIPT:
        _paragraph(pdf, t(RECEIPT_INTRO))
        if data.fee_waiver_requested:
            fee_label, fee = t(L_FEE), t(FEE_WAIVER)
        elif data.fee_cents:
            fee_label, fee = t(L_FEE_RECEIVED), format_amount(data.fee_cents, data.language)
        else:
            fee_label, fee = t(L_FEE), t(NO_FEE)
        _rows(pdf, [(fee_label, fee)])
        _paragraph(pdf, t(RECEIPT_CHECK))
    elif kind in (NoticeKind.BIOMETRICS, NoticeKind.INTERVIEW):
        appointment = data.appointment
        assert appointment is not None
        if kind == NoticeKind.BIOMETRICS:
            _paragraph(pdf, t(BIOMETRICS_INTRO))
        else:
            _paragraph(pdf, t(INTERVIEW_INTRO))
            if data.form_type == "N-400":
                _paragraph(pdf, t(INTERVIEW_N400))
            if data.rescheduled:
                _paragraph(pdf, t(INTERVIEW_RESCHEDULED))
        _heading(pdf, t(H_APPOINTMENT))
        _rows(pdf, [
            (t(L_DATE), local_date(appointment.starts_at, data.language, zone=appointment.time_zone, format="full")),
            (t(L_TIME), appointment_time(appointment.starts_at, appointment.time_zone, data.language)),
            (t(L_PLACE), appointment.place),
        ])
        _heading(pdf, t(H_WHAT_TO_BRING))
        _paragraph(pdf, t(BIOMETRICS_BRING if kind == NoticeKind.BIOMETRICS else INTERVIEW_BRING))
        _heading(pdf, t(H_IF_YOU_CANNOT_COME))
        _paragraph(pdf, t(BIOMETRICS_MOVE if kind == NoticeKind.BIOMETRICS else INTERVIEW_MOVE))
    elif kind == NoticeKind.RFE:
        _paragraph(pdf, t(RFE_INTRO))
        _heading(pdf, t(H_EVIDENCE))
        _bullets(pdf, [t(OTHER_EVIDENCE if code == "other" else evidence_label(data.form_type, code))
                       for code in data.evidence_items])
        if data.evidence_instructions.strip():
            _heading(pdf, t(H_INSTRUCTIONS))
            _paragraph(pdf, data.evidence_instructions.strip())
        _heading(pdf, t(H_DUE))
        due = local_date(data.evidence_due_at, data.language) if data.evidence_due_at else ""
        _text(pdf, t(RFE_DUE, date=due), bold=True, after=2)
        _paragraph(pdf, t(RFE_HOW))
        _paragraph(pdf, t(RFE_LATE))
    elif kind == NoticeKind.APPROVAL:
        _text(pdf, _form_line(data, APPROVAL_INTRO), bold=True, size=11.5, line=6, after=2)
        _heading(pdf, t(H_NEXT))
        steps = set(data.after_approval)
        if steps & {"card_produced", "card_mailed"}:
            _paragraph(pdf, t(APPROVAL_CARD))
        if "oath" in steps:
            _paragraph(pdf, t(APPROVAL_OATH))
        if "dos" in steps:
            _paragraph(pdf, t(APPROVAL_DOS))
        elif data.form_type == "I-130":
            _paragraph(pdf, t(APPROVAL_I130))
        if not steps:
            _paragraph(pdf, t(APPROVAL_OTHER))
    elif kind == NoticeKind.DENIAL:
        _text(pdf, _form_line(data, DENIAL_INTRO), bold=True, size=11.5, line=6, after=2)
        _heading(pdf, t(H_WHY))
        label = DENIAL_REASONS.get(data.reason_code or "")
        if label:
            _rows(pdf, [(t(L_REASON), t(label))])
        if data.reason_text and data.reason_text.strip():
            # The officer's words (or, for a decision the system made, a message to translate).
            _paragraph(pdf, t(data.reason_text.strip()))
        _heading(pdf, t(H_WHAT_YOU_CAN_DO))
        _paragraph(pdf, t(DENIAL_OPTIONS))
    elif kind == NoticeKind.CARD_MAILED:
        _paragraph(pdf, t(CARD_INTRO))
        _rows(pdf, [(t(L_TRACKING), data.tracking_number or "")])
        _paragraph(pdf, t(CARD_TRACKING))
        _paragraph(pdf, t(CARD_MISSING))


def render_notice_pdf(data: NoticeData) -> bytes:
    """The notice as a PDF (US Letter, Public Sans embedded), in ``data.language``."""
    if not FONT_REGULAR.is_file() or not FONT_BOLD.is_file():
        raise FileNotFoundError(f"the notice font is missing at {FONT_DIR}: run `make install` (it installs node_modules)")
    language = i18n.normalize_language(data.language)
    if language != data.language:
        data = replace(data, language=language)
    t = lambda message, **kw: i18n.gettext(language, message, **kw)  # noqa: E731
    title = t(NOTICE_TITLES[data.kind])
    pdf = _make_pdf(data, title)
    pdf.add_page()

    # Agency line and a rule.
    _text(pdf, t(AGENCY), size=11, bold=True, color=_ACCENT, line=6)
    y = pdf.get_y() + 1
    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 5)

    _text(pdf, title, size=20, bold=True, line=9)
    if data.kind in (NoticeKind.RECEIPT, NoticeKind.BIOMETRICS, NoticeKind.RFE, NoticeKind.INTERVIEW):
        _text(pdf, t(NOT_A_BENEFIT), size=9, color=_MUTED, line=4.8)
    pdf.ln(4)

    form = FORMS.get(data.form_type)
    form_value = f"{data.form_type} — {t(form.title)}" if form else data.form_type
    person = t(L_PETITIONER) if data.form_type == "I-130" else t(L_APPLICANT)
    people = [(person, data.applicant_name)]
    if data.beneficiary_name:
        people.append((t(L_BENEFICIARY), data.beneficiary_name))
    _facts(pdf, [
        [(t(L_RECEIPT_NUMBER), data.receipt_number), (t(L_NOTICE_DATE), local_date(data.issued_at, language)),
         (t(L_RECEIVED_DATE), local_date(data.received_at, language))],
        [(t(L_FORM), form_value)],
        people,
    ])

    pdf.ln(7)
    _address_and_verification(pdf, data)
    pdf.ln(7)

    _body(pdf, data)
    pdf.ln(2)
    _text(pdf, t(KEEP_TEXT), size=9, color=_MUTED, line=4.6)
    return bytes(pdf.output())


__all__ = [
    "APPOINTMENT_FOR_NOTICE", "CODE_ALPHABET", "CODE_LENGTH", "NOTICE_FILE_NAMES", "NOTICE_FOR_STATUS", "NOTICE_KINDS",
    "NOTICE_TITLES", "NoticeAppointment", "NoticeData", "NoticeKind", "appointment_time",
    "format_verification_code", "issue_notice", "local_date", "looks_like_verification_code", "mailing_address",
    "new_verification_code", "normalize_verification_code", "notice_data", "notice_file_name", "notice_kind_for",
    "notice_title", "notices_for_case", "person_name", "printable", "render_notice_pdf", "verify_notice",
]
