"""Fixtures and options for the whole suite.

The plugin modules live in tests/support, which pyproject.toml puts on ``sys.path``
(``pythonpath``) before any conftest is imported. ``pytest_plugins`` is only honoured in a
conftest loaded at start-up; this one is, both for the whole suite and for a single test file,
which is also why the suite's options are registered here and not in the folder that uses them
(an option in tests/ui/conftest.py would be unknown to ``pytest tests/clients``).
``clean_checkout`` fails a run that changed the git checkout.
"""

import pytest

pytest_plugins = ["pg_fixtures", "clean_checkout"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        default=False,
        help="write the browser tests' screenshots into docs/screenshots/ (./dev.sh "
        "screenshots); without it they go to temporary folders and the checkout stays clean",
    )
