"""`mim-console duty` and `mim-console rota …`: who is on duty, rotations and their members.

The rest of `rota` lives beside it and is imported only when chosen (as the top-level commands
are): overrides in ``rota_override.py``, shifts, handoffs, gaps and .ics in ``rota_calendar.py``.
So `mim-console duty` loads this module alone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import click

from mim_console.cli.base import MimGroup, json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say, warn
from mim_console.domain.people import Person
from mim_console.domain.rotation import (
    Rotation,
    RotationRole,
    ShiftUnit,
    check_date,
    parse_handoff_time,
    parse_instant,
    parse_weekday,
    parse_zone,
    shift_length_problem,
)
from mim_console.domain.text import countdown
from mim_console.errors import OutOfRange, UserError
from mim_console.services import duty as duty_service
from mim_console.services import rota as rota_service
from mim_console.services import timezone
from mim_console.services.context import Context


def person_json(person: Person | None) -> dict[str, Any] | None:
    if person is None:
        return None
    return {
        "id": person.id,
        "name": person.name,
        "mobile": person.mobile,
        "email": person.email,
        "active": person.active,
    }


def _on_duty_json(item: duty_service.OnDuty) -> dict[str, Any]:
    return {
        "person": person_json(item.person),
        "since": item.since,
        "until": item.until,
        "deputy": person_json(item.deputy),
        "override": item.override,
        "note": item.note,
    }


def local_time(moment: datetime | None) -> str:
    """An instant of the duty board or a rota table, on the organisation's wall clock (the
    table or line says ``timezone.times_label()`` once): one zone on every screen and table,
    whatever zone a rotation's handoffs are defined in."""
    return timezone.shown(moment, "%a %Y-%m-%d %H:%M", none="—")


def _who(person: Person | None, note: str = "") -> str:
    if person is None:
        return f"nobody ({note})" if note else "nobody"
    return person.name


# --- duty ------------------------------------------------------------------------------------


@main.command("duty")
@click.option("--at", "at_text", metavar="ISO-8601", help="Another instant (default: now).")
@json_option
@pass_context
def duty_command(ctx: Context, at_text: str | None, as_json: bool) -> None:
    """Who is on duty: the duty manager now and next, each party's representative and deputy.

    --at takes 2026-03-29T09:00+03:00, …Z, or a local time in the duty rotation's zone.
    """
    now = ctx.clock()
    duty_rotation = rota_service.duty_rotation(ctx)
    shown = timezone.shown_zone()  # the organisation's: --at is read and times shown in it
    zone = shown if isinstance(shown, ZoneInfo) else ZoneInfo("UTC")
    at = parse_instant(at_text, zone, "--at") if at_text else now
    board = duty_service.load_board(ctx.store, at)
    if as_json:
        emit_json(
            {
                "at": board.at,
                "timezone": board.timezone,
                "duty_manager": _on_duty_json(board.duty_manager),
                "next_duty_manager": _on_duty_json(board.next_duty_manager),
                "seats": [
                    {
                        "party": {"id": seat.party.id, "name": seat.party.name},
                        "source": seat.source,
                        "rotation": seat.rotation,
                        "representative": person_json(seat.holder.person),
                        "deputy": person_json(seat.holder.deputy),
                        "until": seat.holder.until,
                        "override": seat.holder.override,
                        "note": seat.holder.note,
                    }
                    for seat in board.seats
                ],
                "gaps": [
                    {
                        "rotation": item.rotation.name,
                        "starts_at": gap.starts_at,
                        "ends_at": gap.ends_at,
                        "person_id": gap.person_id,
                        "reason": gap.reason,
                    }
                    for item in board.gaps
                    for gap in item.gaps
                ],
                "warnings": list(board.warnings),
            }
        )
        return
    say(f"On duty at {local_time(at)} ({timezone.times_label()})")
    dm = board.duty_manager
    if dm.person is None:
        say(f"Duty manager: {_who(None, dm.note)}")
    else:
        line = f"Duty manager: {dm.person.name} {dm.person.mobile}"
        if dm.override:
            line += " (override)"
        if dm.until is not None:
            line += f", until {local_time(dm.until)} ({countdown(at, dm.until)})"
        say(line)
        if dm.note:
            say(f"  note: {dm.note}")
        say(f"  deputy: {_who(dm.deputy)}" + (f" {dm.deputy.mobile}" if dm.deputy else ""))
    nxt = board.next_duty_manager
    if nxt.person is not None:
        say(f"Next: {nxt.person.name} {nxt.person.mobile}, from {local_time(nxt.since)}")
    elif duty_rotation is not None:
        say(f"Next: {_who(None, nxt.note)}")
    rows = [
        (
            seat.party.name,
            _who(seat.holder.person, seat.holder.note),
            seat.holder.person.mobile if seat.holder.person else "",
            _who(seat.holder.deputy),
            seat.rotation or "fixed order",
            local_time(seat.holder.until),
        )
        for seat in board.seats
    ]
    if rows:
        print_table(
            "MRT seats",
            ["party", "representative", "phone", "deputy", "seat held by", "until"],
            rows,
        )
    for line in board.warnings:
        warn(f"warning: {line}")


# --- rota ------------------------------------------------------------------------------------


@main.group("rota", cls=MimGroup)
def rota() -> None:
    """Duty rotations: create, members, overrides, shifts, iCalendar export and import."""


# subcommand -> the module under mim_console/cli/ that defines it (imported when it runs)
cast(MimGroup, rota).lazy.update(
    {
        name: f"mim_console.cli.{module}"
        for name, module in {
            "override": "rota_override",
            "overrides": "rota_override",
            "shifts": "rota_calendar",
            "export": "rota_calendar",
            "import": "rota_calendar",
            "handoffs": "rota_calendar",
            "gaps": "rota_calendar",
        }.items()
    }
)


def rotation_of(ctx: Context, ref: str) -> Rotation:
    found = rota_service.find_rotation(ctx, ref)
    for problem in found.problems:  # a stored row that cannot be used: named, never a crash
        warn(f"warning: {problem}")
    return found


def _rotation_json(rotation: Rotation, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "id": rotation.id,
        "name": rotation.name,
        "role": rotation.role.value,
        "party_id": rotation.party_id,
        "shift_unit": rotation.shift_unit.value,
        "shift_length": rotation.shift_length,
        "handoff_time": f"{rotation.handoff_time:%H:%M}",
        "handoff_weekday": rotation.handoff_weekday,
        "timezone": rotation.timezone,
        "start_date": rotation.start_date,
        "rule": rotation.describe(),
        "members": [person_json(people.get(m)) or {"id": m} for m in rotation.members],
        "overrides": len(rotation.overrides),
    }


@rota.command("list")
@json_option
@pass_context
def rota_list(ctx: Context, as_json: bool) -> None:
    """Every rotation with its rule and members."""
    rotations = rota_service.list_rotations(ctx)
    people = rota_service.people_of(ctx, (m for r in rotations for m in r.members))
    if as_json:
        emit_json([_rotation_json(r, people) for r in rotations])
        return
    if not rotations:
        say("no rotations yet: `mim-console rota create --help`")
        return
    rows = [
        (
            r.id,
            r.name,
            r.role.value.replace("_", " "),
            r.describe(),
            ", ".join(people[m].name if m in people else str(m) for m in r.members),
            len(r.overrides),
        )
        for r in rotations
    ]
    print_table("Rotations", ["id", "name", "role", "rule", "members", "overrides"], rows)


@rota.command("create")
@click.argument("name")
@click.option(
    "--unit",
    type=click.Choice([u.value for u in ShiftUnit]),
    default="weeks",
    show_default=True,
    help="Shift length unit (days are calendar days).",
)
@click.option(
    "--length",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Shift length: 1..87600 hours, 1..3650 days or 1..520 weeks.",
)
@click.option("--handoff", "handoff", default="09:00", show_default=True, metavar="HH:MM")
@click.option("--weekday", default=None, help="Handoff weekday for weekly shifts (monday…).")
@click.option("--tz", "timezone", required=True, help="IANA zone, e.g. Europe/Helsinki.")
@click.option("--start", "start", default=None, metavar="YYYY-MM-DD", help="Default: today.")
@click.option("--party", "party_ref", default=None, help="Make it this party's seat rotation.")
@click.option("--member", "members", multiple=True, help="A member, in order (repeatable).")
@json_option
@pass_context
def rota_create(
    ctx: Context,
    name: str,
    unit: str,
    length: int,
    handoff: str,
    weekday: str | None,
    timezone: str,
    start: str | None,
    party_ref: str | None,
    members: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a rotation: the duty managers' (default) or a party's seat (--party)."""
    zone = parse_zone(timezone)
    shift_unit = ShiftUnit(unit)
    too_long = shift_length_problem(unit, length, "--length")
    if too_long:
        raise OutOfRange(too_long)
    weekday_number = parse_weekday(weekday)
    if start is None:
        start_date = ctx.clock().astimezone(zone).date()
    else:
        try:
            start_date = date.fromisoformat(start)
        except ValueError as exc:
            raise UserError(f'--start "{start}" is not a date like 2026-03-02') from exc
        check_date(start_date, "--start")
    if shift_unit == ShiftUnit.WEEKS and weekday_number is None:
        weekday_number = start_date.weekday()
    directory = ctx.directory()
    party_id = directory.party(party_ref).id if party_ref else None
    member_ids = [directory.find_person(ref).id for ref in members]
    spec = rota_service.RotationSpec(
        name=name,
        shift_unit=shift_unit,
        shift_length=length,
        handoff_time=parse_handoff_time(handoff),
        timezone=timezone,
        start_date=start_date,
        role=RotationRole.PARTY if party_id is not None else RotationRole.DUTY_MANAGER,
        party_id=party_id,
        handoff_weekday=weekday_number,
    )
    created = rota_service.create_rotation(ctx, spec, member_ids)
    if as_json:
        people = directory.people_by_ids(list(created.members)) if member_ids else {}
        emit_json(_rotation_json(created, people))
    else:
        say(f"created rotation {created.name} (id {created.id}): {created.describe()}")


@rota.command("members")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("people", nargs=-1)
@json_option
@pass_context
def rota_members(ctx: Context, rotation_ref: str, people: tuple[str, ...], as_json: bool) -> None:
    """Show the members, or set their order: `rota members Duty aino eve bob`."""
    directory = ctx.directory()
    rotation = rotation_of(ctx, rotation_ref)
    if people:
        ids = [directory.find_person(ref).id for ref in people]
        rotation = rota_service.set_members(ctx, rotation.id, ids)
    found: dict[int, Person] = (
        directory.people_by_ids(list(rotation.members)) if rotation.members else {}
    )
    if as_json:
        emit_json([person_json(found.get(m)) or {"id": m} for m in rotation.members])
        return
    rows = [
        (
            i + 1,
            found[m].name if m in found else m,
            found[m].mobile if m in found else "",
            "" if m in found and found[m].active else "INACTIVE",
        )
        for i, m in enumerate(rotation.members)
    ]
    print_table(f"{rotation.name}: members in order", ["#", "name", "mobile", ""], rows)


@rota.command("delete")
@click.argument("rotation_ref", metavar="ROTATION")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
@pass_context
def rota_delete(ctx: Context, rotation_ref: str, yes: bool) -> None:
    """Delete a rotation with its members and overrides (e.g. a broken one, to create anew)."""
    from mim_console.cli.output import confirm

    rotation = rotation_of(ctx, rotation_ref)
    if not yes:
        confirm(
            f"Delete rotation {rotation.name} with its {len(rotation.overrides)} override(s)?",
            "not deleted (--yes deletes without asking)",
        )
    rota_service.delete_rotation(ctx, rotation.id)
    say(f"deleted rotation {rotation.name} (id {rotation.id})")
