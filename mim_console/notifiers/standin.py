"""A local stand-in for the part of Twilio's REST API the console uses, on 127.0.0.1.

Why: tests, benchmarks and ``mim-console demo`` need a Twilio that answers over real HTTP, keeps
state (status progression, inbound replies) and can misbehave on purpose (429s, 500s, timeouts,
dropped connections, refused connections, permanent error codes) — none of which the real
service or the stateless Prism mock offers.

Serves, under ``/2010-04-01/Accounts/{AccountSid}/``: ``Messages.json`` (POST create, GET list
with ``To``, ``From``, ``DateSent``/``DateSent<``/``DateSent>``, ``PageSize``, ``PageToken``),
``Messages/{Sid}.json`` (GET), ``Calls.json`` (POST, GET with ``To``, ``From``, ``Status``,
``StartTime``…), ``Calls/{Sid}.json`` (GET). HTTP basic auth, form-encoded bodies, Twilio-shaped
JSON and Twilio-shaped errors. Controls are plain methods on :class:`StandIn` (thread-safe) and a
JSON endpoint under ``/_standin/`` for tests in another process. Its "now" is the real clock plus
an offset that :meth:`StandIn.advance` moves, so tests can skip ahead without sleeping.

Run standalone: ``python -m mim_console.notifiers.standin --port 8099 --latency-ms 150``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import email.utils
import hashlib
import html
import json
import math
import random
import re
import secrets
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from mim_console.config import TwilioSettings

API_PREFIX = "/2010-04-01/Accounts/"
DEFAULT_ACCOUNT_SID = "AC" + "5a7d" * 8
DEFAULT_AUTH_TOKEN = "standin-auth-token"
DEFAULT_SENDER = "+15005550006"
LOG_LIMIT = 200_000  # request log entries kept (the oldest tenth goes when full)

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_CALL_FLOW = ("queued", "ringing", "in-progress", "completed")


def rfc2822(moment: datetime) -> str:
    """Twilio's date format: ``Fri, 24 May 2019 17:44:46 +0000``."""
    return email.utils.format_datetime(moment.astimezone(UTC))


def segments(body: str) -> int:
    """SMS segments the way carriers count them: GSM-7 160/153, otherwise UCS-2 70/67."""
    if not body:
        return 1
    if all(ch in _GSM7 for ch in body):
        return 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _parse_filter_time(text: str) -> tuple[datetime, bool]:
    """A ``DateSent>``-style value: a date (whole day) or a UTC date-time. True if date only."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC), True
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


@dataclass
class Timing:
    """Seconds after creation at which a message or call reaches each status."""

    sms_sent: float = 0.2
    sms_delivered: float = 1.0
    call_ringing: float = 0.2
    call_answered: float = 3.0
    call_completed: float = 20.0
    call_gave_up: float = 25.0  # no-answer / busy / failed become final here


@dataclass
class Fault:
    kind: str  # "429" | "500" | "503" | "timeout" | "drop"
    remaining: int
    retry_after: float | None = None
    hold: float = 30.0  # for "timeout": how long the request is held
    accepted: bool = False  # for "timeout"/"drop" on a create: was it stored anyway?
    method: str | None = None
    path_contains: str | None = None
    skip: int = 0  # let this many matching requests through first

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path_contains and self.path_contains not in path)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    at: datetime
    status: int | None  # None: no response (dropped, or the client gave up first)
    fault: str | None = None


@dataclass(frozen=True)
class KeypressAttempt:
    """The stand-in played Twilio posting a keypress to the call's Gather action."""

    call_sid: str
    digit: str
    url: str
    status: int | None  # the receiver's HTTP status; None if it could not be reached
    answer: str  # the TwiML it answered with


@dataclass
class Record:
    """A message or a call as the stand-in keeps it."""

    kind: str  # "message" | "call"
    sid: str
    seq: int
    to: str
    from_: str
    body: str
    direction: str
    created_at: datetime
    messaging_service_sid: str | None = None
    outcome: str = "delivered"  # final status this record progresses to
    error_code: int | None = None
    error_message: str | None = None
    twiml: str = ""


@dataclass
class _ScriptedReply:
    body: str
    after: float
    times: int | None  # None: answer every message


@dataclass
class _PendingInbound:
    appear_at: datetime
    from_: str
    to: str
    body: str


_ERROR_TEXT = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21614: "'To' number {to} is not a valid mobile number",
    21610: "Attempt to send to unsubscribed recipient",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number: {to}.",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
    "number via SMS.",
    21217: "Phone number does not appear to be valid",
    21216: "Call blocked by Twilio blocklist",
}


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
        self.timing = timing or Timing()
        self._lock = threading.RLock()
        self._latency = latency
        self._credentials: dict[str, str] = {account_sid: auth_token}
        self._offset = timedelta()
        self._seq = 0
        self._records: dict[str, Record] = {}
        self._faults: list[Fault] = []
        self._number_errors: dict[str, tuple[int, str]] = {}  # to -> (code, "sms"|"voice"|"any")
        self._delivery: dict[str, tuple[str, int | None]] = {}  # to -> (final status, error code)
        self._call_outcomes: dict[str, str] = {}
        self._keypresses: dict[str, tuple[str, float]] = {}
        self.keypress_log: list[KeypressAttempt] = []
        self._replies: dict[str, list[_ScriptedReply]] = {}
        self._pending: list[_PendingInbound] = []
        self._log: list[LoggedRequest] = []
        self._responders_seed: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._up_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holding: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def twilio_settings(self, sender: str | None = None) -> TwilioSettings:
        """Settings that point a ``TwilioNotifier`` here (the demo and tests use this)."""
        return TwilioSettings(
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            sender=sender or self.sender,
            api_url=self.url,
        )

    @property
    def is_up(self) -> bool:
        return self._site is not None

    async def start(self) -> StandIn:
        """Listen on the port (a free one the first time, the same one after a restart)."""
        self._loop = asyncio.get_running_loop()
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        app.router.add_route("*", "/_standin/{action}", self._control)
        app.router.add_post(API_PREFIX + "{account}/Messages.json", self._create_message)
        app.router.add_get(API_PREFIX + "{account}/Messages.json", self._list_messages)
        app.router.add_get(API_PREFIX + "{account}/Messages/{sid}.json", self._fetch_message)
        app.router.add_post(API_PREFIX + "{account}/Calls.json", self._create_call)
        app.router.add_get(API_PREFIX + "{account}/Calls.json", self._list_calls)
        app.router.add_get(API_PREFIX + "{account}/Calls/{sid}.json", self._fetch_call)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
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
        for task in list(self._holding):
            task.cancel()
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def go_down(self, for_seconds: float | None = None) -> None:
        """Refuse connections (close the listener and open connections); come back later."""
        await self._shutdown()
        if for_seconds is not None:
            loop = asyncio.get_running_loop()
            self._up_handle = loop.call_later(for_seconds, self._spawn, self.come_up)

    def _spawn(self, make: Callable[[], Awaitable[None]]) -> None:
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
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward: statuses progress and scripted replies appear."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, seconds)

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
        if kind not in ("429", "500", "503", "timeout", "drop"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(
                Fault(kind, count, retry_after, hold, accepted, method, path_contains, skip)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fail_number(self, number: str, code: int, channel: str = "any") -> None:
        """Creates to ``number`` are refused with Twilio error ``code`` (e.g. 21211, 21614)."""
        with self._lock:
            self._number_errors[number] = (code, channel)

    def undeliverable(self, number: str, code: int = 30003, status: str = "undelivered") -> None:
        """Messages to ``number`` are accepted but end ``undelivered``/``failed`` with ``code``."""
        with self._lock:
            self._delivery[number] = (status, code)

    def call_outcome(self, number: str, outcome: str) -> None:
        """Calls to ``number`` end ``completed``, ``no-answer``, ``busy`` or ``failed``."""
        if outcome not in ("completed", "no-answer", "busy", "failed", "canceled"):
            raise ValueError(f"unknown call outcome {outcome!r}")
        with self._lock:
            self._call_outcomes[number] = outcome

    def script_keypress(self, number: str, digit: str, after: float = 1.0) -> None:
        """Calls to ``number`` are answered and ``digit`` is pressed ``after`` seconds later.

        Like Twilio, the stand-in then POSTs the ``<Gather action=…>`` URL of the call's TwiML,
        signed with ``X-Twilio-Signature``. Real time, not :meth:`advance`: the POST really
        happens (``call_answered + after`` seconds after the call was created).
        """
        with self._lock:
            self._keypresses[number] = (digit, after)

    def script_reply(
        self, number: str, body: str | None, after: float = 0.0, times: int | None = 1
    ) -> None:
        """``number`` answers the next ``times`` SMS (None: every one) with ``body`` after
        ``after`` seconds. ``body=None`` means it never answers."""
        with self._lock:
            if body is None:
                self._replies[number] = []
            else:
                self._replies.setdefault(number, []).append(_ScriptedReply(body, after, times))

    def inject_inbound(self, from_number: str, body: str, to: str | None = None) -> str:
        """An inbound SMS arrives now; returns its SID."""
        with self._lock:
            self._materialize()
            record = self._new_record(
                "message", to or self.sender, from_number, body, "inbound", prefix="SM"
            )
            record.outcome = "received"
            return record.sid

    def responders(self, seed: int = 7) -> None:
        """Demo mode: most numbers join ("1") within a minute, some reply "2", some never.

        Deterministic per (seed, number). Explicit ``script_reply`` rules win.
        """
        with self._lock:
            self._responders_seed = seed

    def responder_plan(self, number: str) -> tuple[str | None, float]:
        """What demo mode does for ``number``: (reply or None for never, delay in seconds)."""
        seed = self._responders_seed if self._responders_seed is not None else 0
        digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
        rng = random.Random(digest)
        roll = rng.random()
        if roll < 0.7:
            return "1", rng.uniform(5.0, 55.0)
        if roll < 0.85:
            return "2", rng.uniform(10.0, 60.0)
        return None, 0.0

    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def messages(self, *, direction: str | None = None, to: str | None = None) -> list[Record]:
        """Stored messages, oldest first (for assertions)."""
        with self._lock:
            self._materialize()
            return [
                r
                for r in sorted(self._records.values(), key=lambda r: r.seq)
                if r.kind == "message"
                and (direction is None or r.direction == direction)
                and (to is None or r.to == to)
            ]

    def calls(self, *, to: str | None = None) -> list[Record]:
        with self._lock:
            return [
                r
                for r in sorted(self._records.values(), key=lambda r: r.seq)
                if r.kind == "call" and (to is None or r.to == to)
            ]

    def status_of(self, sid: str) -> str:
        with self._lock:
            return self._status(self._records[sid], self.now())

    def reset(self) -> None:
        """Forget messages, calls, rules, faults and the log (credentials and port stay)."""
        with self._lock:
            self._records.clear()
            self._faults.clear()
            self._number_errors.clear()
            self._delivery.clear()
            self._call_outcomes.clear()
            self._keypresses.clear()
            self.keypress_log.clear()
            self._replies.clear()
            self._pending.clear()
            self._log.clear()
            self._offset = timedelta()
            self._responders_seed = None

    # ------------------------------------------------------------------ internals
    def _new_record(
        self, kind: str, to: str, from_: str, body: str, direction: str, prefix: str
    ) -> Record:
        self._seq += 1
        record = Record(
            kind=kind,
            sid=prefix + secrets.token_hex(16),
            seq=self._seq,
            to=to,
            from_=from_,
            body=body,
            direction=direction,
            created_at=self.now(),
        )
        self._records[record.sid] = record
        return record

    def _materialize(self) -> None:
        """Scripted replies whose time has come become inbound messages."""
        if not self._pending:
            return
        now = self.now()
        due = [p for p in self._pending if p.appear_at <= now]
        if not due:
            return
        self._pending = [p for p in self._pending if p.appear_at > now]
        for item in sorted(due, key=lambda p: p.appear_at):
            record = self._new_record("message", item.to, item.from_, item.body, "inbound", "SM")
            record.created_at = item.appear_at
            record.outcome = "received"

    def _schedule_reply(self, outbound: Record) -> None:
        rules = self._replies.get(outbound.to)
        body: str | None = None
        after = 0.0
        if rules is not None:
            if rules:
                rule = rules[0]
                body, after = rule.body, rule.after
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        rules.pop(0)
        elif self._responders_seed is not None and outbound.direction == "outbound-api":
            already = any(p.from_ == outbound.to for p in self._pending) or any(
                r.direction == "inbound" and r.from_ == outbound.to for r in self._records.values()
            )
            if not already:
                body, after = self.responder_plan(outbound.to)
        if body is not None:
            self._pending.append(
                _PendingInbound(
                    outbound.created_at + timedelta(seconds=after),
                    outbound.to,
                    outbound.from_,
                    body,
                )
            )

    def _status(self, record: Record, now: datetime) -> str:
        age = (now - record.created_at).total_seconds()
        t = self.timing
        if record.kind == "message":
            if record.direction == "inbound":
                return "received"
            if age < t.sms_sent:
                return "queued"
            if age < t.sms_delivered:
                return "sent"
            return record.outcome
        if age < t.call_ringing:
            return "queued"
        if record.outcome == "completed":
            if age < t.call_answered:
                return "ringing"
            return "in-progress" if age < t.call_completed else "completed"
        if record.outcome == "failed":
            return "failed"
        return "ringing" if age < t.call_gave_up else record.outcome

    def _message_json(self, record: Record, now: datetime) -> dict[str, Any]:
        status = self._status(record, now)
        sent_at: datetime | None = None
        if record.direction == "inbound":
            sent_at = record.created_at
        elif status != "queued":
            sent_at = record.created_at + timedelta(seconds=self.timing.sms_sent)
        final_error = status in ("undelivered", "failed")
        base = f"{API_PREFIX}{self.account_sid}/Messages/{record.sid}"
        priced = status not in ("queued", "accepted")
        parts = segments(record.body)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": record.body,
            "date_created": rfc2822(record.created_at),
            "date_sent": rfc2822(sent_at) if sent_at else None,
            "date_updated": rfc2822(max(record.created_at, min(now, sent_at or now))),
            "direction": record.direction,
            "error_code": record.error_code if final_error else None,
            "error_message": record.error_message if final_error else None,
            "from": record.from_,
            "messaging_service_sid": record.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(parts),
            "price": f"-{0.0075 * parts:.5f}" if priced else None,
            "price_unit": "USD",
            "sid": record.sid,
            "status": status,
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": record.to,
            "uri": f"{base}.json",
        }

    def _call_json(self, record: Record, now: datetime) -> dict[str, Any]:
        status = self._status(record, now)
        t = self.timing
        start = record.created_at + timedelta(seconds=t.call_ringing)
        answered = record.created_at + timedelta(seconds=t.call_answered)
        end: datetime | None = None
        if status == "completed":
            end = record.created_at + timedelta(seconds=t.call_completed)
        elif status in ("no-answer", "busy", "failed", "canceled"):
            end = record.created_at + timedelta(seconds=t.call_gave_up)
        duration = None
        if status == "completed" and end is not None:
            duration = str(int((end - answered).total_seconds()))
        base = f"{API_PREFIX}{self.account_sid}/Calls/{record.sid}"
        return {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": rfc2822(record.created_at),
            "date_updated": rfc2822(min(now, end or now)),
            "direction": "outbound-api",
            "duration": duration,
            "end_time": rfc2822(end) if end else None,
            "forwarded_from": None,
            "from": record.from_,
            "from_formatted": record.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": "-0.01300" if status == "completed" else None,
            "price_unit": "USD",
            "sid": record.sid,
            "start_time": rfc2822(start) if status != "queued" else None,
            "status": status,
            "subresource_uris": {"recordings": f"{base}/Recordings.json"},
            "to": record.to,
            "to_formatted": record.to,
            "uri": f"{base}.json",
            "queue_time": "0",
            "trunk_sid": None,
        }

    # ------------------------------------------------------------------ HTTP layer
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await handler(request)
        form: dict[str, str] = {}
        if request.method == "POST" and request.can_read_body:
            posted = await request.post()
            form = {k: str(v) for k, v in posted.items()}
        query = dict(request.query)
        at = self.now()
        fault = self._take_fault(request.method, request.path)
        with self._lock:
            latency = self._latency
        if latency:
            await asyncio.sleep(latency)
        status: int | None = None
        response: web.StreamResponse
        try:
            if fault is not None and fault.kind in ("429", "500", "503"):
                response = self._fault_response(fault)
            elif fault is not None:
                response = await self._misbehave(fault, request, handler)
            else:
                response = await handler(request)
            status = None if fault is not None and fault.kind == "drop" else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            with self._lock:
                if len(self._log) >= LOG_LIMIT:
                    del self._log[: LOG_LIMIT // 10]
                self._log.append(
                    LoggedRequest(
                        request.method,
                        request.path,
                        query,
                        form,
                        at,
                        status,
                        fault.kind if fault else None,
                    )
                )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    taken = Fault(**asdict(fault))
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return taken
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        status = int(fault.kind)
        code = {429: 20429, 500: 20500, 503: 20503}[status]
        text = {429: "Too Many Requests", 500: "Internal Server Error"}.get(
            status, "Service Unavailable"
        )
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
        return _error(status, code, text, headers)

    async def _misbehave(
        self,
        fault: Fault,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        if fault.accepted:
            response = await handler(request)
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            # Nothing reaches the client: the transport is gone. The status is for the log.
            return web.Response(status=499)
        task = asyncio.current_task()
        if task is not None:
            self._holding.add(task)
        try:
            await asyncio.sleep(fault.hold)
        finally:
            if task is not None:
                self._holding.discard(task)
        if response is not None:
            return response
        # Not accepted: the client gave up long ago; say so without storing anything.
        return _error(504, 20504, "Gateway Timeout")

    def _authorize(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return _error(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return _error(401, 20003, "Authenticate")
        with self._lock:
            expected = self._credentials.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return _error(401, 20003, "Authenticate")
        if request.match_info.get("account") != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        form = await request.post()
        to = str(form.get("To", "")).strip()
        from_ = str(form.get("From", "")).strip()
        service = str(form.get("MessagingServiceSid", "")).strip()
        body = str(form.get("Body", ""))
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_ and not (_E164.match(from_) or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", from_)):
            return _error(400, 21212, f"The 'From' number {from_} is not a valid phone number")
        if not body.strip() and "MediaUrl" not in form and "ContentSid" not in form:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        with self._lock:
            refused = self._number_errors.get(to)
        if refused is not None and refused[1] in ("any", "sms"):
            return _error(400, refused[0], _ERROR_TEXT.get(refused[0], "Error").format(to=to))
        if not _E164.match(to):
            return _error(400, 21211, _ERROR_TEXT[21211].format(to=to))
        with self._lock:
            self._materialize()
            record = self._new_record(
                "message", to, from_ or self.sender, body, "outbound-api", prefix="SM"
            )
            record.messaging_service_sid = service or None
            final, code = self._delivery.get(to, ("delivered", None))
            record.outcome = final
            if code is not None:
                record.error_code = code
                record.error_message = _delivery_text(code)
            self._schedule_reply(record)
            payload = self._message_json(record, self.now())
        return web.json_response(payload, status=201)

    async def _create_call(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        form = await request.post()
        to = str(form.get("To", "")).strip()
        from_ = str(form.get("From", "")).strip()
        twiml = str(form.get("Twiml", ""))
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if not (twiml or form.get("Url") or form.get("ApplicationSid")):
            return _error(400, 21205, "Url parameter is required.")
        if len(twiml) > 4000:
            return _error(400, 13520, "Twiml parameter exceeds the 4000 character limit")
        with self._lock:
            refused = self._number_errors.get(to)
        if refused is not None and refused[1] in ("any", "voice"):
            return _error(400, refused[0], _ERROR_TEXT.get(refused[0], "Error").format(to=to))
        if not _E164.match(to):
            return _error(400, 21217, _ERROR_TEXT[21217])
        with self._lock:
            self._materialize()
            record = self._new_record("call", to, from_, "", "outbound-api", prefix="CA")
            record.twiml = twiml
            if to in self._call_outcomes:
                record.outcome = self._call_outcomes[to]
            elif self._responders_seed is not None:
                reply, _delay = self.responder_plan(to)
                record.outcome = "no-answer" if reply is None else "completed"
            else:
                record.outcome = "completed"
            pressed = self._keypresses.get(to)
            action = _gather_action(twiml)
            if pressed is not None:
                record.outcome = "completed"
            payload = self._call_json(record, self.now())
        if pressed is not None and action is not None:
            digit, after = pressed
            delay = self.timing.call_answered + after
            self._spawn(lambda: self._press(record, action, digit, delay))
        return web.json_response(payload, status=201)

    async def _press(self, record: Record, url: str, digit: str, delay: float) -> None:
        """Play Twilio calling the Gather action: a signed, form-encoded POST."""
        await asyncio.sleep(delay)
        params = {
            "AccountSid": self.account_sid,
            "CallSid": record.sid,
            "CallStatus": "in-progress",
            "Digits": digit,
            "Direction": "outbound-api",
            "From": record.from_,
            "To": record.to,
        }
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        status: int | None = None
        answer = ""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as r,
            ):
                status, answer = r.status, await r.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        with self._lock:
            self.keypress_log.append(KeypressAttempt(record.sid, digit, url, status, answer))

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, 20404, f"The requested resource {request.path} was not found")

    async def _fetch_message(self, request: web.Request) -> web.Response:
        return self._fetch(request, "message")

    async def _fetch_call(self, request: web.Request) -> web.Response:
        return self._fetch(request, "call")

    def _fetch(self, request: web.Request, kind: str) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        sid = request.match_info["sid"]
        with self._lock:
            self._materialize()
            record = self._records.get(sid)
            if record is None or record.kind != kind:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            now = self.now()
            payload = (
                self._message_json(record, now)
                if kind == "message"
                else self._call_json(record, now)
            )
        return web.json_response(payload)

    async def _list_messages(self, request: web.Request) -> web.Response:
        return self._list(request, "message", "messages", "DateSent")

    async def _list_calls(self, request: web.Request) -> web.Response:
        return self._list(request, "call", "calls", "StartTime")

    def _list(self, request: web.Request, kind: str, key: str, date_field: str) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        q = request.query
        try:
            page_size = int(q.get("PageSize", "50"))
            page = int(q.get("Page", "0"))
        except ValueError:
            return _error(400, 20001, "PageSize and Page must be whole numbers")
        if not 1 <= page_size <= 1000 or page < 0:
            return _error(400, 20001, "PageSize must be 1 to 1000 and Page 0 or more")
        filters: list[tuple[str, datetime, bool]] = []
        for op in ("", "<", ">"):
            value = q.get(date_field + op)
            if value:
                try:
                    moment, date_only = _parse_filter_time(value)
                except ValueError:
                    return _error(400, 20001, f"{date_field}{op} is not a valid date: {value}")
                filters.append((op, moment, date_only))
        token = q.get("PageToken", "")
        after_seq: int | None = None
        if token:
            match = re.fullmatch(r"PA(\d+)", token)
            if not match:
                return _error(400, 20001, f"Invalid PageToken {token}")
            after_seq = int(match.group(1))
        with self._lock:
            self._materialize()
            now = self.now()
            render = self._message_json if kind == "message" else self._call_json
            chosen: list[dict[str, Any]] = []
            seqs: list[int] = []
            for record in sorted(self._records.values(), key=lambda r: r.seq, reverse=True):
                if record.kind != kind or (after_seq is not None and record.seq >= after_seq):
                    continue
                if q.get("To") and record.to != q["To"]:
                    continue
                if q.get("From") and record.from_ != q["From"]:
                    continue
                item = render(record, now)
                if q.get("Status") and item["status"] != q["Status"]:
                    continue
                stamp_text = item["date_sent" if kind == "message" else "start_time"]
                if filters and not _date_ok(stamp_text, filters):
                    continue
                chosen.append(item)
                seqs.append(record.seq)
                if len(chosen) > page_size:
                    break
        has_more = len(chosen) > page_size
        chosen = chosen[:page_size]
        base_q = {k: v for k, v in q.items() if k not in ("Page", "PageToken", "PageSize")}
        base_path = request.path

        def uri(extra: dict[str, str]) -> str:
            return base_path + "?" + urlencode({**base_q, "PageSize": str(page_size), **extra})

        next_uri = None
        if has_more:
            next_uri = uri({"Page": str(page + 1), "PageToken": f"PA{seqs[page_size - 1]}"})
        start = page * page_size
        payload = {
            key: chosen,
            "end": start + max(len(chosen) - 1, 0),
            "first_page_uri": uri({"Page": "0"}),
            "next_page_uri": next_uri,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri({"Page": str(page - 1)}) if page > 0 else None,
            "start": start,
            "uri": request.path_qs,
        }
        return web.json_response(payload)

    async def _control(self, request: web.Request) -> web.Response:
        """JSON control for tests in another process: POST /_standin/{action} with arguments."""
        action = request.match_info["action"]
        args: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            try:
                args = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            if not isinstance(args, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
        simple: dict[str, Callable[..., Any]] = {
            "advance": self.advance,
            "latency": self.set_latency,
            "fault": self.fault,
            "clear_faults": self.clear_faults,
            "fail_number": self.fail_number,
            "undeliverable": self.undeliverable,
            "call_outcome": self.call_outcome,
            "script_reply": self.script_reply,
            "script_keypress": self.script_keypress,
            "inject_inbound": self.inject_inbound,
            "responders": self.responders,
            "reset": self.reset,
            "clear_log": self.clear_log,
        }
        try:
            if action == "log":
                return web.json_response(
                    [{**asdict(entry), "at": entry.at.isoformat()} for entry in self.request_log()]
                )
            if action == "state":
                with self._lock:
                    self._materialize()
                    now = self.now()
                    return web.json_response(
                        {
                            "now": now.isoformat(),
                            "messages": [self._message_json(r, now) for r in self.messages()],
                            "calls": [self._call_json(r, now) for r in self.calls()],
                        }
                    )
            if action == "down":
                seconds = float(args.get("for_seconds", 5.0))
                # Answer first, then go down, so the caller learns it worked.
                asyncio.get_running_loop().call_later(
                    0.05, self._spawn, lambda: self.go_down(seconds)
                )
                return web.json_response({"ok": True})
            if action not in simple:
                return web.json_response({"error": f"unknown action {action!r}"}, status=404)
            result = simple[action](**args)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result})


def _gather_action(twiml: str) -> str | None:
    match = re.search(r"<Gather\b[^>]*\baction=\"([^\"]+)\"", twiml)
    return html.unescape(match.group(1)) if match else None


def _date_ok(stamp_text: str | None, filters: list[tuple[str, datetime, bool]]) -> bool:
    if not stamp_text:
        return False
    stamp = email.utils.parsedate_to_datetime(stamp_text)
    for op, moment, date_only in filters:
        if op == "":
            ok = stamp.date() == moment.date() if date_only else stamp == moment
        elif op == ">":  # Twilio: on or after
            ok = stamp.date() >= moment.date() if date_only else stamp >= moment
        else:  # "<": on or before
            ok = stamp.date() <= moment.date() if date_only else stamp <= moment
        if not ok:
            return False
    return True


def _delivery_text(code: int) -> str:
    return {
        30003: "Unreachable destination handset",
        30004: "Message blocked",
        30005: "Unknown destination handset",
        30006: "Landline or unreachable carrier",
        30007: "Message filtered",
        30008: "Unknown error",
    }.get(code, "Delivery failed")


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Twilio's error shape."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
        headers=headers,
    )


_HANDLE_FIELDS = frozenset({"standin", "_loop", "_ready", "_error", "_thread"})


class ThreadedStandIn:
    """A stand-in on its own loop in a daemon thread; control methods pass straight through."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="twilio-standin", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"stand-in did not start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.standin.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.standin.stop())
        self._loop.close()

    @property
    def url(self) -> str:
        return self.standin.url

    def go_down(self, for_seconds: float | None = None) -> None:
        asyncio.run_coroutine_threadsafe(self.standin.go_down(for_seconds), self._loop).result(10)

    def come_up(self) -> None:
        asyncio.run_coroutine_threadsafe(self.standin.come_up(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.standin, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """``handle.timing = …`` must reach the stand-in, not stop at the handle."""
        if name in _HANDLE_FIELDS:
            object.__setattr__(self, name, value)
        else:
            setattr(self.standin, name, value)

    def __enter__(self) -> ThreadedStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mim_console.notifiers.standin",
        description="Local Twilio stand-in on 127.0.0.1 for tests, benchmarks and the demo.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay on every request")
    parser.add_argument("--responders", action="store_true", help="simulate people answering")
    parser.add_argument("--seed", type=int, default=7, help="seed for --responders")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--sender", default=DEFAULT_SENDER)
    args = parser.parse_args(argv)

    async def serve() -> None:
        standin = StandIn(
            account_sid=args.account_sid,
            auth_token=args.auth_token,
            sender=args.sender,
            latency=args.latency_ms / 1000.0,
            port=args.port,
        )
        if args.responders:
            standin.responders(args.seed)
        try:
            await standin.start()
        except OSError as exc:
            raise SystemExit(
                f"cannot listen on {standin.host}:{args.port}: {exc.strerror}"
            ) from exc
        print(standin.url, flush=True)
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
        finally:
            await standin.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    _main()
