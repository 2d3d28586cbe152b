"""Logging that names no client: no access log, no timestamps, no addresses, no petition ids.

The server's own code never logs a client detail. Third-party code might: gunicorn, for one,
logs "Invalid request from ip=…" on a malformed request line and the request URI on a crash.
So every record, ours or theirs, passes through :class:`ScrubClientDetails` before it is
written, and the format has no time: a log line stamped to the second next to a petition's
arrival would be exactly the timing record the design forbids. Access logs are never enabled.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

LOG_FORMAT = "[%(levelname)s] %(name)s: %(message)s"

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_URI = re.compile(r"/v1/\S*")
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")


def scrub(text: str) -> str:
    """Remove anything in a log message that could identify a client or a petition."""
    text = _URI.sub("/v1/…", text)
    text = _IPV4.sub("[address]", text)
    text = _IPV6.sub("[address]", text)
    return _HEX_ID.sub("[id]", text)


class ScrubClientDetails(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # Tracebacks can quote request data in exception messages: scrub them like the rest.
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        record.msg = scrub(message)
        record.args = None
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    """Root logging for our processes: stderr, no time, scrubbed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ScrubClientDetails())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class PrivateGunicornLogger(GunicornLogger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's logger with the access log disabled and every error line scrubbed."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = logging.Formatter(LOG_FORMAT)
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)
            handler.addFilter(ScrubClientDetails())
        self.access_log.handlers[:] = []
        self.access_log.disabled = True

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None
