"""`mim-console duty` and `mim-console rota …`: who is on duty, rotations, overrides, .ics."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from mim_console.cli.base import ROW_NUMBER, json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say, warn
from mim_console.data import rotations as repo
from mim_console.data.directory import Directory
from mim_console.domain.people import Person
from mim_console.domain.rotation import (
    Piece,
    Rotation,
    RotationRole,
    ShiftUnit,
    parse_handoff_time,
    parse_instant,
    parse_weekday,
    parse_zone,
)
from mim_console.errors import UserError
from mim_console.services import duty as duty_service
from mim_console.services.context import Context

UTC_ZONE = ZoneInfo("UTC")


def _directory(ctx: Context) -> Directory:
    return Directory(ctx.store, default_region=ctx.settings.default_region, clock=ctx.clock)


def _person_json(person: Person | None) -> dict[str, Any] | None:
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
        "person": _person_json(item.person),
        "since": item.since,
        "until": item.until,
        "deputy": _person_json(item.deputy),
        "override": item.override,
        "note": item.note,
    }


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _countdown(now: datetime, until: datetime) -> str:
    minutes = max(0, int((until - now).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {mins:02d}m"
    return f"in {mins}m"


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
    with ctx.store.read() as db:
        duty_rotation = repo.duty_manager_rotation(db)
    zone = duty_rotation.zone if duty_rotation else UTC_ZONE
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
                        "representative": _person_json(seat.holder.person),
                        "deputy": _person_json(seat.holder.deputy),
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
    dm = board.duty_manager
    if dm.person is None:
        say(f"Duty manager: {_who(None, dm.note)}")
    else:
        line = f"Duty manager: {dm.person.name} {dm.person.mobile}"
        if dm.override:
            line += " (override)"
        if dm.until is not None:
            line += f", until {_local(dm.until, zone)} ({_countdown(at, dm.until)})"
        say(line)
        if dm.note:
            say(f"  note: {dm.note}")
        say(f"  deputy: {_who(dm.deputy)}" + (f" {dm.deputy.mobile}" if dm.deputy else ""))
    nxt = board.next_duty_manager
    if nxt.person is not None:
        say(f"Next: {nxt.person.name} {nxt.person.mobile}, from {_local(nxt.since, zone)}")
    elif duty_rotation is not None:
        say(f"Next: {_who(None, nxt.note)}")
    rows = [
        (
            seat.party.name,
            _who(seat.holder.person, seat.holder.note),
            seat.holder.person.mobile if seat.holder.person else "",
            _who(seat.holder.deputy),
            seat.rotation or "fixed order",
            _local(seat.holder.until, zone) if seat.holder.until else "",
        )
        for seat in board.seats
    ]
    if rows:
        print_table(
            f"MRT seats at {_local(at, zone)}",
            ["party", "representative", "phone", "deputy", "seat held by", "until"],
            rows,
        )
    for line in board.warnings:
        warn(f"warning: {line}")


# --- rota ------------------------------------------------------------------------------------


@main.group("rota")
def rota() -> None:
    """Duty rotations: create, members, overrides, shifts, iCalendar export and import."""


def _rotation(ctx: Context, ref: str) -> Rotation:
    with ctx.store.read() as db:
        return repo.find_rotation(db, ref)


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
        "members": [_person_json(people.get(m)) or {"id": m} for m in rotation.members],
        "overrides": len(rotation.overrides),
    }


@rota.command("list")
@json_option
@pass_context
def rota_list(ctx: Context, as_json: bool) -> None:
    """Every rotation with its rule and members."""
    with ctx.store.read() as db:
        rotations = repo.list_rotations(db)
    wanted = sorted({m for r in rotations for m in r.members})
    people: dict[int, Person] = _directory(ctx).people_by_ids(wanted) if wanted else {}
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
@click.option("--length", type=click.IntRange(min=1), default=1, show_default=True)
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
    weekday_number = parse_weekday(weekday)
    if start is None:
        start_date = ctx.clock().astimezone(zone).date()
    else:
        try:
            start_date = date.fromisoformat(start)
        except ValueError as exc:
            raise UserError(f'--start "{start}" is not a date like 2026-03-02') from exc
    if shift_unit == ShiftUnit.WEEKS and weekday_number is None:
        weekday_number = start_date.weekday()
    directory = _directory(ctx)
    party_id = directory.party(party_ref).id if party_ref else None
    member_ids = [directory.find_person(ref).id for ref in members]
    spec = repo.RotationSpec(
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
    with ctx.store.write() as db:
        created = repo.create_rotation(db, spec, member_ids)
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
    directory = _directory(ctx)
    rotation = _rotation(ctx, rotation_ref)
    if people:
        ids = [directory.find_person(ref).id for ref in people]
        with ctx.store.write() as db:
            rotation = repo.set_members(db, rotation.id, ids)
    found: dict[int, Person] = (
        directory.people_by_ids(list(rotation.members)) if rotation.members else {}
    )
    if as_json:
        emit_json([_person_json(found.get(m)) or {"id": m} for m in rotation.members])
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
    rotation = _rotation(ctx, rotation_ref)
    person = _directory(ctx).find_person(person_ref)
    starts_at = parse_instant(start, rotation.zone, "--from")
    ends_at = parse_instant(end, rotation.zone, "--to")
    if ends_at <= starts_at:
        raise UserError(f"--to ({end}) must be after --from ({start})")
    with ctx.store.write() as db:
        added = repo.add_override(db, rotation.id, person.id, starts_at, ends_at, reason)
    if as_json:
        emit_json(_override_json(added, {person.id: person}))
    else:
        say(
            f"override {added.id}: {person.name} covers {rotation.name} from "
            f"{_local(starts_at, rotation.zone)} until {_local(ends_at, rotation.zone)}"
        )
        if not person.active:
            warn(f"warning: {person.name} is inactive: the stretch is a gap")
        for other in rotation.overrides:
            if other.starts_at < ends_at and starts_at < other.ends_at:
                warn(
                    f"note: overlaps override {other.id} "
                    f"({_local(other.starts_at, rotation.zone)} – "
                    f"{_local(other.ends_at, rotation.zone)}); the newer one, {added.id}, wins "
                    "where they overlap"
                )


@override_group.command("remove")
@click.argument("rotation_ref", metavar="ROTATION")
@click.argument("override_id", type=ROW_NUMBER)
@pass_context
def override_remove(ctx: Context, rotation_ref: str, override_id: int) -> None:
    """Remove override OVERRIDE_ID (see `rota overrides`)."""
    rotation = _rotation(ctx, rotation_ref)
    with ctx.store.write() as db:
        removed = repo.remove_override(db, rotation.id, override_id)
    say(
        f"removed override {removed.id} ({_local(removed.starts_at, rotation.zone)} – "
        f"{_local(removed.ends_at, rotation.zone)})"
    )


def _override_json(o: Any, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "id": o.id,
        "person": _person_json(people.get(o.person_id)) or {"id": o.person_id},
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
    rotation = _rotation(ctx, rotation_ref)
    now = ctx.clock()
    items = [o for o in rotation.overrides if show_all or o.ends_at > now]
    wanted = sorted({o.person_id for o in items})
    people: dict[int, Person] = _directory(ctx).people_by_ids(wanted) if wanted else {}
    if as_json:
        emit_json([_override_json(o, people) for o in items])
        return
    if not items:
        say(f"{rotation.name}: no overrides" + ("" if show_all else " now or ahead"))
        return
    zone = rotation.zone
    rows = [
        (
            o.id,
            people[o.person_id].name if o.person_id in people else o.person_id,
            _local(o.starts_at, zone),
            _local(o.ends_at, zone),
            o.reason or (f"imported {o.source_uid}" if o.source_uid else ""),
        )
        for o in items
    ]
    print_table(f"{rotation.name}: overrides", ["id", "who", "from", "until", "reason"], rows)


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
        "person": _person_json(people.get(piece.person_id)) if piece.person_id else None,
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
    rotation = _rotation(ctx, rotation_ref)
    starts_at, ends_at = _range(rotation, ctx.clock(), start, end, 14)
    shifts = rotation.shifts(starts_at, ends_at)
    wanted = sorted({p.person_id for p in shifts if p.person_id is not None})
    people: dict[int, Person] = _directory(ctx).people_by_ids(wanted) if wanted else {}
    if as_json:
        emit_json([_shift_json(p, people) for p in shifts])
        return
    zone = rotation.zone
    rows = []
    for piece in shifts:
        person = people.get(piece.person_id) if piece.person_id is not None else None
        if piece.person_id is None:
            who = "NOBODY ON DUTY"
        elif person is None:
            who = f"person {piece.person_id}"
        else:
            who = person.name + ("" if person.active else " (INACTIVE)")
        rows.append(
            (
                _local(piece.starts_at, zone),
                _local(piece.ends_at, zone),
                who,
                f"override {piece.override_id}" if piece.override_id else "",
            )
        )
    print_table(f"{rotation.name}: {rotation.describe()}", ["from", "until", "on duty", ""], rows)


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
    from mim_console.data import ics  # only here: `mim-console duty` need not load icalendar

    rotation = _rotation(ctx, rotation_ref)
    now = ctx.clock()
    default_start = (now - timedelta(days=30)).isoformat()
    starts_at, ends_at = _range(
        rotation, now, start or default_start, end, 210 if not start else 180
    )
    shifts = rotation.shifts(starts_at, ends_at)
    wanted = sorted({p.person_id for p in shifts if p.person_id is not None})
    people: dict[int, Person] = _directory(ctx).people_by_ids(wanted) if wanted else {}
    data = ics.export_rotation(rotation, shifts, people, now)
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(target)
    temp = path.with_name(path.name + ".part")
    try:
        temp.write_bytes(data)
        temp.replace(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from exc
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
    rotation = _rotation(ctx, rotation_ref)
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror}") from exc
    result = duty_service.import_feed(ctx.store, rotation, data, dry_run=dry_run, prune=prune)
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
    rotation = _rotation(ctx, rotation_ref)
    at = parse_instant(at_text, rotation.zone, "--at") if at_text else ctx.clock()
    handoffs = rotation.handoffs(at, count, within=timedelta(days=3 * 366))
    wanted = sorted({p for h in handoffs for p in (h.from_person, h.to_person) if p is not None})
    people: dict[int, Person] = _directory(ctx).people_by_ids(wanted) if wanted else {}

    def name(person_id: int | None) -> str:
        if person_id is None:
            return "nobody"
        return people[person_id].name if person_id in people else f"person {person_id}"

    if as_json:
        emit_json(
            [
                {
                    "at": h.at,
                    "from": _person_json(people.get(h.from_person)) if h.from_person else None,
                    "to": _person_json(people.get(h.to_person)) if h.to_person else None,
                }
                for h in handoffs
            ]
        )
        return
    if not handoffs:
        say(f"{rotation.name}: no handoff in the next three years")
        return
    rows = [(_local(h.at, rotation.zone), name(h.from_person), name(h.to_person)) for h in handoffs]
    print_table(f"{rotation.name}: next handoffs", ["at", "from", "to"], rows)


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
    rotation = _rotation(ctx, rotation_ref)
    now = parse_instant(at_text, rotation.zone, "--at") if at_text else ctx.clock()
    directory = _directory(ctx)
    wanted = sorted(set(rotation.members) | {o.person_id for o in rotation.overrides})
    people: dict[int, Person] = directory.people_by_ids(wanted) if wanted else {}
    active = {p.id for p in people.values() if p.active}
    gaps = rotation.gaps(now, active, timedelta(days=days))
    if as_json:
        emit_json(
            [
                {
                    "starts_at": g.starts_at,
                    "ends_at": g.ends_at,
                    "person": _person_json(people.get(g.person_id)) if g.person_id else None,
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
            _local(g.starts_at, rotation.zone),
            _local(g.ends_at, rotation.zone),
            people[g.person_id].name if g.person_id in people else "",
            g.reason,
        )
        for g in gaps
    ]
    print_table(f"{rotation.name}: gaps", ["from", "until", "holder", "why"], rows)
