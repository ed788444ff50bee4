"""`mim-console` with no command and `mim-console serve`, through the real entry points."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from mim_console.cli import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_command_on_a_damaged_database_explains_and_exits_1(tmp_path: Path) -> None:
    damaged = tmp_path / "mim.db"
    damaged.write_bytes(b"this is not a database at all" * 100)
    result = CliRunner().invoke(main, ["--db", str(damaged)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert str(damaged) in result.output and "restore" in result.output


def test_serve_answers_on_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MIM_CONSOLE_DB": str(tmp_path / "mim.db")}
    server = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        page = None
        while time.monotonic() < deadline and page is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200
        assert "mim-console" in page.text
        # Bound to 127.0.0.1: nothing listens on the machine's other addresses.
        others = {
            str(info[4][0])  # AF_INET: the address is a str
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            if not str(info[4][0]).startswith("127.")
        }
        for address in others:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                assert sock.connect_ex((address, port)) != 0
    finally:
        server.terminate()
        server.wait(10)
