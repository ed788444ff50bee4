"""Entry point `mim-console`. Command modules are imported only when one of their commands runs.

To register a command: write it in your own module ``mim_console/cli/<name>.py`` with
``@main.command(...)`` (or ``@main.group(...)``) from ``mim_console.cli.base``, then add one line
per top-level command name to ``COMMANDS`` below: ``"command-name": "<name>",``. Do not import
the module here: that would load it (and everything it imports) before click has chosen the
command, which is what made every start cost 0.7 s of CPU. ``mim-console --help`` imports all
the modules to show their short help; tests/test_cli_lazy.py checks the table is complete.
"""

import sys


def _sqlite_utils_without_numpy() -> None:
    """Import sqlite-utils while numpy and pandas are hidden.

    sqlite-utils imports numpy (and pandas) when installed, only to map their number types to
    column types; the console never hands it numpy values, and importing numpy cost 0.16 s of
    every start. The block covers this one import only: numpy stays importable afterwards.
    """
    if "sqlite_utils" in sys.modules:
        return
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import numpy` fail
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


_sqlite_utils_without_numpy()

from mim_console.cli.base import main  # noqa: E402  (after the import above, on purpose)

# command name -> module under mim_console/cli/ that defines it (imported when the command runs)
COMMANDS: dict[str, str] = {
    "backup": "backup",
    "restore": "backup",
    "call": "callsheet",
    "callsheet": "callsheet",
    "comms": "comms",
    "contact-card": "modem",
    "sms-preview": "sms_preview",
    "demo": "demo",
    "drill": "sites",
    "export": "directory",
    "group": "directory",
    "groups": "directory",
    "import": "directory",
    "parties": "directory",
    "party": "directory",
    "people": "directory",
    "person": "directory",
    "dispatch": "dispatch",
    "outbox": "dispatch",
    "close": "incident",
    "declare": "incident",
    "directive": "incident",
    "escalate": "incident",
    "incidents": "incident",
    "joined": "incident",
    "lessons": "incident",
    "note": "incident",
    "problem-case": "incident",
    "recall": "incident",
    "release": "incident",
    "report": "incident",
    "spokesperson": "incident",
    "status": "incident",
    "status-report": "incident",
    "timeline": "incident",
    "unable": "incident",
    "watch": "watch",
    "modem": "modem",
    "verify-timeline": "integrity",
    "readiness": "readiness",
    "replies": "replies",
    "verify": "readiness",
    "duty": "rota",
    "rota": "rota",
    "stats": "stats",
    "config": "system",
    "info": "system",
    "serve": "tui",
    "settings": "settings",
    "standby": "sites",
    "incident": "steer",
    "page": "steer",
    "restored": "steer",
    "takeover": "sites",
}
main.lazy.update({name: f"mim_console.cli.{module}" for name, module in COMMANDS.items()})

__all__ = ["COMMANDS", "main"]
