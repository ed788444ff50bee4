"""`mim-console watch`: a live roll call in the terminal that also runs the dispatcher.

A long-running `watch` does what the console and `dispatch` do beside sending: it keeps the
backup schedule and, with `[replica] url`, runs and supervises `litestream replicate` while it
holds the replica lease (docs/sites.md).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import click
from rich.live import Live
from rich.text import Text

from mim_console.cli.base import FiniteRange, main, pass_context
from mim_console.cli.incident_view import roll_call_renderable
from mim_console.cli.output import console, literal, warn
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService


@main.command()
@click.argument("incident")
@click.option(
    "--interval",
    type=FiniteRange(min=0.1, max=3600),
    default=2.0,
    show_default=True,
    help="Redraw at least every S seconds; a change anyone commits shows within 0.2 s.",
)
@click.option("--once", is_flag=True, help="Draw once and exit (for scripts and tests).")
@click.option("--phones", is_flag=True, help="Show each person's mobile number.")
@pass_context
def watch(ctx: Context, incident: str, interval: float, once: bool, phones: bool) -> None:
    """A live roll call in the terminal (not full-screen); also runs the dispatcher.

    On a standby copy it only shows (the copy is read-only): no dispatcher, timers or backups.
    """
    from mim_console.services import sites

    service = IncidentService(ctx)
    inc = service.incident(incident)
    code = inc.code
    latest: dict[str, Any] = {}  # the dispatcher thread's newest snapshot
    standby = sites.is_standby(ctx)
    upkeep = not once and not standby
    runner = _start_dispatcher(ctx, latest) if upkeep else None
    stop_backups = _start_backups(ctx) if upkeep else None
    replicator = _start_replication(ctx) if upkeep else None
    previous = signal.signal(signal.SIGTERM, _interrupt) if not once else None
    first = _standby_line(ctx) if standby else None
    try:
        with Live(
            roll_call_renderable(
                service.roll_call(code), ctx.clock(), service.timeline(code)[-8:], banner=first
            ),
            console=console(),
            auto_refresh=False,
        ) as live:
            seen = _changes(service, inc.id)
            due = time.monotonic() + interval
            while not once:
                # Redraw as soon as anyone commits (another console, the CLI, our dispatcher),
                # and every ``interval`` seconds regardless (ages and countdowns move).
                time.sleep(min(WATCH_LOOK_S, interval))
                if _changes(service, inc.id) == seen and time.monotonic() < due:
                    continue
                if runner is None and not standby:  # the dispatcher runs the timers if there
                    service.tick()
                rc = service.roll_call(code)
                recent = service.timeline(code)[-8:]
                banner = _banner(offline_banner(latest.get("snapshot"), code), replicator)
                if standby:
                    banner = _standby_line(ctx)
                view = roll_call_renderable(rc, ctx.clock(), recent, phones=phones, banner=banner)
                live.update(view, refresh=True)
                seen, due = _changes(service, inc.id), time.monotonic() + interval
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if runner is not None:
            runner()
        if stop_backups is not None:
            stop_backups()
        if replicator is not None:
            replicator.stop()


def _start_backups(ctx: Context) -> Any:
    """A long-running `watch` keeps the backup schedule like the console and `dispatch` do."""
    from mim_console.services.backups import BackupSchedule

    return BackupSchedule(ctx).start_thread(on_problem=warn)


def _start_replication(ctx: Context) -> Any:
    """`[replica] url`: Litestream streams the database while this `watch` holds the replica
    lease, as the console and `dispatch` do (None: not configured, or a standby copy)."""
    from mim_console.services import sites

    try:
        return sites.start_replication(ctx)
    except UserError as exc:  # no Litestream binary: say so, the roll call still shows
        warn(f"not replicating: {exc}")
        return None


def _banner(offline: Text | None, replicator: Any) -> Text | None:
    """The offline line and, while this `watch` replicates, the replica's health and lag."""
    from mim_console.services import sites

    status = replicator.status() if replicator is not None else None
    if status is None or not status.holder:  # another process replicates: its banner says
        return offline
    words, ok = sites.replication_line(status)
    line = Text(words, style="" if ok else "bold reverse")
    if offline is None:
        return line
    return Text("\n").join([offline, line])


def _standby_line(ctx: Context) -> Text:
    """On a standby copy: ``STANDBY of <site>, 2 s behind`` (the console's banner words)."""
    from mim_console.services import sites

    return Text(sites.standby_status(ctx).line(), style="bold reverse")


WATCH_LOOK_S = 0.2  # how often `watch` asks whether anything was committed


def _changes(service: IncidentService, incident_id: int) -> tuple[int, int]:
    """Moves when the roll call may have, committed by anyone; the dispatcher's lease
    heartbeats do not count, so an idle watch stays idle."""
    return service.changes(incident_id)


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM ends `watch` like Ctrl-C: the dispatcher finishes what it sent, then stops."""
    raise KeyboardInterrupt


def offline_banner(snapshot: Any, code: str) -> Text | None:
    """`watch`'s line when Twilio cannot be reached: said plainly, with the way forward."""
    refusal = getattr(snapshot, "refusal", None)
    if snapshot is None or (snapshot.reachable is not False and refusal is None):
        return None
    queued = snapshot.counts.get("queued", 0) + snapshot.counts.get("sending", 0)
    head = (
        f"✖ Twilio UNREACHABLE: {queued} alerts kept, retrying"
        if refusal is None  # refused: answered, but retrying cannot help (docs/twilio.md)
        else f"✖ {refusal.headline}: {queued} alerts kept"
    )
    line = Text(head, style="bold reverse")
    line.append_text(literal(f" ({snapshot.last_error})" if snapshot.last_error else ""))
    line.append(
        f"\n  phone people from `mim-console callsheet {code}`; log each call with "
        f"`mim-console call {code} NAME --outcome joining|unable|voicemail|no-answer`"
    )
    return line


def _start_dispatcher(ctx: Context, latest: dict[str, Any]) -> Callable[[], None] | None:
    """Run the dispatcher in a background thread; returns a stopper (None: nothing to send)."""
    from mim_console.services.dispatching import start_in_thread

    try:
        return start_in_thread(
            ctx, listener=lambda snapshot: latest.__setitem__("snapshot", snapshot)
        )
    except UserError as exc:
        warn(f"alerts are not being sent: {exc}")
        return None
