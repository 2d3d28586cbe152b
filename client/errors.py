"""What can go wrong on the client side, as project exceptions.

The CLI (and later the local web UI) turns each into one sentence; nothing here formats for a
terminal. Every class carries a stable ``code`` like the server's error codes, so the UI can
choose a translated message by code.
"""

from __future__ import annotations

from crypto.errors import SealedPetitionError


class ClientError(SealedPetitionError):
    """Base class of the client's own failures."""

    code = "client_error"


class NotInitialised(ClientError):
    """No server and authority have been pinned yet (``petition init``)."""

    code = "not_initialised"


class ClientStateError(ClientError):
    """A file under PETITION_HOME is unreadable or not what this version wrote."""

    code = "client_state_invalid"


class ServerUnreachable(ClientError):
    """No answer from the server (or the proxy) after every retry."""

    code = "server_unreachable"


class ServerNameUnknown(ServerUnreachable):
    """The server's host name does not resolve (DNS): a typo or no network, never a surge.

    A subclass of :class:`ServerUnreachable`, so that whatever works on without the network
    (a kiosk's queue) still does; its own code, so that the person reads what to check.
    """

    code = "server_name_unknown"


class TlsFailed(ServerUnreachable):
    """No secure connection: the handshake or the certificate failed, or one side speaks
    https and the other plain http. Retrying cannot help, and a network that intercepts
    connections looks exactly like this, so it is said plainly and at once."""

    code = "tls_failed"


class ServerBusy(ClientError):
    """The server kept answering 503 (or 429) until the retries ran out."""

    code = "server_busy"


class ServerRefused(ClientError):
    """The server answered with an error: its stable code and message are kept."""

    code = "server_refused"

    def __init__(self, status: int, server_code: str, message: str) -> None:
        super().__init__(f"the server refused the request: {message} ({server_code})")
        self.status = status
        self.server_code = server_code


class ServerMisbehaved(ClientError):
    """The server answered something the protocol does not allow (bad JSON, wrong proof…)."""

    code = "server_misbehaved"


class DirectoryUntrusted(ClientError):
    """The directory is not signed by the pinned authority, or is older than one already seen."""

    code = "directory_untrusted"


class FingerprintMismatch(DirectoryUntrusted):
    """The server's authority key is not the one whose fingerprint the person was given.

    The message never names the server's fingerprint: a person shown it would be invited to
    copy it into ``--trust`` (or the setup page), which is exactly what an impostor wants.
    """

    code = "fingerprint_mismatch"


class DirectoryStale(DirectoryUntrusted):
    """A directory too old to seal with offline: its bureaus' keys may have changed since."""

    code = "directory_stale"


class UnknownBureau(ClientError):
    code = "unknown_bureau"


class InvalidInput(ClientError):
    """A value a person typed or a file they named cannot be used."""

    code = "invalid_input"


class Cancelled(ClientError):
    """The person stopped at a prompt (Ctrl-D, Ctrl-C, or "no" at the last question).

    Not a failure of the program, but the command did not do what it was started for, so it
    ends with one line saying what was not done, and a non-zero status for scripts.
    """

    code = "cancelled"


class PetitionNotFound(ClientError):
    """The server has no petition for this receipt code."""

    code = "petition_not_found"


class AuditFailure(ClientError):
    """An auditor's check failed: the log or a receipt is not what it must be."""

    code = "audit_failed"
