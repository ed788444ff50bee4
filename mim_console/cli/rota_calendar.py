"""`mim-console rota shifts|handoffs|gaps|export|import`: a rotation over time, and .ics."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mim_console.cli.base import json_option, pass_context
from mim_console.cli.output import emit_json, print_table, say
from mim_console.cli.rota import local_time, person_json, rota, rotation_of
from mim_console.domain.people import Person
from mim_console.domain.rotation import Piece, Rotation, parse_instant
from mim_console.errors import UserError
from mim_console.services import duty as duty_service
from mim_console.services import files, timezone
from mim_console.services import rota as rota_service
from mim_console.services.context import Context


def _range(
    rotation: Rotation, now: datetime, start: str | None, end: str | None, default_days: int
) -> tuple[datetime, datetime]:
    starts_at = parse_instant(start, rotation.zone, "--from") if start else now
    ends_at = (
        parse_instant(end, rotation.zone, "--to")
        if end
        else starts_at + timedelta(days=default_days)
    )
    if ends_at <= starts_at:
        raise UserError("--to must be after --from")
    if ends_at - starts_at > timedelta(days=3 * 366):
        raise UserError("the range is longer than three years: give a shorter --from/--to")
    return starts_at, ends_at


def _shift_json(piece: Piece, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "starts_at": piece.starts_at,
        "ends_at": piece.ends_at,
        "person": person_json(people.get(piece.person_id)) if piece.person_id else None,
        "override_id": piece.override_id,
        "shift_index": piece.shift_index,
    }


@rota.command("shifts")
@click.argument("rotation_ref", metavar="ROTATION")
@click.option("--from", "start", metavar="ISO-8601", help="Default: now.")
@click.option("--to", "end", metavar="ISO-8601", help="Default: 14 days after --from.")
@json_option
@pass_context
def rota_shifts(
    ctx: Context, rotation_ref: str, start: str | None, end: str | None, as_json: bool
) -> None:
    """Shifts in a range, overrides applied (what a calendar shows)."""
    rotation = rotation_of(ctx, rotation_ref)
    starts_at, ends_at = _range(rotation, ctx.clock(), start, end, 14)
    shifts = rotation.shifts(starts_at, ends_at)
    people = rota_service.people_of(ctx, (p.person_id for p in shifts))
    if as_json:
        emit_json([_shift_json(p, people) for p in shifts])
        return
    rows = [
        (
            local_time(piece.starts_at),
            local_time(piece.ends_at),
            rota_service.who_is_on(piece, people),
            f"override {piece.override_id}" if piece.override_id else "",
        )
        for piece in shifts
    ]
    title = f"{rotation.name}: {rotation.describe()} ({timezone.times_label()})"
    print_table(title, ["from", "until", "on duty", ""], rows)


@rota.command("export")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("target", metavar="FILE.ics", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--from", "start", metavar="ISO-8601", help="Default: 30 days ago.")
@click.option("--to", "end", metavar="ISO-8601", help="Default: 180 days after --from.")
@pass_context
def rota_export(
    ctx: Context, rotation_ref: str, target: str, start: str | None, end: str | None
) -> None:
    """Write the rotation's shifts as iCalendar (`-` for standard output)."""
    rotation = rotation_of(ctx, rotation_ref)
    now = ctx.clock()
    default_start = (now - timedelta(days=30)).isoformat()
    starts_at, ends_at = _range(
        rotation, now, start or default_start, end, 210 if not start else 180
    )
    shifts = rotation.shifts(starts_at, ends_at)
    people = rota_service.people_of(ctx, (p.person_id for p in shifts))
    data = rota_service.export_ics(rotation, shifts, people, now)
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(target)
    files.write_bytes(path, data)  # a new path or a regular file, whole or not at all
    events = sum(1 for p in shifts if p.person_id is not None)
    say(f"wrote {events} shifts of {rotation.name} to {path}")


@rota.command("import")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("source", metavar="FILE.ics", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove earlier imported overrides in the file's time span that it no longer has.",
)
@json_option
@pass_context
def rota_import(
    ctx: Context, rotation_ref: str, source: str, dry_run: bool, prune: bool, as_json: bool
) -> None:
    """Import an on-call feed's shifts as overrides: all of the file or nothing.

    People are matched by e-mail, then by name. Re-importing a feed updates the overrides it
    made (by UID) instead of adding them again.
    """
    rotation = rotation_of(ctx, rotation_ref)
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror}") from exc
    result = duty_service.import_feed(ctx, rotation, data, dry_run=dry_run, prune=prune)
    if as_json:
        emit_json(
            {
                "rotation": rotation.name,
                "imported": not dry_run,
                "added": result.counts.added,
                "updated": result.counts.updated,
                "unchanged": result.counts.unchanged,
                "removed": result.counts.removed,
                "skipped_cancelled": result.skipped,
            }
        )
        return
    verb = "would import" if dry_run else "imported"
    say(
        f"{verb} {result.counts.added + result.counts.updated + result.counts.unchanged} "
        f"shifts into {rotation.name}: {result.counts.added} new, {result.counts.updated} "
        f"updated, {result.counts.unchanged} unchanged"
        + (f"; {result.counts.removed} no longer in the feed removed" if prune else "")
        + (f"; {result.skipped} cancelled skipped" if result.skipped else "")
    )


@rota.command("handoffs")
@click.argument("rotation_ref", metavar="ROTATION")
@click.option("--at", "at_text", metavar="ISO-8601", help="From this instant (default: now).")
@click.option("--count", "-n", type=click.IntRange(1, 500), default=5, show_default=True)
@json_option
@pass_context
def rota_handoffs(
    ctx: Context, rotation_ref: str, at_text: str | None, count: int, as_json: bool
) -> None:
    """The next handoffs (changes of who is on duty, overrides included)."""
    rotation = rotation_of(ctx, rotation_ref)
    at = parse_instant(at_text, rotation.zone, "--at") if at_text else ctx.clock()
    handoffs = rotation.handoffs(at, count, within=timedelta(days=3 * 366))
    people = rota_service.people_of(
        ctx, (p for h in handoffs for p in (h.from_person, h.to_person))
    )

    def name(person_id: int | None) -> str:
        if person_id is None:
            return "nobody"
        return people[person_id].name if person_id in people else f"person {person_id}"

    if as_json:
        emit_json(
            [
                {
                    "at": h.at,
                    "from": person_json(people.get(h.from_person)) if h.from_person else None,
                    "to": person_json(people.get(h.to_person)) if h.to_person else None,
                }
                for h in handoffs
            ]
        )
        return
    if not handoffs:
        say(f"{rotation.name}: no handoff in the next three years")
        return
    rows = [(local_time(h.at), name(h.from_person), name(h.to_person)) for h in handoffs]
    title = f"{rotation.name}: next handoffs ({timezone.times_label()})"
    print_table(title, ["at", "from", "to"], rows)


@rota.command("gaps")
@click.argument("rotation_ref", metavar="ROTATION")
@click.option("--at", "at_text", metavar="ISO-8601", help="From this instant (default: now).")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
@json_option
@pass_context
def rota_gaps(
    ctx: Context, rotation_ref: str, at_text: str | None, days: int, as_json: bool
) -> None:
    """Stretches in the next --days with no active person on duty."""
    rotation = rotation_of(ctx, rotation_ref)
    now = parse_instant(at_text, rotation.zone, "--at") if at_text else ctx.clock()
    people = rota_service.people_of(
        ctx, [*rotation.members, *(o.person_id for o in rotation.overrides)]
    )
    active = {p.id for p in people.values() if p.active}
    gaps = rotation.gaps(now, active, timedelta(days=days))
    if as_json:
        emit_json(
            [
                {
                    "starts_at": g.starts_at,
                    "ends_at": g.ends_at,
                    "person": person_json(people.get(g.person_id)) if g.person_id else None,
                    "reason": g.reason,
                }
                for g in gaps
            ]
        )
        return
    if not gaps:
        say(f"{rotation.name}: someone active is on duty throughout the next {days} days")
        return
    rows = [
        (
            local_time(g.starts_at),
            local_time(g.ends_at),
            people[g.person_id].name if g.person_id in people else "",
            g.reason,
        )
        for g in gaps
    ]
    title = f"{rotation.name}: gaps ({timezone.times_label()})"
    print_table(title, ["from", "until", "holder", "why"], rows)
