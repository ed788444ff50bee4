"""Posting outbox rows of channel ``chat`` to incoming webhooks (Slack, Teams, Mattermost).

The row's ``to_number`` holds the webhook URL and ``body`` the JSON payload built when the
update was published (``domain.comms.chat_payload``), so the dispatcher needs nothing but this
module to send one. Errors follow the notifier convention: ``TransientSendError`` (timeouts,
connection errors, 408/429/5xx: retry later, honouring Retry-After) and ``PermanentSendError``
(other 4xx: the webhook was removed or refuses the payload; retrying will not help). Messages
never contain the webhook URL's path, which is its secret.
"""

from __future__ import annotations

import uuid

import httpx

from mim_console.notifiers.base import PermanentSendError, SendResult, TransientSendError

TIMEOUT_S = 10.0


def redact(url: str) -> str:
    """``https://hooks.example/…``: enough to tell webhooks apart, not enough to post to one."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/…" if host else "a chat webhook"


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
            return SendResult(sid=f"chat-{uuid.uuid4().hex}", status="delivered")
        if status in (408, 425, 429) or status >= 500:
            raise TransientSendError(
                f"{where} answered HTTP {status}; will retry",
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
