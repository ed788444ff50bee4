"""Directory commands: people, parties, specialist groups; CSV import and export.

``import`` and ``export`` are groups so other record kinds can join them
(``@import_group.command("…")``).
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say, warn
from mim_console.domain.people import Party, Person, SpecialistGroup
from mim_console.domain.text import printable
from mim_console.services.context import Context
from mim_console.services.people import export_people_csv, import_people_csv
from mim_console.services.timezone import shown, times_label


def person_json(
    p: Person, parties: dict[int, str], groups: list[SpecialistGroup]
) -> dict[str, Any]:
    return {
        "id": p.id,
        "ext_id": p.ext_id,
        "name": p.name,
        "mobile": p.mobile,
        "phone2": p.phone2,
        "email": p.email,
        "title": p.title,
        "party_id": p.party_id,
        "party": parties.get(p.party_id) if p.party_id is not None else None,
        "decision_authority": p.decision_authority,
        "active": p.active,
        "notes": p.notes,
        "verified_at": p.verified_at.isoformat() if p.verified_at else None,
        "groups": [g.name for g in groups if p.id in g.members],
    }


def _member_json(p: Person) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "mobile": p.mobile,
        "decision_authority": p.decision_authority,
        "active": p.active,
    }


def _names(ids: tuple[int, ...], people: dict[int, Person]) -> str:
    shown = []
    for pid in ids:
        p = people.get(pid)
        if p is not None:
            shown.append(p.name + ("" if p.active else " (inactive)"))
    return ", ".join(shown)


# --- listings ----------------------------------------------------------------------------------


@main.command("people")
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include inactive people.")
@pass_context
def people_cmd(ctx: Context, as_json: bool, show_all: bool) -> None:
    """List people (active ones unless --all)."""
    directory = ctx.directory()
    people = directory.people(active_only=not show_all)
    parties = {p.id: p.name for p in directory.parties()}
    groups = directory.groups()
    if as_json:
        emit_json([person_json(p, parties, groups) for p in people])
        return
    print_table(
        f"People ({len(people)})",
        ["id", "name", "mobile", "phone2", "email", "party", "title", "authority", "active"],
        [
            [
                p.id,
                p.name,
                p.mobile,
                p.phone2 or "",
                p.email or "",
                parties.get(p.party_id, "") if p.party_id is not None else "",
                p.title,
                "yes" if p.decision_authority else "",
                "yes" if p.active else "NO",
            ]
            for p in people
        ],
    )


def party_json(party: Party, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "id": party.id,
        "name": party.name,
        "description": party.description,
        "representatives": [_member_json(people[i]) for i in party.representatives if i in people],
    }


def group_json(group: SpecialistGroup, people: dict[int, Person]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "categories": list(group.categories),
        "description": group.description,
        "members": [_member_json(people[i]) for i in group.members if i in people],
    }


@main.command("parties")
@json_option
@pass_context
def parties_cmd(ctx: Context, as_json: bool) -> None:
    """List parties and their MRT representatives (primary first, then deputies)."""
    directory = ctx.directory()
    parties = directory.parties()
    people = directory.people_by_ids(i for p in parties for i in p.representatives)
    if as_json:
        emit_json([party_json(p, people) for p in parties])
        return
    print_table(
        f"Parties ({len(parties)})",
        ["id", "name", "primary", "deputies"],
        [
            [
                p.id,
                p.name,
                _names(p.representatives[:1], people),
                _names(p.representatives[1:], people),
            ]
            for p in parties
        ],
    )


@main.command("groups")
@json_option
@pass_context
def groups_cmd(ctx: Context, as_json: bool) -> None:
    """List specialist groups, their categories and members in call order."""
    directory = ctx.directory()
    groups = directory.groups()
    people = directory.people_by_ids(i for g in groups for i in g.members)
    if as_json:
        emit_json([group_json(g, people) for g in groups])
        return
    print_table(
        f"Specialist groups ({len(groups)})",
        ["id", "name", "categories", "members (call order)"],
        [[g.id, g.name, ", ".join(g.categories), _names(g.members, people)] for g in groups],
    )


# --- person ------------------------------------------------------------------------------------


@main.group("person")
def person_group() -> None:
    """Add, edit, show or deactivate one person."""


def _party_ref(ctx: Context, ref: str | None) -> int | None:
    if ref is None or not ref.strip():
        return None
    return ctx.directory().party(ref).id


def _show_person(ctx: Context, person: Person, as_json: bool, verb: str) -> None:
    directory = ctx.directory()
    parties = {p.id: p.name for p in directory.parties()}
    if as_json:
        emit_json(person_json(person, parties, directory.groups()))
    else:
        say(f"{verb} {person.name} (id {person.id}, mobile {person.mobile})")


@person_group.command("add")
@click.argument("name")
@click.option("--mobile", required=True, help="Mobile number; national numbers use default_region.")
@click.option("--phone2", default=None, help="Optional second phone.")
@click.option("--email", default=None)
@click.option("--id", "ext_id", default=None, help="The organisation's stable id (CSV `id`).")
@click.option("--party", default=None, help="Party name or id.")
@click.option("--title", default="")
@click.option("--authority/--no-authority", default=False, help="Has decision authority.")
@click.option("--notes", default="")
@json_option
@pass_context
def person_add(
    ctx: Context,
    name: str,
    mobile: str,
    phone2: str | None,
    email: str | None,
    ext_id: str | None,
    party: str | None,
    title: str,
    authority: bool,
    notes: str,
    as_json: bool,
) -> None:
    """Add a person."""
    directory = ctx.directory()
    person = directory.add_person(
        name=name,
        mobile=mobile,
        phone2=phone2,
        email=email,
        ext_id=ext_id,
        title=title,
        party_id=_party_ref(ctx, party),
        decision_authority=authority,
        notes=notes,
    )
    _show_person(ctx, person, as_json, "added")


@person_group.command("edit")
@click.argument("person")
@click.option("--name", default=None)
@click.option("--mobile", default=None)
@click.option("--phone2", default=None, help='Second phone ("" clears it).')
@click.option("--email", default=None, help='Email ("" clears it).')
@click.option("--id", "ext_id", default=None, help='Stable id ("" clears it).')
@click.option("--party", default=None, help='Party name or id ("" clears it).')
@click.option("--title", default=None)
@click.option("--authority/--no-authority", default=None, help="Decision authority.")
@click.option("--active/--inactive", default=None)
@click.option("--notes", default=None)
@json_option
@pass_context
def person_edit(ctx: Context, person: str, as_json: bool, **options: Any) -> None:
    """Change only the given fields of PERSON (a name, email, id or #id)."""
    directory = ctx.directory()
    target = directory.find_person(person)
    changes: dict[str, Any] = {}
    for option, key in (
        ("name", "name"),
        ("mobile", "mobile"),
        ("phone2", "phone2"),
        ("email", "email"),
        ("ext_id", "ext_id"),
        ("title", "title"),
        ("authority", "decision_authority"),
        ("active", "active"),
        ("notes", "notes"),
    ):
        if options[option] is not None:
            changes[key] = options[option]
    if options["party"] is not None:
        changes["party_id"] = _party_ref(ctx, options["party"])
    if not changes:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    _show_person(ctx, directory.update_person(target.id, **changes), as_json, "saved")


@person_group.command("deactivate")
@click.argument("person")
@json_option
@pass_context
def person_deactivate(ctx: Context, person: str, as_json: bool) -> None:
    """Keep PERSON on record but never alert them (seats and call orders skip them)."""
    directory = ctx.directory()
    target = directory.find_person(person)
    _show_person(ctx, directory.deactivate_person(target.id), as_json, "deactivated")


@person_group.command("show")
@click.argument("person")
@json_option
@pass_context
def person_show(ctx: Context, person: str, as_json: bool) -> None:
    """Show one person."""
    directory = ctx.directory()
    p = directory.find_person(person)
    if as_json:
        _show_person(ctx, p, True, "")
        return
    parties = {x.id: x.name for x in directory.parties()}
    groups = [g.name for g in directory.groups() if p.id in g.members]
    print_table(
        p.name,
        ["field", "value"],
        [
            ["id", p.id],
            ["stable id", p.ext_id or ""],
            ["mobile", p.mobile],
            ["phone2", p.phone2 or ""],
            ["email", p.email or ""],
            ["party", parties.get(p.party_id, "") if p.party_id is not None else ""],
            ["title", p.title],
            ["decision authority", "yes" if p.decision_authority else "no"],
            ["active", "yes" if p.active else "no"],
            ["groups", ", ".join(groups)],
            ["verified", f"{shown(p.verified_at)} ({times_label()})" if p.verified_at else "never"],
            ["notes", p.notes],
        ],
    )


# --- party and group ---------------------------------------------------------------------------


@main.group("party")
def party_group() -> None:
    """Add a party or set its MRT representatives."""


@party_group.command("add")
@click.argument("name")
@click.option("--description", default="")
@json_option
@pass_context
def party_add(ctx: Context, name: str, description: str, as_json: bool) -> None:
    """Add a party (a business unit, IT operations, a vendor…) with an empty MRT seat."""
    party = ctx.directory().add_party(name, description)
    if as_json:
        emit_json(party_json(party, {}))
    else:
        say(f"added party {party.name} (id {party.id})")


@party_group.command("set-reps")
@click.argument("party")
@click.argument("people", nargs=-1, required=True)
@json_option
@pass_context
def party_set_reps(ctx: Context, party: str, people: tuple[str, ...], as_json: bool) -> None:
    """Set PARTY's representatives in order: the first is the primary, the rest deputies."""
    directory = ctx.directory()
    target = directory.party(party)
    ids = [directory.find_person(ref).id for ref in people]
    updated = directory.set_representatives(target.id, ids)
    found = directory.people_by_ids(updated.representatives)
    if as_json:
        emit_json(party_json(updated, found))
    else:
        say(f"{updated.name}: {_names(updated.representatives, found)}")
    for pid in updated.representatives:
        if not found[pid].decision_authority:
            warn(f"note: {found[pid].name} has no decision authority")
        if not found[pid].active:
            warn(f"note: {found[pid].name} is inactive and will be skipped")


@main.group("group")
def group_group() -> None:
    """Add a specialist group or set its categories and members."""


@group_group.command("add")
@click.argument("name")
@click.option("--category", "categories", multiple=True, help="A category it covers (repeat).")
@click.option("--description", default="")
@json_option
@pass_context
def group_add(
    ctx: Context, name: str, categories: tuple[str, ...], description: str, as_json: bool
) -> None:
    """Add a specialist group covering the given categories."""
    group = ctx.directory().add_group(name, categories, description)
    if not group.categories:
        warn("note: no --category given: declaring an incident will never suggest this group")
    if as_json:
        emit_json(group_json(group, {}))
    else:
        say(f"added group {group.name} (id {group.id}): {', '.join(group.categories)}")


@group_group.command("set-categories")
@click.argument("group")
@click.argument("categories", nargs=-1, required=True)
@json_option
@pass_context
def group_set_categories(
    ctx: Context, group: str, categories: tuple[str, ...], as_json: bool
) -> None:
    """Replace the categories GROUP covers."""
    directory = ctx.directory()
    updated = directory.set_group_categories(directory.group(group).id, categories)
    if as_json:
        emit_json(group_json(updated, directory.people_by_ids(updated.members)))
    else:
        say(f"{updated.name}: {', '.join(updated.categories)}")


@group_group.command("set-members")
@click.argument("group")
@click.argument("people", nargs=-1, required=True)
@json_option
@pass_context
def group_set_members(ctx: Context, group: str, people: tuple[str, ...], as_json: bool) -> None:
    """Set GROUP's members in call order."""
    directory = ctx.directory()
    target = directory.group(group)
    ids = [directory.find_person(ref).id for ref in people]
    updated = directory.set_group_members(target.id, ids)
    found = directory.people_by_ids(updated.members)
    if as_json:
        emit_json(group_json(updated, found))
    else:
        say(f"{updated.name}: {_names(updated.members, found)}")


# --- CSV -------------------------------------------------------------------------------------


@main.group("import")
def import_group() -> None:
    """Import records from files."""


@import_group.command("people")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Check and report, change nothing.")
@json_option
@pass_context
def import_people_cmd(ctx: Context, file: BinaryIO, dry_run: bool, as_json: bool) -> None:
    """Import people from a CSV FILE ("-" for stdin); see README "CSV format".

    Bad lines are reported as `line N: reason` on stderr and skipped; the rest is imported in
    one transaction. Exit status 1 if any line was rejected.
    """
    report = import_people_csv(ctx, file.read(), dry_run=dry_run)
    # One unwrapped line each, so `line N: reason` stays greppable.
    for rejected in report.rejected:
        click.echo(printable(str(rejected)), err=True)
    for note in report.notes:
        click.echo(printable(f"note: {note}"), err=True)
    if as_json:
        emit_json({**report.as_dict(), "dry_run": dry_run})
    else:
        would = "would import" if dry_run else "imported"
        summary = (
            f"{would} {report.imported} people ({report.added} added, {report.updated} updated, "
            f"{report.unchanged} unchanged)"
        )
        if report.rejected:
            summary += f"; {len(report.rejected)} line(s) rejected"
        say(summary)
    if report.rejected:
        click.get_current_context().exit(1)


@main.group("export")
def export_group() -> None:
    """Export records to files."""


@export_group.command("people")
@click.option("--delimiter", type=click.Choice([",", ";"]), default=",", show_default=True)
@pass_context
def export_people_cmd(ctx: Context, delimiter: str) -> None:
    """Write everyone (inactive too) as CSV on stdout, in the format `import people` reads."""
    for p in ctx.directory().people():
        if not p.ext_id and not p.email:
            warn(
                f"note: {p.name} (id {p.id}) has neither id nor email: "
                "a re-import will skip them; give them one"
            )
    text = export_people_csv(ctx, delimiter=delimiter)
    # Redirected, the file is exact; on a terminal, ESC bytes in names must not act on it.
    sys.stdout.write(printable(text) if sys.stdout.isatty() else text)
