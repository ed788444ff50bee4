"""`mim-console demo`: seed the fictional organisation into an empty database, then open it."""

from __future__ import annotations

import click

from mim_console.cli.base import main, pass_context
from mim_console.cli.output import say
from mim_console.data.demo import seed_demo
from mim_console.data.directory import Directory
from mim_console.services.context import Context


@main.command("demo")
@click.option("--seed-only", is_flag=True, help="Seed the demo organisation, do not open the app.")
@pass_context
def demo_cmd(ctx: Context, seed_only: bool) -> None:
    """Seed a fictional organisation (only into an empty database) and open the console on it."""
    existing = Directory(ctx.store).count_people()
    if existing:
        say(
            f"not seeding: {ctx.db_path} already holds {existing} people "
            "(the demo never writes over real data)"
        )
    else:
        say(f"{seed_demo(ctx.store, ctx.clock())} into {ctx.db_path}")
    if seed_only:
        return
    from mim_console.app import make_app

    make_app(ctx).run()
