"""`mim-console` with no command opens the console; `mim-console serve` puts it in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mim_console.cli.base import main, pass_context
from mim_console.services.context import Context


def run_console(ctx: Context, **options: Any) -> None:
    """Open the full-screen app on the configured database (see ``mim_console.app.run``, which
    takes the ``options``: the benchmark runs it headless).

    The database starts opening (its integrity check runs without the GIL) before Textual is
    imported, so the two overlap.
    """
    from mim_console.services.opening import BackgroundOpen

    opening = BackgroundOpen(ctx)
    from mim_console.app import run

    run(ctx, opening=opening, **options)


def serve_options(func: Any) -> Any:
    """The options `serve` and `demo --serve` share (see ``mim_console.cli.serve``)."""
    options = [
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on; anything but loopback prints a warning.",
        ),
        click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535)),
        click.option(
            "--public-url",
            default=None,
            help="Address browsers open (a reverse proxy's); websockets from any other origin "
            "are refused.",
        ),
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Read the login token from this file (mode 0600) instead of making one.",
        ),
        click.option(
            "--tls-cert",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Serve HTTPS with this certificate (PEM; with --tls-key).",
        ),
        click.option(
            "--tls-key",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="The certificate's private key (PEM).",
        ),
        click.option(
            "--actor",
            default=None,
            help="Who the timeline names for actions in the browser, as '<actor> (web)' "
            "(default: MIM_CONSOLE_ACTOR or the system user).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def global_args(ctx: Context) -> list[str]:
    """The global options a console started for a browser needs: this database, this config."""
    args = ["--db", str(ctx.db_path)]
    config = click.get_current_context().find_root().params.get("config_path")
    if config is not None:
        args += ["--config", str(config)]
    return args


@main.command()
@serve_options
@pass_context
def serve(ctx: Context, actor: str | None, **options: Any) -> None:
    """Serve the console to a browser, behind a login token; loopback only unless --host says so.

    Prints a login link once; every browser tab runs its own console on the same database, and
    the timeline names its actions '<actor> (web)'.
    """
    from mim_console.cli.serve import ServeOptions, serve_console
    from mim_console.config import default_db_path

    if ctx.db_path == default_db_path().with_name("demo.db"):
        click.echo(
            "note: this is the demo database, served without its Twilio stand-in; "
            "`mim-console demo --serve` serves it with the stand-in, so paging and replies work",
            err=True,
        )
    ctx.store  # noqa: B018 - a damaged or newer database is reported now, not in each tab
    ctx.close()
    serve_console(global_args(ctx), actor or ctx.actor, ServeOptions(**options))
