"""The outbox as every screen's banner shows it."""

from __future__ import annotations

from mim_console.data import outbox
from mim_console.services.context import Context


def outbox_counts(ctx: Context) -> dict[str, int]:
    """queued / sending / accepted / failed over every process's alerts."""
    with ctx.store.read() as db:
        return outbox.counts(db)
