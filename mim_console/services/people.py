"""The directory's files: a people CSV in (one transaction, or none for a dry run) and out.

Screens and commands reach the directory itself through ``Context.directory()``; this module
holds what is more than one repository call.
"""

from __future__ import annotations

from mim_console.data.people_csv import ImportReport, export_people, import_people
from mim_console.services.context import Context

__all__ = ["ImportReport", "export_people_csv", "import_people_csv"]


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def import_people_csv(ctx: Context, data: bytes | str, *, dry_run: bool = False) -> ImportReport:
    """Bad lines are reported and skipped; the rest is imported in one transaction (rolled
    back at the end for a dry run, which reports the same counts)."""
    directory = ctx.directory()
    report: ImportReport | None = None
    try:
        with ctx.store.write():
            report = import_people(directory, data)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    assert report is not None  # set before the dry run's exception
    return report


def export_people_csv(ctx: Context, *, delimiter: str = ",") -> str:
    """Everyone (inactive too), in the format ``import_people_csv`` reads."""
    return export_people(ctx.directory(), delimiter=delimiter)
