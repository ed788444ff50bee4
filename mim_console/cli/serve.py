"""`mim-console serve`: the console in a browser (textual-serve), behind a login and one origin.

textual-serve runs one console process per browser websocket and answers anybody who can reach
its port. This module puts a guard in front of it, as aiohttp middleware on its server:

- **Login token.** A random token (or one read from a private file) is the only way in. The first
  request carrying ``?token=`` gets an HttpOnly, SameSite=Strict session cookie and a redirect to
  the address without the token; every request without the cookie or the token is refused (403)
  with a page that says nothing of the console. Tokens and cookies are compared in constant time;
  a wrong token is logged without its text, and an address that keeps guessing is refused (429).
- **One origin.** A websocket upgrade whose ``Origin`` is not the served address is refused
  before any console process starts: another web page open in the same browser cannot drive it.
- **Nothing from elsewhere.** The page is our own template: its script, style and font all come
  from textual-serve's installed static folder through this server, and its Content-Security-Policy
  lets the browser load nothing from another host.

It sits at the CLI layer: it knows nothing of the database beyond the command that opens it.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import secrets
import shlex
import ssl
import stat
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import click
from aiohttp import web
from textual_serve.server import Server

from mim_console.domain.text import one_line, printable
from mim_console.errors import UserError

log = logging.getLogger("mim_console.serve")

TEMPLATES = Path(__file__).with_name("serve_templates")
TOKEN_PARAM = "token"
MIN_TOKEN_CHARS = 22  # 22 URL-safe characters carry 132 bits
WRONG_TOKENS_ALLOWED = 5  # per address and window; then its tokens are refused unread
WRONG_TOKEN_WINDOW_S = 60.0
WEB_SUFFIX = " (web)"

REFUSED_TEXT = (
    "403 Forbidden\n\nThis address needs its login link: open the address the server printed "
    "when it started (it ends in ?token=...).\n"
)
LIMITED_TEXT = "429 Too Many Requests\n\nToo many wrong tokens from this address: wait a minute.\n"
ORIGIN_TEXT = "403 Forbidden\n\nA websocket from another origin is refused.\n"
MOVE_ON = (
    '<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={target}">'
    '<p><a href="{target}">Continue</a></p>'
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (the default port left out)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port is None or port == default else f"{scheme}://{host}:{port}"


def public_url_for(host: str, port: int, tls: bool, public_url: str | None) -> str:
    """The address browsers use: ``--public-url`` as given (checked), else the bound one."""
    if public_url is not None:
        parts = urlsplit(public_url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise click.BadParameter(
                f"{printable(public_url)[:80]} is not an http:// or https:// address "
                "(e.g. https://mim.example.org or https://host.example.org/mim)",
                param_hint="--public-url",
            )
        return public_url.rstrip("/")
    scheme = "https" if tls else "http"
    name = host
    if host in ("0.0.0.0", "::", ""):
        import socket

        name = socket.gethostname()
    if ":" in name:
        name = f"[{name}]"
    default = 443 if tls else 80
    return f"{scheme}://{name}" if port == default else f"{scheme}://{name}:{port}"


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def read_token_file(path: Path) -> str:
    """The token in ``path``: a private file (mode 0600) holding one line of at least 22
    URL-safe characters, as a service manager's credentials file would."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such token file (make one: python3 -c 'import secrets; "
            f"print(secrets.token_urlsafe(32))' > {path} && chmod 600 {path})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: the token file cannot be read: {exc}") from exc
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: the token file is not a regular file")
    if mode & 0o077:
        raise UserError(
            f"{path}: the token file is readable by others (mode {stat.S_IMODE(mode):04o}): "
            f"chmod 600 {path}"
        )
    token = text.strip()
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
    if len(token) < MIN_TOKEN_CHARS or not set(token) <= allowed:
        raise UserError(
            f"{path}: the token must be one line of at least {MIN_TOKEN_CHARS} characters "
            "from A-Z a-z 0-9 - _ . ~ (secrets.token_urlsafe(32) makes one)"
        )
    return token


def web_actor(actor: str) -> str:
    """How the timeline names someone acting in the browser: ``<actor> (web)``, one line."""
    name = one_line(actor).strip() or "console"
    if name.endswith(WEB_SUFFIX):
        name = name[: -len(WEB_SUFFIX)].rstrip() or "console"
    return name[: 80 - len(WEB_SUFFIX)] + WEB_SUFFIX


def console_command(args: Sequence[str], actor: str) -> str:
    """The shell command textual-serve runs per browser session: ``mim-console ARGS`` with the
    timeline's actor in the environment (textual-serve passes its own environment on)."""
    return shlex.join(
        ["env", f"MIM_CONSOLE_ACTOR={actor}", sys.executable, "-m", "mim_console", *args]
    )


@dataclass
class WrongTokens:
    """Wrong tokens per client address in a sliding window; past the allowance the address is
    refused without its token being looked at, until its oldest failure leaves the window."""

    allowed: int = WRONG_TOKENS_ALLOWED
    window_s: float = WRONG_TOKEN_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, peer: str) -> deque[float]:
        now = self.clock()
        failures = self._failures.get(peer)
        if failures is None:
            return deque()
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[peer]
        return failures

    def limited(self, peer: str) -> bool:
        return len(self._recent(peer)) >= self.allowed

    def failed(self, peer: str) -> int:
        """Note one wrong token; how many in the window now."""
        if len(self._failures) > 4096:  # many addresses guessing: forget the stale ones
            for other in list(self._failures):
                self._recent(other)
        failures = self._recent(peer)
        failures.append(self.clock())
        self._failures[peer] = failures
        return len(failures)


class Guard:
    """The login and origin rules, with the session cookie they hand out."""

    def __init__(self, token: str, public_url: str, *, port: int) -> None:
        self._token = token.encode("utf-8")
        self._session = secrets.token_urlsafe(32).encode("ascii")
        self.public_url = public_url
        self.origin = origin_of(public_url)
        self.secure = public_url.startswith("https:")
        self.prefix = urlsplit(public_url).path.rstrip("/")
        # Cookies are not kept apart by port: two servers on one host need two names.
        self.cookie = f"mim_console_{port}"
        self.wrong = WrongTokens()

    def token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token)

    def session_ok(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._session)

    def set_session(self, response: web.StreamResponse) -> None:
        response.set_cookie(
            self.cookie,
            self._session.decode("ascii"),
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            path="/",
        )

    def without_token(self, request: web.Request) -> str:
        query = [(k, v) for k, v in request.rel_url.query.items() if k != TOKEN_PARAM]
        return self.prefix + str(request.rel_url.with_query(query))

    def logged_in(self, request: web.Request) -> web.StreamResponse:
        """The cookie, and on to the address without the token: a 303 redirect, except after a
        link followed from another site. A SameSite=Strict cookie is not sent on a redirect of
        such a navigation, so there a page of ours moves on instead (the move then starts here)."""
        target = self.without_token(request)
        response: web.StreamResponse
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            response = web.Response(
                text=MOVE_ON.format(target=html.escape(target, quote=True)),
                content_type="text/html",
            )
        else:
            response = web.HTTPSeeOther(target)
        self.set_session(response)
        return response

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote or "unknown"
        upgrade = request.headers.get("Upgrade", "").lower()
        websocket = request.path == "/ws" or "websocket" in upgrade
        token = request.query.get(TOKEN_PARAM)
        if token is not None:
            if self.wrong.limited(peer):
                return _text(429, LIMITED_TEXT, {"Retry-After": str(int(self.wrong.window_s))})
            if not self.token_ok(token):
                count = self.wrong.failed(peer)
                if count < self.wrong.allowed:
                    log.warning("wrong login token from %s (%d in a minute)", peer, count)
                else:
                    log.warning(
                        "wrong login token from %s: %d in a minute, its tokens are refused "
                        "for a minute",
                        peer,
                        count,
                    )
                return _text(403, REFUSED_TEXT)
            if not websocket:
                return self.logged_in(request)
        elif not self.session_ok(request.cookies.get(self.cookie)):
            return _text(403, REFUSED_TEXT)
        if websocket:
            origin = request.headers.get("Origin")
            if origin is None or origin.lower() != self.origin:
                log.warning(
                    "refused a websocket from %s: Origin %s is not %s",
                    peer,
                    printable(origin or "(none)")[:100],
                    self.origin,
                )
                return _text(403, ORIGIN_TEXT)
        return await handler(request)

    async def headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """On every answer (pages, assets, refusals, the websocket handshake)."""
        ws = ("wss:" if self.secure else "ws:") + self.origin.split(":", 1)[1]
        headers = response.headers
        headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"font-src 'self'; img-src 'self' data:; connect-src 'self' {ws}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cache-Control"] = (
            "private, max-age=300" if request.path.startswith("/static/") else "no-store"
        )


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)


class GuardedServer(Server):
    """textual-serve's server with the guard as middleware, our own page template, HTTPS when
    given a certificate, and no access log (it would write the token into the log)."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        guard: Guard,
        ssl_context: ssl.SSLContext | None = None,
        announce: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(
            command,
            host=host,
            port=port,
            title="mim-console",
            public_url=guard.public_url,
            templates_path=TEMPLATES,
        )
        self.guard = guard
        self.ssl_context = ssl_context
        self.announce = announce

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard.middleware)
        app.on_response_prepare.append(self.guard.headers)
        return app

    def initialize_logging(self) -> None:
        logging.basicConfig(
            level=logging.DEBUG if self.debug else logging.INFO,
            format="%(asctime)s %(message)s",
            datefmt="%H:%M:%S",
            stream=sys.stderr,
        )

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints its banner here; ours waits until the port is bound

    def serve(self, debug: bool = False) -> None:
        self.debug = debug
        self.initialize_logging()
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            ssl_context=self.ssl_context,
            access_log=None,
            print=lambda _running_on: self.announce(),  # called once the port is bound
            shutdown_timeout=2.0,
        )


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"{cert}, {key}: not a usable certificate and key: {exc}") from exc
    return context


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


def serve_console(console_args: Sequence[str], actor: str, options: ServeOptions) -> None:
    """Serve ``mim-console CONSOLE_ARGS`` to browsers until Ctrl+C (or SIGTERM)."""
    context = tls_context(options.tls_cert, options.tls_key)
    public = public_url_for(options.host, options.port, context is not None, options.public_url)
    token = read_token_file(options.token_file) if options.token_file else new_token()
    guard = Guard(token, public, port=options.port)
    who = web_actor(actor)
    say = _stderr

    def announce() -> None:
        if options.token_file is None:
            say(f"mim-console in a browser: {public}/?{TOKEN_PARAM}={token}")
            say("  (this login link is shown once; anyone who has it can use the console)")
        else:
            hidden = f"<the token in {options.token_file}>"
            say(f"mim-console in a browser: {public}/?{TOKEN_PARAM}={hidden}")
        say(f"  timeline entries made there name {who}; Ctrl+C stops")

    if not is_loopback(options.host):
        if context is None:
            say(
                f"warning: listening on {options.host}, not loopback: the login token, the "
                "session cookie and every keystroke cross the network unencrypted. Reach it "
                f"through an SSH tunnel (ssh -L {options.port}:127.0.0.1:{options.port} HOST, "
                "serving on 127.0.0.1) or a TLS reverse proxy (docs/cli.md), or give "
                "--tls-cert and --tls-key"
            )
        say(f"  browsers must open {guard.origin}: a websocket from any other origin is refused")
    server = GuardedServer(
        console_command(console_args, who),
        host=options.host,
        port=options.port,
        guard=guard,
        ssl_context=context,
        announce=announce,
    )
    server.serve()


def _stderr(text: str) -> None:
    click.echo(text, err=True)
