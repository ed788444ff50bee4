"""Backups: take one now, list them, restore one."""

from __future__ import annotations

from pathlib import Path

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import confirm, emit_json, print_table, say
from mim_console.errors import UserError
from mim_console.services import backups as backup_service
from mim_console.services import timezone
from mim_console.services.context import Context


@main.command()
@click.option("--list", "list_only", is_flag=True, help="List the backups instead of taking one.")
@json_option
@pass_context
def backup(ctx: Context, list_only: bool, as_json: bool) -> None:
    """Take a consistent backup of the database (safe while consoles are running)."""
    folder = ctx.settings.resolved_backup_dir()
    if list_only:
        backups = backup_service.backups(ctx)
        if as_json:
            emit_json(
                [{"path": str(b.path), "taken_at": b.taken_at, "size": b.size} for b in backups]
            )
        else:
            if not backups:
                say(f"no backups in {folder}")
            else:
                rows = [
                    (timezone.shown(b.taken_at, "%Y-%m-%d %H:%M:%S"), b.size, b.path)
                    for b in backups
                ]
                title = f"Backups in {folder} ({timezone.times_label()})"
                print_table(title, ["taken", "bytes", "file"], rows)
            say(_schedule_words(ctx))
        return
    taken = backup_service.take_now(ctx)
    if as_json:
        emit_json({"path": str(taken.path), "taken_at": taken.taken_at, "size": taken.size})
    else:
        say(f"backup written: {taken.path} ({taken.size} bytes)")
        say(_schedule_words(ctx))


def _schedule_words(ctx: Context) -> str:
    """Where backups go and when, so nobody has to guess before they need one."""
    every = ctx.settings.backup_every
    keep = ctx.settings.backup_keep
    folder = ctx.settings.resolved_backup_dir().absolute()
    when = (
        "scheduled backups are off (backup_every_hours = 0)"
        if every is None
        else f"a backup every {every.total_seconds() / 3600:g} h while a console, "
        "`mim-console dispatch` or `mim-console watch` runs"
    )
    return f"{when}, and one after every incident close; the newest {keep} are kept in {folder}"


BACKUP_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".bak")


def _names_a_file(target: str) -> bool:
    """`restore` takes a backup file or an incident: a path, or anything that exists, is a file."""
    path = Path(target)
    return path.exists() or path.suffix.lower() in BACKUP_SUFFIXES or "/" in target


@main.command("restore")
@click.argument("target", metavar="FILE|INCIDENT")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (database restore).")
@pass_context
def restore_command(ctx: Context, target: str, yes: bool) -> None:
    """Restore the database from a backup FILE (the current one is backed up first), or mark
    an INCIDENT's service restored (business as usual; the incident stays open until close)."""
    if not _names_a_file(target):
        from mim_console.errors import NotFound
        from mim_console.services.incidents import IncidentService

        try:
            inc = IncidentService(ctx).restore(target)
        except NotFound as exc:
            raise UserError(
                f"{exc}; and {target} is not a file either: `mim-console restore FILE` takes a "
                "backup (`mim-console backup --list` lists them)"
            ) from exc
        say(f"{inc.code} restored")
        return
    source = Path(target)
    backup_service.check_backup(source)  # before asking: a bad backup is refused at once
    if not yes:
        confirm(
            f"Replace everything in {ctx.db_path} with {source}?",
            "nothing restored (--yes restores without asking)",
        )
    done = backup_service.restore_database(ctx, source)
    if done.damaged:
        say(f"restored {source}; the damaged database is kept as {done.kept}")
    else:
        say(f"restored {source}; the previous database is kept as {done.kept}")
