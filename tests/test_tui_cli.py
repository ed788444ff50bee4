"""`mim-console` with no command and `mim-console serve`, through the real entry points."""

from __future__ import annotations

import socket
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
    from tests import served

    port = free_port()
    server = served.start(["--db", str(tmp_path / "mim.db"), "serve"], port=port)
    try:
        # The console only behind its login link (tests/test_serve.py tries the rest).
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5.0).status_code == 403
        page = httpx.get(server.login, timeout=5.0, follow_redirects=True)
        assert page.status_code == 200
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
        server.stop()
