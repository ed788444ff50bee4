"""Contact verification: which reply answers a test SMS, and which belongs to an incident.

Pure: no clock, no database. A test SMS ("contact check") asks the person to reply with its own
four-digit code. Incident reply codes always start with a letter (``K7``), so the two can never be
confused. The rule for an SMS from a person who has an open contact check:

1. It names the code of one of their open checks (``OK 4821``, ``4821``): it answers that check,
   whatever else it says and whatever incident is running.
2. Otherwise, if the person was not alerted for any active incident, any text (``1``, ``yes``,
   ``ok``, ``thanks``) answers their newest open check: they have nothing else to answer.
3. Otherwise it goes to the incident as before: a person on an active incident who replies ``1``
   joins it, and their check stays open until they send its code or the incident ends.

A check answers only a reply from the very number it was sent to, received at most
``REPLY_WINDOW`` after it was queued; an answered check is closed. An opt-out keyword (``STOP``
and the like) never verifies anyone: the carrier blocks every later SMS to that number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mim_console.errors import UserError

CODE_DIGITS = 4
REPLY_WINDOW = timedelta(days=7)  # a check left unanswered this long is closed
CLOCK_SLACK = timedelta(seconds=60)  # the provider stamps whole seconds; clocks drift
_TOKENS = re.compile(r"[^\w]+|_")
# Twilio's opt-out keywords: after one of these no SMS reaches the number until it opts back in.
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"})


@dataclass(frozen=True)
class OpenCheck:
    """A contact check sent and not answered yet."""

    code: str
    to_number: str
    requested_at: datetime
    alert_id: int | None = None


def new_code(taken: Collection[str], rand: Callable[[], float]) -> str:
    """Four digits, 1000–9999, unused by the person's open checks (``rand`` in [0, 1))."""
    span = 10**CODE_DIGITS - 10 ** (CODE_DIGITS - 1)
    start = int(rand() * span)
    for offset in range(span):
        code = str(10 ** (CODE_DIGITS - 1) + (start + offset) % span)
        if code not in taken:
            return code
    raise UserError("every contact-check code is in use for this person")  # pragma: no cover


def reply_help(code: str) -> str:
    """The ``{reply_help}`` of the test SMS: how to answer it."""
    return f"Please reply OK {code} to confirm it reaches you."


def is_open(check: OpenCheck, received_at: datetime) -> bool:
    """Whether a reply received at ``received_at`` may answer ``check``."""
    return check.requested_at - CLOCK_SLACK <= received_at <= check.requested_at + REPLY_WINDOW


def answered_check(
    body: str,
    from_number: str,
    received_at: datetime,
    checks: Sequence[OpenCheck],
    *,
    on_active_incident: bool,
) -> OpenCheck | None:
    """The open check this SMS answers, or None (then it is an incident reply as usual)."""
    mine = [c for c in checks if c.to_number == from_number and is_open(c, received_at)]
    if not mine:
        return None
    newest_first = sorted(mine, key=lambda c: c.requested_at, reverse=True)
    tokens = {t for t in _TOKENS.split(body.casefold()) if t}
    if tokens & OPT_OUT:
        return None
    for check in newest_first:
        if check.code in tokens:
            return check
    if on_active_incident:
        return None
    return newest_first[0]
