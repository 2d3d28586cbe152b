"""Fixtures for the whole suite.

The plugin modules live in tests/support, which pyproject.toml puts on ``sys.path``
(``pythonpath``) before any conftest is imported. ``pytest_plugins`` is only honoured in a
conftest loaded at start-up; this one is, both for the whole suite and for a single test file.
"""

pytest_plugins = ["pg_fixtures"]
