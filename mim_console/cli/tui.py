"""`mim-console` with no command opens the console; `mim-console serve` puts it in a browser."""

from __future__ import annotations

import shlex
import sys
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--public-url", default=None, help="URL the browser reaches the server on.")
@pass_context
def serve(ctx: Context, host: str, port: int, public_url: str | None) -> None:
    """Serve the console to a browser (textual-serve); loopback only unless --host says so."""
    from textual_serve.server import Server

    args = [sys.executable, "-m", "mim_console", "--db", str(ctx.db_path)]
    command = shlex.join(args)
    click.echo(f"serving mim-console on http://{host}:{port} (Ctrl+C stops)", err=True)
    Server(command, host=host, port=port, title="mim-console", public_url=public_url).serve()
