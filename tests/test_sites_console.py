"""The standby console on a live follower copy (real Litestream, ``file://`` replica): the
banner names whose copy it is and how far behind, the roll call follows the primary's writes,
and a write key is refused in words."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual.binding import Binding
from textual.widgets import Static

from mim_console import screens
from mim_console.app import make_app
from mim_console.config import ReplicaSettings, Settings
from mim_console.data.standby import REFUSAL, FollowerStore
from mim_console.domain.incident import State
from mim_console.screens.base import MimScreen
from mim_console.screens.duty import DutyScreen
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services import sites
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.widgets.banner import OutboxBanner, OutboxState, describe
from tests.conftest import FROZEN_NOW
from tests.ui_data import seed_small


async def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_banner_words() -> None:
    standby = OutboxState(standby=True, site="STANDBY of hq, 2 s behind", queued=3)
    assert describe(standby)[0].startswith("STANDBY of hq, 2 s behind · 3 queued")
    bad = OutboxState(reachable=True, site="✖ replica NOT RUNNING", site_ok=False)
    words, css = describe(bad)
    assert words.startswith("✖ replica NOT RUNNING · ✔ Twilio reachable") and css == "-warn"
    good = replace(bad, site="✔ replica 0 s behind", site_ok=True)
    assert describe(good)[0].endswith("· ✔ replica 0 s behind")


async def test_standby_console_follows_the_roll_call_and_refuses_writes(tmp_path: Path) -> None:
    url = (tmp_path / "replica").as_uri()
    primary = Context(
        settings=Settings(
            db_path=tmp_path / "a.db", replica=ReplicaSettings(url=url, site="site-a")
        ),
        clock=lambda: FROZEN_NOW,
        actor="primary",
    )
    seed_small(primary.store, FROZEN_NOW)
    code = IncidentService(primary).declare(title="Disk full", severity="SEV2").code
    replicator = sites.start_replication(primary)
    assert replicator is not None
    copy = tmp_path / "b.db"
    second = Context(settings=Settings(db_path=copy), clock=lambda: FROZEN_NOW, actor="b")
    try:
        await asyncio.to_thread(sites.start_following, second, url, copy)
        assert isinstance(second.store, FollowerStore)
        app = make_app(second)
        assert app.link is None  # a standby runs no dispatcher
        async with app.run_test(size=(100, 30)) as pilot:
            banner = app.screen.query_one(OutboxBanner)
            await wait_for(lambda: str(banner.render()).startswith("STANDBY of site-a, "))
            assert " s behind" in str(banner.render())
            duty = app.screen
            assert isinstance(duty, DutyScreen)
            # The incident list loads in a worker after the first paint: r opens it once listed.
            await wait_for(lambda: duty._selected_code() is not None)
            await pilot.press("r")
            await wait_for(lambda: isinstance(app.screen, RollCallScreen))
            roll = app.screen
            assert isinstance(roll, RollCallScreen)
            await wait_for(lambda: roll.view is not None)
            assert roll.view is not None and roll.view.code == code
            # Live: the primary marks someone joined; the standby's roll call shows it.
            IncidentService(primary).mark_joined(code, ["Aino Aalto"])
            await wait_for(
                lambda: any(
                    s.name == "Aino Aalto" and s.state is State.JOINED
                    for s in roll.view.seats  # type: ignore[union-attr]
                )
            )
            # A write key: refused in the standby's words, nothing written.
            names = [s.name for s in roll.view.seats]
            roll.query_one("#rc-table").move_cursor(row=names.index("Helmi Heikkinen"))  # type: ignore[attr-defined]
            await pilot.press("u")
            await wait_for(lambda: any(REFUSAL in str(n.message) for n in app._notifications))
            states = {
                s.person.name: s.participant.state
                for s in IncidentService(primary).roll_call(code).seats
            }
            assert states["Helmi Heikkinen"] is not State.UNABLE
            # A key that opens a form says so first: no form is filled in to be lost, and
            # the footer does not offer what would be refused.
            app.clear_notifications()
            await pilot.press("n")
            await wait_for(lambda: any(REFUSAL in str(n.message) for n in app._notifications))
            assert app.screen is roll
            assert roll.check_action("joined", ()) is False
            assert roll.check_action("timeline", ()) is True
            await pilot.press("escape")
            await wait_for(lambda: app.screen is duty)
            app.clear_notifications()
            await pilot.press("n")
            await wait_for(lambda: any(REFUSAL in str(n.message) for n in app._notifications))
            on_top: object = app.screen
            assert on_top is duty and duty.check_action("declare", ()) is False
            await pilot.press("r")
            await wait_for(lambda: isinstance(app.screen, RollCallScreen))
            banner = app.screen.query_one(OutboxBanner)
            assert str(banner.render()).startswith("STANDBY of site-a")
            assert isinstance(app.screen.query_one("#rc-detail", Static), Static)
    finally:
        sites.stop_following(copy)
        replicator.stop()
        primary.close()


def _screens() -> list[type[MimScreen]]:
    for module in pkgutil.iter_modules(screens.__path__):
        importlib.import_module(f"{screens.__name__}.{module.name}")
    found, todo = [], list(MimScreen.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_write_a_standby_refuses_is_a_bound_action() -> None:
    """A misspelt name in a screen's WRITES would leave that key working on a standby."""
    checked = 0
    for cls in _screens():
        bound = {
            b.action.split("(", 1)[0]
            for klass in cls.__mro__
            for b in vars(klass).get("BINDINGS", [])
            if isinstance(b, Binding)
        }
        for action in cls.WRITES:
            assert action in bound and hasattr(cls, f"action_{action}"), (cls.__name__, action)
            checked += 1
    assert checked >= 30
