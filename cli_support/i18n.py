"""Languages of every user interface: one gettext catalog system for the command line and the web.

The catalogs are the ``.po`` files under ``cli_support/locales`` (the reviewable source), one per
language, shared by ``petition ui`` (webui/) and the commands (client/cli/, petition/cli.py):
the same event has the same name in the browser and on the terminal. They are compiled into
memory with Babel when first used, so no ``.mo`` file has to be kept in step with them and
nothing is written to disk. Messages are marked with ``_`` (translated now) or ``N_``
(translated where shown), which is what Babel's extractor and the catalog tests look for
(tests/ui/test_catalogs.py for the web UI, tests/clients/test_cli_catalogs.py for the commands).

The web UI picks its language per request (webui/i18n.py). A command picks it once per process
(:func:`choose`): ``--lang``, else ``PETITION_LANG``, else the locale (``LC_ALL``,
``LC_MESSAGES``, ``LANG``: ``zh…`` is Chinese), else English.
"""

from __future__ import annotations

import gettext as _gettext
import os
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from io import BytesIO

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("zh", "en")
#: The catalog directory (a gettext locale name) of each language.
CATALOG_DIRS = {"zh": "zh_CN", "en": "en"}
#: The Babel locale used for dates and numbers.
BABEL_LOCALES = {"zh": "zh_Hans_CN", "en": "en"}
#: The command line's language when neither a flag, PETITION_LANG nor the locale names one.
CLI_DEFAULT_LANGUAGE = "en"
#: The environment variables that name the locale of messages, strongest first (POSIX).
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def N_(message: str) -> str:
    """Mark a message for the catalogs without translating it yet (tables of messages).

    The name is the gettext convention that Babel's extractor knows.
    """
    return message


def catalog_path(language: str) -> resources.abc.Traversable:
    return resources.files("cli_support").joinpath(
        "locales", CATALOG_DIRS[language], "LC_MESSAGES", "messages.po"
    )


@cache
def load_translation(language: str) -> _gettext.GNUTranslations:
    """One language's catalog, compiled from its ``.po`` source in memory (once a process)."""
    with catalog_path(language).open("rb") as source:
        catalog = read_po(source, locale=BABEL_LOCALES[language])
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def load_translations() -> dict[str, _gettext.GNUTranslations]:
    """Every language's catalog."""
    return {language: load_translation(language) for language in LANGUAGES}


class Translator:
    """One language's messages, dates and numbers (a web request's, or a command's)."""

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


# --- The command line: one language per process -------------------------------------------------


def language_of(name: str | None) -> str | None:
    """``zh``, ``zh_CN.UTF-8``, ``zh-Hans``… → ``zh``; ``en…`` → ``en``; anything else → None."""
    if not name:
        return None
    base = name.strip().lower().replace("-", "_").split(".", 1)[0].split("_", 1)[0]
    return base if base in LANGUAGES else None


def cli_language(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The command line's language: ``--lang``, ``PETITION_LANG``, the locale, else English.

    Of the locale variables the first one set decides, as for every POSIX program: a set
    ``LC_ALL=C`` means "no translation" even under ``LANG=zh_CN.UTF-8``.
    """
    env = os.environ if environ is None else environ
    for explicit in (flag, env.get("PETITION_LANG")):
        chosen = language_of(explicit)
        if chosen is not None:
            return chosen
    for variable in LOCALE_VARIABLES:
        value = env.get(variable)
        if value:
            return language_of(value) or CLI_DEFAULT_LANGUAGE
    return CLI_DEFAULT_LANGUAGE


_chosen: list[str] = []


def choose(language: str) -> Translator:
    """Make ``language`` the command line's for the rest of the process."""
    _chosen[:] = [language]
    return translator()


def translator() -> Translator:
    """The command line's translator (chosen from the environment if nothing chose one)."""
    if not _chosen:
        _chosen.append(cli_language())
    language = _chosen[0]
    return Translator(language, {language: load_translation(language)})


def _(message: str, **variables: object) -> str:
    """``message`` in the command line's language, with its ``%(name)s`` values filled in."""
    return translator().gettext(message, **variables)
