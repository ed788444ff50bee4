"""What a declaration would be, before it is made: the Declare form's preview.

The codes come from the same rule ``declare`` applies inside its transaction (``codes_at``), so
the preview's SMS text is the one that will be sent unless someone else declares first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlite_utils import Database

from mim_console.data import incidents as repo
from mim_console.domain.incident import Incident, next_incident_code, reply_code
from mim_console.services.context import Context


def codes_at(db: Database, now: datetime) -> tuple[str, str]:
    """The next incident code and a reply code no open incident holds."""
    codes = repo.all_codes(db)
    return next_incident_code(now.year, codes), reply_code(
        len(codes) + now.year, repo.open_reply_codes(db)
    )


def draft_incident(
    ctx: Context,
    *,
    title: str,
    severity: str,
    categories: Sequence[str],
    exercise: bool,
    now: datetime,
) -> Incident:
    """The incident a declaration now would make (id 0: nothing is written)."""
    with ctx.store.read() as db:
        code, rcode = codes_at(db, now)
    return Incident(
        id=0,
        code=code,
        reply_code=rcode,
        title=title,
        severity=severity,
        declared_at=now,
        categories=tuple(categories),
        exercise=exercise,
    )
