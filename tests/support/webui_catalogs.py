"""What the web apps' catalog tests share: Babel's extraction of a folder of webui/, the
catalogs as Babel reads them, the rules every extracted message must meet, and the words a
template shows outside a gettext call.

tests/ui/test_catalogs.py applies them to all of webui/ (the petitioner's UI, the desk
included), tests/ui/test_desk_catalogs.py to the reviewer's desk alone; one set of rules, so
that the two cannot disagree on what "translated" means.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from webui import i18n

#: As ``pybabel extract`` would: the Jinja templates and the Python code.
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Attributes a person reads or hears (a screen reader speaks ``alt`` and ``aria-label``).
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description"}


def extract_messages(folder: Path) -> dict[str, list[str]]:
    """Each marked message of ``folder`` (a plural's forms one by one) and where it is."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(folder), METHODS):
        messages = message if isinstance(message, tuple) else (message,)
        for text in messages:
            if text:
                found.setdefault(text, []).append(f"{filename}:{lineno}")
    return found


def catalog(language: str) -> Catalog:
    with i18n.catalog_path(language).open("rb") as source:
        return read_po(source, locale=i18n.BABEL_LOCALES[language])


def translation_problems(
    language: str, messages: dict[str, list[str]], untranslated: Collection[str] = ()
) -> list[str]:
    """Every message of ``messages`` that ``language``'s catalog lacks, leaves untranslated or
    fuzzy, translates with other placeholders, or (in Chinese) does not translate into Chinese
    (but for the ``untranslated`` ones, the same in every language)."""
    entries = catalog(language)
    problems = []
    for message, places in messages.items():
        entry = entries.get(message)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"{message!r} ({places[0]}): missing or untranslated")
            continue
        translated = entry.string if isinstance(entry.string, str) else entry.string[0]
        if set(PLACEHOLDER.findall(translated)) != set(PLACEHOLDER.findall(message)):
            problems.append(f"{message!r}: placeholders differ in {translated!r}")
        if language == "zh" and message not in untranslated and not CJK.search(translated):
            problems.append(f"{message!r}: not translated into Chinese ({translated!r})")
    return problems


class _Text(HTMLParser):
    """The words of a template once every Jinja construct is removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []

    def handle_data(self, data: str) -> None:
        self.words.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.words += [value or "" for name, value in attrs if name in READ_ATTRIBUTES]


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(character).startswith("L") for character in text)


def words_outside_gettext(template: Path) -> list[str]:
    """The words ``template`` shows (text and read attributes) that no gettext call gives."""
    source = template.read_text(encoding="utf-8")
    bare = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "", source, flags=re.DOTALL)
    parser = _Text()
    parser.feed(bare)
    return [text.strip() for text in parser.words if _has_letters(text)]
