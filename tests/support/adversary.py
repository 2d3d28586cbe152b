"""The ``Defence`` switch of the adversarial tests (tests/adversarial/conftest.py explains it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Defence:
    on: bool

    @property
    def off(self) -> bool:
        return not self.on

    def judge(self, attack_succeeded: bool, what: str = "the attack") -> None:
        """Assert the outcome each run expects: failure with the defence, success without it."""
        if self.on:
            assert not attack_succeeded, f"{what} succeeded against the defence"
        else:
            assert attack_succeeded, f"{what} failed without the defence: this test cannot fail"


#: How the command line starts its one error line.
ERROR_PREFIX = "petition: error: "


@dataclass(frozen=True)
class Ran:
    """What ``petition ARGS`` did when run in-process (the ``petition`` fixture)."""

    code: int
    out: str
    err: str

    def ok(self) -> str:
        assert self.code == 0, self.out + self.err
        assert "Traceback" not in self.err
        return self.out

    def refused_in_one_line(self, fragment: str) -> str:
        """Exit 1 with exactly one ``petition: error:`` line, which names ``fragment``."""
        assert self.code == 1, self.out + self.err
        assert "Traceback" not in self.err
        lines = [line for line in self.err.splitlines() if line.startswith(ERROR_PREFIX)]
        assert len(lines) == 1, self.err
        assert fragment in lines[0], lines[0]
        return lines[0]


class Petition(Protocol):
    """The type of the ``petition`` fixture (tests/adversarial/conftest.py)."""

    def __call__(self, *args: str) -> Ran: ...
