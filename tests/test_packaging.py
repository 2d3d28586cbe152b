"""The installed distribution declares what it imports (a misplaced setup.cfg section once
silently dropped every runtime dependency) and ships the API description."""

from __future__ import annotations

import re
from importlib import metadata, resources


def test_every_runtime_dependency_is_declared() -> None:
    declared = {
        re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower()
        for requirement in metadata.requires("sealed-petition") or []
        if "extra ==" not in requirement
    }
    assert {
        "cryptography",
        "argon2-cffi",
        "pybase64",
        "flask",
        "gunicorn",
        "sqlcipher3",
        "qrcode",
        "babel",
    } <= (declared)
    # Protocol v2 dropped the VOPRF: the token is an HMAC that only the bureau computes.
    assert "voprf" not in declared


def test_the_openapi_document_is_package_data() -> None:
    assert resources.files("server").joinpath("openapi.json").is_file()


def test_the_web_ui_ships_its_templates_styles_and_catalogs() -> None:
    webui = resources.files("webui")
    for name in ["templates/base.html", "static/style.css"]:
        assert webui.joinpath(name).is_file(), name
    # The catalogs are shared with the command line (cli_support/i18n.py): one system.
    catalogs = resources.files("cli_support")
    for language in ["zh_CN", "en"]:
        assert catalogs.joinpath("locales", language, "LC_MESSAGES", "messages.po").is_file()
