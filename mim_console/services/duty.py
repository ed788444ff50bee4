"""Who is on duty: the duty manager now and next, each party's representative and deputy.

A party's seat follows its rotation if it has one, else its fixed ordered representatives. When
the person a rotation puts on duty is inactive, the next active person in order holds the seat
(the deputy rule, ``domain.people.next_active``) and the board says so; the stretch is also a
gap in ``gaps``. The deputy is always the next active person after whoever holds the seat.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mim_console.data.directory import Directory
from mim_console.data.rotations import ImportCounts, ImportedShift, upsert_imported
from mim_console.data.store import Store
from mim_console.domain.people import Party, Person, next_active
from mim_console.domain.rotation import GAP_HORIZON, LATEST, Gap, Rotation
from mim_console.errors import UserError
from mim_console.services.context import Context

HANDOFF_HORIZON = timedelta(days=400)
LOOK_BACK = timedelta(days=60)  # how far back "since" may reach over back-to-back overrides


@dataclass(frozen=True)
class OnDuty:
    """Who holds a duty and for how long; ``person`` None means nobody (``note`` says why)."""

    person: Person | None
    since: datetime | None = None
    until: datetime | None = None  # the next change of person; None: no change in sight
    deputy: Person | None = None
    override: bool = False
    note: str = ""


@dataclass(frozen=True)
class Seat:
    party: Party
    holder: OnDuty
    rotation: str | None = None  # None: the party's fixed ordered representatives

    @property
    def source(self) -> str:
        return "rotation" if self.rotation else "fixed"


@dataclass(frozen=True)
class RotationGaps:
    rotation: Rotation
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class DutyBoard:
    at: datetime
    timezone: str  # the duty rotation's zone (or UTC): where times are shown
    duty_manager: OnDuty
    next_duty_manager: OnDuty
    seats: tuple[Seat, ...] = ()
    gaps: tuple[RotationGaps, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    rotations: tuple[Rotation, ...] = ()  # the duty-manager rotation first, then party seats


def _unique(order: Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(order))


def _holder(
    order: tuple[int, ...],
    scheduled: int | None,
    people: Mapping[int, Person],
    active: set[int],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    override: bool = False,
) -> OnDuty:
    """The scheduled person if active, else the next active one in order; then the deputy."""
    note = ""
    holder = scheduled
    if scheduled is None:  # a fixed seat: the first active person in order
        holder = next_active(order, None, active)
        if holder is None:
            note = "nobody active in the seat's order"
    elif scheduled not in active:
        holder = next_active(order, scheduled, active)
        name = people[scheduled].name if scheduled in people else f"person {scheduled}"
        note = f"{name} is inactive" + ("" if holder is None else "; the next in order covers")
    deputy_id = next_active(order, holder, active) if holder is not None else None
    return OnDuty(
        person=people.get(holder) if holder is not None else None,
        since=since,
        until=until,
        deputy=people.get(deputy_id) if deputy_id is not None else None,
        override=override,
        note=note,
    )


def rotation_duty(
    rotation: Rotation, at: datetime, people: Mapping[int, Person], active: set[int]
) -> tuple[OnDuty, OnDuty]:
    """(now, next) for one rotation; ``until`` is the next change of person, not of shift."""
    piece = rotation.piece_at(at)
    if rotation.broken:
        # Its rule cannot be used: an override may still hold the duty; nothing comes next.
        note = "the rotation is broken (see the warnings)"
        if piece.person_id is None:
            return OnDuty(None, note=note), OnDuty(None, note=note)
        until = piece.ends_at if piece.ends_at < LATEST else None
        holder = _holder(
            _unique(rotation.members),
            piece.person_id,
            people,
            active,
            since=piece.starts_at,
            until=until,
            override=True,
        )
        return holder, OnDuty(None, note=note)
    handoffs = rotation.handoffs(at, 1, within=HANDOFF_HORIZON)
    order = _unique(rotation.members)
    until = handoffs[0].at if handoffs else None
    if piece.person_id is None and piece.shift_index is None:
        now = OnDuty(None, None, rotation.starts_at, note="the rotation has not started")
    elif piece.person_id is None:
        now = OnDuty(None, note="the rotation has no members")
    else:
        # The start of this person's stretch: walk back over adjacent pieces of the same person.
        since = piece.starts_at
        for _ in range(64):
            before = rotation.piece_at(since - timedelta(microseconds=1))
            if before.person_id != piece.person_id:
                break
            since = before.starts_at
        now = _holder(
            order,
            piece.person_id,
            people,
            active,
            since=since,
            until=until,
            override=piece.override_id is not None,
        )
    if not handoffs and at < rotation.starts_at and rotation.members:
        first = rotation.piece_at(rotation.starts_at)
        upcoming = _holder(
            order,
            first.person_id,
            people,
            active,
            since=rotation.starts_at,
            until=first.ends_at,
            override=first.override_id is not None,
        )
    elif not handoffs:
        upcoming = OnDuty(None, note="no handoff in the next 400 days")
    else:
        following = rotation.handoffs(at, 2, within=HANDOFF_HORIZON)
        next_piece = rotation.piece_at(handoffs[0].at)
        upcoming = _holder(
            order,
            handoffs[0].to_person,
            people,
            active,
            since=handoffs[0].at,
            until=following[1].at if len(following) > 1 else None,
            override=next_piece.override_id is not None,
        )
        if handoffs[0].to_person is None:
            upcoming = OnDuty(None, since=handoffs[0].at, note="nobody is on duty next")
    return now, upcoming


def build_board(
    at: datetime,
    duty_rotation: Rotation | None,
    party_rotations: Mapping[int, Rotation],
    parties: Sequence[Party],
    people: Mapping[int, Person],
    *,
    gap_horizon: timedelta = GAP_HORIZON,
) -> DutyBoard:
    """Everything the home view and ``mim-console duty`` show, from loaded values."""
    active = {p.id for p in people.values() if p.active}
    warnings: list[str] = rotation_problems([duty_rotation, *party_rotations.values()])
    gaps: list[RotationGaps] = []
    if duty_rotation is None:
        now = OnDuty(None, note="there is no duty-manager rotation (`mim-console rota create`)")
        upcoming = OnDuty(None)
        zone = "UTC"
        warnings.append("there is no duty-manager rotation")
    else:
        now, upcoming = rotation_duty(duty_rotation, at, people, active)
        zone = duty_rotation.timezone
    seats: list[Seat] = []
    for party in sorted(parties, key=lambda p: p.name.casefold()):
        rotation = party_rotations.get(party.id)
        if rotation is not None:
            holder, _ = rotation_duty(rotation, at, people, active)
            seats.append(Seat(party, holder, rotation.name))
        else:
            order = _unique(party.representatives)
            holder = _holder(order, None, people, active)
            if not order:
                holder = OnDuty(None, note="no representatives")
            seats.append(Seat(party, holder, None))
        if seats[-1].holder.person is None:
            warnings.append(f"{party.name}: {seats[-1].holder.note or 'nobody holds the seat'}")
    rotations = ([duty_rotation] if duty_rotation else []) + sorted(
        party_rotations.values(), key=lambda r: r.name.casefold()
    )
    for rotation in rotations:
        found = tuple(rotation.gaps(at, active, gap_horizon))
        if found:
            gaps.append(RotationGaps(rotation, found))
            first = found[0]
            warnings.append(
                f"{rotation.name}: {len(found)} gap(s) in the next {gap_horizon.days} days, "
                f"first {first.starts_at.astimezone(rotation.zone):%Y-%m-%d %H:%M %Z} "
                f"({first.reason})"
            )
    return DutyBoard(
        at, zone, now, upcoming, tuple(seats), tuple(gaps), tuple(warnings), tuple(rotations)
    )


def rotation_problems(rotations: Sequence[Rotation | None]) -> list[str]:
    """Every stored rotation or override that cannot be used, in words naming the row."""
    return [line for r in rotations if r is not None for line in r.problems]


def stored_rotation_problems(store: Store) -> list[str]:
    """The same, read from the database (for `declare`, which pages without them)."""
    from mim_console.data import rotations as repo

    with store.read() as db:
        return rotation_problems(repo.list_rotations(db, window=(LATEST, LATEST)))


def load_board(store: Store, at: datetime) -> DutyBoard:
    """Read rotations, parties and people in one read and build the board."""
    from mim_console.data import rotations as repo

    directory = Directory(store)
    # Only overrides near ``at`` matter: the stretch held now, the gap horizon, the next handoff.
    window = (at - LOOK_BACK, at + HANDOFF_HORIZON)
    with store.read() as db:
        duty_rotation = repo.duty_manager_rotation(db, window)
        party_rotations = repo.party_rotations(db, window)
        parties = list(directory.parties())
        wanted: set[int] = set()
        for rotation in [duty_rotation, *party_rotations.values()]:
            if rotation is not None:
                wanted.update(rotation.members)
                wanted.update(o.person_id for o in rotation.overrides)
        for party in parties:
            wanted.update(party.representatives)
        people = directory.people_by_ids(sorted(wanted))
    return build_board(at, duty_rotation, party_rotations, parties, people)


def rotation_gap_lines(board: DutyBoard) -> dict[str, list[str]]:
    """Rotation name → its gaps in words (an empty list: none), as ``domain.readiness`` takes
    them for ``ReadinessInput.rotation_gaps``."""
    lines: dict[str, list[str]] = {rotation.name: [] for rotation in board.rotations}
    for item in board.gaps:
        zone = item.rotation.zone
        lines[item.rotation.name] = [
            f"{g.starts_at.astimezone(zone):%Y-%m-%d %H:%M}–"
            f"{g.ends_at.astimezone(zone):%Y-%m-%d %H:%M %Z}: {g.reason}"
            for g in item.gaps
        ]
    return lines


def party_rotation_names(board: DutyBoard) -> dict[int, str]:
    """Party id → the name of the rotation holding its seat (``ReadinessInput.party_rotations``)."""
    return {seat.party.id: seat.rotation for seat in board.seats if seat.rotation is not None}


def has_duty_rotation(board: DutyBoard) -> bool:
    """``ReadinessInput.duty_rotation_exists``."""
    return any(r.role.value == "duty_manager" for r in board.rotations)


# --- importing an on-call feed ----------------------------------------------------------------

MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class FeedImport:
    counts: ImportCounts
    skipped: int  # cancelled events


class _DryRun(Exception):
    """Raised inside the write transaction so that a dry run rolls back what it counted."""

    def __init__(self, counts: ImportCounts) -> None:
        super().__init__("dry run")
        self.counts = counts


def import_feed(
    ctx: Context, rotation: Rotation, data: bytes, *, dry_run: bool = False, prune: bool = False
) -> FeedImport:
    """The feed's shifts become ``rotation``'s overrides, all of them or none.

    Every problem (bad event, unknown person) is listed by line and UID in one ``UserError``;
    then nothing has changed. A UID imported before updates its override in place.
    """
    from mim_console.data import ics  # here, not at the top: icalendar costs every start 0.05 s

    feed = ics.parse_feed(data, rotation.zone)
    matched, unknown = ics.match_people(feed, list(ctx.directory().people()))
    problems = sorted([*feed.problems, *unknown], key=lambda p: p.line)
    if problems:
        shown = [f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"  … and {len(problems) - MAX_PROBLEMS_SHOWN} more")
        raise UserError(
            f"nothing was imported: {len(problems)} problem(s) in the file\n" + "\n".join(shown)
        )
    shifts = [
        ImportedShift(
            source_uid=m.uid,
            person_id=m.person_id,
            starts_at=m.starts_at,
            ends_at=m.ends_at,
            reason=f"imported: {m.summary}" if m.summary else "imported",
        )
        for m in matched
    ]
    try:
        with ctx.store.write() as db:
            counts = upsert_imported(db, rotation.id, shifts, prune=prune)
            if dry_run:
                raise _DryRun(counts)
    except _DryRun as done:
        counts = done.counts
    return FeedImport(counts, feed.skipped)
