"""The GSM modem route, read as a duty manager needs it: what is wrong and how to fix it.

Pure: no I/O. The notifier (notifiers/modem.py) asks Gammu and hands the raw answers here; this
module says whether the modem can send, in words that name the fix, and how long the modem's
queue will take. Gammu's error names (``ERR_DEVICENOTEXIST``…) are the keys: they are stable
across Gammu versions and drivers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

# Measured by operators of Gammu's SMS daemon: a GSM modem submits one SMS every 3-10 s.
# The banner's ETA uses the rate this process measured; before any send, this one.
DEFAULT_PER_MINUTE = 10.0

# What each Gammu error means for one send:
#   "not_sent"  - nothing left the modem (no device, no SIM, not connected): retry later
#   "in_doubt"  - the modem may have submitted it (timeout, garbled answer): never resend blind
#   "refused"   - this message cannot be sent (the number is not one Gammu can encode)
NOT_SENT = "not_sent"
IN_DOUBT = "in_doubt"
REFUSED = "refused"

_REFUSED = {"ERR_INVALIDDATA", "ERR_INVALIDLOCATION"}
_IN_DOUBT = {
    "ERR_TIMEOUT",
    "ERR_UNKNOWNRESPONSE",
    "ERR_DEVICEREADERROR",
    "ERR_UNKNOWN",
    "ERR_BUG",
    "ERR_UNKNOWNFRAME",
    "ERR_FRAMENOTREQUESTED",
    "ERR_CORRUPTED",
}

# Gammu error name -> (what happened, the fix), for the banner, readiness and `modem check`.
_ADVICE: dict[str, tuple[str, str]] = {
    "ERR_CANTOPENFILE": (
        "the gammurc file cannot be opened",
        "check [modem] gammurc (or MIM_MODEM_GAMMURC) names a readable file",
    ),
    "ERR_FILENOTSUPPORTED": (
        "the gammurc file is not a Gammu configuration",
        "write it as in docs/routes.md: a [gammu] section with device and connection",
    ),
    "ERR_NONE_SECTION": (
        "the gammurc has no such section",
        "set [modem] section to a [gammuN] section the file has (0 is [gammu])",
    ),
    "ERR_USING_DEFAULTS": (
        "the gammurc has no such section",
        "set [modem] section to a [gammuN] section the file has (0 is [gammu])",
    ),
    "ERR_DEVICENOTEXIST": (
        "no modem at the configured device",
        "plug the modem in and check `device` in the gammurc (e.g. /dev/ttyUSB0; "
        "`ls /dev/serial/by-id/` lists modems)",
    ),
    "ERR_DEVICENOPERMISSION": (
        "no permission to open the modem's device",
        "add the console's user to the dialout group (`sudo usermod -aG dialout USER`, "
        "then log in again)",
    ),
    "ERR_DEVICEOPENERROR": (
        "the modem's device cannot be opened",
        "check the device in the gammurc and that nothing else (ModemManager, gammu-smsd) holds it",
    ),
    "ERR_DEVICELOCKED": (
        "the modem's device is locked by another program",
        "stop the other program (gammu-smsd, ModemManager) or remove its stale lock file",
    ),
    "ERR_DEVICEBUSY": (
        "the modem's device is busy",
        "stop the other program using it (gammu-smsd, ModemManager)",
    ),
    "ERR_TIMEOUT": (
        "the modem does not answer",
        "check its cable and power; `connection` in the gammurc (try at115200)",
    ),
    "ERR_NOTCONNECTED": ("the modem is not connected", "it is reopened automatically"),
    "ERR_NOSIM": ("no SIM card in the modem", "insert the SIM card"),
    "ERR_SECURITYERROR": (
        "the SIM card needs its PIN",
        "enter the PIN once (`gammu entersecuritycode PIN -`) or remove the PIN lock",
    ),
    "ERR_GETTING_SMSC": (
        "the SIM has no message centre number",
        "set it once with `gammu setsmsc 1 +NUMBER` (your operator's SMSC)",
    ),
    "ERR_EMPTYSMSC": (
        "the SIM has no message centre number",
        "set it once with `gammu setsmsc 1 +NUMBER` (your operator's SMSC)",
    ),
    "ERR_NETWORK_ERROR": (
        "the mobile network refused the message",
        "check the SIM's credit and the signal; `mim-console modem check`",
    ),
    "ERR_NOSERVICE": ("no mobile network service", "check the antenna and the SIM's coverage"),
    "ERR_FULL": (
        "the SIM's message memory is full",
        "it is emptied as replies are read; delete old messages with `gammu deleteallsms 1`",
    ),
    "ERR_INVALIDDATA": ("the modem refused the number or text", "check the person's number"),
}


def outcome_of(error_name: str) -> str:
    """What a Gammu error on ``SendSMS`` means for that message (``NOT_SENT``…)."""
    if error_name in _REFUSED:
        return REFUSED
    if error_name in _IN_DOUBT:
        return IN_DOUBT
    return NOT_SENT


def explain(error_name: str, text: str = "") -> str:
    """One line for a Gammu error: what happened and the fix."""
    known = _ADVICE.get(error_name)
    if known is None:
        detail = f" ({text})" if text else ""
        return f"modem error {error_name}{detail}: see the Gammu log named in the gammurc"
    what, fix = known
    return f"{what}: {fix}"


@dataclass(frozen=True)
class ModemHealth:
    """What the modem said when last asked (raw values from Gammu, read here)."""

    checked_at: datetime
    error: str | None = None  # could not even ask: the reason with its fix
    manufacturer: str = ""
    model: str = ""
    imei: str = ""
    network_state: str = ""  # HomeNetwork, RoamingNetwork, NoNetwork, RegistrationDenied…
    network_name: str = ""
    network_code: str = ""
    signal_percent: int | None = None
    security: str | None = None  # None: no code needed; else PIN, PUK, …
    inbox_used: int | None = None
    inbox_size: int | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems

    @property
    def identity(self) -> str:
        name = " ".join(p for p in (self.manufacturer, self.model) if p and p != "unknown")
        return f"{name or 'modem'} (IMEI {self.imei})" if self.imei else (name or "modem")

    @property
    def network(self) -> str:
        if not self.network_state:
            return "unknown"
        where = self.network_name or self.network_code
        state = {
            "HomeNetwork": "registered",
            "RoamingNetwork": "roaming",
        }.get(self.network_state, self.network_state)
        return f"{state} on {where}" if where and state in ("registered", "roaming") else state

    def summary(self) -> str:
        """One line for the banner or readiness."""
        if self.error is not None:
            return self.error
        if self.problems:
            return "; ".join(self.problems)
        signal = f", signal {self.signal_percent}%" if self.signal_percent is not None else ""
        return f"{self.identity}: {self.network}{signal}"


_REGISTERED = {"HomeNetwork", "RoamingNetwork"}
LOW_SIGNAL_PERCENT = 10


def problems_of(
    *,
    network_state: str,
    signal_percent: int | None,
    security: str | None,
    inbox_used: int | None,
    inbox_size: int | None,
) -> tuple[str, ...]:
    """Each reason the modem cannot send or receive now, with its fix."""
    found: list[str] = []
    if security:
        code = security.upper()
        if "PUK" in code:
            found.append(
                f"the SIM card is locked and needs its {code}: unlock it in a phone, then "
                "put it back"
            )
        else:
            found.append(
                f"the SIM card needs its {code}: enter it once (`gammu entersecuritycode "
                f"{code} -`) or remove the PIN lock in a phone"
            )
    if network_state and network_state not in _REGISTERED:
        if network_state == "RegistrationDenied":
            found.append("the network refused the SIM: check the SIM is active with the operator")
        else:
            found.append(
                "no mobile network: check the antenna and the SIM's coverage (modem says "
                f"{network_state})"
            )
    elif signal_percent is not None and signal_percent < LOW_SIGNAL_PERCENT:
        found.append(f"weak signal ({signal_percent}%): move the modem or its antenna")
    if inbox_used is not None and inbox_size and inbox_used >= inbox_size:
        found.append(
            f"the SIM inbox is full ({inbox_used}/{inbox_size}): replies cannot arrive; "
            "delete messages with `gammu deleteallsms 1`"
        )
    return tuple(found)


def eta_minutes(waiting: int, per_minute: float | None) -> int:
    """Whole minutes (at least 1 while anything waits) for the modem to send ``waiting``."""
    if waiting <= 0:
        return 0
    rate = per_minute if per_minute and per_minute > 0 else DEFAULT_PER_MINUTE
    return max(1, math.ceil(waiting / rate))


def queue_text(waiting: int, per_minute: float | None) -> str:
    """The banner's part: ``modem: 14 waiting, ~2 min`` (empty when nothing waits)."""
    if waiting <= 0:
        return ""
    return f"modem: {waiting} waiting, ~{eta_minutes(waiting, per_minute)} min"


def takes_waiting(
    use: str, *, twilio_blocked: bool, twilio_silent_s: float | None, fallback_after_s: float
) -> bool:
    """Whether the modem takes every waiting SMS alert now (not only those assigned to it).

    ``always``: yes. ``never``: no. ``fallback``: when Twilio cannot be used at all (no
    credentials), or has given no HTTP answer for ``fallback_after_s`` (``twilio_silent_s``:
    seconds since the first unanswered request after the last answer; None while it answers).
    """
    if use == "always":
        return True
    if use != "fallback":
        return False
    if twilio_blocked:
        return True
    return twilio_silent_s is not None and twilio_silent_s >= fallback_after_s
