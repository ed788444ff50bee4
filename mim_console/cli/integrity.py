"""`mim-console verify-timeline`: the timeline's hash chain, checked event by event."""

from __future__ import annotations

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, say, warn
from mim_console.services.context import Context


@main.command("verify-timeline")
@click.argument("incident", required=False)
@json_option
@pass_context
def verify_timeline(ctx: Context, incident: str | None, as_json: bool) -> None:
    """Check the timeline's hash chain (every incident, or INCIDENT's): exit 1 at a broken link.

    Each event stores the hash of the one before it; an event changed, removed, reordered or
    written outside mim-console breaks the chain there, and the first broken link is named.
    """
    from mim_console.services.integrity import verify_timeline as check

    result = check(ctx, incident)
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "chains": result.chains,
                "events": result.events,
                "broken": [
                    {
                        "incident_id": b.incident_id,
                        "incident": b.incident_code,
                        "event_id": b.event_id,
                        "reason": b.reason,
                    }
                    for b in result.broken
                ],
            }
        )
    elif result.ok:
        say(f"timeline intact: {result.events} event(s) in {result.chains} hash chain(s)")
    else:
        for link in result.broken:
            warn(f"✖ broken: {link}")
        warn(
            f"{len(result.broken)} of {result.chains} hash chain(s) broken "
            f"({result.events} event(s) checked)"
        )
    if not result.ok:
        raise SystemExit(1)
