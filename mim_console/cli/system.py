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
    }
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        say(f"{key}: {value}")
