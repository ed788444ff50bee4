"""The outbox as every screen's banner shows it."""

from __future__ import annotations

from mim_console.data import outbox
from mim_console.services.context import Context


def outbox_counts(ctx: Context) -> dict[str, int]:
    """queued / sending / accepted over every process's alerts; failed: only those of open
    incidents (the banner counts what needs attention; the history is in `outbox`)."""
    with ctx.store.read() as db:
        counts = outbox.counts(db)
        counts["failed"] = outbox.open_incident_counts(db)["failed"]
        return counts
