"""Steering a running incident: `page` more people, `incident edit`, `restored`.

Each change is one transaction through ``services/steering.py`` with its timeline events; a
refusal prints ``Error: …`` and exits 1 with nothing changed.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.incident_view import incident_json
from mim_console.cli.output import confirm, emit_json, say, warn
from mim_console.domain.instants import parse_instant
from mim_console.services.context import Context
from mim_console.services.steering import PAGE_CHANNELS, Paged, PageTargets, Steering
from mim_console.services.timezone import wall


@main.command()
@click.argument("incident")
@click.argument("people", nargs=-1)
@click.option("--party", "parties", multiple=True, help="A party's seat holders (repeatable).")
@click.option("--group", "groups", multiple=True, help="A specialist group (repeatable).")
@click.option("--channel", type=click.Choice(PAGE_CHANNELS), default="sms", show_default=True)
@click.option("--yes", is_flag=True, help="Page without asking for confirmation.")
@json_option
@pass_context
def page(
    ctx: Context,
    incident: str,
    people: tuple[str, ...],
    parties: tuple[str, ...],
    groups: tuple[str, ...],
    channel: str,
    yes: bool,
    as_json: bool,
) -> None:
    """Page more people into a running incident; those already on it are not paged again."""
    service = Steering(ctx)
    targets = PageTargets(people, parties, groups)
    if not yes:
        preview = service.preview_page(incident, targets)
        if preview.new:
            confirm(
                preview.question(channel),
                "nobody was paged (--yes pages without asking)",
            )
    done = service.page(incident, targets, channel=channel)
    if as_json:
        emit_json(paged_json(done))
    else:
        say(done.text)
    missing = ctx.settings.twilio.missing()
    if missing:
        warn(
            "alerts are queued but Twilio is not configured (missing "
            + ", ".join(missing)
            + "): nothing is sent until it is"
        )


def paged_json(done: Paged) -> dict[str, Any]:
    return {
        "incident": done.incident.code,
        "participants": [
            {
                "person_id": person.id,
                "name": person.name,
                "role": p.role.value,
                "party_id": p.party_id,
                "group_id": p.group_id,
                "state": p.state.value,
                "alerted_at": p.alerted_at.isoformat() if p.alerted_at else None,
            }
            for person, p in done.participants
        ],
        "already_on_incident": [{"person_id": p.id, "name": p.name} for p in done.already],
    }


@main.group("incident")
def incident_group() -> None:
    """Change a running incident (`incident edit`)."""


@incident_group.command("edit")
@click.argument("incident")
@click.option("--severity", "-s", help="SEV1, SEV2 or SEV3.")
@click.option("--title", "-t", help="New title (it goes into every later SMS).")
@click.option("--description", "-d", help="New description.")
@click.option("--category", "-c", "added", multiple=True, help="Add a category (repeatable).")
@click.option("--drop-category", "dropped", multiple=True, help="Remove a category (repeatable).")
@json_option
@pass_context
def edit(
    ctx: Context,
    incident: str,
    severity: str | None,
    title: str | None,
    description: str | None,
    added: tuple[str, ...],
    dropped: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change severity, title, description or categories; each change is a timeline event."""
    service = Steering(ctx)
    categories = None
    if added or dropped:
        current = service.incident_for_steering(incident).categories
        gone = {c.strip().casefold() for c in dropped}
        categories = [c for c in (*current, *added) if c.strip().casefold() not in gone]
    done = service.edit(
        incident, severity=severity, title=title, description=description, categories=categories
    )
    if as_json:
        emit_json(
            {
                "incident": incident_json(done.incident),
                "changes": [
                    {"field": c.field, "from": c.before, "to": c.after, "text": c.text}
                    for c in done.changes
                ],
                "offered_groups": [{"id": g.id, "name": g.name} for g in done.offered],
            }
        )
        return
    for change in done.changes:
        say(f"{done.incident.code}: {change.text}")
    for group in done.offered:
        covers = ", ".join(group.categories)
        say(
            f"hint: {group.name} covers {covers}: "
            f'`mim-console page {done.incident.code} --group "{group.name}"` pages it'
        )


@main.command()
@click.argument("incident")
@click.option(
    "--at", "at_text", help="When (ISO 8601; without an offset: local time). Now if not given."
)
@json_option
@pass_context
def restored(ctx: Context, incident: str, at_text: str | None, as_json: bool) -> None:
    """Record that service was restored (business as usual); the incident stays open to close."""
    at = None
    if at_text is not None:
        from mim_console.services.timezone import display_zone

        shown = display_zone(ctx)
        zone = shown if isinstance(shown, ZoneInfo) else ZoneInfo("UTC")
        at = parse_instant(at_text, zone, "--at")
    inc = Steering(ctx).restored(incident, at)
    if as_json:
        emit_json(incident_json(inc))
        return
    when = inc.restored_at
    say(f"{inc.code}: service restored at {wall(when):%Y-%m-%d %H:%M %Z}" if when else inc.code)
