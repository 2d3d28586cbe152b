"""In-memory token buckets for token evaluations. Nothing here is ever written anywhere.

Why limit at all: with a stolen database, the one thing a local official still lacks is the
VOPRF key, so the evaluator is the oracle they would have to query once per candidate ID.
A per-source bucket slows a single machine; a per-bureau ceiling bounds everyone together.

A "source" is the peer address as the WSGI server reports it, reduced at once to an HMAC
under a random key that lives only in this process: the table holds no address, and the key
is gone when the process ends. The table is bounded; the oldest entries are dropped first.
Behind Tor or a reverse proxy many people share one address, which is why the per-source
burst is generous and why this is a brake, not an identity check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from server.config import RateLimit


class TokenBuckets:
    def __init__(self, limit: RateLimit, max_keys: int = 100_000) -> None:
        self._limit = limit
        self._max_keys = max_keys
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: bytes) -> float | None:
        """Spend one token; return None if allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self._limit.burst), now))
            tokens = min(float(self._limit.burst), tokens + (now - last) * self._limit.per_second)
            wait = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self._limit.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait


class TokenRateLimiter:
    def __init__(self, per_source: RateLimit, per_bureau: RateLimit) -> None:
        self._secret = secrets.token_bytes(32)
        self._sources = TokenBuckets(per_source)
        self._bureaus = TokenBuckets(per_bureau, max_keys=10_000)

    def check(self, bureau_id: str, peer: str | None) -> float | None:
        """None if this evaluation may go ahead, else how long to wait."""
        source = hmac.new(self._secret, (peer or "").encode(), hashlib.sha256).digest()
        wait = self._sources.take(bureau_id.encode() + b"\x00" + source)
        if wait is not None:
            return wait
        return self._bureaus.take(bureau_id.encode())
