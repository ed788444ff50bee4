"""Posting outbox rows of channel ``chat`` to incoming webhooks (Slack, Teams, Mattermost).

The row's ``to_number`` names the webhook (``chat:<name>``, looked up in the ``chat_webhook``
table when sent, so the secret URL never shows in outbox listings or reports, and a corrected URL
applies to posts still queued) and ``body`` is the JSON payload built when the update was
published (``domain.comms.chat_payload``). ``ChatSender`` is the dispatcher's sender for the
``chat`` channel. Errors follow the notifier convention: ``TransientSendError`` (timeouts,
connection errors, 408/429/5xx: retry later, honouring Retry-After) and ``PermanentSendError``
(other 4xx: the webhook was removed or refuses the payload; retrying will not help). Messages
never contain the webhook URL's path, its secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from mim_console.data import comms as comms_repo
from mim_console.domain.alerts import Alert, Channel
from mim_console.domain.comms import CHAT_TO_PREFIX
from mim_console.domain.text import redact
from mim_console.notifiers.base import (
    DeliveryStatus,
    PermanentSendError,
    SendResult,
    SentRecord,
    TransientSendError,
)

if TYPE_CHECKING:
    from mim_console.data.store import Store

TIMEOUT_S = 10.0


CHAT_SID_PREFIX = "chat-"


def store_resolver(store: Store) -> Callable[[str], str | None]:
    """Webhook name → URL from the database, at the moment of sending."""

    def resolve(name: str) -> str | None:
        with store.read() as db:
            return comms_repo.webhook_url(db, name)

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


class ChatSender:
    """The ``chat`` channel's sender: posts a row's payload to the webhook it names.

    A post is final once the webhook answers 2xx, so its status is ``delivered`` without
    polling; webhooks keep no log to reconcile against, so an uncertain post is simply posted
    again (a duplicate chat message beats a lost update).
    """

    channel = Channel.CHAT
    keeps_log = False

    def __init__(
        self,
        client: ChatNotifier | None = None,
        *,
        resolve: Callable[[str], str | None] | None = None,
    ) -> None:
        self.client = client or ChatNotifier()
        self.resolve = resolve

    def url(self, address: str) -> str:
        """A row's address (``chat:<name>``, or a URL given directly) as the URL to post to."""
        if not address.startswith(CHAT_TO_PREFIX):
            return address
        name = address[len(CHAT_TO_PREFIX) :]
        url = self.resolve(name) if self.resolve is not None else None
        if url is None:
            raise PermanentSendError(
                f'chat webhook "{name}" no longer exists: add it again with '
                "`mim-console comms webhook add` and publish the update again"
            )
        return url

    async def send(self, alert: Alert) -> SendResult:
        return await self.client.post(self.url(alert.to_number), alert.body)

    async def status(self, sid: str) -> DeliveryStatus:
        return DeliveryStatus(sid=sid, status="delivered")

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        return []

    async def aclose(self) -> None:
        await self.client.aclose()
