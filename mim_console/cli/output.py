"""Printing for the CLI: stable JSON, Rich tables with markup shown literally."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mim_console.domain.text import printable
from mim_console.errors import UserError


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False, indent=2, sort_keys=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(to_json(data) + "\n")


def console(stderr: bool = False) -> Console:
    # highlight=False: no guessing colours for numbers; markup is never parsed from data.
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def literal(value: object) -> Text:
    """Any stored text, shown as typed: `[bold]` stays visible, control characters are escaped."""
    return Text(printable(str(value)))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A table whose title, headings and cells are all shown literally: a title names stored
    things (a person, a rotation), and Rich would read ``[bold red]`` in it as markup."""
    table = Table(title=literal(title), title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(literal(column))
    for row in rows:
        table.add_row(*(literal("" if cell is None else cell) for cell in row))
    console().print(table)


def say(message: str) -> None:
    console().print(literal(message))


def warn(message: str) -> None:
    console(stderr=True).print(literal(message))


def confirm(question: str, declined: str) -> None:
    """Ask on stderr (stdout may be piped); a no, or no answer at all (Ctrl-D, an empty pipe),
    stops the command with ``declined``: what was not done, and how to skip the question."""
    try:
        click.confirm(question, abort=True, err=True)
    except click.Abort:
        raise UserError(declined) from None
