"""`mim-console standby` and `takeover`: a second site that follows the first (docs/sites.md)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, say, warn
from mim_console.errors import UserError
from mim_console.services import sites
from mim_console.services.context import Context

db_option = click.option(
    "--db",
    "db_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The standby copy (default: this machine's database, see `mim-console info`).",
)


def _with_db(ctx: Context, db_file: Path | None) -> Context:
    if db_file is not None:
        ctx.close()
        from mim_console.services.org_settings import overlay

        ctx.settings = overlay(ctx.settings.with_db(db_file.expanduser()))
    return ctx


def _replica_url(ctx: Context, url: str | None) -> str:
    from mim_console.config import check_replica_url

    chosen = url or ctx.settings.replica.url
    if not chosen:
        raise UserError("name the replica: --from URL (or set [replica] url in the config)")
    return check_replica_url(chosen, "--from")


@main.command()
@click.option("--from", "url", metavar="URL", help="The replica to follow ([replica] url).")
@db_option
@click.option("--once", is_flag=True, help="Restore a read-only copy and exit (for drills).")
@click.option(
    "--headless", is_flag=True, help="Follow without opening the console (a service manager)."
)
@pass_context
def standby(
    ctx: Context, url: str | None, db_file: Path | None, once: bool, headless: bool
) -> None:
    """Follow the replica and open the console read-only on it.

    The copy stays a few seconds behind the primary; every write is refused until
    `mim-console takeover` makes this site the writer.
    """
    ctx = _with_db(ctx, db_file)
    chosen = _replica_url(ctx, url)
    if once:
        path = sites.restore_copy(ctx, chosen, ctx.db_path)
        status = sites.standby_status(ctx)
        age = "" if status.behind_s is None else f", {status.behind_s:.0f} s old"
        say(
            f"restored {chosen} into {path}: a read-only copy of "
            f"{status.site or 'the primary'}{age}"
        )
        return
    say(f"following {chosen} into {ctx.db_path} …")
    sites.start_following(ctx, chosen, ctx.db_path)
    try:
        if headless:
            _follow_until_stopped(ctx)
        else:
            from mim_console.cli.tui import run_console

            run_console(ctx, on_start=_exit_on_sigterm)
    finally:
        sites.stop_following(ctx.db_path)
        ctx.close()
    if sites.is_standby(ctx):
        say("standby stopped: the copy stays read-only (`mim-console takeover` to take over)")
    else:
        say("standby stopped: this site took over")


def _exit_on_sigterm(app: Any) -> None:
    """`takeover` stops the standby with SIGTERM: the console closes cleanly (the terminal is
    given back as it was), and the follower stops after it."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, app.exit)


def _follow_until_stopped(ctx: Context) -> None:
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    last = ""
    while not stop.wait(5.0):
        line = sites.standby_status(ctx).line()
        if line != last:
            say(line)
            last = line


@main.command()
@db_option
@click.option("--force", is_flag=True, help="Take over although the old site looks alive.")
@click.option("--reason", default="", help="With --force: who decided and why (recorded).")
@click.option(
    "--margin",
    type=click.FloatRange(min=1, max=3600),
    default=sites.DEFAULT_MARGIN_S,
    show_default=True,
    help="Seconds added to the old site's lease before it counts as gone.",
)
@json_option
@pass_context
def takeover(
    ctx: Context, db_file: Path | None, force: bool, reason: str, margin: float, as_json: bool
) -> None:
    """Make this site's standby copy the writer: fenced, recorded, replicated.

    Refused while the primary's lease or beat is younger than its TTL plus --margin. Unsent
    alerts are looked up at Twilio by this site's first dispatcher before anything is resent.
    """
    ctx = _with_db(ctx, db_file)
    result = sites.take_over(
        ctx, force=force, reason=reason, margin_s=margin, say=(warn if as_json else say)
    )
    record = result.record
    if as_json:
        emit_json(
            {
                "site": record.site,
                "old_site": record.old_site,
                "at": record.at,
                "actor": record.actor,
                "position": record.position,
                "forced": record.forced,
                "marked": record.marked,
                "in_doubt": record.in_doubt,
                "replicated": result.replicated,
                "problem": result.problem or None,
            }
        )
    else:
        say(
            f"taken over: site {record.site} writes {result.db_path} "
            f"(was {record.old_site or 'unknown'}; replica {record.position})"
        )
        if result.replicated:
            say(f"the take-over is on the replica {result.url}")
        else:
            warn(f"not yet on the replica: {result.problem}")
        say("next: start `mim-console dispatch` here (it replicates and reconciles alerts)")
    with contextlib.suppress(Exception):
        ctx.close()


@main.group()
def drill() -> None:
    """Rehearsals on copies: nothing live is changed, nothing is sent."""


@drill.command("takeover")
@click.option("--keep", is_flag=True, help="Keep the scratch folder (its logs) afterwards.")
@pass_context
def drill_takeover(ctx: Context, keep: bool) -> None:
    """Rehearse losing this site and taking over at another, on copies (about 30 s).

    Site A replicates a copy of this database to a scratch replica, site B follows it; B must
    refuse a write, `takeover` must be refused while A lives and succeed once A, killed without
    warning, lets its lease lapse; B must hold what A wrote.
    """
    from mim_console.services.site_drill import drill_takeover as run_drill

    report = run_drill(ctx, keep=keep, say=say)
    if keep:
        say(f"scratch folder kept: {report.folder}")
    if not report.ok:
        raise UserError("the take-over drill failed (see the ✖ step above)")
    say("take-over drill passed")
