"""The stand-in's server: its lifecycle, routes, request log and the behaviour controls."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypedDict

from aiohttp import web

from mim_console.standin import calls, conference_api, control, listing, messages
from mim_console.standin.bridge import PLAN_KINDS, Bridges, Plan, conference_json
from mim_console.standin.bridge import participant_json as bridge_participant
from mim_console.standin.faults import Fault, Faults, Handler
from mim_console.standin.responders import Responders
from mim_console.standin.responses import error, not_found
from mim_console.standin.state import (
    API_PREFIX,
    CALL_OUTCOMES,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    KeypressAttempt,
    LoggedRequest,
    Record,
    State,
    Timing,
)
from mim_console.standin.threaded import ThreadedStandIn


class Connection(TypedDict):
    """What a client needs to reach the stand-in (the fields of the console's TwilioSettings)."""

    account_sid: str
    auth_token: str
    sender: str
    api_url: str


MESSAGES = listing.Kind("message", "messages", "DateSent", "date_sent", messages.message_json)
CALLS = listing.Kind("call", "calls", "StartTime", "start_time", calls.call_json)


class StandIn:
    """The server and its behaviour controls. Control methods may be called from any thread."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        sender: str = DEFAULT_SENDER,
        latency: float = 0.0,
        timing: Timing | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.host = host
        self.port = port
        self.state = State(account_sid, sender, timing or Timing())
        self.state.latency = latency
        self._lock = self.state.lock
        self._credentials: dict[str, str] = {account_sid: auth_token}
        self._faults = Faults(self._lock)
        self._responders = Responders(self.state)
        self.bridges = Bridges(self.state)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._up_handle: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def timing(self) -> Timing:
        return self.state.timing

    @timing.setter
    def timing(self, value: Timing) -> None:
        self.state.timing = value

    @property
    def keypress_log(self) -> list[KeypressAttempt]:
        """Every keypress the stand-in posted to a Gather action, in order."""
        return self.state.keypress_log

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connection(self, sender: str | None = None) -> Connection:
        """What points a notifier here: ``TwilioSettings(**standin.connection())``."""
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "sender": sender or self.sender,
            "api_url": self.url,
        }

    @property
    def is_up(self) -> bool:
        return self._site is not None

    def _routes(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        account = API_PREFIX + "{account}/"
        app.router.add_route("*", "/_standin/{action}", self._control)
        app.router.add_post(account + "Messages.json", self._api(self._create_message))
        app.router.add_get(account + "Messages.json", self._api(self._list_messages))
        app.router.add_get(account + "Messages/{sid}.json", self._api(self._fetch_message))
        app.router.add_post(account + "Calls.json", self._api(self._create_call))
        app.router.add_get(account + "Calls.json", self._api(self._list_calls))
        app.router.add_get(account + "Calls/{sid}.json", self._api(self._fetch_call))
        app.router.add_post(account + "Calls/{sid}.json", self._api(self._update_call))
        conference_api.add_routes(app, account, self._api, self.state, self.bridges)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def start(self) -> StandIn:
        """Listen on the port (a free one the first time, the same one after a restart)."""
        runner = web.AppRunner(
            self._routes(), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        if self.port == 0:  # keep the port the system chose, so a restart comes back on it
            self.port = int(runner.addresses[0][1])
        self._runner, self._site = runner, site
        return self

    async def stop(self) -> None:
        if self._up_handle is not None:
            self._up_handle.cancel()
            self._up_handle = None
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._faults.release_held()
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def go_down(self, for_seconds: float | None = None) -> None:
        """Refuse connections (close the listener and open connections); come back later."""
        await self._shutdown()
        if for_seconds is not None:
            loop = asyncio.get_running_loop()
            self._up_handle = loop.call_later(for_seconds, self.spawn, self.come_up)

    def spawn(self, make: Callable[[], Awaitable[None]]) -> None:
        """Run a coroutine in the background, keeping a reference until it is done."""

        async def run() -> None:
            await make()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def come_up(self) -> None:
        self._up_handle = None
        if self._site is None:
            await self.start()

    async def __aenter__(self) -> StandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    def start_in_thread(cls, **kwargs: Any) -> ThreadedStandIn:
        """Run a stand-in on its own event loop in a daemon thread (for sync code and CLIs)."""
        return ThreadedStandIn(cls(**kwargs))

    # ------------------------------------------------------------------ controls
    def now(self) -> datetime:
        return self.state.now()

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward: statuses progress and scripted replies appear."""
        self.state.advance(seconds)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self.state.latency = max(0.0, seconds)

    def add_credentials(self, username: str, password: str) -> None:
        """Accept another basic-auth pair, e.g. an API key ``SK…`` and its secret."""
        with self._lock:
            self._credentials[username] = password

    def fault(
        self,
        kind: str,
        count: int = 1,
        *,
        retry_after: float | None = None,
        hold: float = 30.0,
        accepted: bool = False,
        method: str | None = None,
        path_contains: str | None = None,
        skip: int = 0,
    ) -> None:
        """Make the next ``count`` matching API requests fail (after ``skip`` that succeed).

        ``kind``: ``"429"`` (with ``Retry-After`` if given), ``"500"``, ``"503"``, ``"timeout"``
        (hold the request ``hold`` seconds, longer than any sane client timeout, then answer),
        ``"drop"`` (close the connection without an answer). For the last two, ``accepted=True``
        stores a create first, as when Twilio took the message and the answer was lost.
        """
        self._faults.add(
            Fault(kind, count, retry_after, hold, accepted, method, path_contains, skip)
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def fail_number(self, number: str, code: int, channel: str = "any") -> None:
        """Creates to ``number`` are refused with Twilio error ``code`` (e.g. 21211, 21614)."""
        with self._lock:
            self.state.rules.number_errors[number] = (code, channel)

    def clear_number_errors(self) -> None:
        """Creates to every number are accepted again (the ``fail_number`` rules go)."""
        with self._lock:
            self.state.rules.number_errors.clear()

    def undeliverable(self, number: str, code: int = 30003, status: str = "undelivered") -> None:
        """Messages to ``number`` are accepted but end ``undelivered``/``failed`` with ``code``."""
        with self._lock:
            self.state.rules.delivery[number] = (status, code)

    def call_outcome(self, number: str, outcome: str) -> None:
        """Calls to ``number`` end ``completed``, ``no-answer``, ``busy`` or ``failed``."""
        if outcome not in CALL_OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}")
        with self._lock:
            self.state.rules.call_outcomes[number] = outcome

    def script_keypress(self, number: str, digit: str, after: float = 1.0) -> None:
        """Calls to ``number`` are answered and ``digit`` is pressed ``after`` seconds later.

        Like Twilio, the stand-in then POSTs the ``<Gather action=…>`` URL of the call's TwiML,
        signed with ``X-Twilio-Signature``. Real time, not :meth:`advance`: the POST really
        happens (``call_answered + after`` seconds after the call was created).
        """
        with self._lock:
            self.state.rules.keypresses[number] = (digit, after)

    def script_reply(
        self, number: str, body: str | None, after: float = 0.0, times: int | None = 1
    ) -> None:
        """``number`` answers the next ``times`` SMS (None: every one) with ``body`` after
        ``after`` seconds. ``body=None`` means it never answers."""
        self._responders.script(number, body, after, times)

    def inject_inbound(self, from_number: str, body: str, to: str | None = None) -> str:
        """An inbound SMS arrives now; returns its SID."""
        return messages.inbound(self.state, self._responders, from_number, body, to or self.sender)

    def responders(self, seed: int = 7) -> None:
        """Demo mode: most numbers join ("1") within a minute, some reply "2", some never.

        Deterministic per (seed, number). Explicit ``script_reply`` rules win.
        """
        with self._lock:
            self._responders.seed = seed

    def resume_responders(self, numbers: list[str]) -> int:
        """Demo mode restarted: the people still to answer open incidents' alerts (sent to an
        earlier stand-in) answer as planned. How many will answer."""
        now = self.now()
        return sum(self._responders.resume(n, self.sender, now) for n in numbers)

    def responder_plan(self, number: str) -> tuple[str | None, float]:
        """What demo mode does for ``number``: (reply or None for never, delay in seconds)."""
        return self._responders.plan(number)

    def bridge_plan(
        self, number: str, kind: str, after: float | None = None, stay: float | None = None
    ) -> None:
        """Bridge calls to ``number``: ``join`` (``after`` s after answering, for ``stay`` s or
        until removed), ``voicemail`` (a machine answers), ``decline`` or ``no-answer``."""
        if kind not in PLAN_KINDS:
            raise ValueError(f"unknown bridge plan {kind!r} (one of {', '.join(PLAN_KINDS)})")
        with self._lock:
            self.bridges.plans[number] = Plan(kind, after, stay)

    def hang_up(self, number: str) -> list[str]:
        """``number`` hangs up every call it has on a bridge now; their SIDs."""
        sids = self.bridges.on_bridge(number)
        for sid in sids:
            self.bridges.end_leg(sid, message_s=0.0)
        return sids

    def dial_in(self, number: str, conference: str) -> str:
        """``number`` calls in to the bridge ``conference`` itself (an inbound call, no
        label): on it now, until it hangs up. Returns the call's SID."""
        with self._lock:
            self.bridges.materialize()
            record = self.state.new_record("call", self.sender, number, "", "inbound", prefix="CA")
            self.bridges.dial_in(record, conference)
            self.bridges.materialize()
            return record.sid

    def set_conference_limit(self, participants: int) -> None:
        """Participants a conference takes (Twilio: 250); beyond it calls get 16020."""
        with self._lock:
            self.bridges.limit = max(1, int(participants))

    def set_calls_per_second(self, rate: float | None) -> None:
        """Calls started per second (Twilio's default is 1); the rest wait ``queued``."""
        with self._lock:
            self.state.calls_per_second = None if not rate else float(rate)

    def on_bridge(self, conference: str) -> list[dict[str, Any]]:
        """Who is in the conference of this name now: its participants' JSON plus the
        ``number`` of each caller (for assertions)."""
        with self._lock:
            self.bridges.materialize()
            live = self.bridges.live(conference)
            if live is None:
                return []
            found = []
            for leg in sorted(live.participants.values(), key=lambda leg: leg.seq):
                record = self.state.records[leg.call_sid]
                number = record.from_ if record.direction == "inbound" else record.to
                found.append({**bridge_participant(self.state, leg), "number": number})
            return found

    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self.state.log)

    def clear_log(self) -> None:
        with self._lock:
            self.state.log.clear()

    def messages(self, *, direction: str | None = None, to: str | None = None) -> list[Record]:
        """Stored messages, oldest first (for assertions)."""
        self._responders.materialize()
        return [
            r
            for r in self.state.ordered("message")
            if (direction is None or r.direction == direction) and (to is None or r.to == to)
        ]

    def calls(self, *, to: str | None = None) -> list[Record]:
        return [r for r in self.state.ordered("call") if to is None or r.to == to]

    def reset(self) -> None:
        """Forget messages, calls, rules, faults and the log (credentials and port stay)."""
        with self._lock:
            self.state.reset()
            self._faults.clear()
            self._responders.clear()
            self.bridges.clear()

    # ------------------------------------------------------------------ HTTP layer
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Latency, faults and the request log for every API request."""
        if request.path.startswith("/_standin/"):
            return await handler(request)
        form: dict[str, str] = {}
        if request.method == "POST" and request.can_read_body:
            posted = await request.post()
            form = {k: str(v) for k, v in posted.items()}
        query = dict(request.query)
        at = self.now()
        fault = self._faults.take(request.method, request.path)
        with self._lock:
            latency = self.state.latency
        if latency:
            await asyncio.sleep(latency)
        status: int | None = None
        try:
            if fault is not None:
                response = await self._faults.answer(fault, request, handler)
            else:
                response = await handler(request)
            status = None if fault is not None and fault.kind == "drop" else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            kind = fault.kind if fault else None
            self.state.record_request(
                LoggedRequest(request.method, request.path, query, form, at, status, kind)
            )

    def _authorize(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return error(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return error(401, 20003, "Authenticate")
        with self._lock:
            expected = self._credentials.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return error(401, 20003, "Authenticate")
        if request.match_info.get("account") != self.account_sid:
            return not_found(request)
        return None

    def _api(self, handler: Callable[[web.Request], Awaitable[web.Response]]) -> Handler:
        """``handler`` behind Twilio's basic auth."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            denied = self._authorize(request)
            if denied is not None:
                return denied
            return await handler(request)

        return guarded

    async def _not_found(self, request: web.Request) -> web.Response:
        return not_found(request)

    async def _create_message(self, request: web.Request) -> web.Response:
        return await messages.create_message(request, self.state, self._responders)

    async def _create_call(self, request: web.Request) -> web.Response:
        return await calls.create_call(
            request, self.state, self._responders, self.bridges, self.spawn, self.auth_token
        )

    async def _update_call(self, request: web.Request) -> web.Response:
        return await conference_api.update_call(request, self.state, self.bridges)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        self._responders.materialize()
        return listing.fetch(request, self.state, MESSAGES)

    async def _fetch_call(self, request: web.Request) -> web.Response:
        self._responders.materialize()
        self.bridges.materialize()
        return listing.fetch(request, self.state, CALLS)

    async def _list_messages(self, request: web.Request) -> web.Response:
        self._responders.materialize()
        return listing.page(request, self.state, MESSAGES)

    async def _list_calls(self, request: web.Request) -> web.Response:
        self._responders.materialize()
        self.bridges.materialize()
        return listing.page(request, self.state, CALLS)

    async def _control(self, request: web.Request) -> web.Response:
        return await control.handle(self, request)

    def snapshot(self) -> dict[str, Any]:
        """Messages and calls as the API shows them now (``GET /_standin/state``)."""
        with self._lock:
            self._responders.materialize()
            self.bridges.materialize()
            now = self.now()
            return {
                "now": now.isoformat(),
                "messages": [messages.message_json(self.state, r, now) for r in self.messages()],
                "calls": [calls.call_json(self.state, r, now) for r in self.calls()],
                "conferences": [
                    {
                        **conference_json(self.state, c),
                        "participants": [
                            bridge_participant(self.state, leg) for leg in c.participants.values()
                        ],
                    }
                    for c in sorted(self.bridges.conferences.values(), key=lambda c: c.seq)
                ],
            }
