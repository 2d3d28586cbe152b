"""Every string of the reviewer's desk (webui/desk) is in the gettext catalogs, in both languages.

tests/ui/test_catalogs.py extracts all of webui/ (the desk included) for the petitioner UI's
rules; this file states the desk's own: its messages are found (templates and Python), each is
translated in the Chinese and the English catalog with the same placeholders, the Chinese is
Chinese, and the desk's templates hold no words outside a gettext call.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from webui import i18n

#: The catalogs are compiled for Chromium's pages too; CI runs it with them (README, Tests).
pytestmark = pytest.mark.browser

DESK = Path(__file__).resolve().parents[2] / "webui" / "desk"
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CJK = re.compile(r"[\u4e00-\u9fff]")
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description"}


def _extracted() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(DESK), METHODS):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{lineno}")
    return found


def _catalog(language: str) -> Catalog:
    with i18n.catalog_path(language).open("rb") as source:
        return read_po(source, locale=i18n.BABEL_LOCALES[language])


def test_the_desk_marks_its_messages() -> None:
    extracted = _extracted()
    assert len(extracted) > 100
    assert "Check what will be public" in extracted  # a template
    assert "Choose the reason category." in extracted  # Python code
    assert "Acknowledge, forward or answer" in extracted  # a table marked with N_


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_desk_message_is_translated(language: str) -> None:
    catalog = _catalog(language)
    plural_ids = {entry.id[1]: entry for entry in catalog if isinstance(entry.id, tuple)}
    problems = []
    for message, place in _extracted().items():
        entry = catalog.get(message) or plural_ids.get(message)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"{message!r} ({place}): missing or untranslated")
            continue
        translated = entry.string if isinstance(entry.string, str) else entry.string[0]
        if set(PLACEHOLDER.findall(translated)) != set(PLACEHOLDER.findall(message)):
            problems.append(f"{message!r}: placeholders differ in {translated!r}")
        if language == "zh" and not CJK.search(translated):
            problems.append(f"{message!r}: not translated into Chinese ({translated!r})")
    assert not problems, "\n".join(problems)


class _Text(HTMLParser):
    """The words of a template once every Jinja construct is removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []

    def handle_data(self, data: str) -> None:
        self.words.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.words += [value or "" for name, value in attrs if name in READ_ATTRIBUTES]


@pytest.mark.parametrize(
    "template", sorted((DESK / "templates").glob("*.html")), ids=lambda path: path.name
)
def test_desk_templates_hold_no_words_outside_gettext(template: Path) -> None:
    source = template.read_text(encoding="utf-8")
    bare = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "", source, flags=re.DOTALL)
    parser = _Text()
    parser.feed(bare)
    words = [text.strip() for text in parser.words if any(
        unicodedata.category(character).startswith("L") for character in text
    )]  # fmt: skip
    assert not words, words
