"""`mim-console replies`: the SMS replies received, above all those that named no incident;
`replies assign` places one on an incident (as if it had named the code), `replies dismiss`."""

from __future__ import annotations

import click

from mim_console.cli.base import ROW_NUMBER, json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say
from mim_console.services.context import Context


@main.group(invoke_without_command=True)
@click.option(
    "--unassigned", is_flag=True, help="Only replies that named no incident (while one is open)."
)
@json_option
@click.pass_context
def replies(click_ctx: click.Context, unassigned: bool, as_json: bool) -> None:
    """The replies received, newest first; --unassigned: those that need an incident."""
    if click_ctx.invoked_subcommand is not None:
        return
    from mim_console.services.incidents import IncidentService
    from mim_console.services.timezone import apply_zone, times_in

    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    found = IncidentService(ctx).replies(unplaced=unassigned)
    if as_json:
        emit_json([r.as_json() for r in found])  # times in UTC ISO-8601
        return
    zone = apply_zone(ctx)
    title = "replies that need an incident" if unassigned else "replies"
    print_table(
        f"{title} ({times_in(zone)})",
        ["id", "received", "from", "person", "text", "incident", "meaning"],
        [
            [
                r.id,
                r.received_at.astimezone(zone).strftime("%d.%m %H:%M"),
                r.sender,
                r.person_name or "—",
                r.body,
                r.incident or "—",
                r.meaning,
            ]
            for r in found
        ],
    )
    if unassigned and found:
        say("place one: mim-console replies assign REPLY_ID INCIDENT")


@replies.command("assign")
@click.argument("reply_id", type=ROW_NUMBER)
@click.argument("incident")
@click.option(
    "--as",
    "meaning",
    type=click.Choice(["joining", "unable"]),
    default=None,
    help="What it says, for words that say neither 1 nor 2.",
)
@pass_context
def replies_assign(ctx: Context, reply_id: int, incident: str, meaning: str | None) -> None:
    """Apply reply REPLY_ID to INCIDENT exactly as if it had named INCIDENT's code."""
    from mim_console.services.incidents import IncidentService

    say(IncidentService(ctx).assign_reply(reply_id, incident, meaning))


@replies.command("dismiss")
@click.argument("reply_id", type=ROW_NUMBER)
@pass_context
def replies_dismiss(ctx: Context, reply_id: int) -> None:
    """Take reply REPLY_ID off the list of replies that need an incident."""
    from mim_console.services.incidents import IncidentService

    say(IncidentService(ctx).dismiss_reply(reply_id))
