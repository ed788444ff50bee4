"""Organisation settings: kept in the database, so every console on every site agrees.

What describes the organisation — its name, the declaration criteria, the bridge, the
escalation timers, the time zone its people read times in, the help SMS, the readiness
threshold — lives in the ``setting`` table (`mim-console settings list|get|set`). What
describes a machine — secrets, paths, the replica, the keymap — stays in the config file. The
config file seeds the table once (the first time a console opens a database whose table is
empty); after that the table wins, and a console with an empty config file shows the same
settings and the same readiness as any other.

A console reads the table when its ``Context`` is made (a quick read-only look, before any
command runs) and after each `settings set` through it; another console's change shows at its
next start.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mim_console.config import EscalationSettings, Settings
from mim_console.data import org_settings as repo
from mim_console.data.incidents import append_event
from mim_console.data.store import Store
from mim_console.errors import UserError

ROLES = ("duty_manager", "mrt", "specialist")
HELP_MAX = 300


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # text | number | whole | zone | region
    about: str
    get: Callable[[Settings], Any]
    put: Callable[[Settings, Any], Settings]


def _bridge(field: str) -> tuple[Callable[[Settings], Any], Callable[[Settings, Any], Settings]]:
    return (
        lambda s: getattr(s.bridge, field),
        lambda s, v: replace(s, bridge=replace(s.bridge, **{field: v})),
    )


def _timer(
    role: str, field: str
) -> tuple[Callable[[Settings], Any], Callable[[Settings, Any], Settings]]:
    def get(s: Settings) -> Any:
        return getattr(s.escalation.get(role, EscalationSettings()), field)

    def put(s: Settings, v: Any) -> Settings:
        timers = dict(s.escalation)
        timers[role] = replace(timers.get(role, EscalationSettings()), **{field: float(v)})
        return replace(s, escalation=timers)

    return get, put


def _top(field: str) -> tuple[Callable[[Settings], Any], Callable[[Settings, Any], Settings]]:
    return (lambda s: getattr(s, field), lambda s, v: replace(s, **{field: v}))


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("organisation", "text", "the organisation's name", *_top("organisation")),
        Key(
            "declare_criteria",
            "text",
            "when a major incident is declared (shown on Declare)",
            *_top("declare_criteria"),
        ),
        Key("bridge.number", "text", "the conference bridge's phone number", *_bridge("number")),
        Key("bridge.pin", "text", "the bridge's PIN (sent in alerts)", *_bridge("pin")),
        Key("bridge.url", "text", "the bridge's web link", *_bridge("url")),
        *[
            Key(
                f"escalation.{role}.{field}",
                "number",
                f"{role.replace('_', ' ')}: minutes without an answer before "
                + ("a voice call" if field == "voice_after_min" else "the deputy"),
                *_timer(role, field),
            )
            for role in ROLES
            for field in ("voice_after_min", "deputy_after_min")
        ],
        Key(
            "time_zone",
            "zone",
            "the IANA time zone times are shown in (empty: the duty-manager rotation's)",
            *_top("time_zone"),
        ),
        Key(
            "reply_help",
            "text",
            "the help SMS's first sentence (empty: 'Reply 1 to join or 2 if unable.')",
            *_top("reply_help"),
        ),
        Key(
            "verify_within_days",
            "whole",
            "readiness: a contact check older than this many days is due",
            *_top("verify_within_days"),
        ),
        Key(
            "default_region",
            "region",
            "the country of numbers written without +, e.g. FI",
            *_top("default_region"),
        ),
    ]
}


def _key(name: str) -> Key:
    try:
        return KEYS[name]
    except KeyError:
        raise UserError(
            f"no setting {name!r}; the organisation's settings are: {', '.join(KEYS)}"
        ) from None


def check_key(name: str) -> None:
    """A ``UserError`` naming every key unless ``name`` is one."""
    _key(name)


def check(name: str, value: Any) -> Any:
    """A value for ``name`` as the config file's rules would take it, or a ``UserError``."""
    key = _key(name)
    if key.kind in ("text", "zone", "region"):
        if not isinstance(value, str):
            raise UserError(f"{name} must be text, not {value!r}")
        value = value.strip()
        if "\x00" in value:
            raise UserError(f"{name}: text with a NUL character cannot be stored")
        if name == "reply_help" and len(value) > HELP_MAX:
            raise UserError(f"reply_help must fit {HELP_MAX} characters (it is one SMS)")
    if key.kind == "zone" and value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise UserError(
                f"time_zone: no time zone {value[:40]!r} (e.g. Europe/Helsinki)"
            ) from None
    if key.kind == "region":
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise UserError(f"default_region: {value[:8]!r} is not a country code like FI or SE")
    if key.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{name} must be a number of minutes, 0 or more, not {value!r}")
        if not math.isfinite(value) or value < 0 or value > 7 * 24 * 60:
            raise UserError(f"{name} must be between 0 and 10080 minutes (a week), not {value!r}")
        value = float(value)
    if key.kind == "whole":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
            raise UserError(f"{name} must be a whole number of days from 1 to 3650, not {value!r}")
    return value


def parse(name: str, text: str) -> Any:
    """``settings set KEY VALUE``: the typed-in text as the key's kind."""
    key = _key(name)
    if key.kind == "number":
        try:
            return check(name, float(text.strip()))
        except ValueError:
            raise UserError(f"{name} must be a number of minutes, not {text[:40]!r}") from None
    if key.kind == "whole":
        raw = text.strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
            raise UserError(f"{name} must be a whole number of days, not {text[:40]!r}")
        return check(name, int(raw))
    return check(name, text)


def apply(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """``settings`` with the stored values in place (a value that fails today's checks is
    left out: the config's or the default stays)."""
    for name, value in values.items():
        if name not in KEYS:
            continue
        try:
            settings = KEYS[name].put(settings, check(name, value))
        except UserError:
            continue
    return settings


def seed_values(settings: Settings) -> dict[str, Any]:
    """What a config file says that differs from the defaults: the table's first content."""
    default = Settings()
    out = {}
    for name, key in KEYS.items():
        value = key.get(settings)
        if value != key.get(default):
            try:
                out[name] = check(name, value)
            except UserError:
                continue
    return out


def use_time_zone(zone: str) -> None:
    """Show times in the organisation's zone: every local-time conversion in the console
    (``astimezone()``) follows the process's ``TZ``."""
    if zone and os.environ.get("TZ") != zone and hasattr(time, "tzset"):
        os.environ["TZ"] = zone
        time.tzset()


def overlay(settings: Settings) -> Settings:
    """``settings`` with the database's organisation settings (a quick read-only look)."""
    try:
        values = repo.peek(Path(settings.resolved_db_path()))
    except OSError:  # a name the file system refuses: the store's open says so
        return settings
    if not values:
        return settings
    out = apply(settings, values)
    use_time_zone(out.time_zone)
    return out


def seed_once(store: Store, settings: Settings, actor: str, now: datetime) -> bool:
    """The first console on a database with an empty table writes its config's values."""
    with store.read() as db:
        if not repo.is_empty(db):
            return False
    values = seed_values(settings)
    if not values:
        return False
    with store.write() as db:
        if not repo.is_empty(db):  # another process seeded meanwhile
            return False
        for name, value in values.items():
            repo.write(db, name, value, f"{actor} (from the config file)", now)
    return True


@dataclass(frozen=True)
class Shown:
    key: str
    value: Any
    source: str  # database | config file | default
    updated_at: str
    updated_by: str
    about: str


def listing(settings: Settings, store: Store) -> list[Shown]:
    with store.read() as db:
        stored = {k: (v, at, by) for k, v, at, by in repo.rows(db)}
    default = Settings()
    out = []
    for name, key in KEYS.items():
        if name in stored:
            value, at, by = stored[name]
            out.append(Shown(name, value, "database", at, by, key.about))
        else:
            value = key.get(settings)
            source = "default" if value == key.get(default) else "config file"
            out.append(Shown(name, value, source, "", "", key.about))
    return out


def set_value(store: Store, name: str, text: str, actor: str, now: datetime) -> Any:
    value = parse(name, text)
    with store.write() as db:
        repo.write(db, name, value, actor, now)
        append_event(
            db,
            incident_id=None,
            at=now,
            actor=actor,
            kind="setting",
            text=f"setting {name} changed",
        )
    return value


__all__ = ["KEYS", "apply", "check", "listing", "overlay", "parse", "seed_once"]
