"""The outbox dispatcher running inside the console's event loop, and what the UI makes of it.

The dispatcher is asyncio and lives on the app's own loop (its database calls are tens of
microseconds, measured by its author), so nothing here needs a thread. Its listener fires at most
every 0.1 s; each snapshot becomes an ``OutboxState`` for the banners and a nudge for the screens
to reload, because replies it applies are written through this process's own connection, which
``PRAGMA data_version`` does not report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mim_console.services import dispatching
from mim_console.services.context import Context
from mim_console.services.dispatching import Dispatcher, DispatcherConfig, DispatcherSnapshot
from mim_console.widgets.banner import OutboxState


def outbox_state(snapshot: DispatcherSnapshot) -> OutboxState:
    """A ``DispatcherSnapshot`` in the banner's terms."""
    counts = dict(snapshot.counts)
    detail = snapshot.last_error or ""
    if snapshot.blocked:
        detail = str(snapshot.blocked)
    elif not snapshot.holder:
        detail = "another mim-console process is sending"
    modem = snapshot.modem
    return OutboxState(
        queued=int(counts.get("queued", 0)),
        in_flight=int(snapshot.in_flight) + int(counts.get("sending", 0)),
        failed=int(counts.get("failed", 0)),
        reachable=snapshot.reachable,
        # A refusal is configured-but-refused (the modem, if any, takes the SMS meanwhile).
        configured=snapshot.blocked is None
        and (modem is None or modem.twilio or snapshot.refusal is not None),
        detail=detail,
        modem="" if modem is None else modem.banner_text,
        refused="" if snapshot.refusal is None else snapshot.refusal.headline,
    )


class DispatchLink:
    """Owns the in-app dispatcher: start, wake after enqueueing, stop on exit."""

    def __init__(
        self,
        context: Context,
        on_change: Callable[[OutboxState], None],
        config: DispatcherConfig | None = None,
    ) -> None:
        self.context = context
        self.on_change = on_change
        self.config = config
        self.dispatcher: Dispatcher | None = None

    async def run(self) -> None:
        await dispatching.run_in_loop(
            self.context,
            config=self.config,
            listener=lambda snapshot: self.on_change(outbox_state(snapshot)),
            started=self._started,
        )

    def _started(self, d: Dispatcher) -> None:
        self.dispatcher = d
        self.on_change(outbox_state(d.snapshot()))

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def stop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()


class ToTextualLog(logging.Handler):
    """Log records from the dispatcher go to Textual's log, never to the terminal the screen
    is drawn on (Python's last-resort handler would print warnings across the UI)."""

    def __init__(self, sink: Callable[[str], object]) -> None:
        super().__init__(level=logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(self.format(record))
        except Exception:  # logging must never break the console
            pass
