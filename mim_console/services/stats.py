"""Statistics over past incidents: how fast the team assembles, how many never answer.

Drills and real incidents never mix: real figures come from real incidents only (a good drill
must not flatter them, a botched one must not spoil them); ``exercises=True`` gives the same
figures over drills alone. Each incident's figures are the report's own replay of its timeline
(``domain.report``), so the stats and the reports can never disagree.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mim_console.data import incidents as repo
from mim_console.domain.incident import Incident, Participant
from mim_console.domain.report import Move, assembly, response_figures
from mim_console.domain.steering import outcome
from mim_console.services.context import Context


@dataclass(frozen=True)
class IncidentStats:
    code: str
    title: str
    exercise: bool
    declared_at: datetime
    status: str
    first_alert_at: datetime | None
    assemble: timedelta | None  # first alert -> full quorum; None: never (or no MRT party)
    alerted: int  # participants
    unreachable: int
    never_answered: int
    to_restore: timedelta | None = None  # declared -> service restored (recorded apart)
    to_close: timedelta | None = None  # declared -> closed


@dataclass(frozen=True)
class Stats:
    exercises: bool  # True: figures over drills only; False: over real incidents only
    incidents: Sequence[IncidentStats]

    @property
    def assembled(self) -> list[timedelta]:
        return [i.assemble for i in self.incidents if i.assemble is not None]

    @property
    def median_assemble(self) -> timedelta | None:
        seconds = [t.total_seconds() for t in self.assembled]
        return timedelta(seconds=statistics.median(seconds)) if seconds else None

    @property
    def mean_assemble(self) -> timedelta | None:
        times = self.assembled
        return sum(times, timedelta(0)) / len(times) if times else None

    @property
    def median_restore(self) -> timedelta | None:
        return _median([i.to_restore for i in self.incidents])

    @property
    def median_close(self) -> timedelta | None:
        return _median([i.to_close for i in self.incidents])

    @property
    def alerted(self) -> int:
        return sum(i.alerted for i in self.incidents)

    @property
    def unreachable(self) -> int:
        return sum(i.unreachable for i in self.incidents)

    @property
    def unreachable_rate(self) -> float | None:
        """Share of everyone alerted who ended up unreachable (no answer to SMS nor call)."""
        return self.unreachable / self.alerted if self.alerted else None


def compute(ctx: Context, *, exercises: bool = False) -> Stats:
    """Figures over real incidents, or with ``exercises`` over drills only; oldest first."""
    with ctx.store.read() as db:
        found = repo.list_incidents(db, include_closed=True)
        chosen = sorted(
            (i for i in found if i.exercise is exercises), key=lambda i: (i.declared_at, i.id)
        )
        parts, moves, sent = repo.assembly_inputs(db, [i.id for i in chosen])
        authority = repo.decision_makers(db)
    return Stats(
        exercises,
        [_figures(inc, parts[inc.id], moves[inc.id], sent[inc.id], authority) for inc in chosen],
    )


def _figures(
    inc: Incident,
    parts: Sequence[Participant],
    moves: Sequence[Move],
    sent: Sequence[datetime],
    authority: set[int],
) -> IncidentStats:
    """One incident, through the report's own replay (domain.report)."""
    figures = response_figures(inc.declared_at, parts, moves, authority, sent)
    drill = assembly(figures, parts, moves)
    ends = outcome(inc)
    return IncidentStats(
        code=inc.code,
        title=inc.title,
        exercise=inc.exercise,
        declared_at=inc.declared_at,
        status=inc.status.value,
        first_alert_at=drill.first_alert_at,
        assemble=drill.full_quorum_after,
        alerted=figures.counts["alerted"],
        unreachable=figures.counts["unreachable"],
        never_answered=len(drill.never_answered),
        to_restore=ends.to_restore,
        to_close=ends.to_close,
    )


def _median(times: Sequence[timedelta | None]) -> timedelta | None:
    seconds = [t.total_seconds() for t in times if t is not None]
    return timedelta(seconds=statistics.median(seconds)) if seconds else None


def as_json(stats: Stats) -> dict[str, Any]:
    """The `stats --json` shape (docs/cli.md): seconds as numbers, None where never."""

    def secs(delta: timedelta | None) -> float | None:
        return None if delta is None else delta.total_seconds()

    return {
        "exercises": stats.exercises,
        "incidents": len(stats.incidents),
        "assembled": len(stats.assembled),
        "median_assemble_s": secs(stats.median_assemble),
        "mean_assemble_s": secs(stats.mean_assemble),
        "alerted": stats.alerted,
        "unreachable": stats.unreachable,
        "unreachable_rate": stats.unreachable_rate,
        "median_restore_s": secs(stats.median_restore),
        "median_close_s": secs(stats.median_close),
        "per_incident": [
            {
                "code": i.code,
                "title": i.title,
                "exercise": i.exercise,
                "status": i.status,
                "declared_at": i.declared_at.isoformat(),
                "first_alert_at": i.first_alert_at.isoformat() if i.first_alert_at else None,
                "assemble_s": secs(i.assemble),
                "alerted": i.alerted,
                "unreachable": i.unreachable,
                "never_answered": i.never_answered,
                "restore_s": secs(i.to_restore),
                "close_s": secs(i.to_close),
            }
            for i in stats.incidents
        ],
    }
