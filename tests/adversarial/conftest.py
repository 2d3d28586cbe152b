"""Conventions of the adversarial tests (see ``docs/threat-model.md``).

Every test here is an attack on one or more threat rows, named with ``@pytest.mark.threat(...)``,
and takes the ``defence`` fixture. It runs twice:

* ``defence-on``: the system as shipped. The attack must fail.
* ``defence-off``: the test removes the mitigation named in the row (gives the attacker the key,
  skips the check, turns the padding or the pin off, or plants what its absence would leave). The
  attack must then succeed, which shows that the test is able to fail.

``tests/test_threat_model_document.py`` enforces both conventions and that the document cites
every test.
"""

from __future__ import annotations

import pytest
from adversary import Defence, Petition, Ran

from petition.cli import main


@pytest.fixture(params=[True, False], ids=["defence-on", "defence-off"])
def defence(request: pytest.FixtureRequest) -> Defence:
    return Defence(on=bool(request.param))


@pytest.fixture
def petition(capsys: pytest.CaptureFixture[str]) -> Petition:
    """``petition ARGS`` through the console script's entry point, its output captured."""

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
