"""Every string a petitioner reads comes from the gettext catalogs, in both languages.

Messages are extracted from webui/ with Babel's own extractors (Python and Jinja), as
``pybabel extract`` would: each must be translated in the Chinese and the English catalog with
the same placeholders, the Chinese text must actually be Chinese, no catalog entry may be left
over (the command line shares the catalogs: tests/support/cli_catalogs.py), and the templates
may hold no words outside a gettext call.
"""

from __future__ import annotations

import configparser
from fnmatch import fnmatch
from pathlib import Path

import pytest
from cli_catalogs import extracted_cli_messages
from webui_catalogs import catalog, extract_messages, translation_problems, words_outside_gettext

from crypto import document
from webui import i18n
from webui.forms import CHOICES, FIELDS

#: Drives Debian's Chromium: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WEBUI = ROOT / "webui"
#: Messages that are the same in every language (units after a number).
UNTRANSLATED = {"%(kib)s KiB", "%(mib)s MiB"}


def _extracted() -> dict[str, list[str]]:
    return extract_messages(WEBUI)


def test_the_code_and_templates_use_messages() -> None:
    extracted = _extracted()
    assert len(extracted) > 100
    assert "Encrypt and submit" in extracted  # a template
    assert "The two passphrases differ." in extracted  # Python code
    assert "Real name" in extracted  # a table marked with N_


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    problems = translation_problems(language, _extracted(), UNTRANSLATED)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_no_catalog_entry_is_left_over(language: str) -> None:
    used = set(_extracted()) | set(extracted_cli_messages())  # one catalog for both interfaces
    # A plural entry's id is its (singular, plural) pair.
    ids = [entry.id for entry in catalog(language) if entry.id]
    stale = [i for i in ids if (i[0] if isinstance(i, tuple) else i) not in used]
    assert not stale
    assert not list(catalog(language).obsolete)


def test_the_catalogs_compile_and_differ() -> None:
    translations = i18n.load_translations()
    assert translations["zh"].gettext("Encrypt and submit") == "加密并提交"
    assert translations["en"].gettext("Encrypt and submit") == "Encrypt and submit"


@pytest.mark.parametrize(
    "template", sorted((WEBUI / "templates").glob("*.html")), ids=lambda path: path.name
)
def test_templates_hold_no_words_outside_gettext(template: Path) -> None:
    words = words_outside_gettext(template)
    assert not words, words


def test_form_limits_are_the_documents() -> None:
    """The inputs' maxlength and the inline messages use the petition document's limits."""
    limits = {**document._IDENTITY_TEXT, **document._CASE_TEXT}
    for field in FIELDS:
        minimum, maximum, multi_line = limits[field.name]
        assert (field.max_chars, field.multi_line) == (maximum, multi_line), field.name
        assert field.required == (minimum > 0), field.name
    assert {field.name for field in FIELDS} == set(limits) - {"id_scheme"}


def test_templates_static_files_and_catalogs_are_package_data() -> None:
    """A non-editable install ships everything the UI reads (setup.cfg package_data)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    patterns = config["options.package_data"]["webui"].split()
    files = [
        path.relative_to(WEBUI).as_posix()
        for path in WEBUI.rglob("*")
        if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
    ]
    assert files
    assert all(any(fnmatch(name, pattern) for pattern in patterns) for name in files), files


def test_the_choices_are_the_documents_consent() -> None:
    """The form's two choices are the sealed identity's consent, with the same defaults."""
    consent = document.Consent()
    assert {choice.name: choice.default for choice in CHOICES} == {
        "consent_contact": consent.contact,
        "consent_share_identity_on_transfer": consent.share_identity_on_transfer,
    }
