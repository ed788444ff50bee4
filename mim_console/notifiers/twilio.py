"""The Twilio notifier: the official SDK's async API over a measured HTTP transport.

Transport: the SDK's aiohttp-based ``AsyncTwilioHttpClient`` (subclassed here only to bound
timeouts, size the connection pool and keep the ``Retry-After`` header) won the measurement in
``bench/transport.py`` against an ``AsyncHttpClient`` over ``httpx.AsyncClient``; see
docs/performance.md. The httpx client stays available (``transport="httpx"``) for comparison.

Errors become the dispatcher's two kinds: ``TransientSendError`` (429, 5xx, timeouts, refused or
dropped connections: retry) and ``PermanentSendError`` (other 4xx: never retry, plain reason from
``domain.twilio_errors``). Neither message ever contains a secret: they are built here from the
status and Twilio's error code, not from the request.

A timeout or dropped connection on a *create* is ambiguous: Twilio may have accepted the message.
The dispatcher must reconcile with :meth:`TwilioNotifier.sent_to` before resending.

One notifier belongs to one event loop (its connection pool does); call :meth:`aclose` at the end.
"""

from __future__ import annotations

import base64
import contextvars
import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from mim_console.config import TwilioSettings
from mim_console.domain.twilio_errors import describe_http
from mim_console.errors import UserError
from mim_console.notifiers.base import (
    DeliveryStatus,
    InboundMessage,
    PermanentSendError,
    SendResult,
    SentRecord,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.twilio_bridge import RING_SECONDS, ConferenceRequests, aware

log = masked_logger(__name__)

DEFAULT_TIMEOUT = 10.0
MAX_PAGE = 1000  # Twilio's largest PageSize


@dataclass
class _Exchange:
    """What the transport saw of the last response, for the caller awaiting it."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "twilio_exchange", default=None
)


def _note(status: int, headers: Mapping[str, str]) -> None:
    slot = _exchange.get()
    if slot is not None:
        slot.status = status
        slot.headers = {k.lower(): v for k, v in headers.items()}


class AiohttpTransport(AsyncTwilioHttpClient):
    """The SDK's aiohttp client, with a bounded timeout and a pool opened on the running loop.

    The SDK's own ``request`` ignores the client-wide timeout and logs every query string; this
    override applies ``timeout`` to every request, logs nothing about content and records the
    response headers (``Retry-After``) for the notifier.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 200) -> None:
        super().__init__(pool_connections=False, timeout=timeout, logger=log)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> Response:
        session = self._open()
        limit = aiohttp.ClientTimeout(total=timeout) if timeout else None
        headers = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = "Basic " + token
        async with session.request(
            method.upper(),
            url,
            params=_plain(params),
            data=_plain(data),
            headers=headers,
            timeout=limit or aiohttp.ClientTimeout(total=self.timeout),
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            _note(response.status, response.headers)
            return Response(response.status, text, response.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxTransport(AsyncHttpClient):
    """An ``AsyncHttpClient`` over ``httpx.AsyncClient``: measured, not the default."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 200) -> None:
        super().__init__(log, True, timeout)
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None

    def _open(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
            )
        return self._client

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> Response:
        client = self._open()
        response = await client.request(
            method.upper(),
            uri,
            params=_plain(params),
            data=_plain(data),
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        _note(response.status_code, response.headers)
        return Response(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _plain(values: dict[str, object] | None) -> dict[str, Any] | None:
    """The SDK leaves ``values.unset`` sentinels out already; keep lists, stringify the rest."""
    if not values:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return out


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), or None."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware instant")
    return moment.astimezone(UTC)


class TwilioNotifier(ConferenceRequests):
    """``Notifier`` over Twilio's REST API (or the stand-in / Prism via ``api_url``)."""

    def __init__(
        self,
        settings: TwilioSettings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: str = "aiohttp",
        max_connections: int = 200,
    ) -> None:
        if not settings.configured:
            raise UserError(
                "Twilio is not configured, so alerts cannot be sent (they stay queued): set "
                + ", ".join(settings.missing())
            )
        if settings.api_url:
            parts = urlsplit(settings.api_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise UserError(
                    f"MIM_TWILIO_API_URL {settings.api_url!r} is not a full http(s) URL"
                )
        if timeout <= 0 or timeout > 120:
            raise ValueError("timeout must be between 0 and 120 seconds")
        self.settings = settings
        self.timeout = timeout
        self.http: AiohttpTransport | HttpxTransport
        if transport == "aiohttp":
            self.http = AiohttpTransport(timeout, max_connections)
        elif transport == "httpx":
            self.http = HttpxTransport(timeout, max_connections)
        else:
            raise ValueError(f"unknown transport {transport!r} (aiohttp or httpx)")
        if settings.api_key and settings.api_secret:
            username, password = settings.api_key, settings.api_secret
        else:
            username, password = settings.account_sid, settings.auth_token
        self.client = Client(
            username,
            password,
            account_sid=settings.account_sid,
            http_client=self.http,
        )
        if settings.api_url:
            self.client.api.base_url = settings.api_url.rstrip("/")
        self.sender = settings.sender.strip()
        self.uses_service = self.sender.startswith("MG")

    def __repr__(self) -> str:
        return f"TwilioNotifier(account={self.settings.account_sid!r}, sender={self.sender!r})"

    # ------------------------------------------------------------------ sending
    async def send_sms(self, to: str, body: str, *, long_lived: bool = False) -> SendResult:
        """``long_lived``: a stakeholder update, which may wait in Twilio's queue longer."""
        sender: dict[str, str] = (
            {"messaging_service_sid": self.sender} if self.uses_service else {"from_": self.sender}
        )
        settings = self.settings
        validity = settings.stakeholder_validity_s if long_lived else settings.validity_s
        message = await self._call(
            self.client.messages.create_async,
            on_account=True,
            to=to,
            body=body,
            validity_period=validity,
            **sender,
        )
        return SendResult(sid=str(message.sid), status=str(message.status or "queued"))

    async def place_call(self, to: str, twiml: str) -> SendResult:
        if self.uses_service:
            raise PermanentSendError(
                "voice calls need a sending phone number, but MIM_TWILIO_FROM is a Messaging "
                "Service (MG…); set a number to place calls"
            )
        call = await self._call(
            self.client.calls.create_async,
            on_account=True,
            to=to,
            from_=self.sender,
            twiml=twiml,
            timeout=RING_SECONDS,
        )
        return SendResult(sid=str(call.sid), status=str(call.status or "queued"))

    # ------------------------------------------------------------------ tracking
    async def message_status(self, sid: str) -> DeliveryStatus:
        message = await self._call(self.client.messages(sid).fetch_async)
        return DeliveryStatus(
            sid=str(message.sid),
            status=str(message.status),
            error_code=_int_or_none(message.error_code),
            error_message=message.error_message,
        )

    async def call_status(self, sid: str) -> DeliveryStatus:
        call = await self._call(self.client.calls(sid).fetch_async)
        return DeliveryStatus(sid=str(call.sid), status=str(call.status))

    async def inbound_since(self, since: datetime, limit: int = 200) -> list[InboundMessage]:
        """Replies sent to our number on or after ``since``, newest first."""
        filters: dict[str, Any] = {
            "date_sent_after": _utc(since),
            "limit": limit,
            "page_size": min(limit, MAX_PAGE),
        }
        if not self.uses_service:
            filters["to"] = self.sender
        messages = await self._call(self.client.messages.list_async, on_account=True, **filters)
        found = []
        seen: set[str] = set()
        for message in messages:
            if message.direction != "inbound" or message.sid in seen:
                continue
            seen.add(str(message.sid))
            received = message.date_sent or message.date_created
            found.append(
                InboundMessage(
                    sid=str(message.sid),
                    from_number=str(message.from_ or ""),
                    to_number=str(message.to or ""),
                    body=str(message.body or ""),
                    received_at=aware(received),
                )
            )
        return found

    async def sent_to(
        self, to: str, since: datetime, channel: str, limit: int = 50
    ) -> list[SentRecord]:
        """What Twilio already holds for ``to`` created on or after ``since``, newest first.

        No date filter is sent: a message still ``queued`` has no ``date_sent`` and Twilio's
        date filters would hide exactly the one a crash left unrecorded. Pass as ``since`` the
        moment before the send was attempted.
        """
        # Twilio's timestamps are whole seconds: a message created at 08:00:00.9 reads
        # 08:00:00, so compare against the second ``since`` falls in, or it would be missed.
        cutoff = _utc(since).replace(microsecond=0)
        if channel == "sms":
            items = await self._call(
                self.client.messages.list_async, to=to, limit=limit, page_size=min(limit, MAX_PAGE)
            )
        elif channel == "voice":
            items = await self._call(
                self.client.calls.list_async, to=to, limit=limit, page_size=min(limit, MAX_PAGE)
            )
        else:
            raise ValueError(f"unknown channel {channel!r}")
        records = []
        seen: set[str] = set()
        for item in items:
            if (channel == "sms" and item.direction == "inbound") or item.sid in seen:
                continue
            seen.add(str(item.sid))
            created = aware(item.date_created)
            if created < cutoff:
                continue
            records.append(
                SentRecord(
                    sid=str(item.sid),
                    to_number=str(item.to or ""),
                    body=str(getattr(item, "body", "") or ""),
                    created_at=created,
                    status=str(item.status),
                )
            )
        return records

    async def aclose(self) -> None:
        await self.http.close()

    # ------------------------------------------------------------------ errors
    async def _call(self, func: Any, *, on_account: bool = False, **kwargs: Any) -> Any:
        """``on_account``: a create or the message log, where a 20404 means the account itself
        is unknown (elsewhere, the message, call or conference asked about)."""
        slot = _Exchange()
        token = _exchange.set(slot)
        try:
            return await func(**kwargs)
        except TwilioRestException as exc:
            raise self._classify(exc, slot, on_account) from None
        except (TimeoutError, httpx.TimeoutException):
            raise TransientSendError(f"Twilio did not answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, httpx.TransportError, OSError) as exc:
            raise TransientSendError(
                f"could not reach Twilio: {_network_reason(exc)}", not_sent=_never_connected(exc)
            ) from None
        except TwilioServiceException as exc:  # RFC 9457 problem details
            words = str(exc.detail or exc.title or "")
            problem = TwilioRestException(int(exc.status), "", f"refused: {words}", exc.code)
            raise self._classify(problem, slot, on_account) from None
        except TwilioException as exc:
            refused = _page_refusal(exc)
            if refused is not None:
                raise self._classify(refused, slot, on_account) from None
            raise TransientSendError(
                f"Twilio's answer could not be read ({type(exc).__name__})"
            ) from None
        except (json.JSONDecodeError, KeyError) as exc:
            raise TransientSendError(
                f"Twilio's answer could not be read ({type(exc).__name__})"
            ) from None
        finally:
            _exchange.reset(token)

    def _classify(
        self, exc: TwilioRestException, slot: _Exchange, on_account: bool = False
    ) -> TransientSendError | PermanentSendError:
        status = int(exc.status)
        code = _int_or_none(exc.code)
        twilio_text = str(exc.msg or "").partition(": ")[2]
        info = describe_http(status, code, twilio_text, on_account=on_account)
        where = f" (Twilio error {code})" if code and code != status else f" (HTTP {status})"
        if not info.permanent:
            return TransientSendError(
                info.reason + where,
                code=code,
                status=status,
                retry_after=_retry_after(slot.headers, datetime.now(UTC)),
            )
        return PermanentSendError(
            info.reason + where,
            code=code if code not in (None, status) else info.code,
            status=status,
            account_wide=info.account_wide,
        )


def _page_refusal(exc: TwilioException) -> TwilioRestException | None:
    """The SDK reports a refused *next page* as a bare ``TwilioException(msg, response)``."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    code: int | None = None
    message = ""
    try:
        payload = json.loads(getattr(response, "text", "") or "")
        if isinstance(payload, dict):
            code = _int_or_none(payload.get("code"))
            message = str(payload.get("message") or "")
    except (TypeError, ValueError):
        pass
    return TwilioRestException(status, "", f"Unable to fetch page: {message}", code)


def _never_connected(exc: BaseException) -> bool:
    """No connection was made, so no request left: a refused connection, an unknown host."""
    return isinstance(
        exc, aiohttp.ClientConnectorError | ConnectionRefusedError | httpx.ConnectError
    )


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return "connection refused"
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionResetError
    ):
        return "the connection was dropped"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "the connection was dropped"
    return getattr(exc, "strerror", None) or type(exc).__name__


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
