"""Inbound polling: messages people sent us, read from each route and handed to the receiver.

One way only: each message becomes an ``InboundReply`` given to the ``ReplyReceiver`` (the
services), which stores, reads and applies it in one transaction, idempotent by provider id.
Polls overlap the previous one by two minutes so late arrivals are not missed; the receiver
ignores what it already has.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from mim_console.clock import Clock
from mim_console.data import inbound as inbound_repo
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel
from mim_console.domain.replies import InboundReply
from mim_console.errors import UserError
from mim_console.notifiers.base import (
    InboundSource,
    PermanentSendError,
    ReplyReceiver,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.reach import Reach, answered
from mim_console.notifiers.tuning import DispatcherConfig

log = masked_logger("mim_console.dispatcher")

OVERLAP = timedelta(minutes=2)


class InboundPoller:
    def __init__(
        self,
        store: Store,
        source: InboundSource,
        receiver: ReplyReceiver | None,
        config: DispatcherConfig,
        clock: Clock,
        reach: Reach,
    ) -> None:
        self.store = store
        self.source = source
        self.receiver = receiver
        self.config = config
        self.clock = clock
        self.reach = reach
        self._since: datetime | None = None
        # The channels sent with the same account (a refusal of it here pauses them too).
        self.account_channels: frozenset[Channel] = frozenset()
        self._failing = False  # polls fail: said once in the log, and once when they work again

    async def poll(self) -> int:
        """Read one batch and hand it over; how many messages the route listed."""
        try:
            since = self._start()
            messages = await asyncio.wait_for(
                self.source.inbound_since(since), self.config.request_timeout_s
            )
            self.reach.success()
            self.reach.accepted(None)  # the credentials work (a sending number may not)
            if self._failing:
                self._failing = False
                log.info("inbound (%s): replies are read again", self.source.route)
            # The provider lists newest first: reversed, a stable sort keeps same-second order.
            for message in sorted(reversed(messages), key=lambda m: m.received_at):
                reply = InboundReply(
                    sender=message.from_number,
                    body=message.body,
                    provider_id=message.sid,
                    received_at=message.received_at,
                    route=self.source.route,
                )
                self._hand_over(reply)
                if self._since is None or message.received_at > self._since:
                    self._since = message.received_at
            return len(messages)
        except (TransientSendError, PermanentSendError, TimeoutError, OSError) as exc:
            reason = str(exc) or "inbound poll timed out"
            self.reach.failure(reason, answered=answered(exc))
            if isinstance(exc, PermanentSendError) and exc.account_wide and self.account_channels:
                self.reach.refused(exc.code, str(exc), self.account_channels)
            if not self._failing:  # replies are not read meanwhile: never silent, never per poll
                self._failing = True
                log.warning("inbound (%s): cannot read replies: %s", self.source.route, reason)
        except UserError as exc:  # storage trouble: the rest of the batch comes again next poll
            log.error("inbound: %s", exc)
        return 0

    def _hand_over(self, reply: InboundReply) -> None:
        if self.receiver is None:
            return
        try:
            self.receiver.receive(reply)
        except UserError:
            raise
        except Exception:  # the receiver's bug must not stop sending
            log.exception("receiving inbound %s failed", reply.provider_id)

    def _start(self) -> datetime:
        """Overlap the last poll a little: the provider id dedupes, late arrivals are not lost."""
        if self._since is None:
            with self.store.read() as db:
                latest = inbound_repo.latest_received_at(db)
            if latest is None:
                return self.clock() - timedelta(minutes=self.config.inbound_lookback_min)
            self._since = latest
        return self._since - OVERLAP
