"""When to try a failed send again, and when to stop trying.

Pure: the caller passes ``now`` and the random draw, so tests are exact. Exponential backoff with
full jitter spreads a fan-out's retries out instead of hammering a provider that just said 429;
a ``Retry-After`` from the provider is a floor, never shortened by jitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BackoffPolicy:
    base_s: float = 1.0  # first retry waits up to this long
    factor: float = 2.0
    cap_s: float = 60.0  # no single wait is longer
    max_age_min: float = 30.0  # give up on an alert this long after it was queued
    min_s: float = 0.05  # never retry in a tight loop

    def delay(self, attempt: int, rand: float, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 = the first send).

        ``rand`` is a uniform draw in [0, 1): full jitter over the exponential ceiling, but
        at least half of it, so retries do not collapse to zero.
        """
        exponent = max(0, attempt - 1)
        ceiling = min(self.cap_s, self.base_s * self.factor ** min(exponent, 64))
        wait = ceiling * (0.5 + 0.5 * min(max(rand, 0.0), 1.0))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_age_min * 60))
        return max(wait, self.min_s)

    def next_attempt(
        self,
        *,
        created_at: datetime,
        now: datetime,
        attempt: int,
        rand: float,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to retry, or ``None`` when the next try would fall past the maximum age."""
        when = now + timedelta(seconds=self.delay(attempt, rand, retry_after))
        if when - created_at > timedelta(minutes=self.max_age_min):
            return None
        return when
