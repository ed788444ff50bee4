"""`mim-console rota override add|remove` and `rota overrides`: one person covers a stretch."""

from __future__ import annotations

from typing import Any

import click

from mim_console.cli.base import ROW_NUMBER, json_option, pass_context
from mim_console.cli.output import emit_json, print_table, say, warn
from mim_console.cli.rota import local_time, person_json, rota, rotation_of
from mim_console.domain.people import Person
from mim_console.domain.rotation import parse_instant
from mim_console.errors import UserError
from mim_console.services import rota as rota_service
from mim_console.services import timezone
from mim_console.services.context import Context


@rota.group("override")
def override_group() -> None:
    """Add or remove an override: one person covers a stretch of time."""


@override_group.command("add")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("person_ref", metavar="PERSON")
@click.option("--from", "start", required=True, metavar="ISO-8601")
@click.option("--to", "end", required=True, metavar="ISO-8601")
@click.option("--reason", default="", help="Holiday, swap, …")
@json_option
@pass_context
def override_add(
    ctx: Context,
    rotation_ref: str,
    person_ref: str,
    start: str,
    end: str,
    reason: str,
    as_json: bool,
) -> None:
    """PERSON covers ROTATION from --from until --to (local times read in the rotation's zone)."""
    rotation = rotation_of(ctx, rotation_ref)
    person = ctx.directory().find_person(person_ref)
    starts_at = parse_instant(start, rotation.zone, "--from")
    ends_at = parse_instant(end, rotation.zone, "--to")
    if ends_at <= starts_at:
        raise UserError(f"--to ({end}) must be after --from ({start})")
    added = rota_service.add_override(ctx, rotation.id, person.id, starts_at, ends_at, reason)
    if as_json:
        emit_json(_override_json(added, {person.id: person}))
    else:
        say(
            f"override {added.id}: {person.name} covers {rotation.name} from "
            f"{local_time(starts_at)} until {local_time(ends_at)} ({timezone.times_label()})"
        )
        if not person.active:
            warn(f"warning: {person.name} is inactive: the stretch is a gap")
        for other in rotation.overrides:
            if other.starts_at < ends_at and starts_at < other.ends_at:
                warn(
                    f"note: overlaps override {other.id} "
                    f"({local_time(other.starts_at)} – "
                    f"{local_time(other.ends_at)}); the newer one, {added.id}, wins "
                    "where they overlap"
                )


@override_group.command("remove")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("override_id", type=ROW_NUMBER)
@pass_context
def override_remove(ctx: Context, rotation_ref: str, override_id: int) -> None:
    """Remove override OVERRIDE_ID (see `rota overrides`)."""
    rotation = rotation_of(ctx, rotation_ref)
    removed = rota_service.remove_override(ctx, rotation.id, override_id)
    say(
        f"removed override {removed.id} ({local_time(removed.starts_at)} – "
        f"{local_time(removed.ends_at)}, {timezone.times_label()})"
    )


def _override_json(o: Any, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "id": o.id,
        "person": person_json(people.get(o.person_id)) or {"id": o.person_id},
        "starts_at": o.starts_at,
        "ends_at": o.ends_at,
        "reason": o.reason,
        "source_uid": o.source_uid,
    }


@rota.command("overrides")
@click.argument("rotation_ref", metavar="ROTATION")
@click.option("--all", "show_all", is_flag=True, help="Past ones too.")
@json_option
@pass_context
def rota_overrides(ctx: Context, rotation_ref: str, show_all: bool, as_json: bool) -> None:
    """The rotation's overrides that have not ended (all with --all)."""
    rotation = rotation_of(ctx, rotation_ref)
    now = ctx.clock()
    items = [o for o in rotation.overrides if show_all or o.ends_at > now]
    people = rota_service.people_of(ctx, (o.person_id for o in items))
    if as_json:
        emit_json([_override_json(o, people) for o in items])
        return
    if not items:
        say(f"{rotation.name}: no overrides" + ("" if show_all else " now or ahead"))
        return
    rows = [
        (
            o.id,
            people[o.person_id].name if o.person_id in people else o.person_id,
            local_time(o.starts_at),
            local_time(o.ends_at),
            o.reason or (f"imported {o.source_uid}" if o.source_uid else ""),
        )
        for o in items
    ]
    title = f"{rotation.name}: overrides ({timezone.times_label()})"
    print_table(title, ["id", "who", "from", "until", "reason"], rows)
