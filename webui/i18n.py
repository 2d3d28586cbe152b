"""Languages of the web UI: Simplified Chinese first, English on request.

The catalogs and their machinery (``N_``, :class:`Translator`, loading the ``.po`` files) are
shared with the command line and live in :mod:`cli_support.i18n` (one catalog system, not
two); what is web-specific stays here: the default language, the page's ``lang`` attribute,
the language switch, and ``Accept-Language`` negotiation.
"""

from __future__ import annotations

from werkzeug.datastructures import LanguageAccept

from cli_support.i18n import BABEL_LOCALES as BABEL_LOCALES
from cli_support.i18n import CATALOG_DIRS as CATALOG_DIRS
from cli_support.i18n import LANGUAGES as LANGUAGES
from cli_support.i18n import N_ as N_
from cli_support.i18n import Translator as Translator
from cli_support.i18n import catalog_path as catalog_path
from cli_support.i18n import load_translations as load_translations

DEFAULT_LANGUAGE = "zh"
#: The ``lang`` attribute of the page: the script matters to fonts and screen readers.
HTML_LANG = {"zh": "zh-Hans", "en": "en"}
#: Each language's name in itself, for the switch (never translated: a reader who cannot read
#: the current language must still find their own).
NATIVE_NAMES = {"zh": "中文", "en": "English"}


def negotiate(accept: LanguageAccept) -> str:
    """The browser's preference (``Accept-Language``) between our languages; Chinese if none."""
    best = accept.best_match(LANGUAGES)
    return best if best in LANGUAGES else DEFAULT_LANGUAGE
