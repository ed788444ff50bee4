"""The organisation's one time zone: every time a person reads is in it, labelled once.

``time_zone`` in the settings (an IANA name); unset, the duty-manager rotation's zone; with no
such rotation, the machine's. JSON output stays UTC ISO-8601.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mim_console.data import rotations
from mim_console.errors import UserError
from mim_console.services.context import Context

STAMP = "%Y-%m-%d %H:%M"  # a table's instants (the zone said once, above it)
_cache: dict[tuple[str, str], tzinfo] = {}
_using: list[Context] = []  # the process's context (the CLI's, the app's): the zone's source


def _named(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def display_zone(context: Context) -> tzinfo:
    """The zone times are shown in (looked up once per database and setting)."""
    setting = getattr(context.settings, "time_zone", "") or ""
    key = (str(context.db_path), setting)
    zone = _cache.get(key)
    if zone is not None:
        return zone
    zone = _named(setting)
    if zone is None:
        with context.store.read() as db:
            rotation = rotations.duty_manager_rotation(db, (context.clock(), context.clock()))
        zone = _named(rotation.timezone) if rotation is not None else None
    if zone is None:
        zone = datetime.now().astimezone().tzinfo or ZoneInfo("UTC")
    _cache[key] = zone
    return zone


def forget() -> None:
    """After a setting or the duty rotation's zone changed (tests, the settings command)."""
    _cache.clear()
    _using.clear()


def use(context: Context) -> None:
    """Times this process shows are in ``context``'s organisation's zone, looked up on the first
    one shown (a command that shows no time reads nothing)."""
    _using[:] = [context]


def shown_zone() -> tzinfo:
    """The zone of the context in use (the machine's when there is none or it cannot be read)."""
    if _using:
        try:
            return apply_zone(_using[0])
        except (UserError, OSError, sqlite3.Error):  # unreadable: its command says why
            _using.clear()
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def wall(moment: datetime, context: Context | None = None) -> datetime:
    """A stored (UTC) instant on the organisation's wall clock: the one way a time is shown
    (``context``'s organisation, else the one in use)."""
    return moment.astimezone(display_zone(context) if context is not None else shown_zone())


def shown(moment: datetime | None, pattern: str = STAMP, none: str = "") -> str:
    """``moment`` in words on the organisation's wall clock (unlabelled: label it once with
    ``times_label()``)."""
    return none if moment is None else wall(moment).strftime(pattern)


def times_label() -> str:
    """``times in Europe/Helsinki``: once per screen, table or document."""
    return times_in(shown_zone())


def zone_label(zone: tzinfo) -> str:
    """How the zone is named on screen: its IANA name, else its abbreviation."""
    return str(getattr(zone, "key", None) or datetime.now(zone).tzname() or "local time")


def times_in(zone: tzinfo) -> str:
    """The once-per-screen label."""
    return f"times in {zone_label(zone)}"


def apply_zone(context: Context) -> tzinfo:
    """Make the organisation's zone the process's local time, so every ``astimezone()`` of a
    screen, the call sheet or a CLI table shows it. Returns it."""
    import os
    import time

    zone = display_zone(context)
    name = getattr(zone, "key", None)
    if name and os.environ.get("TZ") != name and hasattr(time, "tzset"):
        os.environ["TZ"] = name
        time.tzset()
    return zone
