"""The routes the dispatcher sends by: one ``Sender`` per ``Channel``, and where replies come in.

The dispatcher looks up the sender for each alert row by the row's channel (``Routes.sender``)
and claims only rows of the channels it has a sender for; a new route (bridge calls into a
conference, a GSM modem) is one more sender registered here, not a branch in the send loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from mim_console.domain.alerts import Alert, Channel, Purpose
from mim_console.notifiers.base import (
    DeliveryStatus,
    InboundMessage,
    InboundSource,
    Notifier,
    Sender,
    SendResult,
    SentRecord,
)
from mim_console.notifiers.bridge import BridgeClient, CallPacer, TwilioBridge

PACE_AHEAD_S = 2.0  # paced calls claimed at most this far ahead of their turn


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


class ClosingSender(Sender, _Closeable, Protocol):
    """A sender with a client of its own to close."""


class TwilioSms:
    """SMS through Twilio's Messages API."""

    channel = Channel.SMS
    keeps_log = True

    def __init__(self, client: Notifier) -> None:
        self.client = client

    async def send(self, alert: Alert) -> SendResult:
        stakeholder = alert.purpose == Purpose.STAKEHOLDER  # may wait longer in Twilio's queue
        return await self.client.send_sms(alert.to_number, alert.body, long_lived=stakeholder)

    async def status(self, sid: str) -> DeliveryStatus:
        return await self.client.message_status(sid)

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        """Messages to the same number with the same text: only such a one can be this alert."""
        records = await self.client.sent_to(alert.to_number, since, str(self.channel))
        return [r for r in records if r.body.strip() == alert.body.strip()]


class TwilioVoice:
    """Voice alerts through Twilio's Calls API (the row's body is the TwiML)."""

    channel = Channel.VOICE
    keeps_log = True

    def __init__(self, client: Notifier) -> None:
        self.client = client

    async def send(self, alert: Alert) -> SendResult:
        return await self.client.place_call(alert.to_number, alert.body)

    async def status(self, sid: str) -> DeliveryStatus:
        return await self.client.call_status(sid)

    async def find_sent(self, alert: Alert, since: datetime) -> list[SentRecord]:
        return await self.client.sent_to(alert.to_number, since, str(self.channel))


class TwilioInbound:
    """SMS replies read from Twilio's message log (no public URL needed)."""

    route = "twilio"

    def __init__(self, client: Notifier) -> None:
        self.client = client

    async def inbound_since(self, since: datetime, limit: int = 200) -> list[InboundMessage]:
        return await self.client.inbound_since(since, limit)


class Routes:
    """The registry: ``{Channel: Sender}``, the inbound sources, and the clients to close."""

    def __init__(
        self,
        senders: Iterable[Sender],
        inbound: Sequence[InboundSource] = (),
        *,
        owns: Sequence[_Closeable] = (),
        pacers: Mapping[Channel, CallPacer] | None = None,
        bridge: BridgeClient | None = None,
    ) -> None:
        by_channel: dict[Channel, Sender] = {}
        for sender in senders:
            if sender.channel in by_channel:
                raise ValueError(f"two senders for channel {sender.channel}")
            by_channel[sender.channel] = sender
        self.senders: Mapping[Channel, Sender] = by_channel
        self.inbound = tuple(inbound)
        self._owns = tuple(owns)
        self.pacers: Mapping[Channel, CallPacer] = dict(pacers or {})
        self.bridge = bridge  # the conference's client, for the presence poll

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self.senders)

    def claim_batches(self, limit: int) -> list[tuple[tuple[Channel, ...], int]]:
        """What to claim now, as (channels, how many): the unpaced channels up to ``limit``;
        paced calls only as many as get a turn within ``PACE_AHEAD_S`` (claimed all at once,
        they would wait in the pacer holding every send slot, SMS stuck behind them)."""
        batches: list[tuple[tuple[Channel, ...], int]] = []
        free = tuple(c for c in self.senders if c not in self.pacers)
        if free:
            batches.append((free, limit))
        by_pacer: dict[int, tuple[CallPacer, list[Channel]]] = {}
        for channel, pacer in self.pacers.items():
            if channel in self.senders:
                by_pacer.setdefault(id(pacer), (pacer, []))[1].append(channel)
        for pacer, channels in by_pacer.values():
            ahead = math.ceil(PACE_AHEAD_S / pacer.interval)
            given = math.ceil(pacer.backlog_s() / pacer.interval)
            room = min(limit, ahead - given)
            if room > 0:
                batches.append((tuple(channels), room))
        return batches

    async def wait_turn(self, channel: Channel) -> None:
        """A paced channel's send waits here for its turn (before its request's timeout)."""
        pacer = self.pacers.get(channel)
        if pacer is not None:
            await pacer.turn()

    def sender(self, channel: Channel) -> Sender | None:
        return self.senders.get(channel)

    def sharing(self, client: object) -> frozenset[Channel]:
        """The channels sent through ``client`` (one Twilio account: SMS, voice, bridge)."""
        if client is None:
            return frozenset()
        return frozenset(c for c, s in self.senders.items() if getattr(s, "client", None) is client)

    async def aclose(self) -> None:
        """Close every client the routes own (each once, even when shared by senders)."""
        errors: list[BaseException] = []
        for client in self._owns:
            try:
                await client.aclose()
            except Exception as exc:  # close the others, then re-raise
                errors.append(exc)
        if errors:
            raise errors[0]


def twilio_routes(
    client: Notifier,
    chat: ClosingSender | None = None,
    *,
    bridge: BridgeClient | None = None,
    calls_per_second: float | None = None,
) -> Routes:
    """SMS and voice through ``client``, replies read from it, and optionally a chat sender
    (a ``notifiers.chat.ChatSender``); the routes close both at the end. With ``bridge`` (the
    same Twilio client) bridge calls too. ``calls_per_second`` paces voice and bridge calls
    together: the account's rate counts every outbound call."""
    senders: list[Sender] = [TwilioSms(client), TwilioVoice(client)]
    owns: list[_Closeable] = [client]
    if bridge is not None:
        senders.append(TwilioBridge(bridge))
    if chat is not None:
        senders.append(chat)
        owns.append(chat)
    pacers: dict[Channel, CallPacer] = {}
    if calls_per_second:
        pacer = CallPacer(calls_per_second)
        pacers = {Channel.VOICE: pacer, Channel.BRIDGE: pacer}
    return Routes(senders, [TwilioInbound(client)], owns=owns, pacers=pacers, bridge=bridge)
