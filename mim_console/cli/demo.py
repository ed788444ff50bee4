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
@click.option(
    "--serve",
    "in_browser",
    is_flag=True,
    help="Serve it to a browser on 127.0.0.1 instead (a login link, as `serve` prints); the "
    "simulated people answer there too.",
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="For --serve."
)
@click.option("--standin-url", hidden=True, default=None)  # a browser tab's console (--serve)
@pass_context
def demo_cmd(
    ctx: Context,
    seed_only: bool,
    responder_seed: int,
    in_browser: bool,
    port: int,
    standin_url: str | None,
) -> None:
    """Open the console on a fictional organisation whose simulated people answer alerts."""
    if standin_url is not None:
        _open_on_running_standin(ctx, standin_url)
        return
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
        if in_browser:
            demo.close()
            _serve_with_standin(demo, responder_seed, port)
        else:
            _open_with_standin(demo, responder_seed)
    finally:
        demo.close()
    say(f"the demo database stays at {demo.db_path}: `mim-console --db {demo.db_path}` opens it")


def _open_with_standin(demo: Context, responder_seed: int) -> None:
    from mim_console.app import run
    from mim_console.config import TwilioSettings
    from mim_console.services.demo import demo_settings, still_to_answer
    from mim_console.standin import StandIn

    standin = StandIn.start_in_thread()
    try:
        standin.responders(responder_seed)
        standin.resume_responders(still_to_answer(demo))  # incidents left open last time
        demo.settings = demo_settings(demo.settings, TwilioSettings(**standin.connection()))
        run(demo)
    finally:
        standin.stop()


def _serve_with_standin(demo: Context, responder_seed: int, port: int) -> None:
    """`demo --serve`: one stand-in for every browser tab; each tab's console is
    `mim-console demo --standin-url URL` on the demo database."""
    from mim_console.cli.serve import ServeOptions, serve_console
    from mim_console.cli.tui import global_args
    from mim_console.standin import StandIn

    standin = StandIn.start_in_thread()
    try:
        standin.responders(responder_seed)
        args = [*global_args(demo), "demo", "--standin-url", standin.url]
        serve_console(args, demo.actor, ServeOptions(port=port))
    finally:
        standin.stop()


def _open_on_running_standin(ctx: Context, url: str) -> None:
    """The console `demo --serve` starts for a browser tab: the demo's settings, alerts to the
    stand-in already running at ``url`` (on loopback: never the real Twilio). Prints nothing:
    its output is the browser's screen."""
    from urllib.parse import urlsplit

    from mim_console.app import run
    from mim_console.config import TwilioSettings
    from mim_console.errors import UserError
    from mim_console.services.demo import demo_settings
    from mim_console.standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_SENDER

    if urlsplit(url).hostname != "127.0.0.1" or ctx.settings.db_path is None:
        raise UserError("--standin-url is for the consoles `demo --serve` starts")
    twilio = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=DEFAULT_AUTH_TOKEN,
        sender=DEFAULT_SENDER,
        api_url=url,
    )
    ctx.settings = demo_settings(ctx.settings, twilio)
    run(ctx)
