"""Every message of the petitioner's commands is in the shared catalogs, in both languages.

The command line and the web UI share one catalog system (cli_support/i18n.py, the catalogs in
cli_support/locales). The messages marked in the modules of tests/support/cli_catalogs.py must
each be translated in the Chinese and the English catalog, with the same placeholders, the
Chinese actually Chinese; the language is chosen by ``--lang``, PETITION_LANG or the locale.
"""

from __future__ import annotations

import configparser
import re
from fnmatch import fnmatch

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from cli_catalogs import ROOT, extracted_cli_messages

from cli_support import i18n
from cli_support.messages import EVENT_TEXT

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Units after a number: the same in every language.
UNITS = {"%(kib)s KiB", "%(mib)s MiB"}


def _has_words(message: str) -> bool:
    """Whether anything but placeholders and punctuation is to be translated (": " is not)."""
    return any(character.isalpha() for character in PLACEHOLDER.sub("", message))


def _catalog(language: str) -> Catalog:
    with i18n.catalog_path(language).open("rb") as source:
        return read_po(source, locale=i18n.BABEL_LOCALES[language])


def test_the_petitioner_modules_mark_their_messages() -> None:
    extracted = extracted_cli_messages()
    assert len(extracted) > 100
    assert "Your real name" in extracted  # prompts.py, a constant marked with N_
    assert "cancelled; nothing was sent" in extracted  # petitioner.py
    assert "%(num)s days left" in extracted  # a plural
    assert "Received" in extracted  # an event: the web UI's msgid (cli_support/messages.py)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_cli_message_is_translated(language: str) -> None:
    catalog = _catalog(language)
    problems = []
    for message, places in extracted_cli_messages().items():
        entry = catalog.get(message)
        if entry is None:  # the plural form of an entry: the singular is its key
            entry = next((item for item in catalog if isinstance(item.id, tuple)
                          and message in item.id), None)  # fmt: skip
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"{message!r} ({places[0]}): missing or untranslated")
            continue
        forms = entry.string if isinstance(entry.string, (tuple, list)) else (entry.string,)
        for translated in map(str, forms):
            if not translated:
                problems.append(f"{message!r} ({places[0]}): a plural form is empty")
            elif set(PLACEHOLDER.findall(translated)) != set(PLACEHOLDER.findall(message)):
                problems.append(f"{message!r}: placeholders differ in {translated!r}")
            elif (
                language == "zh"
                and message not in UNITS
                and _has_words(message)
                and not CJK.search(translated)
            ):
                problems.append(f"{message!r}: not translated into Chinese ({translated!r})")
    assert not problems, "\n".join(problems)


def test_one_catalog_system_serves_both_interfaces() -> None:
    """The web UI's machinery is the command line's (webui/i18n.py imports it), and an event
    has the same name in the browser and on the terminal."""
    from webui import i18n as web

    assert web.Translator is i18n.Translator
    assert web.load_translations is i18n.load_translations
    zh = i18n.Translator("zh", i18n.load_translations())
    assert zh.gettext(EVENT_TEXT["received"]) == "已收到"
    assert zh.gettext("cancelled; nothing was sent") == "已取消；没有发送任何内容"
    assert zh.ngettext("%(num)s day left", "%(num)s days left", 3) == "还剩 3 天"
    en = i18n.Translator("en", i18n.load_translations())
    assert en.ngettext("%(num)s day left", "%(num)s days left", 1) == "1 day left"


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (None, {}, "en"),
        (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh"),
        (None, {"LANG": "de_DE.UTF-8"}, "en"),
        (None, {"LANG": "C.UTF-8"}, "en"),
        (None, {"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL decides
        (None, {"PETITION_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
        (None, {"PETITION_LANG": "zh"}, "zh"),
        (None, {"PETITION_LANG": "fr", "LANG": "zh_CN.UTF-8"}, "zh"),  # unknown: ignored
        ("en", {"PETITION_LANG": "zh", "LANG": "zh_CN.UTF-8"}, "en"),  # --lang wins
        ("zh", {}, "zh"),
    ],
)
def test_the_language_of_the_command_line(
    flag: str | None, environ: dict[str, str], expected: str
) -> None:
    assert i18n.cli_language(flag, environ) == expected


def test_the_catalogs_are_package_data() -> None:
    """A non-editable install ships the catalogs both interfaces read (setup.cfg)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    patterns = config["options.package_data"]["cli_support"].split()
    files = [path.relative_to(ROOT / "cli_support").as_posix()
             for path in (ROOT / "cli_support" / "locales").rglob("*.po")]  # fmt: skip
    assert sorted(files) == ["locales/en/LC_MESSAGES/messages.po",
                             "locales/zh_CN/LC_MESSAGES/messages.po"]  # fmt: skip
    assert all(any(fnmatch(name, pattern) for pattern in patterns) for name in files)
