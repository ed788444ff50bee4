"""Shared fixtures: every test runs with its own config and data dirs, and a real SQLite file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.services.context import Context
from tests.twilio_fixtures import notifier, standin, standin_settings, threaded_standin  # noqa: F401

SHARED = Path(__file__).resolve().parents[2] / "shared"
FROZEN_NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

_LEAKY_ENV = (
    "MIM_CONSOLE_DB",
    "MIM_CONSOLE_CONFIG",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_KEY",
    "TWILIO_API_SECRET",
    "MIM_TWILIO_FROM",
    "MIM_TWILIO_API_URL",
    "MIM_TWILIO_CALLBACK_URL",
    "MIM_MODEM_GAMMURC",
    "MIM_REPLICA_URL",
)


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A developer's real config, database and Twilio credentials never leak into a test."""
    home = tmp_path / "home"
    for var in _LEAKY_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    # Files a command writes to relative names (`-o sheet.md`, generated arguments) land here,
    # never in the checkout.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    zone = os.environ.get("TZ")
    yield home
    # The console makes the organisation's zone the process's local time: never past its test.
    from mim_console.services import timezone

    timezone.forget()
    if os.environ.get("TZ") != zone:
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "mim.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def context(db_path: Path) -> Iterator[Context]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="tester")
    yield ctx
    ctx.close()


def shared_path(*parts: str) -> Path:
    """A file from ../shared: skip with a reason where it is absent, fail under CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"{path} is absent (../shared is not beside this clone)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    return path
