"""`mim-console settings`: the organisation's settings, kept in the database (every site's
console reads the same ones; the config file keeps secrets and per-machine choices)."""

from __future__ import annotations

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, print_table, say
from mim_console.services import org_settings
from mim_console.services.context import Context


@main.group()
def settings() -> None:
    """The organisation's settings (name, criteria, bridge, timers, zone, help SMS…)."""


def _shown(value: object) -> str:
    return "" if value in ("", None) else str(value)


@settings.command("list")
@json_option
@pass_context
def settings_list(ctx: Context, as_json: bool) -> None:
    """Every organisation setting, its value and where it comes from."""
    rows = org_settings.listing(ctx.settings, ctx.store)
    if as_json:
        emit_json(
            [
                {
                    "key": r.key,
                    "value": r.value,
                    "source": r.source,
                    "updated_at": r.updated_at or None,
                    "updated_by": r.updated_by or None,
                }
                for r in rows
            ]
        )
        return
    print_table(
        "Organisation settings",
        ["key", "value", "from", "about"],
        [[r.key, _shown(r.value), r.source, r.about] for r in rows],
    )


@settings.command("get")
@click.argument("key")
@json_option
@pass_context
def settings_get(ctx: Context, key: str, as_json: bool) -> None:
    """One setting's value."""
    org_settings.check_key(key)
    row = next(r for r in org_settings.listing(ctx.settings, ctx.store) if r.key == key)
    if as_json:
        emit_json({"key": row.key, "value": row.value, "source": row.source})
        return
    click.echo(_shown(row.value))


@settings.command("set")
@click.argument("key")
@click.argument("value")
@pass_context
def settings_set(ctx: Context, key: str, value: str) -> None:
    """Change a setting for every console on this database (and the standby's)."""
    stored = org_settings.set_value(ctx.store, key, value, ctx.actor, ctx.clock())
    ctx.settings = org_settings.apply(ctx.settings, {key: stored})
    say(f"{key} = {_shown(stored)}")
