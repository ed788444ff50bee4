"""The call sheet from the database: who to phone, in call order, when nothing can be sent.

With an incident: its roll call, section by section (duty manager, the MRT by party, the
specialists by group), each person with every number and their roll-call state; the deputies
paged by escalation after the people they stand in for, then the seat's or group's other active
people, not paged yet, whom the duty manager may have to phone by hand. Without an incident:
the duty board as it stands (duty manager, deputy and next; every party's seat holder and
deputies in order; every specialist group in call order), to print and keep beside the desk.

Files are written whole or not at all (temporary file, fsync, rename), readable by the owner
only: a call sheet is a list of personal phone numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mim_console.data import comms as comms_repo
from mim_console.data import outbox
from mim_console.data.outbox import Alert
from mim_console.domain import templates
from mim_console.domain.callsheet import FORMATS, CallSheet, Entry, Section, render
from mim_console.domain.incident import Incident, Role, State
from mim_console.domain.people import Person, SpecialistGroup
from mim_console.errors import UserError
from mim_console.services import messages
from mim_console.services.context import Context
from mim_console.services.timezone import wall

if TYPE_CHECKING:
    from mim_console.data.directory import Directory
    from mim_console.services.duty import DutyBoard
    from mim_console.services.duty import Seat as DutySeat

SUFFIXES = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md"}
SUFFIXES |= {".html": "html", ".htm": "html"}
NOBODY = "nobody active: find someone by hand"
KEEP_SAVED = 20  # files kept in the data dir's callsheets/ (10 presses of k: .txt and .html)

CALL_HINT = (
    "Ask: can you join the bridge now? Log each call: joining / unable / voicemail / no answer "
    "(l on the roll call, or `mim-console call {code} NAME --outcome ...`)."
)
GENERIC_SCRIPT = (
    "This is {who}major incident management, calling as the duty manager. "
    "A major incident is being declared: <what happened>, severity <SEV>. "
    "You are on the response team. {bridge}\n"
    "Ask: can you join the bridge now? Note joining / unable / voicemail / no answer."
)


def format_for(path: Path | None, fmt: str | None) -> str:
    """The format asked for, else guessed from the file's suffix, else plain text."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UserError(f'format "{fmt}" is not one of {", ".join(FORMATS)}')
        return fmt
    if path is None:
        return "txt"
    return SUFFIXES.get(path.suffix.lower(), "txt")


def build(ctx: Context, incident_ref: str | None = None, now: datetime | None = None) -> CallSheet:
    at = now or ctx.clock()
    if incident_ref is None:
        return _board_sheet(ctx, at)
    return _incident_sheet(ctx, incident_ref, at)


def render_sheet(
    ctx: Context, incident_ref: str | None = None, fmt: str = "txt", now: datetime | None = None
) -> str:
    return render(build(ctx, incident_ref, now), fmt)


# --- with an incident ---------------------------------------------------------------------


def _incident_sheet(ctx: Context, ref: str, now: datetime) -> CallSheet:
    from mim_console.services.incidents import IncidentService

    service = IncidentService(ctx)
    rc = service.roll_call(ref)
    inc = rc.incident
    directory = service.directory
    seats = list(rc.seats)
    listed: set[int] = {s.person.id for s in seats}
    placed: set[int] = set()
    sections: list[Section] = []

    def entry(seat_index: int) -> Entry:
        s = seats[seat_index]
        placed.add(s.participant.id)
        role = {Role.DUTY_MANAGER: "duty manager", Role.MRT: "representative"}.get(
            s.participant.role, "specialist"
        )
        if s.deputy_for:
            role = f"deputy for {s.deputy_for}"
        return _entry(s.person, role, state=_state_words(s.participant.state))

    # One pass over the roll call, one read of the people the sheet may add: a 1,000-person
    # incident across 400 parties and groups stays a fraction of a second.
    by_unit: dict[tuple[Role, int | None], list[int]] = {}
    for i, s in enumerate(seats):
        p = s.participant
        unit = {Role.MRT: p.party_id, Role.SPECIALIST: p.group_id}.get(p.role)
        by_unit.setdefault((p.role, unit), []).append(i)
    units = [
        *((Role.MRT, x.id, f"MRT - {x.name}", x.representatives) for x in directory.parties()),
        *(
            (Role.SPECIALIST, g.id, f"Specialists - {g.name}", g.members)
            for g in directory.groups()
        ),
    ]
    extra_ids = {pid for role, uid, _, order in units if (role, uid) in by_unit for pid in order}
    extras = directory.people_by_ids(sorted(extra_ids - listed))

    def in_order(matches: Sequence[int], order: Sequence[int]) -> list[Entry]:
        """Paged people in call order, deputies after them, then the unpaged active people."""
        rank = {pid: n for n, pid in enumerate(order)}

        def key(i: int) -> tuple[int, int, int]:
            p = seats[i].participant
            return (1 if p.deputy_for else 0, rank.get(p.person_id, len(rank)), p.id)

        out = [entry(i) for i in sorted(matches, key=key)]
        for pid in order:
            person = extras.get(pid)
            if pid not in listed and person is not None and person.active:
                listed.add(pid)
                out.append(_entry(person, "not paged"))
        return out

    dm = by_unit.get((Role.DUTY_MANAGER, None), [])
    if dm:
        sections.append(Section("Duty manager", tuple(entry(i) for i in dm)))
    for role, uid, heading, order in units:
        matches = by_unit.get((role, uid))
        if matches:
            sections.append(Section(heading, tuple(in_order(matches, order))))
    others = [i for i, s in enumerate(seats) if s.participant.id not in placed]
    if others:  # a party or group deleted since the declaration: still on the sheet
        sections.append(Section("Others in the roll call", tuple(entry(i) for i in others)))
    script = _incident_script(ctx, inc) + "\n" + CALL_HINT.format(code=inc.code)
    return CallSheet(
        title=f"Call sheet {inc.code}: {inc.title}",
        generated_at=wall(now, ctx),
        bridge=_bridge(ctx),
        script=script,
        sections=tuple(sections),
        exercise=inc.exercise,
    )


def _incident_script(ctx: Context, inc: Incident) -> str:
    """The voice alert's words (the organisation's own template if it saved one)."""
    nobody = Person(id=0, name="", mobile="")
    with ctx.store.read() as db:
        text = comms_repo.template_text(db, "voice")
    try:
        return templates.render(
            "voice", text, messages.values(inc, nobody, ctx.settings), exercise=inc.exercise
        )
    except UserError:  # a broken saved template must not cost the duty manager the sheet
        return templates.render(
            "voice", None, messages.values(inc, nobody, ctx.settings), exercise=inc.exercise
        )


# --- the duty board -----------------------------------------------------------------------


def _board_sheet(ctx: Context, now: datetime) -> CallSheet:
    from mim_console.services.duty import load_board

    board = load_board(ctx.store, now)
    directory = ctx.directory()
    sections = [
        Section("Duty manager", _duty_manager_entries(board, ctx) or (_nobody(),)),
        *(
            Section(f"MRT - {seat.party.name}", _seat_entries(directory, seat) or (_nobody(),))
            for seat in board.seats
        ),
        *(
            Section(f"Specialists - {group.name}", _group_entries(directory, group) or (_nobody(),))
            for group in directory.groups()
        ),
    ]
    organisation = ctx.settings.organisation.strip()
    bridge = templates.bridge_text(*_bridge(ctx))
    script = GENERIC_SCRIPT.format(
        who=f"{organisation} " if organisation else "",
        bridge=f"Please join the bridge: {bridge}" if bridge else "Bridge: not configured.",
    )
    if ctx.settings.declare_criteria.strip():
        script += "\nDeclare when: " + ctx.settings.declare_criteria.strip()
    title = "Call sheet: duty board" + (f" of {organisation}" if organisation else "")
    return CallSheet(
        title=title,
        generated_at=wall(now, ctx),
        bridge=_bridge(ctx),
        script=script,
        sections=tuple(sections),
    )


def _duty_manager_entries(board: DutyBoard, ctx: Context) -> tuple[Entry, ...]:
    """On duty, the deputy and who is next, each once."""
    entries: list[Entry] = []
    seen: set[int] = set()
    for label, person in (
        ("on duty", board.duty_manager.person),
        ("deputy", board.duty_manager.deputy),
        ("next on duty", board.next_duty_manager.person),
    ):
        if person is None or person.id in seen:
            continue
        seen.add(person.id)
        if label == "next on duty" and board.duty_manager.until is not None:
            label += f" from {wall(board.duty_manager.until, ctx):%a %H:%M}"
        entries.append(_entry(person, label))
    return tuple(entries)


def _seat_entries(directory: Directory, seat: DutySeat) -> tuple[Entry, ...]:
    """Whoever holds the seat, the deputy, then the other active representatives in order,
    starting after the holder (wrapping round)."""
    holder, deputy = seat.holder.person, seat.holder.deputy
    entries: list[Entry] = []
    taken: set[int] = set()
    if holder is not None:
        entries.append(_entry(holder, "on duty" if seat.rotation else "primary"))
        taken.add(holder.id)
    if deputy is not None and deputy.id not in taken:
        entries.append(_entry(deputy, "deputy 1"))
        taken.add(deputy.id)
    order = list(seat.party.representatives)
    if holder is not None and holder.id in order:
        start = order.index(holder.id) + 1
        order = order[start:] + order[:start]
    people = directory.people_by_ids(order)
    for pid in order:
        person = people.get(pid)
        if person is not None and person.active and pid not in taken:
            taken.add(pid)
            entries.append(_entry(person, f"deputy {len(entries)}"))
    return tuple(entries)


def _group_entries(directory: Directory, group: SpecialistGroup) -> tuple[Entry, ...]:
    """The active members in call order."""
    people = directory.people_by_ids(group.members)
    members = [people[pid] for pid in group.members if pid in people and people[pid].active]
    return tuple(_entry(person, f"call {n}") for n, person in enumerate(members, 1))


# --- pieces -------------------------------------------------------------------------------


def _entry(person: Person, role: str, *, state: str = "") -> Entry:
    return Entry(
        name=person.name,
        role=role,
        phones=person.phones,
        title=person.title,
        state=state,
        authority=person.decision_authority,
    )


def _nobody() -> Entry:
    return Entry(name=NOBODY, role="-", phones=())


def _state_words(state: State) -> str:
    return state.value.replace("_", " ")


def _bridge(ctx: Context) -> tuple[str, str, str]:
    b = ctx.settings.bridge
    return (b.number, b.pin, b.url)


# --- what waits to be sent --------------------------------------------------------------


def waiting_alerts(ctx: Context, limit: int = 5000) -> list[Alert]:
    """Alerts not yet accepted by the provider, oldest first: whom the sheet must cover."""
    with ctx.store.read() as db:
        found = outbox.list_alerts(db, limit=limit)
    return sorted(
        (a for a in found if a.status in ("queued", "sending")), key=lambda a: (a.created_at, a.id)
    )


def gave_up_alerts(ctx: Context, limit: int = 5000) -> list[Alert]:
    """Alerts of open incidents the dispatcher gave up on before Twilio ever took them (Twilio
    refused them for ``retry_max_age_min``): nobody got them, so someone must phone."""
    from mim_console.data import incidents as incident_repo

    with ctx.store.read() as db:
        found = outbox.list_alerts(db, limit=limit)
        open_codes = {i.code for i in incident_repo.list_incidents(db)}
    return sorted(
        (
            a
            for a in found
            if a.status == "failed" and a.provider_sid is None and a.incident_code in open_codes
        ),
        key=lambda a: (a.created_at, a.id),
    )


def age_words(now: datetime, then: datetime) -> str:
    """How long an alert has waited: ``45 s``, ``12 min``, ``3 h 05 min``."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# --- files --------------------------------------------------------------------------------


def default_folder(ctx: Context) -> Path:
    """Beside the database (the data dir unless --db says otherwise), like the backups."""
    return ctx.settings.resolved_db_path().parent / "callsheets"


def save(
    ctx: Context,
    incident_ref: str | None = None,
    fmts: Sequence[str] = ("txt", "html"),
    folder: Path | None = None,
) -> list[Path]:
    """Write the sheet into the data dir, one file per format; returns the paths written."""
    sheet = build(ctx, incident_ref)
    where = private_folder(folder or default_folder(ctx))
    code = None
    if incident_ref is not None:
        from mim_console.services.incidents import IncidentService

        code = IncidentService(ctx).incident(incident_ref).code
    stamp = sheet.generated_at.strftime("%Y%m%d-%H%M%S")
    base = f"callsheet-{code or 'duty'}-{stamp}"
    paths = []
    for fmt in fmts:
        path = where / f"{base}.{fmt}"
        write_atomic(path, render(sheet, fmt))
        paths.append(path)
    if folder is None:
        _prune(where, keep=KEEP_SAVED, spare=paths)
    return paths


def _prune(where: Path, keep: int, spare: Sequence[Path]) -> None:
    """Old sheets are stale phone lists: keep the newest ``keep`` files, never those just made."""
    found = sorted(
        (p for p in where.glob("callsheet-*") if p.is_file() and p not in spare),
        key=lambda p: (p.stat().st_mtime, p.name),
        reverse=True,
    )
    for old in found[max(0, keep - len(spare)) :]:
        with contextlib.suppress(OSError):
            old.unlink()


def private_folder(where: Path) -> Path:
    """The folder, made readable by the owner only if it is new (phone numbers go in it)."""
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UserError(f"cannot make the folder {where}: {exc.strerror}") from exc
    return where


def write_atomic(path: Path, text: str) -> None:
    """The whole file or nothing, never through a symlink or over a FIFO or device
    (``data/files.py``: the console's one way to write a file)."""
    from mim_console.data.files import write_file

    write_file(path, text.encode("utf-8"))
