"""`mim-console demo`: a fictional organisation and simulated responders, to try everything safely.

The demo keeps its own database (``demo.db`` beside the real one unless ``--db`` names one) and
always sends through a local Twilio stand-in whose simulated people answer: most join within a
minute, some are unable, some never answer. Nobody real is ever paged from the demo.
"""

from __future__ import annotations

import click

from mim_console.cli.base import main, pass_context
from mim_console.cli.output import say
from mim_console.config import default_db_path
from mim_console.services.context import Context


@main.command("demo")
@click.option("--seed-only", is_flag=True, help="Seed the demo organisation, do not open the app.")
@click.option(
    "--seed",
    "responder_seed",
    default=7,
    show_default=True,
    type=int,
    help="Which simulated people join, decline or stay silent (same seed, same answers).",
)
@pass_context
def demo_cmd(ctx: Context, seed_only: bool, responder_seed: int) -> None:
    """Open the console on a fictional organisation whose simulated people answer alerts."""
    from mim_console.services.demo import seed

    settings = ctx.settings
    if settings.db_path is None:
        settings = settings.with_db(default_db_path().with_name("demo.db"))
    demo = Context(settings=settings, clock=ctx.clock, actor=ctx.actor)
    try:
        seeded = seed(demo)
        if isinstance(seeded, int):
            say(
                f"{demo.db_path} already holds {seeded} people: not seeding "
                "(the demo never writes over real data)"
            )
        else:
            say(f"{seeded} into {demo.db_path}")
        if seed_only:
            return
        _open_with_standin(demo, responder_seed)
    finally:
        demo.close()
    say(f"the demo database stays at {demo.db_path}: `mim-console --db {demo.db_path}` opens it")


def _open_with_standin(demo: Context, responder_seed: int) -> None:
    from mim_console.app import run
    from mim_console.config import TwilioSettings
    from mim_console.services.demo import demo_settings
    from mim_console.standin import StandIn

    standin = StandIn.start_in_thread()
    try:
        standin.responders(responder_seed)
        demo.settings = demo_settings(demo.settings, TwilioSettings(**standin.connection()))
        run(demo)
    finally:
        standin.stop()
