"""Fixtures and options for the whole suite.

The plugin modules live in tests/support, which pyproject.toml puts on ``sys.path``
(``pythonpath``) before any conftest is imported. ``pytest_plugins`` is only honoured in a
conftest loaded at start-up; this one is, both for the whole suite and for a single test file,
which is also why the suite's options are registered here and not in the folder that uses them
(an option in tests/ui/conftest.py would be unknown to ``pytest tests/clients``).
The locale of the programs the suite starts is English (below).
``clean_checkout`` fails a run that changed the git checkout.
"""

import os

import pytest

pytest_plugins = ["pg_fixtures", "clean_checkout"]

# The command line speaks the locale's language (cli_support/i18n.py), and every program the
# suite starts inherits this environment: the expected lines are English unless a test asks
# for another language itself (LANG=zh_CN.UTF-8 in tests/clients/test_interactive.py).
for _variable in ("PETITION_LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_variable, None)
os.environ["LANG"] = "C.UTF-8"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        default=False,
        help="write the browser tests' screenshots into docs/screenshots/ (./dev.sh "
        "screenshots); without it they go to temporary folders and the checkout stays clean",
    )
