"""The ``Defence`` switch of the adversarial tests (tests/adversarial/conftest.py explains it)."""

from __future__ import annotations

from dataclasses import dataclass


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
