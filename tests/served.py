"""A real `mim-console serve` (or `demo --serve`) in a subprocess, for the serve tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

LINK = re.compile(r"(https?://\S+)/\?token=([A-Za-z0-9_\-.~]+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    base: str = ""
    token: str = ""

    @property
    def login(self) -> str:
        return f"{self.base}/?token={self.token}"

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def children(self) -> list[int]:
        """The processes the server started (one console per accepted websocket), on Linux."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never came; stderr:\n{self.stderr}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(
    args: Sequence[str], *, port: int | None = None, env: dict[str, str] | None = None
) -> Served:
    """Run ``mim-console ARGS --port PORT`` and wait until it prints its login link (it does so
    once the port is bound)."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mim_console", *args, "--port", str(port)],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, port)

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            served.lines.append(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 30
    while not (match := LINK.search(served.stderr)):
        if process.poll() is not None or time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"serve did not start; stderr:\n{served.stderr}")
        time.sleep(0.05)
    served.base, served.token = match.group(1), match.group(2)
    return served


def seed_demo(db: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(db), "demo", "--seed-only"],
        check=True,
        capture_output=True,
    )


def incidents(db: Path) -> list[tuple[str, str]]:
    """(title, declared by) of every incident, read from the file as it is."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT title, declared_by FROM incident ORDER BY id").fetchall()


def timeline_actors(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {actor for (actor,) in conn.execute("SELECT DISTINCT actor FROM event")}


def alert_statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [status for (status,) in conn.execute("SELECT status FROM alert")]


def replies(db: Path) -> list[tuple[str, str]]:
    """(from, body) of every inbound message the console has read."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT from_number, body FROM inbound").fetchall()


DECLARE_KEYS = ["n", *"Payments down", "\x13", "y"]  # n, a title, Ctrl+S, y


ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<=>$]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


class Screen:
    """What a console wrote over its websocket, escape sequences taken out, so a test can wait
    for a screen to be drawn before it types (a loaded machine draws late)."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.data.extend(message.data)

    async def wait_for(self, words: str, since: int = 0, within_s: float = 60.0) -> int:
        """Wait until ``words`` are drawn after byte ``since``; returns the new position."""
        deadline = time.monotonic() + within_s
        while True:
            drawn = ESCAPES.sub(b"", bytes(self.data[since:])).decode("utf-8", "replace")
            if words in drawn:
                return len(self.data)
            if time.monotonic() > deadline:
                raise AssertionError(f"{words!r} was never drawn; the screen read:\n{drawn}")
            await asyncio.sleep(0.1)


async def drive_declare(ws: aiohttp.ClientWebSocketResponse, screen: Screen) -> None:
    """Send the keystrokes that declare an incident from the Duty screen, as a browser would,
    each once the screen it goes to is drawn."""
    await ws.send_json(["resize", {"width": 120, "height": 40}])
    seen = await screen.wait_for("Duty")
    await ws.send_json(["stdin", "n"])
    seen = await screen.wait_for("Declare a major incident", since=seen)
    await asyncio.sleep(0.5)  # the title field takes the focus once the dialog is mounted
    for key in DECLARE_KEYS[1:-2]:
        await ws.send_json(["stdin", key])
    seen = await screen.wait_for("Payments down", since=seen)
    await ws.send_json(["stdin", "\x13"])
    await screen.wait_for("[y]", since=seen)
    await ws.send_json(["stdin", "y"])
    await asyncio.sleep(1.0)
