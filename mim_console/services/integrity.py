"""Is what the database holds still what the console wrote? The timeline's hash chain, and the
stored rows that cannot be used (a rotation or override written around the console's checks).

`mim-console verify-timeline [INCIDENT]` and the readiness check both ask here.
"""

from __future__ import annotations

from mim_console.data import incidents as incidents_repo
from mim_console.data import timeline
from mim_console.domain.readiness import Finding
from mim_console.services.context import Context
from mim_console.services.duty import DutyBoard, rotation_problems


def verify_timeline(ctx: Context, incident_ref: str | None = None) -> timeline.ChainCheck:
    """Every chain, or the one of ``incident_ref`` (a code or id)."""
    with ctx.store.read() as db:
        if incident_ref is None:
            return timeline.verify(db)
        inc = incidents_repo.find_incident(db, incident_ref)
        return timeline.verify(db, inc.id, only=True)


#: The last intact check of each database file in this process: the readiness check (every
#: few seconds on the Duty screen) hashes only what was added since. `verify-timeline` always
#: checks everything.
_LAST_INTACT: dict[str, timeline.ChainCheck] = {}


def _whole_timeline(ctx: Context) -> timeline.ChainCheck:
    try:  # the file itself: a restore puts another one at the same path
        key = f"{ctx.db_path}:{ctx.db_path.stat().st_ino}"
    except OSError:
        key = str(ctx.db_path)
    with ctx.store.read() as db:
        checked = timeline.verify(db, after=_LAST_INTACT.get(key))
    if checked.ok:
        _LAST_INTACT[key] = checked
    else:
        _LAST_INTACT.pop(key, None)
    return checked


def findings(ctx: Context, board: DutyBoard) -> list[Finding]:
    """Readiness items: the timeline intact; no stored rotation row the console must ignore."""
    found: list[Finding] = []
    checked = _whole_timeline(ctx)
    if checked.ok:
        found.append(
            Finding(
                "timeline",
                True,
                "timeline",
                f"intact: {checked.events} event(s) in {checked.chains} hash chain(s)",
            )
        )
    for link in checked.broken:
        found.append(
            Finding(
                "timeline",
                False,
                link.incident_code or "timeline",
                f"the timeline's hash chain is broken: {link}",
                "keep the database file as evidence (`mim-console backup`) and compare it with "
                "the backups: `mim-console verify-timeline` names the first broken link",
            )
        )
    for problem in rotation_problems(list(board.rotations)):
        found.append(
            Finding(
                "stored_rows",
                False,
                "rotation",
                problem,
                "until it is fixed the console ignores it (the warnings say how)",
            )
        )
    return found
