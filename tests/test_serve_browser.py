"""The served console in a real browser: Debian's headless Chromium driven by Selenium.

No browser is downloaded at run time: the test uses /usr/bin/chromium and /usr/bin/chromedriver
(`apt-get install chromium chromium-driver`); where they are absent it is skipped with the reason,
and under CI=true it fails instead.

xterm.js draws the terminal on a canvas, so the text on screen is not in the page's DOM. The test
reads what the console sent: a script added to the page before it loads (through the DevTools
protocol, not shipped in the product) keeps a copy of every frame the page's websocket receives.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import served
from tests.served import Served

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
COLUMNS = 133  # the width duty managers use the served page at


def _needs(what: str) -> NoReturn:
    reason = f"{what} is absent (apt-get install chromium chromium-driver; pip install selenium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must have it")
    pytest.skip(reason)


RECORD_FRAMES = """
(() => {
  const Native = window.WebSocket;
  window.__frames = [];
  window.__sockets = [];
  function Recorded(url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__sockets.push(String(url));
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        window.__frames.push(Array.from(new Uint8Array(event.data)));
      }
    });
    return socket;
  }
  Recorded.prototype = Native.prototype;
  Object.assign(Recorded, Native);
  window.WebSocket = Recorded;
})();
"""

ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<=>$]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)


def screen_text(frames: list[list[int]]) -> str:
    """What the console wrote, escape sequences taken out: its words in the order drawn."""
    data = b"".join(bytes(frame) for frame in frames)
    return ESCAPES.sub(b"", data).decode("utf-8", "replace")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _needs("selenium")
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _needs(f"{CHROMIUM} or {CHROMEDRIVER}")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1200,800",
        # Another site on this machine, for the cross-site tests (resolves nowhere else).
        "--host-resolver-rules=MAP evil.example 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_FRAMES})
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "web.db"
    served.seed_demo(db)
    srv = served.start(["--db", str(db), "serve", "--actor", "tester"])
    yield srv
    srv.stop()


def wait_for_text(driver: Any, text: str, since: int = 0, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = screen_text(driver.execute_script("return window.__frames")[since:])
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never shown; the console wrote:\n{shown[-3000:]}")
        time.sleep(0.2)


def columns(driver: Any) -> int:
    sockets = driver.execute_script("return window.__sockets")
    assert sockets, "the page opened no websocket"
    return int(parse_qs(urlsplit(sockets[-1]).query)["width"][0])


def open_at_width(driver: Any, url: str, want: int) -> None:
    """Open the console with the window sized so the terminal is ``want`` columns wide."""
    for _ in range(4):
        driver.execute_script("window.__frames = []; window.__sockets = [];")
        driver.get(url)
        wait_for_text(driver, "Duty manager")
        got = columns(driver)
        if got == want:
            return
        size = driver.get_window_size()
        cell = driver.execute_script("return window.innerWidth") / got
        driver.set_window_size(round(size["width"] + (want - got) * cell + cell / 2), 800)


def test_log_in_see_duty_read_help_in_headless_chromium(
    browser: Any, server: Served, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    # Without the token: a refusal, nothing of the console, no websocket.
    browser.get(server.base + "/")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "403" in body and "login link" in body
    assert "mim-console" not in browser.page_source and browser.title == ""
    assert browser.find_elements(By.CSS_SELECTOR, ".textual-terminal") == []
    time.sleep(1)
    assert browser.execute_script("return window.__sockets") == []

    # The login link: the cookie, then the address without the token.
    browser.get(server.login)
    assert browser.current_url == server.base + "/"
    assert browser.title == "mim-console"
    cookie = browser.get_cookie(f"mim_console_{server.port}")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    open_at_width(browser, server.base + "/", COLUMNS)
    assert columns(browser) == COLUMNS
    shown = wait_for_text(browser, "MRT seats")
    assert "Duty manager now:" in shown
    browser.save_screenshot(str(tmp_path / "duty.png"))

    # `?` opens the help of the Duty screen.
    before = len(browser.execute_script("return window.__frames"))
    browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys("?")
    helped = wait_for_text(browser, "Keys: Duty", since=before)
    assert "Declare" in helped and "Roll call" in helped
    browser.save_screenshot(str(tmp_path / "help.png"))
    assert (tmp_path / "duty.png").stat().st_size > 10_000

    # Everything the page loaded came from this server, and the policy refused nothing.
    own = urlsplit(server.base).netloc
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert any(name.endswith(".ttf") for name in loaded)
    for name in loaded:
        assert urlsplit(name).netloc == own, name
    messages = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m]


class Site:
    """Another web site on loopback: a page the duty manager happens to have open."""

    def __init__(self, folder: Path, page: str) -> None:
        import http.server
        import threading

        folder.mkdir()
        (folder / "index.html").write_text(page)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1"])
def test_a_foreign_page_in_the_same_browser_cannot_open_the_console(
    browser: Any, server: Served, tmp_path: Path, host: str
) -> None:
    """Cross-site websocket hijacking, for real: log in, then a page from another origin tries
    to open the console's websocket: another site, and another port on the same host (the same
    *site*, so the SameSite cookie goes with it and only the Origin rule stands in the way)."""
    browser.get(server.login)
    wait_for_text(browser, "Duty manager")
    page = (
        "<!DOCTYPE html><title>evil</title><script>"
        f"const ws = new WebSocket('ws://127.0.0.1:{server.port}/ws?width=80&height=24');"
        "ws.onopen = () => { document.title = 'opened'; };"
        "ws.onerror = () => { document.title = 'refused'; };"
        "</script>"
    )
    with Site(tmp_path / "attacker", page) as site:
        browser.get(f"http://{host}:{site.port}/index.html")
        deadline = time.monotonic() + 10
        while browser.title not in ("opened", "refused") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert browser.title == "refused"
    if host == "127.0.0.1":  # the cookie went along: the Origin rule refused it
        server.wait_for(f"refused a websocket from 127.0.0.1: Origin http://{host}:{site.port}")
    # (from another site the Strict cookie stays home and the socket is refused for that first)
    deadline = time.monotonic() + 20  # the console of the page left behind quits
    while server.children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.children() == [], "a refused socket must not start a console"


def test_the_login_link_works_when_followed_from_another_site(
    browser: Any, server: Served, tmp_path: Path
) -> None:
    """The link pasted into a web chat or mail: a SameSite=Strict cookie set on a cross-site
    navigation would not go with a plain redirect, so the login moves on from a page of ours."""
    from selenium.webdriver.common.by import By

    with Site(tmp_path / "chat", f'<a id="go" href="{server.login}">the console</a>') as site:
        browser.get(f"http://evil.example:{site.port}/index.html")
        browser.find_element(By.ID, "go").click()
        wait_for_text(browser, "Duty manager")
    assert browser.current_url == server.base + "/"
