"""Languages: Simplified Chinese first, English on request; every string from a gettext catalog.

The catalogs are the ``.po`` files under ``webui/locales`` (the reviewable source), compiled
into memory with Babel when the UI starts, so no ``.mo`` file has to be kept in step with them
and nothing is written to disk. Messages are marked with ``_`` (translated now) or ``N_``
(translated where shown), which is what Babel's extractor and tests/ui/test_catalogs.py look
for.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Mapping
from datetime import date
from importlib import resources
from io import BytesIO

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from werkzeug.datastructures import LanguageAccept

DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")
#: The catalog directory (a gettext locale name) of each language.
CATALOG_DIRS = {"zh": "zh_CN", "en": "en"}
#: The ``lang`` attribute of the page: the script matters to fonts and screen readers.
HTML_LANG = {"zh": "zh-Hans", "en": "en"}
#: The Babel locale used for dates and numbers.
BABEL_LOCALES = {"zh": "zh_Hans_CN", "en": "en"}
#: Each language's name in itself, for the switch (never translated: a reader who cannot read
#: the current language must still find their own).
NATIVE_NAMES = {"zh": "中文", "en": "English"}


def N_(message: str) -> str:
    """Mark a message for the catalogs without translating it yet (tables of messages).

    The name is the gettext convention that Babel's extractor knows.
    """
    return message


def catalog_path(language: str) -> resources.abc.Traversable:
    return resources.files("webui").joinpath(
        "locales", CATALOG_DIRS[language], "LC_MESSAGES", "messages.po"
    )


def load_translations() -> dict[str, _gettext.GNUTranslations]:
    """Every language's catalog, compiled from its ``.po`` source in memory."""
    loaded: dict[str, _gettext.GNUTranslations] = {}
    for language in LANGUAGES:
        with catalog_path(language).open("rb") as source:
            catalog = read_po(source, locale=BABEL_LOCALES[language])
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded[language] = _gettext.GNUTranslations(compiled)
    return loaded


def negotiate(accept: LanguageAccept) -> str:
    """The browser's preference (``Accept-Language``) between our languages; Chinese if none."""
    best = accept.best_match(LANGUAGES)
    return best if best in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """One language's messages, dates and numbers, for one request."""

    def __init__(self, language: str, translations: Mapping[str, _gettext.GNUTranslations]):
        self.language = language
        self._catalog = translations[language]

    def gettext(self, message: str, **variables: object) -> str:
        text = self._catalog.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, count: int, **variables: object) -> str:
        text = self._catalog.ngettext(singular, plural, count)
        return text % {"num": count, **variables}

    def day(self, iso_day: str) -> str:
        """A protocol day (YYYY-MM-DD) as a reader of this language writes it."""
        if not iso_day:
            return ""
        return format_date(date.fromisoformat(iso_day), "long", locale=BABEL_LOCALES[self.language])

    def size(self, length: int) -> str:
        """A byte count in KiB or MiB with the language's number format."""
        locale = BABEL_LOCALES[self.language]
        if length < 1024 * 1024:
            kib = format_decimal(max(length / 1024, 0.1), "#,##0.#", locale=locale)
            return self.gettext("%(kib)s KiB", kib=kib)
        mib = format_decimal(length / (1024 * 1024), "#,##0.#", locale=locale)
        return self.gettext("%(mib)s MiB", mib=mib)
