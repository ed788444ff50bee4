"""What every operation needs: settings, the open store and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mim_console.clock import Clock, utcnow
from mim_console.config import Settings
from mim_console.data.store import DamagedDatabase, Store

if TYPE_CHECKING:
    from mim_console.data.directory import Directory


@dataclass
class Context:
    settings: Settings
    clock: Clock = utcnow
    actor: str = field(default_factory=lambda: _default_actor())
    _store: Store | None = None

    def __post_init__(self) -> None:
        # The organisation's settings live in the database (services/org_settings.py): a quick
        # read-only look, before any command runs, so every console shows the same ones.
        from mim_console.services.org_settings import overlay

        self.settings = overlay(self.settings)

    @property
    def db_path(self) -> Path:
        return self.settings.resolved_db_path()

    @property
    def store(self) -> Store:
        """Opened on first use, so commands that need no database never create one."""
        if self._store is None:
            from mim_console.data import standby

            if standby.is_standby_copy(self.db_path):
                # A standby's follower copy: read-only until `mim-console takeover`.
                self._store = standby.FollowerStore(self.db_path)
                return self._store
            try:
                self._store = Store(self.db_path)
                from mim_console.services.org_settings import seed_once

                seed_once(self._store, self.settings, self.actor, self.clock())
            except DamagedDatabase as exc:
                # Name the backup to restore: the store alone does not know the backup folder.
                from mim_console.data.backup import damage_advice

                advice = damage_advice(self.settings.resolved_backup_dir())
                raise DamagedDatabase(exc.path, exc.reason, advice) from exc
        return self._store

    def directory(self) -> Directory:
        """The one way to the directory: phones read in the configured region, the context's
        clock on every write (screens, commands and services all normalise alike)."""
        from mim_console.data.directory import Directory

        return Directory(self.store, default_region=self.settings.default_region, clock=self.clock)

    def data_version(self) -> int:
        """Moves when another process commits: screens poll it to know when to reload."""
        return self.store.data_version()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _default_actor() -> str:
    """Who the timeline says acted: MIM_CONSOLE_ACTOR (a name, where duty managers share a
    jump-host account), else the operating-system user."""
    import getpass
    import os

    from mim_console.domain.text import one_line

    named = one_line(os.environ.get("MIM_CONSOLE_ACTOR", "")).strip()
    if named:
        return named[:80]
    try:
        return getpass.getuser()
    except Exception:  # no user name is not worth failing for
        return "console"
