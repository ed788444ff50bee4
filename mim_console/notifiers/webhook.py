"""Optional receiver for voice keypresses, for installations that have a public callback URL.

Twilio POSTs the digit pressed during a voice alert to the ``<Gather action=…>`` URL. Anyone on
the network could POST the same form, so every request must carry a valid
``X-Twilio-Signature`` (an HMAC of the public URL and the form with the account's auth token,
checked with the SDK's ``RequestValidator``); anything else gets 403 and is never acted on.
A valid keypress is handed to ``on_keypress(call_sid, digit)``; deciding what it means (joined,
unable) and recording it is the caller's business.

Signatures need the account's auth token: an API key and secret cannot check them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator

from mim_console.config import TwilioSettings
from mim_console.domain.bridge import bridge_keypress_twiml, keyed_bridge, keypress_action
from mim_console.domain.voice import LANGUAGE, keypress_twiml
from mim_console.errors import UserError
from mim_console.notifiers.logmask import masked_logger

log = masked_logger(__name__)

KeypressHandler = Callable[[str, str], Awaitable[None] | None]
SORRY = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say language="'
    + LANGUAGE
    + '">Sorry, your answer could not be recorded. Please reply to the text message: 1 if you '
    "are joining, 2 if you are unable.</Say></Response>"
)


class KeypressReceiver:
    """A small aiohttp server (or sub-app) that checks signatures and reports keypresses."""

    def __init__(
        self,
        *,
        auth_token: str,
        public_url: str,
        on_keypress: KeypressHandler,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not auth_token:
            raise UserError(
                "the voice keypress receiver needs TWILIO_AUTH_TOKEN to check Twilio's "
                "signatures (an API key cannot); without it, people answer by SMS"
            )
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(f"MIM_TWILIO_CALLBACK_URL {public_url!r} is not a full http(s) URL")
        self.public_url = public_url
        self.path = parts.path or "/"
        self._origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self._validator = RequestValidator(auth_token)
        self._on_keypress = on_keypress
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_settings(
        cls,
        twilio: TwilioSettings,
        on_keypress: KeypressHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> KeypressReceiver:
        """The receiver for ``MIM_TWILIO_CALLBACK_URL``; a ``UserError`` if there is none."""
        if not twilio.callback_url:
            raise UserError(
                "no MIM_TWILIO_CALLBACK_URL is set, so voice alerts ask people to answer by SMS"
            )
        return cls(
            auth_token=twilio.auth_token,
            public_url=twilio.callback_url,
            on_keypress=on_keypress,
            host=host,
            port=port,
        )

    def __repr__(self) -> str:
        return f"KeypressReceiver(public_url={self.public_url!r})"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post(self.path, self._handle)
        return app

    @property
    def url(self) -> str:
        """Where it listens locally (a reverse proxy maps the public URL here)."""
        return f"http://{self.host}:{self.port}{self.path}"

    async def start(self) -> KeypressReceiver:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _signed_by_twilio(
        self,
        request: web.Request,
        form: MultiDictProxy[Any],
        bridge: tuple[str, str | None] | None,
    ) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return False
        # Twilio signs the URL it called: the configured one, or (behind a proxy that keeps
        # the path) the public origin plus the path and query it actually requested.
        candidates = [self.public_url, self._origin + request.path_qs]
        if bridge is not None:  # a bridge call's action: the public URL naming its conference
            candidates.append(keypress_action(self.public_url, *bridge))
        return any(self._validator.validate(url, form, signature) for url in candidates)

    async def _handle(self, request: web.Request) -> web.Response:
        posted = await request.post()
        form = {key: str(value) for key, value in posted.items()}
        bridge = keyed_bridge(request.query.get("bridge"), request.query.get("label"))
        if not self._signed_by_twilio(request, posted, bridge):
            log.warning("voice keypress refused: missing or invalid X-Twilio-Signature")
            return web.Response(status=403, text="invalid signature")
        call_sid = form.get("CallSid", "")
        digit = form.get("Digits", "").strip()
        if not call_sid.startswith("CA"):
            return web.Response(status=400, text="CallSid missing")
        if digit:
            try:
                outcome = self._on_keypress(call_sid, digit)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # the caller must hear something either way
                log.exception("recording keypress %r for call %s failed", digit, call_sid)
                return web.Response(text=SORRY, content_type="text/xml")
        if bridge is not None:  # the caller goes on into the bridge (or, unable, away)
            answer = bridge_keypress_twiml(digit, *bridge)
        else:
            answer = keypress_twiml(digit, self.public_url)
        return web.Response(text=answer, content_type="text/xml")
