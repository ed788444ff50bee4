"""`mim-console stats`: assembly times and unreachable rate, real incidents and drills apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich import box
from rich.table import Table

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import console, emit_json, literal, print_table, say
from mim_console.domain.report import format_duration
from mim_console.services import timezone
from mim_console.services.context import Context

if TYPE_CHECKING:
    from mim_console.services.stats import Stats


@main.command()
@click.option(
    "--exercises", is_flag=True, help="Figures over drills instead (never mixed with real ones)."
)
@json_option
@pass_context
def stats(ctx: Context, exercises: bool, as_json: bool) -> None:
    """How fast the team assembles (first alert -> full quorum) and how many are unreachable.

    Real incidents only; exercise incidents (drills) are left out, and `--exercises` shows them
    alone.
    """
    from mim_console.services import stats as service

    found = service.compute(ctx, exercises=exercises)
    if as_json:
        emit_json(service.as_json(found))
        return
    what = "drills" if exercises else "real incidents (drills left out: see --exercises)"
    if not found.incidents:
        say(f"no {'drills' if exercises else 'real incidents'} yet")
        return
    rate = found.unreachable_rate
    print_table(
        f"Statistics over {what}",
        ["figure", "value"],
        [
            ("incidents", len(found.incidents)),
            ("reached full quorum", len(found.assembled)),
            ("median time to assemble", format_duration(found.median_assemble)),
            ("mean time to assemble", format_duration(found.mean_assemble)),
            ("people alerted", found.alerted),
            ("unreachable", found.unreachable),
            ("unreachable rate", "-" if rate is None else f"{rate:.1%}"),
            ("median time to restore service", format_duration(found.median_restore)),
            ("median time to close", format_duration(found.median_close)),
        ],
    )
    table = Table(
        title="Per incident (assembled: first alert -> every party at quorum; silent: never "
        "answered; "
        f"declared: {timezone.times_label()})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("incident", "declared", "assembled", "alerted", "unreach.", "silent"):
        table.add_column(column, no_wrap=True)
    table.add_column("title", overflow="fold", min_width=10)
    for i in found.incidents:
        table.add_row(
            i.code,
            timezone.shown(i.declared_at, "%m-%d %H:%M"),
            format_duration(i.assemble) if i.assemble is not None else "never",
            str(i.alerted),
            str(i.unreachable),
            str(i.never_answered),
            literal(i.title),
        )
    console().print(table)
    _outcomes(found)


def _outcomes(found: Stats) -> None:
    """Time to restore and time to close, apart (a close with no restore recorded: "-")."""
    table = Table(
        title="Time to restore service and time to close, after the declaration",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("incident", "restored", "closed"):
        table.add_column(column, no_wrap=True)
    for i in found.incidents:
        table.add_row(i.code, format_duration(i.to_restore), format_duration(i.to_close))
    console().print(table)
