"""Commands about the installation itself: config and database paths, schema version."""

from __future__ import annotations

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, say
from mim_console.config import default_config_path
from mim_console.services.context import Context


@main.group()
def config() -> None:
    """Where the settings live."""


@config.command("path")
def config_path() -> None:
    """Print the config file's path (it need not exist)."""
    click.echo(str(default_config_path()))


@main.command()
@json_option
@pass_context
def info(ctx: Context, as_json: bool) -> None:
    """Show the database in use, its schema version and whether Twilio is configured."""
    twilio = ctx.settings.twilio
    data = {
        "database": str(ctx.db_path),
        "schema": ctx.store.schema_version,
        "config": str(default_config_path()),
        "twilio_configured": twilio.configured,
        "twilio_missing": twilio.missing(),
        "twilio_api_url": twilio.api_url or None,
        **_backup_info(ctx),
        **_replica_info(ctx),
    }
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        say(f"{key}: {value}")


def _backup_info(ctx: Context) -> dict[str, object]:
    """Where backups go, how often, and the newest one: worth knowing before it is needed."""
    from mim_console.services.backups import newest

    folder = ctx.settings.resolved_backup_dir()
    latest = newest(ctx)
    return {
        "backup_dir": str(folder),
        "backup_every_hours": ctx.settings.backup_every_hours,
        "backup_keep": ctx.settings.backup_keep,
        "latest_backup": str(latest.path) if latest else None,
        "latest_backup_at": latest.taken_at.isoformat() if latest else None,
    }


def _replica_info(ctx: Context) -> dict[str, object]:
    """Two sites (docs/sites.md): the replica, who replicates and how far behind, or, on a
    standby copy, whose copy it is and how old."""
    from mim_console.services.sites import replication_info

    return replication_info(ctx)
