"""What the dispatcher needs from the routes it sends by, and what it gets back.

A route out is a ``Sender``: it declares the ``Channel`` it serves and is asked to send one
alert, answering with a ``SendResult`` (``notifiers/senders.py`` holds the registry and the
Twilio and chat senders). A route in is an ``InboundSource``; whatever it reads becomes an
``InboundReply`` handed to the ``ReplyReceiver`` the services implement: nothing here calls up
into the services except through that receiver.

Errors are split by what to do about them: ``TransientSendError`` (429, 5xx, timeouts, connection
errors: retry with backoff, honouring ``retry_after``) and ``PermanentSendError`` (e.g. 21211
invalid number: never retry, show the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mim_console.domain.alerts import Alert, Channel
from mim_console.domain.replies import InboundReply


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str  # provider status at acceptance, e.g. "queued"


@dataclass(frozen=True)
class DeliveryStatus:
    sid: str
    status: str  # queued, sent, delivered, undelivered, failed; ringing, in-progress, completed…
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    sid: str
    from_number: str
    to_number: str
    body: str
    received_at: datetime


@dataclass(frozen=True)
class SentRecord:
    """A message or call found in the provider's log: used to reconcile after a crash."""

    sid: str
    to_number: str
    body: str
    created_at: datetime
    status: str


class SendError(Exception):
    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class TransientSendError(SendError):
    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        not_sent: bool = False,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after
        # Certainly never reached the provider (the connection was refused): no doubt to clear.
        self.not_sent = not_sent


class PermanentSendError(SendError):
    """The provider refused for good; ``str(self)`` is a plain-language reason.

    ``account_wide``: not this alert but our account, credentials or sending number (Twilio's
    20003, 21606…): every alert would be refused alike, so the route pauses instead.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        account_wide: bool = False,
    ):
        super().__init__(message, code=code, status=status)
        self.account_wide = account_wide


class Sender(Protocol):
    """One route out, registered for its ``channel`` (a new route is a new sender)."""

    @property
    def channel(self) -> Channel: ...

    @property
    def keeps_log(self) -> bool:
        """Whether ``find_sent`` can tell if an earlier try landed (else it is sent again)."""
        ...

    async def send(self, alert: Alert) -> SendResult: ...

    async def status(self, sid: str) -> DeliveryStatus: ...

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        """The route's records that may be ``alert``, created on or after ``since``."""
        ...


class Lane(Protocol):
    """A route with a loop of its own beside the send loop, run while the dispatcher runs and
    sending only while it holds the lease (the GSM modem: one message at a time, its own
    order and policy, its own inbox)."""

    def holds_back(self) -> frozenset[Channel]:
        """Channels the send loop must leave to this lane right now."""
        ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self) -> None: ...


class InboundSource(Protocol):
    """One route in: messages people sent us, polled (no public URL needed)."""

    @property
    def route(self) -> str:
        """Its name on the inbound messages it reads (``InboundReply.route``)."""
        ...

    async def inbound_since(self, since: datetime, limit: int = 200) -> list[InboundMessage]: ...


class ReplyReceiver(Protocol):
    """Takes every inbound message, once or more: storing, reading and applying it is the
    receiver's business, idempotent by ``provider_id`` (``services/replies.py``)."""

    def receive(self, reply: InboundReply) -> object: ...


class Notifier(Protocol):
    async def send_sms(self, to: str, body: str, *, long_lived: bool = False) -> SendResult: ...

    async def place_call(self, to: str, twiml: str) -> SendResult: ...

    async def message_status(self, sid: str) -> DeliveryStatus: ...

    async def call_status(self, sid: str) -> DeliveryStatus: ...

    async def inbound_since(self, since: datetime, limit: int = 200) -> list[InboundMessage]: ...

    async def sent_to(
        self, to: str, since: datetime, channel: str, limit: int = 50
    ) -> list[SentRecord]: ...

    async def aclose(self) -> None: ...
