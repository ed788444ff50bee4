"""Whether the providers answer: the outcome of the latest request, for the banner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mim_console.clock import Clock


def reachable(last_success: datetime | None, last_failure: datetime | None) -> bool | None:
    """True/False by the latest request's outcome; None before any request."""
    if last_success is None and last_failure is None:
        return None
    if last_failure is None:
        return True
    return last_success is not None and last_success >= last_failure


class Reach:
    """Success and failure of requests as they end; ``on_change`` when reachability flips (first
    contact, lost, back), so the console says so even with nothing else moving."""

    def __init__(self, clock: Clock, on_change: Callable[[], None]) -> None:
        self.clock = clock
        self.on_change = on_change
        self.last_success: datetime | None = None
        self.last_failure: datetime | None = None
        self.last_error: str | None = None
        # The first request that got no HTTP answer at all since the last answer (an error
        # answer counts as one): how long the provider has been silent, for the modem fallback.
        self.unanswered_since: datetime | None = None

    @property
    def state(self) -> bool | None:
        return reachable(self.last_success, self.last_failure)

    def success(self) -> None:
        was = self.state
        self.last_success = self.clock()
        self.unanswered_since = None
        if was is not True:
            self.on_change()

    def failure(self, reason: str, *, answered: bool = False) -> None:
        """A request failed; ``answered``: with an HTTP answer (429, 5xx, 401…)."""
        was = self.state
        self.last_failure = self.clock()
        self.last_error = reason
        if answered:
            self.unanswered_since = None
        elif self.unanswered_since is None:
            self.unanswered_since = self.last_failure
        if was is not False:  # lost while idle (only the inbound poll asking): the banner says
            self.on_change()

    def silent_for(self) -> float | None:
        """Seconds without any HTTP answer (None while the provider answers)."""
        if self.unanswered_since is None:
            return None
        return max(0.0, (self.clock() - self.unanswered_since).total_seconds())


def answered(exc: BaseException) -> bool:
    """Whether a failed request got an HTTP answer (the error carries its status)."""
    return getattr(exc, "status", None) is not None
