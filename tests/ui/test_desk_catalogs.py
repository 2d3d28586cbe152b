"""Every string of the reviewer's desk (webui/desk) is in the gettext catalogs, in both languages.

tests/ui/test_catalogs.py extracts all of webui/ (the desk included) for the petitioner UI's
rules; this file states the desk's own: its messages are found (templates and Python), each is
translated in the Chinese and the English catalog with the same placeholders, the Chinese is
Chinese, and the desk's templates hold no words outside a gettext call. The rules themselves
are tests/support/webui_catalogs.py's, the same as the petitioner UI's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from webui_catalogs import extract_messages, translation_problems, words_outside_gettext

from webui import i18n

#: The catalogs are compiled for Chromium's pages too; CI runs it with them (README, Tests).
pytestmark = pytest.mark.browser

DESK = Path(__file__).resolve().parents[2] / "webui" / "desk"


def test_the_desk_marks_its_messages() -> None:
    extracted = extract_messages(DESK)
    assert len(extracted) > 100
    assert "Check what will be public" in extracted  # a template
    assert "Choose the reason category." in extracted  # Python code
    assert "Acknowledge, forward or answer" in extracted  # a table marked with N_


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_desk_message_is_translated(language: str) -> None:
    problems = translation_problems(language, extract_messages(DESK))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "template", sorted((DESK / "templates").glob("*.html")), ids=lambda path: path.name
)
def test_desk_templates_hold_no_words_outside_gettext(template: Path) -> None:
    words = words_outside_gettext(template)
    assert not words, words
