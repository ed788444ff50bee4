"""Duty rotations as pure values: who is on duty at an instant, handoffs, shifts, gaps.

A rotation hands over at a local wall-clock time in an IANA zone. Handoff ``k`` is the local
wall time ``anchor + k × step`` (``step`` = the shift length in hours, calendar days or weeks)
turned into an instant, so a weekly Monday 09:00 handoff stays at 09:00 local time across
daylight-saving changes and "2 days" means two calendar days, not 48 hours. Hour shifts follow
the wall clock too: 12-hour shifts at 08:00 and 20:00 stay there all year, and the night shift
of a DST change is an hour shorter or longer.

Wall times a DST change skips or repeats (the rule, documented in docs/rotation.md):

* **Skipped** (spring forward; 02:30 in New York, 03:30 in Helsinki on that night): the handoff
  happens at the first instant at or after that wall time, i.e. the moment the clock jumps
  (03:00 EDT in New York, 04:00 EEST in Helsinki). The outgoing shift is shortened by what the
  clock skipped.
* **Repeated** (fall back; 01:30 in New York, 03:30 in Helsinki on that night): the handoff
  happens at the first occurrence (``fold=0``, still on summer time). The repeated hour belongs
  to the incoming shift.

If two handoffs land on the same instant (a whole skipped day, as Samoa in 2011), the shift
between them is empty and is never on duty.

Overrides win inside ``[starts_at, ends_at)`` and nowhere else; where overrides overlap, the
newest (highest id) wins. Nothing here reads the clock: callers pass instants.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

from mim_console.domain.instants import (
    EARLIEST as EARLIEST,
)
from mim_console.domain.instants import (
    LATEST as LATEST,
)
from mim_console.domain.instants import (
    MAX_SHIFT_LENGTH as MAX_SHIFT_LENGTH,
)
from mim_console.domain.instants import (
    WEEKDAYS as WEEKDAYS,
)
from mim_console.domain.instants import (
    WINDOW_TEXT as WINDOW_TEXT,
)
from mim_console.domain.instants import (
    check_date as check_date,
)
from mim_console.domain.instants import (
    instant_in_window as instant_in_window,
)
from mim_console.domain.instants import (
    instant_problem as instant_problem,
)
from mim_console.domain.instants import (
    parse_handoff_time as parse_handoff_time,
)
from mim_console.domain.instants import (
    parse_instant as parse_instant,
)
from mim_console.domain.instants import (
    parse_weekday as parse_weekday,
)
from mim_console.domain.instants import (
    parse_zone as parse_zone,
)
from mim_console.domain.instants import (
    resolve_local as resolve_local,
)
from mim_console.domain.instants import (
    shift_length_problem as shift_length_problem,
)
from mim_console.domain.instants import (
    shown_instant as shown_instant,
)
from mim_console.errors import OutOfRange, UserError


class ShiftUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class RotationRole(StrEnum):
    DUTY_MANAGER = "duty_manager"
    PARTY = "party"


GAP_HORIZON = timedelta(days=30)


@dataclass(frozen=True)
class Override:
    """One person covers ``[starts_at, ends_at)``: a holiday, a swap, an imported shift."""

    id: int
    person_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str = ""
    source_uid: str | None = None

    def __post_init__(self) -> None:
        _need_aware(self.starts_at, "an override's start")
        _need_aware(self.ends_at, "an override's end")
        for moment, what in ((self.starts_at, "its start"), (self.ends_at, "its end")):
            if not EARLIEST <= moment <= LATEST:
                raise OutOfRange(
                    f"override {self.id}: {what} ({shown_instant(moment)}) is outside {WINDOW_TEXT}"
                )
        if self.ends_at <= self.starts_at:
            raise UserError(
                f"override {self.id}: it ends ({self.ends_at.isoformat()}) before it starts "
                f"({self.starts_at.isoformat()})"
            )


@dataclass(frozen=True)
class Piece:
    """A stretch of time with one assignment: ``person_id`` None means nobody is on duty.

    ``shift_index`` is the base shift (None before the rotation starts and inside overrides);
    ``override_id`` names the override that holds this stretch, if any.
    """

    starts_at: datetime
    ends_at: datetime
    person_id: int | None
    shift_index: int | None = None
    override_id: int | None = None

    @property
    def is_override(self) -> bool:
        return self.override_id is not None


@dataclass(frozen=True)
class Handoff:
    at: datetime
    from_person: int | None
    to_person: int | None


@dataclass(frozen=True)
class Gap:
    """Nobody active on duty in ``[starts_at, ends_at)``; ``person_id`` is the inactive holder."""

    starts_at: datetime
    ends_at: datetime
    person_id: int | None
    reason: str


def _need_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{what} is a naive datetime: every instant must carry its time zone")


@dataclass(frozen=True)
class Rotation:
    """A rotation's rule, its ordered members (person ids) and its overrides.

    ``handoff_weekday`` (0 = Monday) matters for weekly shifts only: the first handoff is the
    first such weekday on or after ``start_date``. Before the first handoff nobody is on duty.
    """

    id: int
    name: str
    shift_unit: ShiftUnit
    shift_length: int
    handoff_time: time
    timezone: str
    start_date: date
    members: tuple[int, ...] = ()
    role: RotationRole = RotationRole.DUTY_MANAGER
    party_id: int | None = None
    handoff_weekday: int | None = None
    overrides: tuple[Override, ...] = field(default=(), compare=False)
    #: Why the stored rule cannot be used (a row written around the console's checks): a
    #: broken rotation never starts, so nobody is on duty from it outside its overrides.
    broken: str = field(default="", compare=False)
    #: Stored overrides left out because they cannot be used, each in words.
    ignored: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.broken:
            return  # the fields are stand-ins for values that could not be read
        problem = shift_length_problem(self.shift_unit.value, self.shift_length)
        if problem:
            raise OutOfRange(f"rotation {self.name}: {problem}")
        check_date(self.start_date, f"rotation {self.name}: the start date")
        if self.handoff_weekday is not None and not 0 <= self.handoff_weekday <= 6:
            raise UserError(f"rotation {self.name}: weekday must be 0 (Monday) … 6 (Sunday)")
        if (self.role == RotationRole.PARTY) != (self.party_id is not None):
            raise UserError(f"rotation {self.name}: a party rotation names its party, only it")
        parse_zone(self.timezone)

    # -- the base rule -----------------------------------------------------------------------

    @cached_property
    def zone(self) -> ZoneInfo:
        return parse_zone(self.timezone)

    @cached_property
    def step(self) -> timedelta:
        if self.shift_unit == ShiftUnit.HOURS:
            return timedelta(hours=self.shift_length)
        if self.shift_unit == ShiftUnit.DAYS:
            return timedelta(days=self.shift_length)
        return timedelta(weeks=self.shift_length)

    @cached_property
    def anchor(self) -> datetime:
        """The local wall time of the first handoff (naive)."""
        first = self.start_date
        if self.shift_unit == ShiftUnit.WEEKS and self.handoff_weekday is not None:
            first += timedelta(days=(self.handoff_weekday - first.weekday()) % 7)
        return datetime.combine(first, self.handoff_time)

    @cached_property
    def starts_at(self) -> datetime:
        if self.broken:
            return LATEST
        return resolve_local(self.anchor, self.zone)

    @property
    def problems(self) -> tuple[str, ...]:
        """What a reader of this rotation must be warned about, naming the stored rows."""
        found = (
            [f"rotation {self.name} (id {self.id}) is broken: {self.broken}"] if self.broken else []
        )
        return (*found, *self.ignored)

    def handoff_wall(self, index: int) -> datetime:
        """The local wall time (naive) of base handoff ``index``."""
        return self.anchor + index * self.step

    @cached_property
    def _boundaries(self) -> dict[int, datetime]:
        return {}

    def boundary(self, index: int) -> datetime:
        """The UTC instant of base handoff ``index`` (shift ``index`` starts here); memoised,
        since zone arithmetic is the cost of every lookup."""
        cache = self._boundaries
        found = cache.get(index)
        if found is None:
            if len(cache) > 100_000:
                cache.clear()
            found = cache[index] = resolve_local(self.handoff_wall(index), self.zone)
        return found

    def member_for(self, index: int) -> int | None:
        return self.members[index % len(self.members)] if self.members else None

    def shift_index_at(self, at: datetime) -> int | None:
        """The base shift holding ``at``, None before the first handoff."""
        _need_aware(at, "the instant")
        if self.broken or at < self.starts_at:
            return None
        index = max(0, math.floor((at - self.starts_at) / self.step))
        # Elapsed time and the wall clock differ by at most the zone's offset change since the
        # start (an hour or so; a day where a zone skipped one): step to the truth.
        while index > 0 and self.boundary(index) > at:
            index -= 1
        while self.boundary(index + 1) <= at:
            index += 1
        return index

    # -- overrides, flattened once ------------------------------------------------------------

    @cached_property
    def _segments(self) -> tuple[list[datetime], list[tuple[datetime, Override]]]:
        """Overrides flattened to disjoint segments (newest wins), sorted by start."""
        starts: list[datetime] = []
        rest: list[tuple[datetime, Override]] = []
        for start, end, override in flatten_overrides(self.overrides):
            if rest and rest[-1][1].id == override.id and rest[-1][0] == start:
                rest[-1] = (end, override)
                continue
            starts.append(start)
            rest.append((end, override))
        return starts, rest

    def override_at(self, at: datetime) -> tuple[datetime, datetime, Override] | None:
        starts, rest = self._segments
        pos = bisect.bisect_right(starts, at) - 1
        if pos >= 0 and at < rest[pos][0]:
            return starts[pos], rest[pos][0], rest[pos][1]
        return None

    def _next_override_start(self, at: datetime) -> datetime | None:
        starts, _ = self._segments
        pos = bisect.bisect_right(starts, at)
        return starts[pos] if pos < len(starts) else None

    # -- queries ------------------------------------------------------------------------------

    def piece_at(self, at: datetime) -> Piece:
        """Who holds ``at`` and over which stretch (the shift, cut by overrides)."""
        _need_aware(at, "the instant")
        found = self.override_at(at)
        if found is not None:
            start, end, override = found
            return Piece(start, end, override.person_id, None, override.id)
        index = self.shift_index_at(at)
        next_override = self._next_override_start(at)
        if index is None:
            start = datetime.min.replace(tzinfo=UTC)
            end = self.starts_at
            person = None
        else:
            start, end = self.boundary(index), self.boundary(index + 1)
            person = self.member_for(index)
        prev_override = self._previous_override_end(at)
        if prev_override is not None and prev_override > start:
            start = prev_override
        if next_override is not None and next_override < end:
            end = next_override
        return Piece(start, end, person, index, None)

    def _previous_override_end(self, at: datetime) -> datetime | None:
        starts, rest = self._segments
        pos = bisect.bisect_right(starts, at) - 1
        return rest[pos][0] if pos >= 0 else None

    def on_duty(self, at: datetime) -> int | None:
        """The person on duty at ``at`` (active or not), None before start or with no members."""
        _need_aware(at, "the instant")
        found = self.override_at(at)
        if found is not None:
            return found[2].person_id
        index = self.shift_index_at(at)
        return None if index is None else self.member_for(index)

    def pieces(self, start: datetime, end: datetime) -> list[Piece]:
        """Consecutive pieces covering ``[start, end)``, clipped to it."""
        _need_aware(start, "the start")
        _need_aware(end, "the end")
        result: list[Piece] = []
        for piece in self.iter_pieces(start):
            if piece.starts_at >= end:
                break
            clipped_end = min(piece.ends_at, end)
            result.append(
                Piece(
                    max(piece.starts_at, start),
                    clipped_end,
                    piece.person_id,
                    piece.shift_index,
                    piece.override_id,
                )
            )
        return result

    def iter_pieces(self, start: datetime) -> Iterator[Piece]:
        """Pieces from the one holding ``start`` onwards, without end."""
        moment = start
        while True:
            piece = self.piece_at(moment)
            if piece.ends_at <= moment:
                return  # a broken rotation at the end of the window: nothing comes after
            yield piece
            moment = piece.ends_at

    def handoffs(
        self, after: datetime, count: int, *, within: timedelta | None = None
    ) -> list[Handoff]:
        """The next ``count`` changes of who is on duty after ``after`` (overrides included)."""
        limit = after + (within if within is not None else timedelta(days=366 * 2))
        # With at most one distinct member, nothing changes after the start and the last
        # override: stop there instead of walking every shift up to ``limit``.
        quiet_after: datetime | None = None
        if len(set(self.members)) <= 1:
            _, rest = self._segments
            quiet_after = max(self.starts_at, rest[-1][0]) if rest else self.starts_at
        result: list[Handoff] = []
        current: int | None = None
        first = True
        for piece in self.iter_pieces(after):
            if piece.starts_at >= limit or len(result) >= count:
                break
            if first:
                current, first = piece.person_id, False
            elif piece.person_id != current:
                result.append(Handoff(piece.starts_at, current, piece.person_id))
                current = piece.person_id
            if quiet_after is not None and piece.starts_at >= quiet_after:
                break
        return result

    def shifts(self, start: datetime, end: datetime) -> list[Piece]:
        """What a calendar shows for ``[start, end)``: base shifts and overrides, clipped.

        Adjacent pieces of one base shift or one override are joined; empty ones dropped.
        """
        merged: list[Piece] = []
        for piece in self.pieces(start, end):
            if piece.starts_at >= piece.ends_at:
                continue
            if merged:
                last = merged[-1]
                same = (last.person_id, last.shift_index, last.override_id) == (
                    piece.person_id,
                    piece.shift_index,
                    piece.override_id,
                )
                if same and last.ends_at == piece.starts_at:
                    merged[-1] = Piece(
                        last.starts_at,
                        piece.ends_at,
                        last.person_id,
                        last.shift_index,
                        last.override_id,
                    )
                    continue
            merged.append(piece)
        return merged

    def gaps(
        self, start: datetime, active: Collection[int], horizon: timedelta = GAP_HORIZON
    ) -> list[Gap]:
        """Stretches in ``[start, start + horizon)`` with no active person on duty."""
        gaps: list[Gap] = []
        for piece in self.pieces(start, start + horizon):
            if piece.starts_at >= piece.ends_at:
                continue
            if piece.person_id is None:
                if self.broken:
                    reason = f"the rotation is broken: {self.broken.split(' (stored')[0]}"
                elif piece.shift_index is not None:
                    reason = "the rotation has no members"
                else:
                    reason = "the rotation has not started"
            elif piece.person_id not in active:
                reason = "the person on duty is inactive"
            else:
                continue
            if (
                gaps
                and gaps[-1].ends_at == piece.starts_at
                and (gaps[-1].person_id == piece.person_id)
            ):
                last = gaps[-1]
                gaps[-1] = Gap(last.starts_at, piece.ends_at, last.person_id, last.reason)
            else:
                gaps.append(Gap(piece.starts_at, piece.ends_at, piece.person_id, reason))
        return gaps

    def describe(self) -> str:
        """``weekly, Monday 09:00 Europe/Helsinki`` — the rule in words."""
        if self.broken:
            return f"broken: {self.broken}"
        unit = self.shift_unit.value
        if self.shift_length == 1:
            length = {"hours": "hourly", "days": "daily", "weeks": "weekly"}[unit]
        else:
            length = f"every {self.shift_length} {unit}"
        day = ""
        if self.shift_unit == ShiftUnit.WEEKS:
            day = WEEKDAYS[self.anchor.weekday()].capitalize() + " "
        return f"{length}, {day}{self.handoff_time:%H:%M} {self.timezone}"


def flatten_overrides(
    overrides: Sequence[Override],
) -> list[tuple[datetime, datetime, Override]]:
    """Disjoint segments ``(start, end, winner)``: inside overlaps the newest (highest id) wins."""
    if not overrides:
        return []
    points = sorted({o.starts_at for o in overrides} | {o.ends_at for o in overrides})
    by_start = sorted(overrides, key=lambda o: o.starts_at)
    heap: list[tuple[int, int]] = []  # (-id, index into by_start)
    segments: list[tuple[datetime, datetime, Override]] = []
    next_in = 0
    for left, right in zip(points, points[1:], strict=False):
        while next_in < len(by_start) and by_start[next_in].starts_at <= left:
            heapq.heappush(heap, (-by_start[next_in].id, next_in))
            next_in += 1
        while heap and by_start[heap[0][1]].ends_at <= left:
            heapq.heappop(heap)
        if heap:
            winner = by_start[heap[0][1]]
            if segments and segments[-1][2].id == winner.id and segments[-1][1] == left:
                segments[-1] = (segments[-1][0], right, winner)
            else:
                segments.append((left, right, winner))
    return segments
