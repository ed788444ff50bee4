"""Incident commands: declare, roll call, spokesperson, notes, close, report.

Every command that changes something does it in one transaction through
``services/incidents.py``; a refusal prints ``Error: …`` and exits 1 with nothing changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.incident_view import (
    event_json,
    incident_json,
    local_time,
    roll_call_json,
    roll_call_renderable,
)
from mim_console.cli.output import (
    confirm,
    console,
    emit_json,
    print_table,
    say,
    warn,
)
from mim_console.domain.incident import ActionKind
from mim_console.errors import UserError
from mim_console.services import files
from mim_console.services.context import Context
from mim_console.services.duty import stored_rotation_problems
from mim_console.services.incidents import CHANNELS, IncidentService
from mim_console.services.timezone import times_label

# --- commands -----------------------------------------------------------------------------


@main.command()
@click.option("--title", "-t", required=True, help="Short title: it goes into every SMS.")
@click.option("--description", "-d", default="", help="Longer description (not sent by SMS).")
@click.option("--severity", "-s", default="SEV1", show_default=True, help="e.g. SEV1, SEV2.")
@click.option("--category", "-c", "categories", multiple=True, help="Affected service or category.")
@click.option("--group", "-g", "groups", multiple=True, help="Specialist group, picked by hand.")
@click.option("--channel", type=click.Choice(CHANNELS), default="sms", show_default=True)
@click.option("--exercise", is_flag=True, help="A drill: every message starts with EXERCISE.")
@click.option("--yes", is_flag=True, help="Page without asking for confirmation.")
@json_option
@pass_context
def declare(
    ctx: Context,
    title: str,
    description: str,
    severity: str,
    categories: tuple[str, ...],
    groups: tuple[str, ...],
    channel: str,
    exercise: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Declare a major incident and page the response team; prints the incident code."""
    service = IncidentService(ctx)
    if not yes:
        planned = service.plan_recipients(categories, groups)
        what = "an EXERCISE" if exercise else "a major incident"
        confirm(
            f"Declare {what} and page {len(planned)} "
            f"{'person' if len(planned) == 1 else 'people'} by {channel}?",
            "not declared: nobody was paged (--yes declares without asking)",
        )
    inc = service.declare(
        title=title,
        description=description,
        severity=severity,
        categories=categories,
        group_refs=groups,
        channel=channel,
        exercise=exercise,
    )
    if as_json:
        rc = service.roll_call(inc)
        emit_json(roll_call_json(rc, ctx.clock()))
    else:
        click.echo(inc.code)
    for problem in stored_rotation_problems(ctx.store):  # paged without them: say so
        warn(f"warning: {problem}")
    missing = ctx.settings.twilio.missing()
    if missing:
        warn(
            "alerts are queued but Twilio is not configured (missing "
            + ", ".join(missing)
            + "): nothing is sent until it is; "
            + f"`mim-console callsheet {inc.code}` lists whom to phone, in call order"
        )


@main.command()
@click.option("--all", "include_closed", is_flag=True, help="Closed incidents too.")
@json_option
@pass_context
def incidents(ctx: Context, include_closed: bool, as_json: bool) -> None:
    """List open incidents (newest first)."""
    found = IncidentService(ctx).incidents(include_closed=include_closed)
    if as_json:
        emit_json([incident_json(i) for i in found])
        return
    if not found:
        say("no open incidents" if not include_closed else "no incidents")
        return
    print_table(
        f"Incidents ({times_label()})",
        ["code", "reply", "status", "severity", "title", "declared"],
        [
            (
                ("EXERCISE " if i.exercise else "") + i.code,
                i.reply_code,
                i.status.value,
                i.severity,
                i.title,
                f"{local_time(i.declared_at):%Y-%m-%d %H:%M}",
            )
            for i in found
        ],
    )


def _alerts_json(ctx: Context, code: str) -> list[dict[str, Any]]:
    """Each alert of the incident with the route that carried it (twilio, modem)."""
    from mim_console.services.dispatching import outbox_listing

    _, alerts = outbox_listing(ctx, code)
    return [
        {
            "id": a.id,
            "person_id": a.person_id,
            "channel": a.channel,
            "purpose": a.purpose,
            "status": a.status,
            "route": a.route,
            "sent_at": a.sent_at.isoformat() if a.sent_at else None,
        }
        for a in reversed(alerts)
    ]


@main.command()
@click.argument("incident")
@click.option("--phones", is_flag=True, help="Show each person's mobile number.")
@json_option
@pass_context
def status(ctx: Context, incident: str, phones: bool, as_json: bool) -> None:
    """The roll call: who is alerted, joined, unable, on standby; quorum per party."""
    rc = IncidentService(ctx).roll_call(incident)
    if as_json:
        data = roll_call_json(rc, ctx.clock())
        data["alerts"] = _alerts_json(ctx, rc.incident.code)
        emit_json(data)
    else:
        console().print(roll_call_renderable(rc, ctx.clock(), phones=phones))


def _roll_call_command(name: str, help_text: str) -> None:
    @main.command(name, help=help_text)
    @click.argument("incident")
    @click.argument("people", nargs=-1)
    @pass_context
    def command(ctx: Context, incident: str, people: tuple[str, ...]) -> None:
        service = IncidentService(ctx)
        action = {
            "release": service.release,
            "joined": service.mark_joined,
            "unable": service.mark_unable,
        }[name]
        # Scripts are not asked, but told when a release drops a party's quorum.
        dropped = service.quorum_dropped_by(incident, people) if name == "release" else []
        done = action(incident, list(people))
        say(f"{name}: {', '.join(done)}")
        if dropped:
            warn(f"warning: this dropped the quorum of {', '.join(dropped)}")


_roll_call_command("release", "Release people who joined to standby (they get a standby SMS).")
_roll_call_command(
    "joined", "Mark people as joined (seen on the bridge); a phone call is logged with `call`."
)
_roll_call_command(
    "unable",
    "Mark people as unable (their deputy is alerted at once); a phone call is logged with `call`.",
)


@main.command()
@click.argument("incident")
@click.argument("people", nargs=-1)
@click.option("--all", "everyone", is_flag=True, help="Everyone on standby.")
@pass_context
def recall(ctx: Context, incident: str, people: tuple[str, ...], everyone: bool) -> None:
    """Recall people from standby (a recall alert; their reply moves them back to joined)."""
    done = IncidentService(ctx).recall(incident, list(people), everyone=everyone)
    say(f"recalled: {', '.join(done)}")


@main.command()
@click.argument("incident")
@click.argument("person")
@click.option("--step", type=click.Choice(["voice", "deputy"]), help="Not the procedure's next.")
@pass_context
def escalate(ctx: Context, incident: str, person: str, step: str | None) -> None:
    """Escalate now: a voice call, or the deputy if the call was already made (or --step)."""
    say(IncidentService(ctx).escalate(incident, person, ActionKind(step) if step else None))


@main.command()
@click.argument("incident")
@click.argument("person")
@click.option("--replace", "replace_current", is_flag=True, help="Hand over from the current one.")
@pass_context
def spokesperson(ctx: Context, incident: str, person: str, replace_current: bool) -> None:
    """Set the specialist workgroup's spokesperson (one at a time)."""
    say(IncidentService(ctx).set_spokesperson(incident, person, replace_current=replace_current))


@main.command()
@click.argument("incident")
@click.argument("text")
@pass_context
def note(ctx: Context, incident: str, text: str) -> None:
    """Add a free-text note or decision to the timeline."""
    IncidentService(ctx).note(incident, text)
    say("noted")


@main.command("status-report")
@click.argument("incident")
@click.argument("text")
@click.option("--next-in", type=float, help="Minutes until the spokesperson's next status.")
@pass_context
def status_report(ctx: Context, incident: str, text: str, next_in: float | None) -> None:
    """Log the spokesperson's status report and when the next one comes."""
    inc = IncidentService(ctx).status_report(incident, text, next_in)
    due = (
        f"; next status at {local_time(inc.next_status_at):%H:%M} ({times_label()})"
        if inc.next_status_at
        else ""
    )
    say(f"status report logged{due}")


@main.command()
@click.argument("incident")
@click.argument("text")
@pass_context
def directive(ctx: Context, incident: str, text: str) -> None:
    """Log a prioritisation directive from the MRT to the workgroup."""
    IncidentService(ctx).directive(incident, text)
    say("directive logged")


# `mim-console restore INCIDENT` (service restored) shares its name with `restore FILE` (a
# database backup): cli/backup.py defines the one `restore` command and tells the two apart.


@main.command()
@click.argument("incident")
@click.option("--problem", "problem_ref", help="Problem Management case reference.")
@click.option("--owner", help="Owner of the problem case.")
@click.option("--summary", help="Summary of the problem case.")
@click.option("--all-clear", is_flag=True, help="Send everyone the all-clear SMS.")
@click.option("--went-well", help="For the report: what went well.")
@click.option("--to-improve", help="For the report: what to improve.")
@click.option(
    "--problem-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the problem case as JSON for an ITSM tool.",
)
@pass_context
def close(
    ctx: Context,
    incident: str,
    problem_ref: str | None,
    owner: str | None,
    summary: str | None,
    all_clear: bool,
    went_well: str | None,
    to_improve: str | None,
    problem_json: Path | None,
) -> None:
    """Close: stand everyone down, record the problem case."""
    if problem_json is not None and not problem_json.parent.is_dir():
        # Checked first: a close that cannot write its export must not happen half-way.
        raise UserError(f"cannot write {problem_json}: {problem_json.parent} is not a folder")
    if problem_json is not None:
        files.check_target(problem_json)  # a symlink, FIFO or folder: refused before closing
    service = IncidentService(ctx)
    inc = service.close(
        incident,
        problem_ref=problem_ref,
        owner=owner,
        summary=summary,
        all_clear=all_clear,
        went_well=went_well,
        to_improve=to_improve,
    )
    if problem_json is not None:
        _write(problem_json, _json_text(service.problem_case(inc.code)))
    say(f"{inc.code} closed; everyone stood down")
    for warning in service.warnings:
        warn(warning)


@main.command()
@click.argument("incident")
@click.option("--went-well", help="What went well.")
@click.option("--to-improve", help="What to improve.")
@pass_context
def lessons(ctx: Context, incident: str, went_well: str | None, to_improve: str | None) -> None:
    """Fill in the report's "what went well / what to improve" sections."""
    IncidentService(ctx).lessons(incident, went_well=went_well, to_improve=to_improve)
    say("lessons learnt saved")


@main.command("problem-case")
@click.argument("incident")
@pass_context
def problem_case(ctx: Context, incident: str) -> None:
    """Print the Problem Management case as JSON (for an ITSM tool)."""
    emit_json(IncidentService(ctx).problem_case(incident))


@main.command()
@click.argument("incident")
@click.option(
    "--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write to FILE (whole or not at all; `-`: standard output).",
)
@json_option
@pass_context
def report(ctx: Context, incident: str, fmt: str, output: Path | None, as_json: bool) -> None:
    """The lessons-learnt report (Markdown, HTML with the assembly curve, or JSON figures)."""
    from mim_console.services.report import render

    text = render(ctx, incident, "json" if as_json else fmt)
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
    else:
        _write(output, text)
        say(f"report written: {output}")


@main.command()
@click.argument("incident")
@json_option
@pass_context
def timeline(ctx: Context, incident: str, as_json: bool) -> None:
    """Every event of the incident, oldest first."""
    found = IncidentService(ctx).timeline(incident)
    if as_json:
        emit_json([event_json(e) for e in found])
        return
    inc = IncidentService(ctx).incident(incident)
    print_table(
        f"{'EXERCISE · ' if inc.exercise else ''}Timeline of {inc.code} ({times_label()})",
        ["at", "kind", "who", "what"],
        [(f"{local_time(e.at):%Y-%m-%d %H:%M:%S}", e.kind, e.actor, e.text) for e in found],
    )


def _json_text(data: Any) -> str:
    from mim_console.cli.output import to_json

    return to_json(data) + "\n"


def _write(path: Path, text: str) -> None:
    files.write_text(path, text)  # a new path or a regular file, whole or not at all
