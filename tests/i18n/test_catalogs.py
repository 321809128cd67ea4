"""Every user-facing string is translatable and has a Spanish translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

import i18n
from models.domain import STAGE_LABELS, STATUS_TEXT
from models.forms import FORMS

ROOT = Path(__file__).resolve().parents[2]
SPANISH = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"


def _catalog():
    with SPANISH.open("rb") as f:
        return read_po(f)


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_spanish_catalog_translates_everything_without_fuzzy_entries():
    catalog = _catalog()
    untranslated = [m.id for m in catalog if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    problems = [(m.id, err) for m in catalog if m.id for err in m.check(catalog)]
    assert problems == []  # placeholders such as %(receipt)s match


def test_catalog_holds_every_string_in_the_code_and_templates(tmp_path):
    """Re-extract the sources: a string added without updating the catalogs fails here."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "N_", "--no-location",
         "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    with pot.open("rb") as f:
        extracted = _ids(read_po(f))
    missing = sorted(extracted - _ids(_catalog()))
    assert missing == [], f"run `make extract-messages` and translate: {missing[:10]}"


def test_status_titles_forms_and_stages_are_in_spanish():
    texts = [t.title for t in STATUS_TEXT.values()] + [t.explanation for t in STATUS_TEXT.values()]
    texts += list(STAGE_LABELS.values())
    for form in FORMS.values():
        texts += [form.title] + [f.label for f in form.fields] + [c.label for f in form.fields for c in f.choices if c.label != c.value]
    # Looked up in the catalog: some labels are the same in Spanish ("Chile", "No").
    catalog = read_po((ROOT / "translations/es/LC_MESSAGES/messages.po").open("rb"))
    untranslated = [t for t in texts if not ((entry := catalog.get(t)) and entry.string)]
    assert untranslated == []
    # ...and the compiled catalog is the one pages and emails use.
    assert i18n.gettext("es", "Case Was Received") == "Se recibió el caso"
    assert i18n.gettext("es", "Request evidence") != "Request evidence"


def test_unknown_language_falls_back_to_english():
    assert i18n.normalize_language("fr-CA") == "en"
    assert i18n.normalize_language("ES") == "es"
    assert i18n.gettext("de", "Case Was Received") == "Case Was Received"


def test_literal_messages_given_to_gettext_with_a_language_are_marked_for_extraction():
    """`i18n.gettext(lang, "...")` hides the literal from Babel; it must be wrapped in N_()."""
    import re

    pattern = re.compile(r"""gettext\(\s*[\w.]+\s*,\s*["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("models", "workflows", "activities", "web")
        for path in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
