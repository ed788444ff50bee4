"""The report's content as plain rows (label, value; when, who, what): the Markdown and HTML
renderers escape them, each in its own way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from mim_console.domain.incident import Event, State
from mim_console.domain.report import format_duration
from mim_console.domain.steering import outcome

if TYPE_CHECKING:
    from mim_console.services.incidents import Seat
    from mim_console.services.report import ReportData

TO_FILL = "(to be filled in by the duty manager: `mim-console lessons INCIDENT`)"


def stamp(moment: datetime | None, zone: tzinfo) -> str:
    """An instant of the report on the organisation's wall clock (the zone is said once, in
    the "Generated" line: ``generated_line``)."""
    return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or datetime.now(zone).tzname() or "local time")


def generated_line(data: ReportData) -> str:
    """The report's one label of its zone."""
    return f"Generated {stamp(data.generated_at, data.zone)} (times in {zone_name(data.zone)})."


def summary_rows(data: ReportData) -> dict[str, list[tuple[str, str]]]:
    """The report's content as plain (label, value) pairs; both renderers escape them."""
    inc, f = data.incident, data.figures
    spokesperson = data.roll_call.spokesperson
    summary = [
        ("Incident", inc.code + (" (EXERCISE)" if inc.exercise else "")),
        ("Title", inc.title),
        ("Severity", inc.severity),
        ("Categories", ", ".join(inc.categories) or "-"),
        ("Declared", f"{stamp(inc.declared_at, data.zone)} by {inc.declared_by or '-'}"),
        ("Service restored", stamp(inc.restored_at, data.zone)),
        ("Closed", stamp(inc.closed_at, data.zone)),
        (
            "Duration",
            format_duration((inc.closed_at or data.generated_at) - inc.declared_at),
        ),
        ("Spokesperson", spokesperson.name if spokesperson else "-"),
        ("Problem case", inc.problem_ref or "-"),
        ("Problem owner", inc.problem_owner or "-"),
        ("Problem summary", inc.problem_summary or "-"),
    ]
    ends = outcome(inc)
    figures = [
        (
            "Time to restore",
            format_duration(ends.to_restore)
            if ends.restore_recorded
            else "not recorded apart from the close",
        ),
        ("Time to close", format_duration(ends.to_close) if inc.closed_at else "still open"),
        ("Time to first alert", format_duration(f.first_alert_after)),
        ("Time to first join", format_duration(f.first_join_after)),
        ("Time to full quorum", format_duration(f.quorum_after)),
        ("Alerted", str(f.counts["alerted"])),
        ("Joined", str(f.counts["joined"])),
        ("Unable", str(f.counts["unable"])),
        ("Escalated (voice call)", str(f.counts["escalated"])),
        ("Unreachable", str(f.counts["unreachable"])),
        ("Released to standby", str(f.counts["standby"])),
    ]
    if f.counts["failed"]:
        figures.append(("Alert refused by Twilio", str(f.counts["failed"])))
    by_modem = sum(1 for a in data.alerts if a.route == "modem" and a.provider_sid)
    if by_modem:
        figures.append(("Sent by the GSM modem", str(by_modem)))
    quorum = [
        (data.roll_call.party_names.get(pid, f"party {pid}"), format_duration(after))
        for pid, after in f.party_quorum_after.items()
    ]
    standby = [
        (
            data.people.get(s.person_id, f"person {s.person_id}"),
            f"{stamp(s.start, data.zone)} to "
            f"{stamp(s.end, data.zone) if s.end else 'still on standby'} "
            f"({format_duration(s.length(data.end))})",
        )
        for s in f.standby_periods
    ]
    return {"summary": summary, "figures": figures, "quorum": quorum, "standby": standby}


@dataclass(frozen=True)
class DrillRows:
    timing: list[tuple[str, str]]  # (step, time after the first alert)
    never: list[tuple[str, str, str, str]]  # (person, role, party/group, final state)


def drill_rows(data: ReportData) -> DrillRows:
    """The drill section: first alert -> each party's quorum -> full quorum, and who never
    answered. Shown for exercises (a real incident's report already has its figures)."""
    a = data.assembly
    if a is None:
        return DrillRows([], [])

    def after(delta: timedelta | None) -> str:
        return "never" if delta is None else format_duration(delta)

    timing = [("First alert", f"at {stamp(a.first_alert_at, data.zone)}")]
    for pid, delta in a.party_quorum_after.items():
        name = data.roll_call.party_names.get(pid, f"party {pid}")
        timing.append((f"Quorum: {name}", after(delta)))
    timing.append(("Full quorum", after(a.full_quorum_after)))
    by_id = {s.participant.id: s for s in data.roll_call.seats}
    never = [
        (
            by_id[pid].person.name,
            by_id[pid].participant.role.value.replace("_", " "),
            by_id[pid].unit,
            final_state(data, by_id[pid]),
        )
        for pid in a.never_answered
        if pid in by_id
    ]
    return DrillRows(timing, never)


def steered(data: ReportData) -> dict[int, list[str]]:
    """By alert id: who retried or cancelled it by hand (the Outbox screen, `outbox retry`)."""
    words = {"alert_retried": "retried", "alert_cancelled": "cancelled"}
    out: dict[int, list[str]] = {}
    for e in data.events:
        alert_id = e.data.get("alert_id")
        if e.kind in words and isinstance(alert_id, int):
            new = e.data.get("new_alert_id")
            again = f" as alert {new}" if isinstance(new, int) else ""
            out.setdefault(alert_id, []).append(f"{words[e.kind]}{again} by {e.actor}")
    return out


def message_rows(data: ReportData) -> list[tuple[str, str, str, str, str]]:
    by_hand = steered(data)
    return [
        (
            stamp(a.created_at, data.zone),
            data.people.get(a.person_id, a.to_number) if a.person_id is not None else a.to_number,
            f"{a.channel} {a.purpose}" + (" by GSM modem" if a.route == "modem" else ""),
            "; ".join([str(a.status), *by_hand.get(a.id, [])]),
            a.body if a.channel not in ("voice", "bridge") else f"({a.channel} call)",
        )
        for a in data.alerts
    ]


def bridge_rows(
    data: ReportData,
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str, str, str]]]:
    """The incident bridge: (figure, value) rows and (person, joins, first on, last left,
    minutes) rows; empty when the incident had no bridge of its own."""
    b = data.bridge
    if b is None:
        return [], []
    figures = [
        ("Time to the first person on the bridge", format_duration(b.first_on_after)),
        ("Time to quorum on the bridge", format_duration(b.quorum_after)),
    ]
    for pid, after in b.party_quorum_after.items():
        name = data.roll_call.party_names.get(pid, f"party {pid}")
        figures.append((f"A decider of {name} on the bridge", format_duration(after)))
    by_id = {s.participant.id: s for s in data.roll_call.seats}
    people = [
        (
            by_id[pid].person.name,
            str(a.joins),
            stamp(a.first_at, data.zone),
            "still on" if a.on_now else stamp(a.last_left_at, data.zone),
            f"{a.seconds / 60:.1f}",
        )
        for pid, a in sorted(b.attendance.items())
        if pid in by_id
    ]
    return figures, people


def statement_rows(data: ReportData) -> list[tuple[str, str, str]]:
    """(when, what, text) for each published stakeholder update or press release."""
    out = []
    for d in data.statements:
        what = f"{d.kind.replace('_', ' ')} v{d.version}"
        if d.approved_by_name:
            what += f", approved by {d.approved_by_name}"
        if d.channel:
            what += f", published on {d.channel}"
        out.append((stamp(d.published_at, data.zone), what, d.text))
    return out


def final_state(data: ReportData, seat: Seat) -> str:
    state = seat.participant.state
    if state is State.STOOD_DOWN:
        return data.state_at_close(seat.participant.id) or "stood down"
    return state.value.replace("_", " ")


def events_of(data: ReportData, kind: str) -> list[Event]:
    return [e for e in data.events if e.kind == kind]
