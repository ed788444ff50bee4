"""The import-linter contracts of pyproject.toml: they catch a break, and the package keeps them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mim_console

PACKAGE = Path(mim_console.__file__).resolve().parent
ROOT = PACKAGE.parent
LINT = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
UI_DATA = "The UI and the CLI do not import data/: they talk to services"
STANDIN_ALONE = "The stand-in imports nothing of the package but domain, errors and clock"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``root``'s pyproject.toml, on the package under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-logo", "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken(output: str) -> str:
    """The report's part after the list of contracts: what broke, and where."""
    return output.partition("Broken contracts")[2]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package and its pyproject.toml in a temporary directory, to be broken on purpose."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "mim_console", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_screen_importing_data_breaks_the_contract_that_names_it(copy: Path) -> None:
    (copy / "mim_console" / "screens" / "probe.py").write_text(
        '"""A screen that reads the database itself."""\n\nfrom mim_console.data import outbox\n'
    )
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{UI_DATA} BROKEN" in done.stdout
    assert "mim_console.screens.probe -> mim_console.data.outbox" in broken(done.stdout)


def test_the_stand_in_importing_the_console_breaks_its_contract(copy: Path) -> None:
    (copy / "mim_console" / "standin" / "probe.py").write_text(
        '"""The stand-in reaching for the console."""\n\nfrom mim_console import config\n'
    )
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{STANDIN_ALONE} BROKEN" in done.stdout
    assert "mim_console.standin.probe -> mim_console.config" in broken(done.stdout)


def test_an_unplaced_top_level_module_breaks_the_layers(copy: Path) -> None:
    """The layers contract is exhaustive: a new top-level module must be given a layer."""
    (copy / "mim_console" / "gadgets.py").write_text('"""Belongs nowhere."""\n')
    done = lint_imports(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    report = broken(done.stdout)
    assert "not listed as layers" in report and "- mim_console.gadgets" in report


def test_the_package_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, broken(done.stdout) or done.stderr
    assert "BROKEN" not in done.stdout
