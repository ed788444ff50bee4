"""`mim-console callsheet` (print who to phone) and `mim-console call` (log a phone call)."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, say, warn
from mim_console.domain.callsheet import FORMATS, CallSheet
from mim_console.services import callsheet
from mim_console.services.context import Context
from mim_console.services.duty import stored_rotation_problems
from mim_console.services.incidents import CALL_OUTCOMES, IncidentService


def sheet_json(sheet: CallSheet) -> dict[str, object]:
    number, pin, url = sheet.bridge
    return {
        "title": sheet.title,
        "generated_at": sheet.generated_at.astimezone(UTC).isoformat(),
        "exercise": sheet.exercise,
        "bridge": {"number": number, "pin": pin, "url": url},
        "script": sheet.script,
        "sections": [
            {
                "heading": section.heading,
                "entries": [
                    {
                        "name": e.name,
                        "role": e.role,
                        "title": e.title,
                        "phones": list(e.phones),
                        "state": e.state,
                        "decision_authority": e.authority,
                    }
                    for e in section.entries
                ],
            }
            for section in sheet.sections
        ],
    }


@main.command(name="callsheet")
@click.argument("incident", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write to FILE (whole or not at all; `-`: standard output); the suffix picks the format.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="txt, md or html (default: from -o's suffix, else txt).",
)
@json_option
@pass_context
def callsheet_cmd(
    ctx: Context, incident: str | None, output: Path | None, fmt: str | None, as_json: bool
) -> None:
    """Who to phone, in call order, with every number, the bridge and the script to read.

    With INCIDENT: its roll call with each person's state, deputies after the people they stand
    in for. Without: the duty board now (print it and keep it beside the desk).
    """
    if as_json:
        emit_json(sheet_json(callsheet.build(ctx, incident)))
        return
    if output is not None and str(output) == "-":
        output = None
    chosen = callsheet.format_for(output, fmt)
    text = callsheet.render_sheet(ctx, incident, chosen)
    if incident is None:  # the board leaves out what a broken rotation cannot say: name it
        for problem in stored_rotation_problems(ctx.store):
            warn(f"warning: {problem}")
    if output is None:
        click.echo(text, nl=False)
        return
    callsheet.write_atomic(output, text)
    say(f"call sheet written: {output} ({chosen})")


@main.command(name="call")
@click.argument("incident")
@click.argument("person")
@click.option(
    "--outcome",
    "-r",
    required=True,
    type=click.Choice(CALL_OUTCOMES, case_sensitive=False),
    help="joining / unable move the roll call like a reply; voicemail / no-answer are logged.",
)
@click.option("--note", "-n", default="", help="What was said (kept on the timeline).")
@pass_context
def call_cmd(ctx: Context, incident: str, person: str, outcome: str, note: str) -> None:
    """Log a phone call to PERSON: joining, unable, voicemail or no-answer.

    No answer (or voicemail) to someone still alerted counts as the escalation's voice call:
    no second call is queued, and their deputy is alerted if they stay silent.
    """
    result = IncidentService(ctx).log_call(incident, person, outcome, note)
    say(f"call logged: {outcome} -> {result}")
