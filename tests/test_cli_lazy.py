"""The CLI imports a command's module only when that command runs, and never loads numpy.

Checked in fresh interpreters: what a process has imported is exactly what the start cost.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import mim_console.cli
from mim_console.cli import COMMANDS, main

if TYPE_CHECKING:
    import click

NOT_COMMAND_MODULES = {"mim_console.cli.base", "mim_console.cli.output"}


def command_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(mim_console.cli.__path__, "mim_console.cli.")
        if info.name not in NOT_COMMAND_MODULES
    )


def loaded_after(code: str, tmp_path: Path) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter (``db`` = a fresh database path), then report the
    command modules and heavy libraries it had imported."""
    script = (
        "import json, sys\n"
        f"db = {str(tmp_path / 'mim.db')!r}\n"
        f"{code}\n"
        "print(json.dumps({\n"
        "    'commands': sorted(m for m in sys.modules if m.startswith('mim_console.cli.')),\n"
        "    'libraries': sorted(m for m in ('numpy', 'pandas', 'httpx', 'aiohttp', 'twilio',\n"
        "                                    'icalendar', 'textual') if m in sys.modules),\n"
        "}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    result["commands"] = [m for m in result["commands"] if m not in NOT_COMMAND_MODULES]
    return result


def test_every_command_is_in_the_table_and_its_module_defines_it() -> None:
    for name in command_modules():
        importlib.import_module(name)
    defined = {name: cmd.callback.__module__ for name, cmd in main.commands.items() if cmd.callback}
    table = {name: f"mim_console.cli.{module}" for name, module in COMMANDS.items()}
    missing = sorted(set(defined) - set(table))
    assert not missing, f"add these to COMMANDS in mim_console/cli/__init__.py: {missing}"
    stale = sorted(set(table) - set(defined))
    assert not stale, f"COMMANDS names commands nobody defines: {stale}"
    assert defined == table


def test_help_lists_every_command_with_its_short_help() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        command = main.get_command(click_context(), name)
        assert command is not None
        short = command.get_short_help_str(limit=200)
        assert f"  {name}" in result.output
        assert short[:30] in result.output, (name, short)


def click_context() -> click.Context:
    import click

    return click.Context(main)


def test_a_command_runs_after_its_module_is_loaded_on_demand(tmp_path: Path) -> None:
    out = loaded_after(
        "from mim_console.cli import main\n"
        "main(['--db', db, 'sms-preview', 'hello'], standalone_mode=False)\n",
        tmp_path,
    )
    assert out["commands"] == ["mim_console.cli.sms_preview"]


def test_duty_imports_only_its_own_module(tmp_path: Path) -> None:
    out = loaded_after(
        "from mim_console.cli import main\n"
        "main(['--db', db, 'duty', '--json'], standalone_mode=False)\n",
        tmp_path,
    )
    assert out["commands"] == ["mim_console.cli.rota"]
    for heavy in ("numpy", "pandas", "httpx", "aiohttp", "twilio", "textual", "icalendar"):
        assert heavy not in out["libraries"]


def test_no_command_opens_the_console_without_loading_other_commands(tmp_path: Path) -> None:
    out = loaded_after(
        "from mim_console.cli import main\n"
        "import mim_console.cli.tui as tui\n"
        "real = tui.run_console\n"
        "def headless(ctx):\n"
        "    real(ctx, headless=True, on_start=lambda a: a.call_after_refresh(a.exit))\n"
        "tui.run_console = headless\n"
        "main(['--db', db], standalone_mode=False)\n",
        tmp_path,
    )
    assert out["commands"] == ["mim_console.cli.tui"]
    assert "textual" in out["libraries"]
    assert "numpy" not in out["libraries"] and "pandas" not in out["libraries"]


def test_what_the_duty_screen_needs_at_start_loads_no_heavy_library(tmp_path: Path) -> None:
    """The first paint waits for these imports: iCalendar, phonenumbers and numpy are loaded
    only by the functions that use them (an .ics import, parsing a phone number)."""
    out = loaded_after(
        "import mim_console.cli, mim_console.app\n"
        "import mim_console.services.duty, mim_console.services.incidents\n"
        "import mim_console.services.comms, mim_console.screens.directory\n",
        tmp_path,
    )
    for heavy in ("numpy", "pandas", "icalendar", "phonenumbers"):
        assert heavy not in out["libraries"]


def test_numpy_stays_importable_after_the_cli_is_loaded(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    out = loaded_after(
        "import mim_console.cli, mim_console.data.store\n"
        "assert 'numpy' not in sys.modules\n"
        "import numpy\n",
        tmp_path,
    )
    assert "numpy" in out["libraries"]


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
