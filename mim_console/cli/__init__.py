"""Entry point `mim-console`; importing a command module registers its commands."""

from mim_console.cli import backup, system, tui  # noqa: F401
from mim_console.cli.base import main

__all__ = ["main"]
