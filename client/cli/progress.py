"""Progress on stderr for the slow steps (Argon2id, large uploads).

On a terminal a step shows a live elapsed-time counter and uploads a percentage; in a pipe or a
log each step is one plain line, so scripted use stays readable.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

from cli_support.i18n import N_, _

#: Each step in words (marked for the shared catalogs; translated where shown).
STEP_TEXT = {
    "argon2": N_("Hashing your ID number with the bureau's salt (Argon2id; a few seconds)"),
    "seal": N_("Encrypting your identity and your case for the bureau, each on its own"),
    "upload": N_("Sending the sealed petition (one request)"),
    "verify": N_("Checking the server's signed receipt and its log inclusion proof"),
}
UPLOADED = N_("%(percent)s%% of %(size)s MiB")
DONE = N_("done")
FAILED = N_("failed")
_SHOW_UPLOAD_FROM = 256 * 1024


class StepReporter:
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = sys.stderr.isatty() and not quiet
        self._current: str | None = None
        self._started = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> StepReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        _value: BaseException | None,
        _trace: TracebackType | None,
    ) -> None:
        self._finish(ok=kind is None)

    def step(self, name: str) -> None:
        self._finish(ok=True)
        if self.quiet:
            return
        self._current = _(STEP_TEXT[name]) if name in STEP_TEXT else name
        self._started = time.monotonic()
        if self.live:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        else:
            print(f"{self._current}…", file=sys.stderr, flush=True)

    def upload(self, sent: int, total: int) -> None:
        if not self.live or total < _SHOW_UPLOAD_FROM:
            return
        self._stop.set()
        percent = 100 * sent // max(total, 1)
        shown, size = f"{percent:3d}", f"{total / 1048576:.1f}"
        uploaded = _(UPLOADED, percent=shown, size=size)
        print(
            f"\r{self._current}… {uploaded}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            elapsed = time.monotonic() - self._started
            print(f"\r{self._current}… {elapsed:4.1f} s", end="", file=sys.stderr, flush=True)

    def _finish(self, *, ok: bool) -> None:
        if self._current is None:
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.live:
            elapsed = time.monotonic() - self._started
            outcome = _(DONE) if ok else _(FAILED)
            print(f"\r{self._current}… {outcome} ({elapsed:.1f} s)\x1b[K", file=sys.stderr)
        self._current = None
