"""The layering the project promises, checked on the source itself.

crypto/ is pure library code: it imports nothing from the other packages, nothing about HTTP or
storage, and never prints. server/ and client/ depend on crypto/ and never on each other. What
both sides' command lines share is cli_support/, which depends on crypto/ only. The edges (the
``petition`` dispatcher in petition/, the web UIs) are imported by nobody: arrows only point down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_CRYPTO = {
    "server",
    "client",
    "petition",
    "cli_support",
    "webui",
    "flask",
    "sqlite3",
    "sqlcipher3",
    "http",
    "urllib",
    "socket",
    "requests",
    "logging",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("crypto"), ids=lambda p: p.name)
def test_crypto_imports_no_other_layer_and_no_io_library(path: Path) -> None:
    assert not _imports(path) & FORBIDDEN_IN_CRYPTO


@pytest.mark.parametrize("path", _sources("crypto"), ids=lambda p: p.name)
def test_crypto_never_prints(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"print", "input"}
    ]
    assert not calls


@pytest.mark.parametrize(("package", "other"), [("server", "client"), ("client", "server")])
def test_server_and_client_do_not_import_each_other(package: str, other: str) -> None:
    for path in _sources(package):
        assert other not in _imports(path), path


def test_the_layout_the_design_card_names_exists() -> None:
    for name in ["server", "client", "crypto", "tests", "docs/threat-model.md", "docs/protocol.md"]:
        assert (ROOT / name).exists(), name
    for name in ["setup.cfg", "pyproject.toml"]:
        assert (ROOT / name).stat().st_size > 200, name


@pytest.mark.parametrize("path", _sources("client"), ids=lambda p: p.name)
def test_client_reaches_the_server_only_over_http(path: Path) -> None:
    """No storage library and no web framework: everything goes through client/transport.py."""
    assert not _imports(path) & {"server", "flask", "sqlite3", "sqlcipher3", "gunicorn"}


def test_only_the_transport_module_speaks_http() -> None:
    speakers = {path.name for path in _sources("client") if "httpx" in _imports(path)}
    assert speakers <= {"transport.py", "demo.py"}


@pytest.mark.parametrize("path", _sources("webui"), ids=lambda p: p.name)
def test_the_web_ui_never_imports_the_server(path: Path) -> None:
    """webui/ is a petitioner's edge like client/cli: it reaches the server through client/."""
    imported = _imports(path)
    assert "server" not in imported
    assert not imported & {"httpx", "requests", "sqlite3", "sqlcipher3", "gunicorn"}


@pytest.mark.parametrize("package", ["client", "server", "crypto", "petition"])
def test_no_other_package_imports_the_web_ui(package: str) -> None:
    for path in _sources(package):
        assert "webui" not in _imports(path), path


#: Every package of the project (and the benchmarks), for the rules about who imports whom.
PROJECT_PACKAGES = ["crypto", "cli_support", "server", "client", "webui", "petition"]


@pytest.mark.parametrize("package", [*PROJECT_PACKAGES[:-1], "bench"])
def test_the_dispatcher_is_imported_by_nobody(package: str) -> None:
    """petition/ loads every package's commands through entry points; importing it back would
    be a cycle no import graph shows. Only tests import it (to run the program in-process)."""
    for path in _sources(package):
        assert "petition" not in _imports(path), path


@pytest.mark.parametrize("path", _sources("cli_support"), ids=lambda p: p.name)
def test_the_shared_command_line_layer_sits_on_crypto_only(path: Path) -> None:
    """cli_support/ is below server/ and client/: it may use crypto/ and nothing above it."""
    assert not _imports(path) & {"server", "client", "webui", "petition", "flask", "httpx"}


@pytest.mark.parametrize("spelling", ["Petition-Lookup-Key", "SealedPetition {", '"Authorization"'])
def test_header_names_are_spelled_in_one_place(spelling: str) -> None:
    """Both ends import the protocol's header names from crypto/wire.py (docs/protocol.md)."""
    spelled = [
        path.relative_to(ROOT).as_posix()
        for package in ("crypto", "cli_support", "server", "client", "webui", "petition")
        for path in _sources(package)
        if spelling in path.read_text(encoding="utf-8") and path.name != "wire.py"
    ]
    assert not spelled, spelled
