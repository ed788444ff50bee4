"""Concurrent consoles: separate processes acting on one database file at once.

Two CLI processes keep marking people joined, adding notes, releasing and recalling them while
a third stores and applies inbound replies the way the dispatcher does (duplicates, garbage and
unknown numbers included). Nothing is lost (every note and every state change is in the
timeline), nothing is applied twice, "database is locked" never reaches a user, and no process
shows a traceback. Two `declare`s started in the same instant get two distinct codes. A console
(Pilot) showing the roll call follows a change made by a CLI process without a key press.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mim_console.app import make_app
from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.domain.incident import State
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import mobile, seed
from tests.slow_gate import slow_only_when_asked  # noqa: F401
from tests.ui_data import seed_small

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 8

# A console process: many CLI commands in a row, each a full invocation (its own connection).
CLI_WORKER = r"""
import json, sys, time
from click.testing import CliRunner
from mim_console.cli import main
db, code, names, rounds = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
runner, bad, runs, start = CliRunner(), [], 0, time.time()
for r in range(rounds):
    for name in names:
        for args in (["joined", code, name], ["note", code, f"{name} round {r}"],
                     ["release", code, name], ["recall", code, name]):
            res = runner.invoke(main, ["--db", db, *args])
            runs += 1
            text = res.output + (res.stderr if res.stderr_bytes else "")
            if res.exit_code != 0 or "Traceback" in text or "locked" in text.lower():
                bad.append([args, res.exit_code, text, repr(res.exception)])
print(json.dumps({"runs": runs, "bad": bad, "span": [start, time.time()]}))
"""

# The reply path, as the dispatcher runs it: store each inbound SMS once, then apply it.
REPLY_WORKER = r"""
import json, sys, time
from datetime import datetime, UTC
from mim_console.config import Settings
from mim_console.domain.replies import InboundReply
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
db, rounds, numbers = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
ctx = Context(settings=Settings(db_path=db), actor="dispatcher")
svc = IncidentService(ctx)
applied, stored, start = 0, 0, time.time()
for r in range(rounds):
    for i, (number, body) in enumerate(
        [(n, "1") for n in numbers] + [(numbers[0], "maybe?"), ("+15550001111", "1")]
    ):
        sid = f"SM{r:04d}{i:028d}"
        for _ in range(2):  # every message seen twice (overlapping polls)
            now = datetime.now(UTC)
            if svc.receive(InboundReply(number, body, sid, now)).answered:
                applied += 1
            time.sleep(0.01)  # spread over the CLI workers' run, as polls are
        stored += 1
ctx.close()
print(json.dumps({"stored": stored, "applied": applied, "span": [start, time.time()]}))
"""


def python(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err and "locked" not in err.lower(), err
    return out, err


@pytest.fixture
def incident(db_path: Path) -> str:
    ctx = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    return code.code


def timeline_kinds(db_path: Path, code: str) -> list[dict[str, Any]]:
    store = Store(db_path)
    try:
        return store.query(
            "SELECT event.kind, event.text, person.name FROM event "
            "JOIN incident ON incident.id = event.incident_id "
            "LEFT JOIN person ON person.id = event.person_id WHERE incident.code = ?",
            [code],
        )
    finally:
        store.close()


@pytest.mark.parametrize(
    "rounds", [ROUNDS, pytest.param(60, marks=pytest.mark.slow, id="60-rounds")]
)
def test_two_cli_processes_and_the_reply_path_at_once(
    db_path: Path, incident: str, rounds: int
) -> None:
    code = incident
    workers = [
        python("-c", CLI_WORKER, str(db_path), code, "Alice Ops,Sam Spec", str(rounds)),
        python("-c", CLI_WORKER, str(db_path), code, "Tina Spec,Uma Spec", str(rounds)),
        python(
            "-c",
            REPLY_WORKER,
            str(db_path),
            str(rounds),
            f"{mobile('Dan Biz')},{mobile('Frank Comms')}",
        ),
    ]
    results = [json.loads(finish(w)[0].strip().splitlines()[-1]) for w in workers]
    spans = [r.pop("span") for r in results]
    cli_a, cli_b, replies = spans
    assert max(cli_a[0], cli_b[0]) < min(cli_a[1], cli_b[1])  # the two consoles at once
    assert replies[0] < max(cli_a[1], cli_b[1]) and replies[1] > min(cli_a[0], cli_b[0])
    for cli in results[:2]:
        assert cli == {"runs": rounds * 2 * 4, "bad": []}
    # Each of the 4 distinct messages per round stored once, though seen twice.
    assert results[2]["stored"] == rounds * 4
    events = timeline_kinds(db_path, code)
    notes = [e["text"] for e in events if e["kind"] == "note"]
    assert len(notes) == len(set(notes)) == 4 * rounds  # every note, none twice
    cli_people = ("Alice Ops", "Sam Spec", "Tina Spec", "Uma Spec")
    for name in cli_people:
        moves = [e for e in events if e["kind"] == "state" and e["name"] == name]
        assert len(moves) == 3 * rounds, (name, [m["text"] for m in moves])
    store = Store(db_path)
    try:
        states = {
            r["name"]: r["state"]
            for r in store.query(
                "SELECT person.name, participant.state FROM participant "
                "JOIN person ON person.id = participant.person_id"
            )
        }
        inbound = store.query("SELECT meaning, count(*) AS n FROM inbound GROUP BY meaning")
    finally:
        store.close()
    assert {states[n] for n in cli_people} == {"recalled"}
    assert states["Dan Biz"] == states["Frank Comms"] == "joined"
    meanings = {r["meaning"]: r["n"] for r in inbound}
    assert meanings == {
        "joining": 2 * rounds,
        "unrecognised": rounds,
        "unknown_number": rounds,
    }
    # The first "1" from each joined them; later ones were recognised as already joined.
    joins = [e for e in events if e["kind"] == "state" and e["name"] in ("Dan Biz", "Frank Comms")]
    assert len(joins) == 2


def test_two_declares_in_the_same_instant_get_two_codes(db_path: Path) -> None:
    store = Store(db_path)
    seed(store, FROZEN_NOW)
    store.close()
    procs = [
        python("-m", "mim_console", "--db", str(db_path), "declare", "-t", f"Outage {i}", "--yes")
        for i in (1, 2)
    ]
    codes = {finish(p)[0].strip() for p in procs}
    assert len(codes) == 2 and all(c.startswith("MI-") for c in codes)
    store = Store(db_path)
    try:
        rows = store.query(
            "SELECT code, (SELECT count(*) FROM alert a WHERE a.incident_id = i.id)"
            " AS alerts FROM incident i"
        )
    finally:
        store.close()
    assert {r["code"] for r in rows} == codes
    assert len({r["alerts"] for r in rows}) == 1  # the same people paged for each, no more


async def test_the_roll_call_follows_a_cli_process(context: Context, db_path: Path) -> None:
    """A CLI process marks someone joined; the open roll call shows it about a second later."""
    seed_small(context.store, FROZEN_NOW)
    code = IncidentService(context).declare(title="Other writer", severity="SEV2").code
    app = make_app(context, dispatch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        await until(lambda: roll.view is not None)

        def joined() -> bool:
            view = roll.view
            return view is not None and any(
                s.name == "Aino Aalto" and s.state is State.JOINED for s in view.seats
            )

        assert not joined()
        cli = python("-m", "mim_console", "--db", str(db_path), "joined", code, "Aino Aalto")
        await until(lambda: cli.poll() is not None, seconds=60)
        finish(cli)
        committed = time.monotonic()
        await until(joined, seconds=5)
        lag = time.monotonic() - committed
        print(f"roll call caught up {lag:.2f} s after the CLI process exited")


async def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_watch_follows_another_process(db_path: Path, incident: str) -> None:
    """`watch` (in a pseudo-terminal, redrawing only every 30 s on its own) shows a change
    committed by another process within about a second."""
    import pty
    import select
    import signal

    from click.testing import CliRunner

    from mim_console.cli import main

    master, slave = pty.openpty()
    watch = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(db_path), "watch", incident]
        + ["--interval", "30"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "LINES": "60"},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    seen = bytearray()

    def read_until(marker: bytes, start: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while marker not in seen[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([master], [], [], min(left, 0.1))
            if ready:
                try:
                    seen.extend(os.read(master, 65536))
                except OSError:
                    return False
        return True

    try:
        assert read_until(b"Uma Spec", 0, 30), seen.decode(errors="replace")[-2000:]
        mark = len(seen)
        result = CliRunner().invoke(main, ["--db", str(db_path), "joined", incident, "Uma Spec"])
        assert result.exit_code == 0, result.output
        committed = time.monotonic()
        assert read_until(b"-> joined", mark, 10), seen[mark:].decode(errors="replace")[-2000:]
        print(f"watch redrew {time.monotonic() - committed:.2f} s after the commit")
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            _, err = watch.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            watch.kill()
            _, err = watch.communicate()
        os.close(master)
    assert b"Traceback" not in err, err
