"""`mim-console serve` as an attacker would try it: a real server in a subprocess, real HTTP and
websockets over loopback, the real database file checked afterwards."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx
import pytest

from mim_console.cli.serve import (
    MIN_TOKEN_CHARS,
    WrongTokens,
    origin_of,
    public_url_for,
    read_token_file,
    web_actor,
)
from mim_console.errors import UserError
from tests import served
from tests.served import Served

# ---------------------------------------------------------------- the rules on their own


def test_origin_is_what_a_browser_sends() -> None:
    assert origin_of("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert origin_of("https://MIM.example.org/mim/") == "https://mim.example.org"
    assert origin_of("https://mim.example.org:443") == "https://mim.example.org"
    assert origin_of("http://[::1]:8000/") == "http://[::1]:8000"


def test_public_url_is_the_bound_address_or_a_checked_one() -> None:
    assert public_url_for("127.0.0.1", 8000, False, None) == "http://127.0.0.1:8000"
    assert public_url_for("::1", 8443, True, None) == "https://[::1]:8443"
    assert public_url_for("h", 1, False, "https://mim.example.org/mim/") == (
        "https://mim.example.org/mim"
    )
    for bad in ("mim.example.org", "ftp://x", "https://", "http://x:port", "http://x/?a=1"):
        with pytest.raises(Exception, match="--public-url|not an http"):
            public_url_for("h", 1, False, bad)


def test_web_actor_is_named_once_and_on_one_line() -> None:
    assert web_actor("alice") == "alice (web)"
    assert web_actor("alice (web)") == "alice (web)"
    assert web_actor("eve\nroot") == "eve root (web)"
    assert len(web_actor("x" * 500)) == 80


def test_wrong_tokens_are_limited_per_address_in_a_sliding_window() -> None:
    now = [0.0]
    wrong = WrongTokens(allowed=3, window_s=60, clock=lambda: now[0])
    assert [wrong.failed("a") for _ in range(3)] == [1, 2, 3]
    assert wrong.limited("a") and not wrong.limited("b")
    now[0] = 59.9
    assert wrong.limited("a")
    now[0] = 60.0
    assert not wrong.limited("a")


def test_token_file_must_be_private_and_long(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("a" * MIN_TOKEN_CHARS + "\n")
    path.chmod(0o644)
    with pytest.raises(UserError, match="chmod 600"):
        read_token_file(path)
    path.chmod(0o600)
    assert read_token_file(path) == "a" * MIN_TOKEN_CHARS
    path.write_text("short")
    with pytest.raises(UserError, match="at least 22"):
        read_token_file(path)
    with pytest.raises(UserError, match="no such token file"):
        read_token_file(tmp_path / "missing")


# ---------------------------------------------------------------- a real server


@pytest.fixture
def seeded_db(tmp_path: Path) -> Path:
    db = tmp_path / "web.db"
    served.seed_demo(db)
    return db


@pytest.fixture
def server(seeded_db: Path) -> Iterator[Served]:
    srv = served.start(["--db", str(seeded_db), "serve", "--actor", "tester"])
    yield srv
    srv.stop()


def cookie_of(response: httpx.Response) -> tuple[str, str]:
    header = response.headers["set-cookie"]
    name, value = header.split(";", 1)[0].split("=", 1)
    return name, value


def login(srv: Served) -> tuple[str, str]:
    response = httpx.get(srv.login, follow_redirects=False)
    assert response.status_code == 303
    return cookie_of(response)


def test_without_the_token_nothing_of_the_console_is_served(server: Served) -> None:
    for path in ("/", "/?fontsize=20", "/static/js/textual.js", "/static/", "/ws", "/download/x"):
        response = httpx.get(server.base + path)
        assert response.status_code == 403, path
        assert "mim-console" not in response.text and "<title" not in response.text
        assert "textual" not in response.text.lower()
        assert "set-cookie" not in response.headers
    # A stale or forged cookie is no better.
    name = f"mim_console_{server.port}"
    response = httpx.get(server.base + "/", headers={"Cookie": f"{name}=forged"})
    assert response.status_code == 403


def test_the_token_gives_a_strict_httponly_cookie_and_the_page(server: Served) -> None:
    response = httpx.get(server.login + "&fontsize=18", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?fontsize=18"  # the token leaves the address bar
    attributes = response.headers["set-cookie"].lower()
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    name, value = cookie_of(response)
    assert server.token not in value
    page = httpx.get(server.base + "/?fontsize=18", headers={"Cookie": f"{name}={value}"})
    assert page.status_code == 200
    assert "<title>mim-console</title>" in page.text
    assert 'data-font-size="18"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # The token is never logged, the access log is off.
    assert server.stderr.count(server.token) == 1  # the one login link


def test_after_a_link_from_another_site_the_login_moves_on_from_its_own_page(
    server: Served,
) -> None:
    response = httpx.get(
        server.login, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert response.status_code == 200
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    assert '<meta http-equiv="refresh" content="0; url=/">' in response.text
    assert server.token not in response.text and "mim-console" not in response.text


URL_IN_HTML = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]+)""")
ABSOLUTE = re.compile(r"\b(?:https?|wss?|ftp)://[\w.\-\[\]:]+|(?<![:\w/])//[\w.\-]+\.[a-z]{2,}/")


def test_the_page_and_its_assets_reference_no_other_host(server: Served) -> None:
    name, value = login(server)
    cookies = {"Cookie": f"{name}={value}"}
    page = httpx.get(server.base + "/", headers=cookies).text
    own = urlsplit(server.base).netloc
    references = [a or b for a, b in URL_IN_HTML.findall(page)]
    assert any(r.endswith("textual.js") for r in references)
    assert any(r.endswith(".ttf") for r in references), "the font must come from this server"
    assert "fonts.googleapis" not in page
    for found in ABSOLUTE.findall(page):
        assert urlsplit(found).netloc == own, found
    for ref in references:
        if ref.startswith("data:") or ref == "":
            continue
        url = urljoin(server.base + "/", ref)
        assert urlsplit(url).netloc == own, ref
        asset = httpx.get(url, headers=cookies)
        assert asset.status_code == 200, url
        if url.endswith((".css", ".js")):
            text = re.sub(r"/\*.*?\*/", "", asset.text, flags=re.S)  # licence comments
            assert ABSOLUTE.findall(text) == [], url
            assert "@import" not in text
    websocket = re.search(r'data-session-websocket-url="([^"]+)"', page)
    assert websocket and websocket.group(1) == f"ws://{own}/ws"


def test_a_wrong_token_is_logged_without_its_text_and_rate_limited(server: Served) -> None:
    guesses = [f"guess{n}-{'x' * 30}" for n in range(7)]
    statuses = [httpx.get(f"{server.base}/?token={g}").status_code for g in guesses]
    assert statuses == [403] * 5 + [429] * 2
    # While the address is limited even the right token is turned away unread.
    assert httpx.get(server.login, follow_redirects=False).status_code == 429
    server.wait_for("its tokens are refused for a minute")
    log = server.stderr
    assert "wrong login token from 127.0.0.1 (1 in a minute)" in log
    assert log.count("wrong login token") == 5  # no line per refused request after that
    for guess in guesses:
        assert guess not in log


async def try_to_declare(
    srv: Served,
    headers: dict[str, str],
    query: str = "",
    until: Callable[[], bool] = lambda: True,
    keep_open_s: float = 0.0,
) -> int | None:
    """Open the websocket as given and, if it opens, type n, a title, Ctrl+S, y into it, then
    keep the console open until ``until()`` (for at most ``keep_open_s``). Returns the
    refusal's HTTP status, or None when the socket was accepted."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(
                f"{srv.base}/ws?width=120&height=40{query}", headers=headers
            ) as ws:
                screen = served.Screen()
                reading = asyncio.create_task(screen.read(ws))
                await served.drive_declare(ws, screen)
                deadline = time.monotonic() + keep_open_s
                while not until() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a file
                    await asyncio.sleep(0.5)
                await ws.close()
                await reading
                return None
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


async def test_foreign_origin_or_no_cookie_cannot_open_the_console(
    server: Served, seeded_db: Path
) -> None:
    name, value = login(server)
    cookie = f"{name}={value}"
    own = server.base
    attempts = {
        "foreign origin": {"Origin": "http://evil.example", "Cookie": cookie},
        "foreign origin, same host other port": {
            "Origin": f"http://127.0.0.1:{server.port + 1}",
            "Cookie": cookie,
        },
        "no origin": {"Cookie": cookie},
        "no cookie": {"Origin": own},
        "wrong cookie": {"Origin": own, "Cookie": f"{name}=x{value}"},
    }
    for why, headers in attempts.items():
        assert await try_to_declare(server, headers) == 403, why
    # The token instead of the cookie does not lift the origin rule.
    status = await try_to_declare(
        server, {"Origin": "http://evil.example"}, query=f"&token={server.token}"
    )
    assert status == 403
    await asyncio.sleep(0.5)
    assert server.children() == [], "a refused upgrade must not start a console"
    assert served.incidents(seeded_db) == []
    assert "refused a websocket from 127.0.0.1: Origin http://evil.example" in server.stderr


async def test_the_same_keys_over_an_accepted_socket_declare_as_the_web_actor(
    server: Served, seeded_db: Path
) -> None:
    """The control for the test above: its keystrokes do declare when the socket is allowed,
    and the timeline names who did it, marked as from the browser."""
    name, value = login(server)
    status = await try_to_declare(server, {"Origin": server.base, "Cookie": f"{name}={value}"})
    assert status is None
    assert served.incidents(seeded_db) == [("Payments down", "tester (web)")]
    assert served.timeline_actors(seeded_db) == {"tester (web)"}


def test_token_file_logs_in_without_printing_the_token(tmp_path: Path, seeded_db: Path) -> None:
    token_file = tmp_path / "token"
    token = "T" * 40
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = served.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "--db", str(seeded_db), "serve"]
        + ["--port", str(port), "--token-file", str(token_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    srv = Served(process, port, base=f"http://127.0.0.1:{port}", token=token)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(srv.login, follow_redirects=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 303
    finally:
        srv.stop()
    assert process.stderr is not None
    err = process.stderr.read()
    assert token not in err and f"<the token in {token_file}>" in err


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("T" * 40)
    token_file.chmod(0o640)
    result = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(tmp_path / "x.db"), "serve"]
        + ["--token-file", str(token_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr


def test_a_non_loopback_host_is_warned_about(tmp_path: Path) -> None:
    """`.invalid` never resolves: the warning comes before the bind, which then fails cleanly."""
    result = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(tmp_path / "x.db"), "serve"]
        + ["--host", "console.invalid", "--port", str(served.free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "not loopback" in result.stderr and "unencrypted" in result.stderr
    assert "SSH tunnel" in result.stderr and "reverse proxy" in result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_loopback_gives_no_warning(server: Served) -> None:
    assert "warning" not in server.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_certificate_serves_https_with_a_secure_cookie(tmp_path: Path, seeded_db: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    srv = served.start(
        ["--db", str(seeded_db), "serve", "--tls-cert", str(cert), "--tls-key", str(key)]
    )
    try:
        assert srv.base.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(srv.base + "/", verify=trust).status_code == 403
        response = httpx.get(srv.login, verify=trust, follow_redirects=False)
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()
        with pytest.raises(httpx.TransportError):
            httpx.get(srv.base.replace("https:", "http:") + "/", timeout=3)
    finally:
        srv.stop()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(tmp_path / "x.db"), "serve"]
        + ["--tls-cert", str(tmp_path / "c.pem")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert result.returncode == 2 and "go together" in result.stderr


def test_demo_serve_pages_through_the_stand_in_and_its_people_answer(tmp_path: Path) -> None:
    """`demo --serve`: the browser's console sends to the demo's stand-in (never a real Twilio)
    and the simulated people's replies come back, as in the terminal demo."""
    db = tmp_path / "demo.db"
    srv = served.start(["--db", str(db), "demo", "--serve"], env={"MIM_CONSOLE_ACTOR": "dora"})
    try:
        assert "timeline entries made there name dora (web)" in srv.stderr
        name, value = login(srv)
        headers = {"Origin": srv.base, "Cookie": f"{name}={value}"}
        status = asyncio.run(
            try_to_declare(srv, headers, until=lambda: bool(served.replies(db)), keep_open_s=70)
        )
        assert status is None
        assert served.incidents(db) == [("Payments down", "dora (web)")]
        statuses = served.alert_statuses(db)
        assert statuses and "queued" not in statuses, statuses  # all left for the stand-in
        assert served.replies(db), "no simulated person answered"
    finally:
        srv.stop()
