"""Posting outbox rows of channel ``chat`` to incoming webhooks (Slack, Teams, Mattermost).

The row's ``to_number`` names the webhook (``chat:<name>``, looked up in the ``chat_webhook``
table when sent, so the secret URL never shows in outbox listings or reports, and a corrected URL
applies to posts still queued) and ``body`` is the JSON payload built when the update was
published (``domain.comms.chat_payload``). Errors follow the notifier convention:
``TransientSendError`` (timeouts, connection errors, 408/429/5xx: retry later, honouring
Retry-After) and ``PermanentSendError`` (other 4xx: the webhook was removed or refuses the
payload; retrying will not help). Messages never contain the webhook URL's path, its secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from mim_console.domain.comms import CHAT_TO_PREFIX
from mim_console.domain.text import redact
from mim_console.notifiers.base import (
    DeliveryStatus,
    InboundMessage,
    Notifier,
    PermanentSendError,
    SendResult,
    SentRecord,
    TransientSendError,
)

if TYPE_CHECKING:
    from mim_console.data.store import Store

TIMEOUT_S = 10.0


CHAT_SID_PREFIX = "chat-"


def is_webhook(to: str) -> bool:
    """A chat row's address (``chat:<name>``, or a URL given directly)."""
    return to.startswith((CHAT_TO_PREFIX, "https://", "http://"))


def store_resolver(store: Store) -> Callable[[str], str | None]:
    """Webhook name → URL from the database, at the moment of sending."""

    def resolve(name: str) -> str | None:
        with store.read() as db:
            rows = list(
                db.query("SELECT url FROM chat_webhook WHERE name = ? COLLATE NOCASE", [name])
            )
        return str(rows[0]["url"]) if rows else None

    return resolve


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ChatNotifier:
    """One shared ``httpx.AsyncClient``; ``post`` sends one chat row."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = TIMEOUT_S):
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def post(self, url: str, body: str) -> SendResult:
        where = redact(url)
        if not url.startswith(("https://", "http://")):
            raise PermanentSendError(f"{where}: not an http(s) webhook URL")
        try:
            response = await self._client.post(
                url,
                content=body.encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.TimeoutException:
            raise TransientSendError(f"{where} did not answer in time") from None
        except httpx.TransportError as exc:
            raise TransientSendError(f"{where} unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(sid=f"{CHAT_SID_PREFIX}{uuid.uuid4().hex}", status="delivered")
        if status in (408, 425, 429) or status >= 500:
            raise TransientSendError(
                f"{where} answered HTTP {status} (the chat service is down or busy)",
                status=status,
                retry_after=_retry_after(response),
            )
        reason = response.text.strip()[:200]
        raise PermanentSendError(
            f"{where} refused the post (HTTP {status}{': ' + reason if reason else ''}); "
            "check the webhook in `mim-console comms webhooks`",
            status=status,
        )

    async def aclose(self) -> None:
        if self._own:
            await self._client.aclose()


async def send_chat(url: str, body: str, *, timeout_s: float = TIMEOUT_S) -> SendResult:
    """Send one chat row with a short-lived client (the dispatcher may prefer ChatNotifier)."""
    notifier = ChatNotifier(timeout=timeout_s)
    try:
        return await notifier.post(url, body)
    finally:
        await notifier.aclose()


class ChatRouting:
    """A ``Notifier`` that posts chat rows itself and hands everything else to ``inner``.

    Why: the dispatcher sends every non-voice row with ``send_sms(to, body)``; wrapping its
    notifier (``ChatRouting(TwilioNotifier(...), resolve=store_resolver(store))``) makes chat
    rows go to their webhook with no change to the dispatcher. A chat post is final once the
    webhook answers 2xx, so its status is ``delivered`` without polling; webhooks keep no log
    to reconcile against, so an uncertain post is simply posted again (a duplicate chat message
    beats a lost update).
    """

    def __init__(
        self,
        inner: Notifier,
        chat: ChatNotifier | None = None,
        *,
        resolve: Callable[[str], str | None] | None = None,
    ) -> None:
        self.inner = inner
        self.chat = chat or ChatNotifier()
        self.resolve = resolve

    def _url(self, to: str) -> str:
        if not to.startswith(CHAT_TO_PREFIX):
            return to
        name = to[len(CHAT_TO_PREFIX) :]
        url = self.resolve(name) if self.resolve is not None else None
        if url is None:
            raise PermanentSendError(
                f'chat webhook "{name}" no longer exists: add it again with '
                "`mim-console comms webhook add` and publish the update again"
            )
        return url

    async def send_sms(self, to: str, body: str) -> SendResult:
        if is_webhook(to):
            return await self.chat.post(self._url(to), body)
        return await self.inner.send_sms(to, body)

    async def place_call(self, to: str, twiml: str) -> SendResult:
        if is_webhook(to):
            raise PermanentSendError(f"{to.split('/')[0]} is a chat webhook: it cannot take a call")
        return await self.inner.place_call(to, twiml)

    async def message_status(self, sid: str) -> DeliveryStatus:
        if sid.startswith(CHAT_SID_PREFIX):
            return DeliveryStatus(sid=sid, status="delivered")
        return await self.inner.message_status(sid)

    async def call_status(self, sid: str) -> DeliveryStatus:
        return await self.inner.call_status(sid)

    async def inbound_since(self, since: datetime, limit: int = 200) -> list[InboundMessage]:
        return await self.inner.inbound_since(since, limit)

    async def sent_to(
        self, to: str, since: datetime, channel: str, limit: int = 50
    ) -> list[SentRecord]:
        if is_webhook(to):
            return []
        return await self.inner.sent_to(to, since, channel, limit)

    async def aclose(self) -> None:
        try:
            await self.chat.aclose()
        finally:
            await self.inner.aclose()
