"""`mim-console dispatch` (the long-running sender for a service manager) and `outbox`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import datetime

import click

from mim_console.cli.base import (
    ROW_LIMIT,
    ROW_NUMBER,
    FiniteRange,
    json_option,
    main,
    pass_context,
)
from mim_console.cli.output import confirm, emit_json, print_table, say, warn
from mim_console.clock import utcnow
from mim_console.domain.alerts import Alert
from mim_console.services import dispatching, outbox_steer, outbox_view
from mim_console.services.context import Context


@main.command()
@click.option("--verbose", "-v", is_flag=True, help="Log every lease change and reconcile.")
@click.option(
    "--lease-ttl",
    type=FiniteRange(min=0.5, max=300),
    default=5.0,
    show_default=True,
    help="Seconds a silent holder keeps the lease before a standby takes over.",
)
@click.option(
    "--route",
    type=click.Choice(["modem"]),
    help="First hand the waiting SMS alerts to the GSM modem, whatever the policy.",
)
@click.option(
    "--anyway",
    is_flag=True,
    help="With --route modem: also those whose Twilio send got no answer (may arrive twice).",
)
@click.option("--incident", "incident_code", help="With --route modem: only this incident's.")
@pass_context
def dispatch(
    ctx: Context,
    verbose: bool,
    lease_ttl: float,
    route: str | None,
    anyway: bool,
    incident_code: str | None,
) -> None:
    """Send queued alerts, track them and read replies until SIGTERM/SIGINT.

    Several may run against one database (the console, `watch`, this): a lease lets exactly one
    of them send; the others stand by and take over within seconds if it dies. With
    `--route modem`, the waiting SMS alerts go by the GSM modem (docs/routes.md); when another
    dispatcher is already sending, it sends them and this command stops there.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    if (anyway or incident_code) and route is None:
        raise click.UsageError("--anyway and --incident go with --route modem")
    from mim_console.services.sites import refuse_on_standby

    refuse_on_standby(ctx)  # a standby copy sends nothing: the primary's dispatcher does
    if route == "modem" and _hand_to_modem(ctx, incident_code, anyway):
        return
    missing = ctx.settings.twilio.missing()
    if missing and ctx.settings.modem.configured:
        warn("Twilio is not configured: SMS alerts go by the GSM modem; voice calls and chat")
        warn("messages stay queued until Twilio's credentials are set (" + ", ".join(missing) + ")")
    elif missing:
        warn("alerts cannot be sent: Twilio is not configured; set " + ", ".join(missing))
        warn("alerts stay queued; waiting for a restart with credentials")
    ctx.store  # noqa: B018 - open (and migrate) now, so a bad database fails fast
    asyncio.run(_serve(ctx, lease_ttl))


async def _serve(ctx: Context, lease_ttl: float) -> None:
    loop = asyncio.get_running_loop()
    config = dispatching.settings_config(
        ctx.settings, lease_ttl_s=lease_ttl, heartbeat_s=max(0.1, lease_ttl / 4)
    )
    d = dispatching.for_context(ctx, config=config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, d.stop)
    say(f"dispatcher {d.lease.holder} running on {ctx.db_path}")
    stop_backups = _backup_schedule(ctx)
    stop_replica = _replication(ctx, lease_ttl)
    try:
        await dispatching.run_with_context(ctx, d)
    finally:
        stop_backups()
        stop_replica()
    say("dispatcher stopped")


def _hand_to_modem(ctx: Context, incident_code: str | None, anyway: bool) -> bool:
    """Hand the waiting alerts to the modem; True when a running dispatcher will send them."""
    from mim_console.services.modem import running_dispatcher, send_by_modem

    handed = send_by_modem(ctx, incident_code, anyway=anyway)
    say(f"{handed.assigned} waiting alert(s) handed to the GSM modem")
    if handed.anyway:
        say(f"{handed.anyway} alert(s) sent anyway (may arrive twice; recorded in the timeline)")
    if handed.in_doubt_left:
        say(
            f"{handed.in_doubt_left} alert(s) may have reached Twilio already and wait for it: "
            "add --anyway to send them by modem too (they may arrive twice)"
        )
    holder = running_dispatcher(ctx)
    if holder is not None:
        say(f"the running dispatcher ({holder}) sends them")
        return True
    return False


def _backup_schedule(ctx: Context) -> Callable[[], None]:
    """Scheduled backups on a thread of their own: a copy never stalls the sending loop."""
    from mim_console.services.backups import BackupSchedule

    schedule = BackupSchedule(ctx)
    if schedule.every is None:
        say("scheduled backups are off (backup_every_hours = 0)")
    else:
        hours = schedule.every.total_seconds() / 3600
        say(f"a backup every {hours:g} h into {schedule.folder} (keeping {schedule.keep})")
    return schedule.start_thread(on_problem=warn)


def _replication(ctx: Context, lease_ttl: float) -> Callable[[], None]:
    """`[replica] url`: Litestream streams the database while this process holds the replica
    lease (docs/sites.md)."""
    from mim_console.services import sites

    replicator = sites.start_replication(ctx, lease_ttl_s=max(3.0, lease_ttl))
    if replicator is None:
        return lambda: None
    say(f"replicating to {replicator.url} as site {replicator.site}")
    return replicator.stop


REFUSAL_KEYS = ("headline", "reason", "waiting")


def _age(alert: Alert, now: datetime) -> str:
    seconds = int((now - alert.created_at).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


@main.group(name="outbox", invoke_without_command=True)
@click.option("--incident", "incident_code", help="Only this incident's alerts (its code).")
@click.option("--limit", type=ROW_LIMIT, default=200, show_default=True)
@json_option
@click.pass_context
def outbox_cmd(
    click_ctx: click.Context, incident_code: str | None, limit: int, as_json: bool
) -> None:
    """Alerts, newest first, with their status and age; `outbox retry|cancel ALERT_ID`."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.ensure_object(Context)
    now = utcnow()
    counts, alerts = dispatching.outbox_listing(ctx, incident_code, limit)
    if as_json:
        refused = outbox_view.account_refusal(ctx)
        emit_json(
            {
                "counts": counts,
                "refused": None
                if refused is None
                else dict(zip(REFUSAL_KEYS, refused, strict=True)),
                "alerts": [
                    {
                        "id": a.id,
                        "incident": a.incident_code,
                        "person": a.person_name,
                        "to": a.to_number,
                        "channel": a.channel,
                        "route": a.route,
                        "purpose": a.purpose,
                        "status": a.status,
                        "group": a.group,
                        "attempts": a.attempts,
                        "sid": a.provider_sid,
                        "created_at": a.created_at,
                        "sent_at": a.sent_at,
                        "age_s": int((now - a.created_at).total_seconds()),
                        "error_code": a.last_error_code,
                        "error": a.last_error,
                    }
                    for a in alerts
                ],
            }
        )
        return
    say(", ".join(f"{name} {n}" for name, n in counts.items()))
    refused = outbox_view.account_refusal(ctx)
    if refused is not None:
        head, reason, waiting = refused
        warn(f"✖ {head}: {waiting} alert(s) kept, none sent until it accepts us ({reason})")
    print_table(
        "Outbox",
        [
            "id",
            "incident",
            "person",
            "to",
            "channel",
            "route",
            "purpose",
            "status",
            "tries",
            "age",
            "error",
        ],
        [
            [
                a.id,
                a.incident_code or "",
                a.person_name or "",
                a.to_number,
                a.channel,
                a.route or "",
                a.purpose,
                a.status,
                a.attempts,
                _age(a, now),
                f"{a.last_error_code or ''} {a.last_error or ''}".strip(),
            ]
            for a in alerts
        ],
    )


def _steer(
    ctx: Context, alert_id: int, yes: bool, as_json: bool, verb: str, run: Callable[..., str]
) -> None:
    alert = outbox_steer.alert(ctx, alert_id)
    if not yes:
        confirm(
            f"{verb.capitalize()} alert {alert.id} ({alert.channel} {alert.purpose}, "
            f"{alert.status}) to {outbox_steer.who(alert)}?",
            f"not {verb}: alert {alert.id} unchanged (--yes {verb}s without asking)",
        )
    text = run(ctx, alert_id)
    if as_json:
        after = outbox_steer.alert(ctx, alert_id)
        emit_json({"id": after.id, "status": after.status, "done": text})
    else:
        say(text)


@outbox_cmd.command(name="retry")
@click.argument("alert_id", type=ROW_NUMBER)
@click.option("--yes", is_flag=True, help="Send it again without asking.")
@json_option
@pass_context
def outbox_retry(ctx: Context, alert_id: int, yes: bool, as_json: bool) -> None:
    """Send a waiting or failed alert now (never one already sent)."""
    _steer(ctx, alert_id, yes, as_json, "retry", outbox_steer.retry)


@outbox_cmd.command(name="cancel")
@click.argument("alert_id", type=ROW_NUMBER)
@click.option("--yes", is_flag=True, help="Cancel it without asking.")
@json_option
@pass_context
def outbox_cancel(ctx: Context, alert_id: int, yes: bool, as_json: bool) -> None:
    """Cancel a queued or failed alert: it is never sent (a timeline event says so)."""
    _steer(ctx, alert_id, yes, as_json, "cancel", outbox_steer.cancel)
