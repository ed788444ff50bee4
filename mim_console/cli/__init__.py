"""Entry point `mim-console`; importing a command module registers its commands."""

import mim_console.cli.comms  # noqa: F401
import mim_console.cli.demo  # noqa: F401
import mim_console.cli.directory  # noqa: F401
import mim_console.cli.incident  # noqa: F401
import mim_console.cli.rota  # noqa: F401
from mim_console.cli import backup, dispatch, system, tui  # noqa: F401
from mim_console.cli.base import main

__all__ = ["main"]
