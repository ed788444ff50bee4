"""The lessons-learnt report: Markdown and HTML, with the assembly curve as an inline SVG chart.

Every stored text (titles, names, notes) goes through ``md_escape`` / ``html_escape``: a name like
``<script>`` or ``[x](javascript:…)`` is shown as typed, never interpreted. The HTML carries no
JavaScript and prints in black and white (series differ by dash pattern as well as colour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mim_console.data import comms as comms_repo
from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.outbox import Alert
from mim_console.domain.comms import Draft
from mim_console.domain.incident import Event, Incident, State
from mim_console.domain.report import (
    Assembly,
    CurvePoint,
    Figures,
    assembly,
    format_duration,
    moves_from,
    response_figures,
)
from mim_console.domain.text import html_escape, md_escape, one_line
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService, RollCall, Seat

_TO_FILL = "(to be filled in by the duty manager: `mim-console lessons INCIDENT`)"


@dataclass(frozen=True)
class ReportData:
    incident: Incident
    roll_call: RollCall
    events: Sequence[Event]
    figures: Figures
    series_names: dict[str, str]
    people: dict[int, str]
    alerts: Sequence[Alert]  # oldest first
    generated_at: datetime
    statements: Sequence[Draft] = ()  # published stakeholder updates and press releases
    assembly: Assembly | None = None  # from the first alert: the drill's figures

    def state_at_close(self, participant_id: int) -> str:
        """What someone was when the incident closed ("joined", "on standby"…), not just
        "stood down" for everyone."""
        for e in reversed(self.events):
            if e.data.get("participant") == participant_id and e.data.get("to") == "stood_down":
                return str(e.data.get("from") or "").replace("_", " ") + ", stood down"
        return ""

    @property
    def end(self) -> datetime:
        """The right edge of the chart: close, else the last event, else now."""
        candidates = [self.incident.closed_at, self.generated_at]
        if self.incident.closed_at is not None:
            return self.incident.closed_at
        if self.events:
            candidates.append(self.events[-1].at)
        return max(c for c in candidates if c is not None)


def build(ctx: Context, ref: str) -> ReportData:
    service = IncidentService(ctx)
    rc = service.roll_call(ref)
    inc = rc.incident
    with ctx.store.read() as db:
        events = repo.events(db, inc.id)
        alerts = outbox.list_alerts(db, incident_id=inc.id)[::-1]
        statements = [d for d in comms_repo.drafts(db, inc.id) if d.published_at is not None]
        statements.sort(key=lambda d: (d.published_at or d.created_at, d.id))
    moves = moves_from(events)
    authority = {s.person.id for s in rc.seats if s.person.decision_authority}
    sent = [a.sent_at or a.created_at for a in alerts if a.purpose in ("alert", "escalation")]
    figures = response_figures(
        inc.declared_at,
        [s.participant for s in rc.seats],
        moves,
        authority,
        sent,
    )
    groups = {g.id: g.name for g in service.directory.groups()}
    names = {"duty_manager": "Duty manager"}
    for key in figures.curve:
        kind, _, ident = key.partition(":")
        if kind == "party":
            names[key] = rc.party_names.get(int(ident), f"party {ident}")
        elif kind == "group":
            names[key] = groups.get(int(ident), f"group {ident}")
    people = {s.person.id: s.person.name for s in rc.seats}
    drill = assembly(figures, [s.participant for s in rc.seats], moves)
    return ReportData(
        inc, rc, events, figures, names, people, alerts, ctx.clock(), statements, drill
    )


def _t(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _rows(data: ReportData) -> dict[str, list[tuple[str, str]]]:
    """The report's content as plain (label, value) pairs; both renderers escape them."""
    inc, f = data.incident, data.figures
    spokesperson = data.roll_call.spokesperson
    summary = [
        ("Incident", inc.code + (" (EXERCISE)" if inc.exercise else "")),
        ("Title", inc.title),
        ("Severity", inc.severity),
        ("Categories", ", ".join(inc.categories) or "-"),
        ("Declared", f"{_t(inc.declared_at)} by {inc.declared_by or '-'}"),
        ("Service restored", _t(inc.restored_at)),
        ("Closed", _t(inc.closed_at)),
        (
            "Duration",
            format_duration((inc.closed_at or data.generated_at) - inc.declared_at),
        ),
        ("Spokesperson", spokesperson.name if spokesperson else "-"),
        ("Problem case", inc.problem_ref or "-"),
        ("Problem owner", inc.problem_owner or "-"),
        ("Problem summary", inc.problem_summary or "-"),
    ]
    figures = [
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
    quorum = [
        (data.roll_call.party_names.get(pid, f"party {pid}"), format_duration(after))
        for pid, after in f.party_quorum_after.items()
    ]
    standby = [
        (
            data.people.get(s.person_id, f"person {s.person_id}"),
            f"{_t(s.start)} to {_t(s.end) if s.end else 'still on standby'} "
            f"({format_duration(s.length(data.end))})",
        )
        for s in f.standby_periods
    ]
    return {"summary": summary, "figures": figures, "quorum": quorum, "standby": standby}


@dataclass(frozen=True)
class DrillRows:
    timing: list[tuple[str, str]]  # (step, time after the first alert)
    never: list[tuple[str, str, str, str]]  # (person, role, party/group, final state)


def _drill(data: ReportData) -> DrillRows:
    """The drill section: first alert -> each party's quorum -> full quorum, and who never
    answered. Shown for exercises (a real incident's report already has its figures)."""
    a = data.assembly
    if a is None:
        return DrillRows([], [])

    def after(delta: timedelta | None) -> str:
        return "never" if delta is None else format_duration(delta)

    timing = [("First alert", f"at {_t(a.first_alert_at)}")]
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
            _final(data, by_id[pid]),
        )
        for pid in a.never_answered
        if pid in by_id
    ]
    return DrillRows(timing, never)


def _comms(data: ReportData) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            f"{a.created_at:%Y-%m-%d %H:%M:%S}",
            data.people.get(a.person_id, a.to_number) if a.person_id is not None else a.to_number,
            f"{a.channel} {a.purpose}",
            str(a.status),
            a.body if a.channel != "voice" else "(voice call)",
        )
        for a in data.alerts
    ]


def _statements(data: ReportData) -> list[tuple[str, str, str]]:
    """(when, what, text) for each published stakeholder update or press release."""
    out = []
    for d in data.statements:
        what = f"{d.kind.replace('_', ' ')} v{d.version}"
        if d.approved_by_name:
            what += f", approved by {d.approved_by_name}"
        if d.channel:
            what += f", published on {d.channel}"
        out.append((_t(d.published_at), what, d.text))
    return out


def _final(data: ReportData, seat: Seat) -> str:
    state = seat.participant.state
    if state is State.STOOD_DOWN:
        return data.state_at_close(seat.participant.id) or "stood down"
    return state.value.replace("_", " ")


def _by_kind(data: ReportData, kind: str) -> list[Event]:
    return [e for e in data.events if e.kind == kind]


# --- Markdown ---------------------------------------------------------------------------------


def markdown(data: ReportData) -> str:
    inc = data.incident
    rows = _rows(data)
    out: list[str] = []
    flag = "EXERCISE - " if inc.exercise else ""
    out.append(f"# {flag}Lessons learnt: {md_escape(inc.code)} {md_escape(inc.title)}")
    out.append("")
    if inc.exercise:
        out += ["**EXERCISE: this incident was a drill.**", ""]
    out.append(f"Generated {_t(data.generated_at)}.")
    out.append("")

    def table(head: tuple[str, str], pairs: list[tuple[str, str]]) -> None:
        out.append(f"| {head[0]} | {head[1]} |")
        out.append("|---|---|")
        for label, value in pairs:
            out.append(f"| {md_escape(label)} | {md_escape(value)} |")
        out.append("")

    out += ["## Summary", ""]
    table(("", ""), rows["summary"])
    if inc.description:
        out += [md_escape(inc.description), ""]
    out += ["## Response figures", ""]
    table(("Figure", "Value"), rows["figures"])
    if inc.exercise:
        _drill_md(data, out)
    out += ["### Time to quorum per party", ""]
    if rows["quorum"]:
        table(("Party", "Quorum after"), rows["quorum"])
    else:
        out += ["No party was seated.", ""]
    out += ["### Standby periods", ""]
    if rows["standby"]:
        table(("Person", "Period"), rows["standby"])
    else:
        out += ["Nobody was released to standby.", ""]
    out += ["## Roll call", "", "| Person | Role | Party / group | Final state | Joined |"]
    out.append("|---|---|---|---|---|")
    for seat in data.roll_call.seats:
        p = seat.participant
        role = p.role.value.replace("_", " ") + (
            f" (deputy for {seat.deputy_for})" if seat.deputy_for else ""
        )
        out.append(
            f"| {md_escape(seat.person.name)} | {md_escape(role)} | {md_escape(seat.unit)} "
            f"| {_final(data, seat)} | {_t(p.joined_at)} |"
        )
    out.append("")
    for title, kind in (("Status reports", "status_report"), ("Directives", "directive")):
        out += [f"## {title}", ""]
        items = _by_kind(data, kind)
        out += [f"- {_t(e.at)} {md_escape(e.actor)}: {md_escape(e.text)}" for e in items] or [
            "None."
        ]
        out.append("")
    out += ["## Communications issued", "", "### Stakeholder updates and press releases", ""]
    statements = _statements(data)
    out += [f"- {md_escape(w)} ({md_escape(k)}): {md_escape(t)}" for w, k, t in statements] or [
        "None published."
    ]
    out += ["", "### Alerts and messages to the response team", ""]
    comms = _comms(data)
    if comms:
        out += ["| Queued | To | Kind | Status | Text |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in comms]
    else:
        out.append("None.")
    out += ["", "## Timeline", ""]
    out += [
        f"- {_t(e.at)} [{md_escape(e.kind)}] {md_escape(e.actor)}: {md_escape(e.text)}"
        for e in data.events
    ]
    out.append("")
    out += ["## What went well", "", _para_md(inc.went_well), ""]
    out += ["## What to improve", "", _para_md(inc.to_improve), ""]
    return "\n".join(out)


def _drill_md(data: ReportData, out: list[str]) -> None:
    drill = _drill(data)
    out += ["### Drill: time to assemble from the first alert", ""]
    out += ["| Step | After the first alert |", "|---|---|"]
    for label, value in drill.timing:
        out.append(f"| {md_escape(label)} | {md_escape(value)} |")
    out += ["", "### Drill: never answered", ""]
    if drill.never:
        out += ["| Person | Role | Party / group | Final state |", "|---|---|---|---|"]
        out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in drill.never]
    else:
        out.append("Everyone alerted answered.")
    out.append("")


def _para_md(text: str) -> str:
    if not text.strip():
        return _TO_FILL
    return "\n".join(md_escape(line) if line.strip() else "" for line in text.splitlines())


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #111; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #999; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
.exercise { border: 3px solid #000; padding: 0.5rem; font-weight: bold; }
.todo { color: #555; font-style: italic; }
svg text { font-family: system-ui, sans-serif; font-size: 11px; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  table, svg { break-inside: avoid; } }
"""

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
_DASHES = ("", "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 2")


def html(data: ReportData) -> str:
    inc = data.incident
    rows = _rows(data)
    e = html_escape
    title = f"{'EXERCISE - ' if inc.exercise else ''}Lessons learnt: {inc.code} {inc.title}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if inc.exercise:
        out.append('<p class="exercise">EXERCISE: this incident was a drill.</p>')
    out.append(f"<p>Generated {e(_t(data.generated_at))}.</p>")

    def table(head: Sequence[str], body: Sequence[Sequence[str]]) -> None:
        out.append("<table>")
        if any(head):
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
        for row in body:
            out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
        out.append("</table>")

    out.append("<h2>Summary</h2>")
    table(("", ""), rows["summary"])
    if inc.description:
        out.append(f"<p>{e(inc.description)}</p>")
    out.append("<h2>Response figures</h2>")
    table(("Figure", "Value"), rows["figures"])
    if inc.exercise:
        drill = _drill(data)
        out.append("<h3>Drill: time to assemble from the first alert</h3>")
        table(("Step", "After the first alert"), drill.timing)
        out.append("<h3>Drill: never answered</h3>")
        if drill.never:
            table(("Person", "Role", "Party / group", "Final state"), drill.never)
        else:
            out.append("<p>Everyone alerted answered.</p>")
    out.append("<h3>Assembly curve</h3>")
    out.append(assembly_svg(data))
    out.append("<h3>Time to quorum per party</h3>")
    if rows["quorum"]:
        table(("Party", "Quorum after"), rows["quorum"])
    else:
        out.append("<p>No party was seated.</p>")
    out.append("<h3>Standby periods</h3>")
    if rows["standby"]:
        table(("Person", "Period"), rows["standby"])
    else:
        out.append("<p>Nobody was released to standby.</p>")
    out.append("<h2>Roll call</h2>")
    table(
        ("Person", "Role", "Party / group", "Final state", "Joined"),
        [
            (
                s.person.name,
                s.participant.role.value.replace("_", " ")
                + (f" (deputy for {s.deputy_for})" if s.deputy_for else ""),
                s.unit,
                _final(data, s),
                _t(s.participant.joined_at),
            )
            for s in data.roll_call.seats
        ],
    )
    for heading, kind in (("Status reports", "status_report"), ("Directives", "directive")):
        out.append(f"<h2>{heading}</h2>")
        items = _by_kind(data, kind)
        if items:
            out.append("<ul>")
            out += [f"<li>{e(_t(x.at))} {e(x.actor)}: {e(x.text)}</li>" for x in items]
            out.append("</ul>")
        else:
            out.append("<p>None.</p>")
    out.append("<h2>Communications issued</h2>")
    out.append("<h3>Stakeholder updates and press releases</h3>")
    statements = _statements(data)
    if statements:
        table(("Published", "What", "Text"), statements)
    else:
        out.append("<p>None published.</p>")
    out.append("<h3>Alerts and messages to the response team</h3>")
    comms = _comms(data)
    if comms:
        table(("Queued", "To", "Kind", "Status", "Text"), comms)
    else:
        out.append("<p>None.</p>")
    out.append("<h2>Timeline</h2>")
    table(
        ("When", "Kind", "Who", "What"), [(_t(x.at), x.kind, x.actor, x.text) for x in data.events]
    )
    for heading, text in (("What went well", inc.went_well), ("What to improve", inc.to_improve)):
        out.append(f"<h2>{heading}</h2>")
        if text.strip():
            out += [f"<p>{e(para)}</p>" for para in text.split("\n\n") if para.strip()]
        else:
            out.append(f'<p class="todo">{e(_TO_FILL)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def assembly_svg(data: ReportData, width: int = 720, height: int = 280) -> str:
    """Participants joined over time, one step line per party or group, quorum marked."""
    f = data.figures
    left, right, top, bottom = 40, 180, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    start, end = f.declared_at, max(data.end, f.declared_at + timedelta(minutes=1))
    span = (end - start).total_seconds()
    peak = max([pt.joined for pts in f.curve.values() for pt in pts] + [1])

    def x(moment: datetime) -> float:
        return left + plot_w * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    def y(count: int) -> float:
        return top + plot_h * (1 - count / peak)

    label = f"Participants joined over time, {one_line(data.incident.code)}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="curve-title">',
        f'<title id="curve-title">{html_escape(label)}</title>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
    ]
    for count in range(peak + 1):
        out.append(f'<text x="{left - 6}" y="{y(count) + 4:.1f}" text-anchor="end">{count}</text>')
    for i in range(5):
        moment = start + (end - start) * i / 4
        out.append(
            f'<text x="{x(moment):.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{moment:%H:%M}</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">time (UTC)</text>'
    )
    order = {"party": 0, "group": 1}
    series = sorted(
        f.curve.items(),
        key=lambda kv: (order.get(kv[0].split(":")[0], 2), data.series_names.get(kv[0], kv[0])),
    )
    for i, (key, points) in enumerate(series):
        colour, dash = _COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)]
        out.append(_step_path(points, end, x, y, colour, dash))
        ly = top + 14 + i * 18
        out.append(
            f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 40}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        name = data.series_names.get(key, key)
        out.append(
            f'<text x="{width - right + 46}" y="{ly}">{html_escape(one_line(name)[:24])}</text>'
        )
    if f.quorum_at is not None:
        qx = x(f.quorum_at)
        out.append(
            f'<line x1="{qx:.1f}" y1="{top}" x2="{qx:.1f}" y2="{top + plot_h}" stroke="#000" '
            'stroke-width="1.5" stroke-dasharray="3 3"/>'
        )
        out.append(
            f'<text x="{qx + 4:.1f}" y="{top + 12}">quorum {format_duration(f.quorum_after)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _step_path(
    points: Sequence[CurvePoint],
    end: datetime,
    x: Any,
    y: Any,
    colour: str,
    dash: str,
) -> str:
    coords = []
    last = None
    for pt in points:
        if last is not None:
            coords.append(f"{x(pt.at):.1f},{y(last):.1f}")
        coords.append(f"{x(pt.at):.1f},{y(pt.joined):.1f}")
        last = pt.joined
    if last is not None:
        coords.append(f"{x(end):.1f},{y(last):.1f}")
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" '
        f'stroke-width="2"{dash_attr}/>'
    )


def as_json(data: ReportData) -> dict[str, Any]:
    """The report's figures as data (`report --format json`), shape documented in docs/cli.md;
    ``drill`` is there for every incident, so scripts need no special case."""
    inc, f = data.incident, data.figures

    def secs(delta: timedelta | None) -> float | None:
        return None if delta is None else delta.total_seconds()

    a = data.assembly
    by_id = {s.participant.id: s for s in data.roll_call.seats}
    return {
        "incident": {
            "code": inc.code,
            "title": inc.title,
            "severity": inc.severity,
            "exercise": inc.exercise,
            "status": inc.status.value,
            "declared_at": inc.declared_at.isoformat(),
            "restored_at": inc.restored_at.isoformat() if inc.restored_at else None,
            "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
        },
        "figures": {
            "first_alert_after_s": secs(f.first_alert_after),
            "first_join_after_s": secs(f.first_join_after),
            "full_quorum_after_s": secs(f.quorum_after),
            "counts": dict(f.counts),
            "party_quorum_after_s": [
                {
                    "party": data.roll_call.party_names.get(pid, f"party {pid}"),
                    "after_s": secs(after),
                }
                for pid, after in f.party_quorum_after.items()
            ],
        },
        "drill": None
        if a is None
        else {
            "first_alert_at": a.first_alert_at.isoformat() if a.first_alert_at else None,
            "party_quorum_after_first_alert_s": [
                {
                    "party": data.roll_call.party_names.get(pid, f"party {pid}"),
                    "after_s": secs(after),
                }
                for pid, after in a.party_quorum_after.items()
            ],
            "full_quorum_after_first_alert_s": secs(a.full_quorum_after),
            "never_answered": [
                {
                    "person": by_id[pid].person.name,
                    "role": by_id[pid].participant.role.value,
                    "unit": by_id[pid].unit,
                    "final_state": _final(data, by_id[pid]),
                }
                for pid in a.never_answered
                if pid in by_id
            ],
        },
    }


def render(ctx: Context, ref: str, fmt: str = "md") -> str:
    data = build(ctx, ref)
    if fmt == "html":
        return html(data)
    if fmt == "md":
        return markdown(data)
    if fmt == "json":
        import json

        return json.dumps(as_json(data), ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


def default_folder(ctx: Context) -> Path:
    """Beside the database, like the backups and the call sheets."""
    return ctx.settings.resolved_db_path().parent / "reports"


def save(ctx: Context, ref: str, folder: Path | None = None) -> list[Path]:
    """The report as Markdown and as HTML (with the assembly curve), each written whole or not
    at all; the same name again replaces the older version of that incident's report."""
    from mim_console.services.callsheet import private_folder, write_atomic

    data = build(ctx, ref)
    where = private_folder(folder or default_folder(ctx))
    paths = []
    for fmt, text in (("md", markdown(data)), ("html", html(data))):
        path = where / f"report-{data.incident.code}.{fmt}"
        write_atomic(path, text)
        paths.append(path)
    return paths
