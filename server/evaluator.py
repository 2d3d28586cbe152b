"""The token evaluator: the only component that holds the bureaus' VOPRF keys.

Its keys are service key files (protocol §12.5), one per bureau, named ``<bureau_id>.key``, in
a directory of their own that :class:`~server.config.ServerConfig` refuses to place inside the
data directory: a full copy of the server's data and database key must not be enough to
compute one token. Two deployments share this interface:

* :class:`KeyDirectoryEvaluator`, embedded: the HTTP workers load the key files themselves;
* :class:`RemoteEvaluator`: the keys stay on the bureau's own host, which runs
  ``petition evaluator serve``; the server forwards the blinded element and relays the answer.
  The server then never sees a key, and the petitioner's proof check (protocol §5.4) still
  catches an evaluator that answers with the wrong one.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from crypto import cjson
from crypto.errors import KeyFileError, MalformedInput, SealedPetitionError
from crypto.keyfile import read_token_key_file
from crypto.token import ELEMENT_LENGTH, PROOF_LENGTH, TokenKey, TokenResponse
from server.errors import ApiError


class TokenEvaluator(Protocol):
    def evaluate(
        self, bureau_id: str, token_public_key: bytes | None, blinded: bytes
    ) -> TokenResponse:
        """Evaluate for ``bureau_id``; when ``token_public_key`` (the published ``pkS``) is
        given, refuse to answer with any other key."""
        ...


def unavailable(message: str) -> ApiError:
    return ApiError(503, "evaluator_unavailable", message, retry_after=30)


class KeyDirectoryEvaluator:
    def __init__(self, keys_dir: Path) -> None:
        self._dir = keys_dir
        self._keys: dict[str, TokenKey] = {}
        self._lock = threading.Lock()

    def _key(self, bureau_id: str) -> TokenKey:
        with self._lock:
            key = self._keys.get(bureau_id)
            if key is None:
                try:
                    key = read_token_key_file(self._dir / f"{bureau_id}.key")
                except KeyFileError as exc:
                    raise unavailable(
                        f"no usable token key for bureau {bureau_id!r} on this evaluator"
                    ) from exc
                if key.bureau_id != bureau_id:
                    raise unavailable(f"the token key file for {bureau_id!r} names another bureau")
                self._keys[bureau_id] = key
            return key

    def evaluate(
        self, bureau_id: str, token_public_key: bytes | None, blinded: bytes
    ) -> TokenResponse:
        key = self._key(bureau_id)
        if token_public_key is not None and key.public_key() != token_public_key:
            # Answering anyway would hand out tokens no petitioner could verify.
            with self._lock:
                self._keys.pop(bureau_id, None)
            raise unavailable(f"the token key for {bureau_id!r} does not match the directory")
        return key.evaluate(blinded)


class RemoteEvaluator:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def evaluate(
        self, bureau_id: str, token_public_key: bytes | None, blinded: bytes
    ) -> TokenResponse:
        body = json.dumps({"blinded_element": cjson.b64encode(blinded)}).encode()
        request = urllib.request.Request(  # noqa: S310  (an operator-configured http(s) URL)
            f"{self._base}/v1/bureaus/{bureau_id}/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                answer = json.loads(response.read(4096))
            return TokenResponse(
                evaluated_element=cjson.b64decode(
                    answer["evaluated_element"], field="evaluated_element", length=ELEMENT_LENGTH
                ),
                proof=cjson.b64decode(answer["proof"], field="proof", length=PROOF_LENGTH),
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 400:
                raise MalformedInput("the evaluator refused the blinded element") from None
            if exc.code == 429:
                retry = exc.headers.get("Retry-After", "")
                raise ApiError(
                    429,
                    "rate_limited",
                    "too many token requests; try again later",
                    retry_after=int(retry) if retry.isascii() and retry.isdigit() else 30,
                ) from None
            raise unavailable(f"the token evaluator answered {exc.code}") from None
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            RecursionError,
            SealedPetitionError,
        ) as exc:
            raise unavailable("the token evaluator is not reachable") from exc
