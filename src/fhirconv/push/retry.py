"""When to retry, and how long to wait: jittered capped exponential backoff and Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Statuses that are safe to retry: nothing was written (or the write is idempotent anyway).
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with jittered ("equal jitter") exponential backoff, capped.

    ``max_attempts`` counts the first try. A server's ``Retry-After`` (seconds or an
    HTTP-date) or ``x-ms-retry-after-ms`` replaces the computed delay, but never beyond
    ``max_wait`` seconds.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (1 = the first retry)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempt - 1)))
        r = (rng or random).random()
        return min(self.max_wait, ceiling * (0.5 + 0.5 * r))

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None, *, now: float | None = None) -> float:
        hinted = retry_after(headers or {}, now=now)
        if hinted is not None:
            return min(self.max_wait, hinted)
        return self.backoff(attempt)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``x-ms-retry-after-ms`` or ``Retry-After``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("x-ms-retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
