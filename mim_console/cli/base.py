"""The `mim-console` command group, its global options and error handling.

Command modules (``mim_console/cli/*.py``) add their commands to ``main`` with ``@main.command``;
``cli/__init__.py`` names which module defines which command, and ``main`` imports a module only
when one of its commands is chosen (click's lazy-group pattern), so ``mim-console`` and
``mim-console duty`` do not pay for httpx or the chat notifiers. A ``UserError`` anywhere becomes
``Error: <message>`` on stderr with exit status 1: never a traceback.
Usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mim_console import __version__
from mim_console.config import load_settings
from mim_console.domain.text import printable
from mim_console.errors import OutOfRange, UserError
from mim_console.services.context import Context

F = TypeVar("F", bound=Callable[..., Any])


class MimGroup(click.Group):
    """The top-level group: lazy command modules, and ``UserError`` as a plain message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}  # command name -> module whose import registers it

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module = self.lazy[cmd_name]
            importlib.import_module(module)
            if cmd_name not in self.commands:
                raise RuntimeError(f"{module} was expected to define the command {cmd_name!r}")
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Bytes that are not UTF-8 (a Latin-1 terminal, pasted binary) reach Python as lone
        surrogates, which SQLite cannot store: refuse them up front as a usage error."""
        for position, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "replace").decode("utf-8")  # "?" for each bad byte
                raise click.UsageError(
                    f"argument {position} ({printable(shown)[:40]}) is not UTF-8 text; set the "
                    "terminal to UTF-8 (e.g. LANG=C.UTF-8) and retry",
                    ctx,
                ) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutOfRange as exc:
            # A value past a documented bound: a usage error (exit 2), as click's own are.
            raise click.UsageError(printable(str(exc))) from exc
        except UserError as exc:
            raise click.ClickException(printable(str(exc))) from exc
        except OSError as exc:
            # A file or folder the user named: missing, unreadable, a name too long for the file
            # system. Their words, never a traceback (the commands check the usual cases first).
            name = printable(str(exc.filename)) if exc.filename is not None else ""
            where = f"{name[:60]}{'…' if len(name) > 60 else ''}: " if name else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


@click.group(
    cls=MimGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="mim-console")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MIM_CONSOLE_DB",
    help="SQLite database file (default: mim.db in the user data dir; env MIM_CONSOLE_DB).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MIM_CONSOLE_CONFIG",
    help="Config file (default: config.toml in the user config dir; env MIM_CONSOLE_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, config_path: Path | None) -> None:
    """mim-console: the duty manager's console for Major Incident Management.

    Run without a command to open the full-screen console.
    """
    try:
        settings = load_settings(config_path).with_db(db_path)
    except UserError as exc:
        raise click.ClickException(printable(str(exc))) from exc
    context = Context(settings=settings)
    ctx.obj = context
    from mim_console.services import timezone

    timezone.use(context)  # every time a command prints is in the organisation's zone
    ctx.call_on_close(context.close)
    if ctx.invoked_subcommand is None:
        from mim_console.cli.tui import run_console

        run_console(context)


def pass_context(func: F) -> F:
    """Give a command the shared ``Context`` as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(click.get_current_context().find_object(Context), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (stable, see docs/cli.md)."
)

#: A version or id typed as a number: whole, positive, and small enough for SQLite's INTEGER
#: (a larger one reached the query as an OverflowError).
ROW_NUMBER = click.IntRange(min=1, max=10**15)


class FiniteRange(click.FloatRange):
    """A number in ``[min, max]``, never NaN or infinity: ``FloatRange`` lets NaN through
    (every comparison with it is false), and ``dispatch --lease-ttl nan`` crashed later."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            low = "" if self.min is None else f"{self.min:g}"
            high = "" if self.max is None else f"{self.max:g}"
            self.fail(f"{value!r} is not a number from {low or '…'} to {high or '…'}", param, ctx)
        return number


#: How many rows a listing prints at most.
ROW_LIMIT = click.IntRange(min=1, max=100_000)
