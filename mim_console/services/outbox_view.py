"""The outbox as every screen's banner shows it."""

from __future__ import annotations

from mim_console.clock import utcnow
from mim_console.data import lease, outbox
from mim_console.data.refusals import account_refusal as latest
from mim_console.domain.twilio_errors import account_wide_codes, headline
from mim_console.services.context import Context


def outbox_counts(ctx: Context) -> dict[str, int]:
    """queued / sending / accepted over every process's alerts; failed: only those of open
    incidents (the banner counts what needs attention; the history is in `outbox`)."""
    with ctx.store.read() as db:
        counts = outbox.counts(db)
        counts["failed"] = outbox.open_incident_counts(db)["failed"]
        return counts


def sender_elsewhere(ctx: Context, own_holder: str | None) -> str:
    """Who sends while this console cannot (no Twilio credentials here): another process with
    a fresh dispatcher lease, in words ("mim-a, process 4242"), or "" when nobody does."""
    now = utcnow()  # leases span processes: wall-clock UTC, as the dispatcher's own
    with ctx.store.read() as db:
        info = lease.held_by_another(db, own_holder, now)
    if info is None:
        return ""
    host, _, rest = info.holder.partition(":")
    pid = rest.partition(":")[0]
    return f"{host}, process {pid}" if pid.isdigit() else info.holder


def account_refusal(ctx: Context) -> tuple[str, str, int] | None:
    """(headline, reason, alerts waiting) when the waiting alerts were last refused for our
    account as a whole (a dispatcher holds them, re-checking): read from the database, so
    `outbox` and readiness in another process see what the running dispatcher sees."""
    with ctx.store.read() as db:
        found = latest(db, account_wide_codes())
    if found is None:
        return None
    return headline(found.code), found.error, found.waiting
