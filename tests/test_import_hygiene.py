"""Nothing below the UI imports textual: checked in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import mim_console

UI_MODULES = ("mim_console.app", "mim_console.screens", "mim_console.widgets")


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(mim_console.__path__, "mim_console."):
        if info.name.startswith(UI_MODULES + ("mim_console.cli", "mim_console.__main__")):
            continue
        names.append(info.name)
    return names


def test_core_modules_do_not_import_textual() -> None:
    modules = core_modules()
    assert "mim_console.data.store" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []
