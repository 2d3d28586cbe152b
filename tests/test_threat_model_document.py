"""docs/threat-model.md, the catalogue, the adversarial tests and the deployment checks agree.

No claim without evidence: every row cites tests or checks that exist. No orphan: every
adversarial test and every deployment check is cited by the rows it serves. And every
adversarial test follows the convention that makes it able to fail (the ``defence`` fixture).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from petition.threat_audit import load_checks
from petition.threats import THREAT_IDS, THREATS

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "threat-model.md"
ADVERSARIAL = ROOT / "tests" / "adversarial"

_ROW = re.compile(r"^\| (T-[A-Z]+-[0-9]+) \|")
_TEST_REFERENCE = re.compile(r"`(tests/[A-Za-z0-9_/]+\.py)(?:::([A-Za-z0-9_]+))?(?:\[[^\]`]*\])?`")
_CHECK_REFERENCE = re.compile(r"`((?:server|data|device):[a-z0-9-]+)`")


@dataclass(frozen=True)
class Row:
    threat_id: str
    category: str
    evidence: str


@cache
def _rows() -> tuple[Row, ...]:
    rows = []
    for line in DOCUMENT.read_text(encoding="utf-8").splitlines():
        if _ROW.match(line):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            assert len(cells) == 6, f"a threat row needs six cells: {line[:60]}"
            rows.append(Row(cells[0], cells[1], cells[5]))
    return tuple(rows)


def _row(threat_id: str) -> Row:
    return next(row for row in _rows() if row.threat_id == threat_id)


@dataclass(frozen=True)
class AdversarialTest:
    node_id: str
    threat_ids: tuple[str, ...]
    takes_defence: bool


def _threat_marks(decorators: list[ast.expr]) -> list[str]:
    ids: list[str] = []
    for decorator in decorators:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "threat"
        ):
            ids.extend(
                arg.value
                for arg in decorator.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return ids


@cache
def _adversarial_tests() -> tuple[AdversarialTest, ...]:
    found = []
    for path in sorted(ADVERSARIAL.glob("test_*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        relative = path.relative_to(ROOT).as_posix()
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                arguments = {arg.arg for arg in node.args.args}
                found.append(
                    AdversarialTest(
                        f"{relative}::{node.name}",
                        tuple(_threat_marks(node.decorator_list)),
                        "defence" in arguments,
                    )
                )
    return tuple(found)


def _defined_tests(path: Path) -> set[str]:
    module = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_the_document_has_the_catalogues_rows_in_its_order() -> None:
    assert tuple(row.threat_id for row in _rows()) == THREAT_IDS
    for row, threat in zip(_rows(), THREATS, strict=True):
        assert row.category == threat.category, row.threat_id


def test_the_privacy_rows_come_before_the_security_rows() -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    privacy, security = text.index("(LINDDUN)"), text.index("(STRIDE)")
    for threat in THREATS:
        position = text.index(f"| {threat.id} |")
        if threat.framework == "LINDDUN":
            assert privacy < position < security, threat.id
        else:
            assert security < position, threat.id


@pytest.mark.parametrize("threat_id", THREAT_IDS)
def test_every_row_cites_evidence_that_exists(threat_id: str) -> None:
    evidence = _row(threat_id).evidence
    references = _TEST_REFERENCE.findall(evidence)
    assert references, f"{threat_id} cites no test"
    for file_name, test_name in references:
        path = ROOT / file_name
        assert path.is_file(), f"{threat_id} cites a missing file {file_name}"
        if test_name:
            assert test_name in _defined_tests(path), f"{threat_id} cites a missing {test_name}"
    known_checks = {check.check_id for check in load_checks()}
    for check_id in _CHECK_REFERENCE.findall(evidence):
        assert check_id in known_checks, f"{threat_id} cites a missing check {check_id}"


@pytest.mark.parametrize("threat_id", THREAT_IDS)
def test_every_row_is_attacked_by_an_adversarial_test_it_cites(threat_id: str) -> None:
    attacks = [test for test in _adversarial_tests() if threat_id in test.threat_ids]
    assert attacks, f"no adversarial test attacks {threat_id}"
    cited = {
        f"{file_name}::{test_name}"
        for file_name, test_name in _TEST_REFERENCE.findall(_row(threat_id).evidence)
        if file_name.startswith("tests/adversarial/")
    }
    assert {test.node_id for test in attacks} == cited


def test_every_adversarial_test_names_its_threats_and_can_fail() -> None:
    tests = _adversarial_tests()
    assert len(tests) >= len(THREAT_IDS)
    for test in tests:
        assert test.threat_ids, f"{test.node_id} names no threat"
        assert set(test.threat_ids) <= set(THREAT_IDS), test.node_id
        assert test.takes_defence, f"{test.node_id} does not take the defence fixture"


def test_every_deployment_check_is_cited_by_each_row_it_serves() -> None:
    cited: dict[str, set[str]] = defaultdict(set)
    for row in _rows():
        cited[row.threat_id].update(_CHECK_REFERENCE.findall(row.evidence))
    checks = load_checks()
    assert checks
    for check in checks:
        for threat_id in check.threat_ids:
            assert check.check_id in cited[threat_id], f"{threat_id} does not cite {check.check_id}"
    served = {(threat_id, check.check_id) for check in checks for threat_id in check.threat_ids}
    for threat_id, check_ids in cited.items():
        for check_id in check_ids:
            assert (threat_id, check_id) in served, f"{threat_id} cites {check_id}, not its check"
