"""Backups: take one now, list them, restore one."""

from __future__ import annotations

from pathlib import Path

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say
from mim_console.data.backup import list_backups, restore, take_backup
from mim_console.services.context import Context


@main.command()
@click.option("--list", "list_only", is_flag=True, help="List the backups instead of taking one.")
@json_option
@pass_context
def backup(ctx: Context, list_only: bool, as_json: bool) -> None:
    """Take a consistent backup of the database (safe while consoles are running)."""
    folder = ctx.settings.resolved_backup_dir()
    if list_only:
        backups = list_backups(folder)
        if as_json:
            emit_json(
                [{"path": str(b.path), "taken_at": b.taken_at, "size": b.size} for b in backups]
            )
        elif not backups:
            say(f"no backups in {folder}")
        else:
            rows = [(b.taken_at.isoformat(timespec="seconds"), b.size, b.path) for b in backups]
            print_table(f"Backups in {folder}", ["taken (UTC)", "bytes", "file"], rows)
        return
    taken = take_backup(ctx.store, folder, ctx.clock(), keep=ctx.settings.backup_keep)
    if as_json:
        emit_json({"path": str(taken.path), "taken_at": taken.taken_at, "size": taken.size})
    else:
        say(f"backup written: {taken.path} ({taken.size} bytes)")


@main.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def restore_command(ctx: Context, source: Path, yes: bool) -> None:
    """Replace the database's content with a backup (the current one is backed up first)."""
    if not yes:
        click.confirm(f"Replace everything in {ctx.db_path} with {source}?", abort=True, err=True)
    folder = ctx.settings.resolved_backup_dir()
    safety = restore(ctx.store, source, folder, ctx.clock(), keep=ctx.settings.backup_keep)
    say(f"restored {source}; the previous database is kept as {safety.path}")
