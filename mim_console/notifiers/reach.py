"""Whether the providers answer: the outcome of the latest request, for the banner; and
whether one refuses our account (credentials, sending number) so its channels pause."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mim_console.clock import Clock
from mim_console.domain.alerts import Channel
from mim_console.domain.twilio_errors import headline, whole_account
from mim_console.notifiers.logmask import masked_logger

log = masked_logger("mim_console.dispatcher")


@dataclass(frozen=True)
class Refusal:
    """Twilio refused our account, not one alert: its ``channels`` are paused, their alerts
    kept, until a re-check gets through (``notifiers/sending.py``)."""

    code: int | None
    reason: str  # the plain words, with the code
    channels: frozenset[Channel]
    since: datetime

    @property
    def headline(self) -> str:
        return headline(self.code)

    @property
    def whole_account(self) -> bool:
        return whole_account(self.code)


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
        self.refusal: Refusal | None = None

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

    def refused(self, code: int | None, reason: str, channels: frozenset[Channel]) -> bool:
        """An account-wide refusal on ``channels``: the banner and the log (`dispatch`'s stderr
        without --verbose) say so once, not per request; True when it is news."""
        old = self.refusal
        if old is not None and old.code == code and channels <= old.channels:
            return False
        since = old.since if old is not None else self.clock()
        wider = channels | (old.channels if old is not None else frozenset())
        self.refusal = Refusal(code, reason, wider, since)
        log.warning("%s: alerts kept, sending paused: %s", self.refusal.headline, reason)
        self.on_change()
        return True

    def accepted(self, channel: Channel | None = None) -> None:
        """A request that needs what was refused got through: on ``channel`` (a send), or with
        the credentials alone (``None``: a list of the message log) — which clears only a
        refusal of the credentials, not of the sending number."""
        old = self.refusal
        if old is None:
            return
        if channel is None and not old.whole_account:
            return
        if channel is not None and channel not in old.channels:
            return
        self.refusal = None
        log.warning("Twilio accepts our requests again: sending resumed")
        self.on_change()

    def paused(self) -> frozenset[Channel]:
        """Channels not to claim now (a refusal holds them)."""
        return self.refusal.channels if self.refusal is not None else frozenset()

    def silent_for(self) -> float | None:
        """Seconds without any HTTP answer (None while the provider answers)."""
        if self.unanswered_since is None:
            return None
        return max(0.0, (self.clock() - self.unanswered_since).total_seconds())


def answered(exc: BaseException) -> bool:
    """Whether a failed request got an HTTP answer (the error carries its status)."""
    return getattr(exc, "status", None) is not None
