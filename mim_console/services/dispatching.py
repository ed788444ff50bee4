"""Running the outbox dispatcher for a ``Context``: what the console, `watch` and `dispatch` use.

The UI and the CLI never import ``notifiers``: they start the dispatcher here, which wires the
routes from the settings (Twilio SMS and voice, chat webhooks), the reply receiver (the
incident service's reply side) and the escalation timers into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from mim_console.clock import utcnow
from mim_console.config import Settings
from mim_console.data import incidents as incidents_repo
from mim_console.data import lease, outbox
from mim_console.data.store import Store
from mim_console.domain.alerts import Alert
from mim_console.domain.backoff import BackoffPolicy
from mim_console.errors import NotFound, UserError
from mim_console.notifiers.base import ReplyReceiver
from mim_console.notifiers.dispatcher import Dispatcher as Dispatcher
from mim_console.notifiers.dispatcher import DispatcherConfig as DispatcherConfig
from mim_console.notifiers.dispatcher import DispatcherSnapshot as DispatcherSnapshot
from mim_console.notifiers.logmask import masked_logger
from mim_console.notifiers.senders import Routes
from mim_console.services.context import Context

log = masked_logger("mim_console.dispatcher")

Listener = Callable[[DispatcherSnapshot], None]


def settings_config(settings: Settings, **overrides: Any) -> DispatcherConfig:
    """The dispatcher's numbers from the settings (``overrides`` for `dispatch`'s options)."""
    base = DispatcherConfig(
        max_in_flight=max(1, int(settings.max_in_flight)),
        backoff=BackoffPolicy(max_age_min=float(settings.retry_max_age_min)),
    )
    return replace(base, **overrides)


def make_routes(settings: Settings, store: Store | None = None) -> Routes | None:
    """Twilio SMS and voice, and chat webhooks looked up in ``store`` when sent; None without
    Twilio credentials (the dispatcher then says why). Call inside the running loop: the
    clients' connection pools belong to it."""
    if not settings.twilio.configured:
        return None
    from mim_console.notifiers.chat import ChatSender, store_resolver
    from mim_console.notifiers.senders import twilio_routes
    from mim_console.notifiers.twilio import TwilioNotifier

    resolve = store_resolver(store) if store is not None else None
    client = TwilioNotifier(settings.twilio)
    return twilio_routes(
        client,
        ChatSender(resolve=resolve),
        bridge=client if settings.bridge.twilio else None,
        calls_per_second=settings.twilio.calls_per_second,
    )


def for_context(
    ctx: Context,
    *,
    config: DispatcherConfig | None = None,
    receiver: ReplyReceiver | None = None,
    on_tick: Callable[[datetime], object] | None = None,
    listener: Listener | None = None,
) -> Dispatcher:
    """A dispatcher for ``ctx``: its store and settings, the real clock (leases span processes,
    so a test's frozen clock must not reach them). Replies go to the incident service and its
    escalation timers tick, unless ``receiver`` / ``on_tick`` say otherwise. Without
    credentials it says why and waits."""
    settings = ctx.settings
    presence = None
    if receiver is None or on_tick is None or settings.bridge.twilio:
        from mim_console.services.incidents import IncidentService

        service = IncidentService(ctx)
        receiver = receiver or service
        on_tick = on_tick or service.tick
        presence = service if settings.bridge.twilio else None
    missing = settings.twilio.missing()
    routes = None if missing else make_routes(settings, ctx.store)
    blocked = None
    modem = settings.modem.configured
    if routes is None and not modem:
        blocked = "alerts cannot be sent: missing " + (", ".join(missing) or "a notifier")
    elif routes is None:  # the modem sends SMS; voice and chat wait for Twilio's credentials
        routes = Routes([])
    dispatcher = Dispatcher(
        ctx.store,
        routes,
        receiver=receiver,
        presence=presence,
        config=config or settings_config(settings),
        blocked=blocked,
        on_tick=on_tick,
        listener=listener,
    )
    if modem:
        add_modem(dispatcher, settings, receiver, twilio=not missing)
    return dispatcher


def add_modem(
    dispatcher: Dispatcher, settings: Settings, receiver: ReplyReceiver | None, *, twilio: bool
) -> None:
    """The GSM modem route as a lane of ``dispatcher`` (docs/routes.md): opened only while
    this process holds the lease, fed the same reply receiver."""
    from mim_console.notifiers.modem import GammuModem
    from mim_console.notifiers.modem_route import ModemRoute

    modem = GammuModem(settings.modem)
    dispatcher.add_lane(
        ModemRoute(
            dispatcher.store,
            modem,
            settings.modem,
            holder=dispatcher.lease.holder,
            lease_held=dispatcher.lease.held,
            twilio_silent_for=dispatcher.reach.silent_for,
            # No credentials, or Twilio refuses ours (not only a sending number): the modem
            # takes the waiting SMS under `use = "fallback"`, as when Twilio is silent.
            twilio_blocked=lambda: not twilio or _refused_whole(dispatcher),
            receiver=receiver,
            on_change=dispatcher.changed,
        )
    )


def _refused_whole(dispatcher: Dispatcher) -> bool:
    refusal = dispatcher.reach.refusal
    return refusal is not None and refusal.whole_account


async def run_with_context(ctx: Context, dispatcher: Dispatcher | None = None) -> None:
    """Run until stopped, closing the routes' connections at the end."""
    d = dispatcher or for_context(ctx)
    try:
        await d.run()
    finally:
        if d.routes is not None:
            await d.routes.aclose()


async def run_in_loop(
    ctx: Context,
    *,
    config: DispatcherConfig | None = None,
    listener: Listener | None = None,
    started: Callable[[Dispatcher], None] | None = None,
) -> None:
    """The console's in-app dispatcher on the running loop; ``started`` gets it first (to wake
    it after queueing and to stop it on exit)."""
    d = for_context(ctx, config=config, listener=listener)
    if started is not None:
        started(d)
    await run_with_context(ctx, d)


def start_in_thread(
    ctx: Context,
    *,
    on_tick: Callable[[datetime], object] | None = None,
    listener: Listener | None = None,
) -> Callable[[], None]:
    """Run a dispatcher on its own loop in a daemon thread (for `watch`); returns a stopper.

    Raises ``UserError`` without Twilio credentials: nothing could be sent.
    """
    missing = ctx.settings.twilio.missing()
    if missing and not ctx.settings.modem.configured:
        raise UserError("Twilio is not configured: set " + ", ".join(missing))
    loop = asyncio.new_event_loop()
    box: dict[str, Dispatcher] = {}
    ready = threading.Event()

    async def main() -> None:
        d = for_context(ctx, on_tick=on_tick, listener=listener)
        box["d"] = d
        ready.set()
        await run_with_context(ctx, d)

    def target() -> None:
        try:
            loop.run_until_complete(main())
        except Exception:  # reported in the log; the caller keeps running
            log.exception("dispatcher thread stopped")
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=target, name="mim-dispatcher", daemon=True)
    thread.start()
    ready.wait(10)

    def stopper() -> None:
        d = box.get("d")
        if d is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(d.stop)
        thread.join(d.config.drain_s + 5 if d else 5)

    return stopper


def outbox_listing(
    ctx: Context, incident_code: str | None = None, limit: int | None = None
) -> tuple[dict[str, int], list[Alert]]:
    """The outbox counts and its alerts, newest first (`mim-console outbox`), for the whole
    outbox or the incident with exactly this code."""
    with ctx.store.read() as db:
        incident_id = None
        if incident_code is not None:
            incident_id = incidents_repo.incident_id_by_code(db, incident_code.strip())
            if incident_id is None:
                raise NotFound(f"no incident {incident_code!r} (see `mim-console incident list`)")
        alerts = outbox.list_alerts(db, incident_id=incident_id, limit=limit)
        return outbox.counts(db, incident_id), alerts


def quit_warning(ctx: Context, own_holder: str | None) -> str | None:
    """What to say before the console quits, or ``None``: an incident is open and no other
    process holds the dispatcher lease (``own_holder`` is this console's own dispatcher)."""
    now = utcnow()  # leases span processes: wall-clock UTC, as the dispatcher's own
    with ctx.store.read() as db:
        open_codes = [inc.code for inc in incidents_repo.list_incidents(db) if inc.is_open]
        other = lease.held_by_another(db, own_holder, now)
    if not open_codes or other is not None:
        return None  # nothing to lose, or another process sends and runs the timers
    more = len(open_codes) - 3
    which = ", ".join(open_codes[:3]) + (f" and {more} more" if more > 0 else "")
    return (
        f"Quit while {which} {'is' if len(open_codes) == 1 else 'are'} open?\n"
        "No other process is sending: alerts and escalation timers stop until "
        "`mim-console dispatch` or a console runs."
    )
