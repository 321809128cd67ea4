"""Translations shared by the web app and the activities that write emails and notices.

Strings in Python code are marked with ``N_`` (extracted by Babel, translated where shown);
templates use the Jinja2 i18n extension with ``_()`` / ``{% trans %}``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

ROOT = Path(__file__).resolve().parent
TRANSLATIONS_DIR = ROOT / "translations"
TEMPLATES_DIR = ROOT / "templates"
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def normalize_language(code: str | None) -> str:
    code = (code or "").strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache
def get_translations(language: str) -> NullTranslations:
    language = normalize_language(language)
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    translations = Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")
    if not isinstance(translations, Translations):
        # English rather than a broken page or a mail that never leaves; the i18n tests catch this.
        logging.getLogger("caseline.i18n").error(
            "no compiled catalog for %r in %s: run `make install` (it compiles translations)", language, TRANSLATIONS_DIR
        )
    return translations


def gettext(language: str, message: str, **variables: object) -> str:
    text = get_translations(language).gettext(message)
    return text % variables if variables else text


@pass_context
def _ctx_gettext(context, message: str) -> str:
    return get_translations(context.get("lang", DEFAULT_LANGUAGE)).gettext(message)


@pass_context
def _ctx_ngettext(context, singular: str, plural: str, n: int) -> str:
    return get_translations(context.get("lang", DEFAULT_LANGUAGE)).ngettext(singular, plural, n)


@pass_context
def _ctx_pgettext(context, ctx: str, message: str) -> str:
    return get_translations(context.get("lang", DEFAULT_LANGUAGE)).pgettext(ctx, message)


def make_environment(directory: Path = TEMPLATES_DIR) -> Environment:
    """A Jinja2 environment whose ``_()`` follows the ``lang`` variable of each render."""
    env = Environment(
        loader=FileSystemLoader(str(directory)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_ctx_gettext, ngettext=_ctx_ngettext, pgettext=_ctx_pgettext, newstyle=True
    )
    return env
