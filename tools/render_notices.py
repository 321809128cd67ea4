"""Render one sample of every notice kind, in English and Spanish, for a person to look at.

    .venv/bin/python tools/render_notices.py /tmp/notices

Writes ``<kind>-<language>.pdf`` and the first page of each as ``<kind>-<language>.png`` into the
directory given. The samples are made up (no database needed); they use the same renderer as the
notices the case projection issues (``models.notices.render_notice_pdf``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.notices import (  # noqa: E402
    NOTICE_KINDS,
    NoticeAppointment,
    NoticeData,
    NoticeKind,
    new_verification_code,
    render_notice_pdf,
)
from models.scheduling import office_time_zone  # noqa: E402

ISSUED = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
COMMON = dict(
    receipt_number="IOE2703800001",
    form_type="I-765",
    issued_at=ISSUED,
    received_at=RECEIVED,
    applicant_name="Thị Ngọc Nguyễn-Müller",
    address_lines=("4821 North Broadway Street, Apartment 12B", "Chicago, IL 60640-3107"),
    verify_url="http://localhost:8000/verify",
)
SAMPLES: dict[NoticeKind, dict] = {
    NoticeKind.RECEIPT: dict(fee_cents=47_000),
    NoticeKind.BIOMETRICS: dict(
        appointment=NoticeAppointment(
            starts_at=datetime(2026, 12, 8, 14, 20, tzinfo=UTC),
            place="Chicago Application Support Center, 5851 West Cermak Road, Chicago, IL",
            time_zone=office_time_zone("IL"),
        ),
    ),
    NoticeKind.RFE: dict(
        evidence_items=("photos", "i94_or_passport", "eligibility_proof", "other"),
        evidence_instructions=(
            "The photos you sent are more than 30 days old. Send two new photos, and a copy of the receipt "
            "notice of your pending asylum application (Form I-589)."
        ),
        evidence_due_at=datetime(2027, 2, 18, 4, 59, tzinfo=UTC),
    ),
    NoticeKind.INTERVIEW: dict(
        form_type="N-400",
        appointment=NoticeAppointment(
            starts_at=datetime(2027, 1, 12, 15, 0, tzinfo=UTC),
            place="Chicago Field Office, 101 West Congress Parkway, Chicago, IL",
            time_zone=office_time_zone("IL"),
        ),
        rescheduled=True,
    ),
    NoticeKind.APPROVAL: dict(after_approval=("card_produced", "card_mailed")),
    NoticeKind.DENIAL: dict(
        reason_code="insufficient_evidence",
        reason_text=(
            "The evidence in the record does not show that your asylum application was pending for the "
            "time the category requires. You did not answer the request for evidence with the receipt notice."
        ),
    ),
    NoticeKind.CARD_MAILED: dict(tracking_number="9400111899223344556677"),
}


def sample(kind: NoticeKind, language: str) -> NoticeData:
    return NoticeData(
        kind=kind, language=language, verification_code=new_verification_code(), **{**COMMON, **SAMPLES[kind]}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where to write the PDFs and PNGs")
    parser.add_argument("--scale", type=float, default=1.5, help="PNG resolution: 1 = 72 dots per inch")
    args = parser.parse_args(argv)

    import pypdfium2

    args.directory.mkdir(parents=True, exist_ok=True)
    for kind in NOTICE_KINDS:
        for language in ("en", "es"):
            pdf = render_notice_pdf(sample(kind, language))
            stem = args.directory / f"{kind.value}-{language}"
            stem.with_suffix(".pdf").write_bytes(pdf)
            document = pypdfium2.PdfDocument(pdf)
            try:
                pages = len(document)
                image = document[0].render(scale=args.scale).to_pil()
                image.save(stem.with_suffix(".png"))
            finally:
                document.close()
            print(f"{stem}.pdf ({pages} page{'s' if pages != 1 else ''}, {len(pdf):,} bytes) and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
