"""The threat-check protocol: how a package contributes deployment checks to the audit.

``petition audit threat-model`` (petition/threat_audit.py) prints one row per threat of
docs/threat-model.md. It knows nothing about HTTP or SQLCipher: ``client`` (the live-server and
device checks) and ``server`` (the data-directory checks) each contribute a
:class:`CheckProvider` through the entry-point group :data:`THREAT_CHECK_GROUP`. The types they
build live here, below both packages and below the dispatcher, so that the providers import
this module and never ``petition/``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast

from crypto.errors import SealedPetitionError

THREAT_CHECK_GROUP = "sealed_petition.threat_checks"

Need = Literal["server", "data", "device"]
NEEDS: tuple[Need, ...] = ("server", "data", "device")

# A check with many findings shows the first few; the rest are counted.
MAX_FINDINGS = 3

_T = TypeVar("_T")


class ThreatCheckError(SealedPetitionError):
    """A check provider could not be loaded, or contributes checks that break the protocol."""

    code = "threat_check_invalid"


@dataclass
class CheckContext:
    """What the checks may look at, and a memory shared by them for one run.

    ``server`` and ``data`` decide which checks can run; ``options`` is the parsed command
    line, where each provider finds the flags it added (the client's ``--home``, ``--proxy`` and
    ``--retries``, the server's ``--db-key-file``). Checks that share expensive work (the store
    audit reads the whole database, the client opens one connection) compute it once with
    :meth:`memo`; resources registered with :meth:`on_close` are released when the run ends.
    """

    server: str | None = None
    data: Path | None = None
    options: argparse.Namespace = field(default_factory=argparse.Namespace)
    _memo: dict[str, object] = field(default_factory=dict, repr=False)
    _cleanups: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def db_key_file(self) -> Path | None:
        value = getattr(self.options, "db_key_file", None)
        return None if value is None else Path(value)

    @property
    def proxy(self) -> str | None:
        value = getattr(self.options, "proxy", None)
        return str(value) if value else None

    @property
    def home(self) -> Path | None:
        value = getattr(self.options, "home", None)
        return Path(value) if value else None

    def available(self, need: Need) -> bool:
        """Whether a check that needs ``need`` can be tried; this device is always here."""
        if need == "server":
            return self.server is not None
        if need == "data":
            return self.data is not None
        return True

    def memo(self, key: str, compute: Callable[[], _T]) -> _T:
        """``compute()`` once per context under ``key``; a raised error is not remembered."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(_T, self._memo[key])

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()

    def __enter__(self) -> CheckContext:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found: passed or failed with a one-line detail, or why it could not run.

    The detail names places and counts, never a secret or a stored personal value: it is meant
    to be pasted into tickets.
    """

    passed: bool
    detail: str
    ran: bool = True

    @classmethod
    def passing(cls, detail: str) -> CheckOutcome:
        return cls(True, detail)

    @classmethod
    def failing(cls, detail: str) -> CheckOutcome:
        return cls(False, detail)

    @classmethod
    def cannot_run(cls, reason: str) -> CheckOutcome:
        return cls(False, reason, ran=False)

    @classmethod
    def from_findings(cls, findings: Sequence[str], summary: str) -> CheckOutcome:
        """Pass with ``summary`` if there are no findings, else fail with the first few."""
        if not findings:
            return cls.passing(summary)
        shown = "; ".join(findings[:MAX_FINDINGS])
        hidden = len(findings) - MAX_FINDINGS
        return cls.failing(shown + (f" (and {hidden} more)" if hidden > 0 else ""))

    @property
    def failed(self) -> bool:
        return self.ran and not self.passed


Run = Callable[[CheckContext], CheckOutcome]


@dataclass(frozen=True)
class ThreatCheck:
    """One check of a deployment, serving one or more threat rows.

    ``check_id`` is stable (``server:directory-signed``, ``data:encrypted-at-rest``): scripts
    and tickets refer to it. ``needs`` says what it looks at. ``run`` returns an outcome for
    whatever it finds about the deployment; it raises a
    :class:`~crypto.errors.SealedPetitionError` only when the inputs themselves are unusable (no
    such data directory, a malformed URL, an unreachable server), which stops the whole run with
    one line.
    """

    check_id: str
    threat_ids: tuple[str, ...]
    description: str
    needs: Need
    run: Run


@dataclass(frozen=True)
class CheckProvider:
    """What one package contributes: its checks, and the flags they need on the command line."""

    checks: tuple[ThreatCheck, ...]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
