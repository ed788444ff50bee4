"""The report as one HTML page with the assembly curve as an inline SVG chart: no JavaScript,
prints in black and white (series differ by dash pattern as well as colour)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mim_console.domain.report import CurvePoint, format_duration
from mim_console.domain.text import html_escape, one_line
from mim_console.services.report_rows import (
    TO_FILL,
    bridge_rows,
    drill_rows,
    events_of,
    final_state,
    generated_line,
    message_rows,
    stamp,
    statement_rows,
    summary_rows,
    zone_name,
)

if TYPE_CHECKING:
    from mim_console.services.report import ReportData


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
    out.append(f"<p>{e(generated_line(data))}</p>")
    _figures(data, out)
    _people(data, out)
    _communications(data, out)
    out.append("<h2>Timeline</h2>")
    _table(
        out,
        ("When", "Kind", "Who", "What"),
        [(stamp(x.at, data.zone), x.kind, x.actor, x.text) for x in data.events],
    )
    for heading, text in (("What went well", inc.went_well), ("What to improve", inc.to_improve)):
        out.append(f"<h2>{heading}</h2>")
        if text.strip():
            out += [f"<p>{e(para)}</p>" for para in text.split("\n\n") if para.strip()]
        else:
            out.append(f'<p class="todo">{e(TO_FILL)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _table(out: list[str], head: Sequence[str], body: Sequence[Sequence[str]]) -> None:
    e = html_escape
    out.append("<table>")
    if any(head):
        out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
    for row in body:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")


def _figures(data: ReportData, out: list[str]) -> None:
    """Summary, response figures (the drill's too), the curve, quorum and standby."""
    inc = data.incident
    rows = summary_rows(data)
    out.append("<h2>Summary</h2>")
    _table(out, ("", ""), rows["summary"])
    if inc.description:
        out.append(f"<p>{html_escape(inc.description)}</p>")
    out.append("<h2>Response figures</h2>")
    _table(out, ("Figure", "Value"), rows["figures"])
    if inc.exercise:
        drill = drill_rows(data)
        out.append("<h3>Drill: time to assemble from the first alert</h3>")
        _table(out, ("Step", "After the first alert"), drill.timing)
        out.append("<h3>Drill: never answered</h3>")
        if drill.never:
            _table(out, ("Person", "Role", "Party / group", "Final state"), drill.never)
        else:
            out.append("<p>Everyone alerted answered.</p>")
    out.append("<h3>Assembly curve</h3>")
    out.append(assembly_svg(data))
    out.append("<h3>Time to quorum per party</h3>")
    if rows["quorum"]:
        _table(out, ("Party", "Quorum after"), rows["quorum"])
    else:
        out.append("<p>No party was seated.</p>")
    figures, people = bridge_rows(data)
    if figures:
        out.append("<h3>The incident bridge</h3>")
        _table(out, ("Figure", "Value"), figures)
        if people:
            _table(out, ("Person", "Times on", "First on", "Last left", "Minutes"), people)
        else:
            out.append("<p>Nobody reached the bridge.</p>")
    out.append("<h3>Standby periods</h3>")
    if rows["standby"]:
        _table(out, ("Person", "Period"), rows["standby"])
    else:
        out.append("<p>Nobody was released to standby.</p>")


def _people(data: ReportData, out: list[str]) -> None:
    """The roll call, the status reports and the directives."""
    out.append("<h2>Roll call</h2>")
    _table(
        out,
        ("Person", "Role", "Party / group", "Final state", "Joined"),
        [
            (
                s.person.name,
                s.participant.role.value.replace("_", " ")
                + (f" (deputy for {s.deputy_for})" if s.deputy_for else ""),
                s.unit,
                final_state(data, s),
                stamp(s.participant.joined_at, data.zone),
            )
            for s in data.roll_call.seats
        ],
    )
    e = html_escape
    for heading, kind in (("Status reports", "status_report"), ("Directives", "directive")):
        out.append(f"<h2>{heading}</h2>")
        items = events_of(data, kind)
        if items:
            out.append("<ul>")
            out += [
                f"<li>{e(stamp(x.at, data.zone))} {e(x.actor)}: {e(x.text)}</li>" for x in items
            ]
            out.append("</ul>")
        else:
            out.append("<p>None.</p>")


def _communications(data: ReportData, out: list[str]) -> None:
    out.append("<h2>Communications issued</h2>")
    out.append("<h3>Stakeholder updates and press releases</h3>")
    statements = statement_rows(data)
    if statements:
        _table(out, ("Published", "What", "Text"), statements)
    else:
        out.append("<p>None published.</p>")
    out.append("<h3>Alerts and messages to the response team</h3>")
    comms = message_rows(data)
    if comms:
        _table(out, ("Queued", "To", "Kind", "Status", "Text"), comms)
    else:
        out.append("<p>None.</p>")


LEGEND_ROW = 18
LEGEND_NAME = 80  # characters of a series name in the legend (longer ones end in "…")


def assembly_svg(data: ReportData, width: int = 720, height: int = 280) -> str:
    """Participants joined over time, one step line per party or group, quorum marked.

    The legend sits under the plot, a full-width row per series (names whole up to
    ``LEGEND_NAME`` characters), so no label can overlap it or be clipped by the edge."""
    f = data.figures
    left, right, top, bottom = 40, 20, 20, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    legend_top = height + 8
    height += 8 + LEGEND_ROW * len(f.curve)
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
            f"{moment.astimezone(data.zone):%H:%M}</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{legend_top - 14}" text-anchor="middle">'
        f"time ({html_escape(zone_name(data.zone))})</text>"
    )
    order = {"party": 0, "group": 1}
    series = sorted(
        f.curve.items(),
        key=lambda kv: (order.get(kv[0].split(":")[0], 2), data.series_names.get(kv[0], kv[0])),
    )
    for i, (key, points) in enumerate(series):
        colour, dash = _COLOURS[i % len(_COLOURS)], _DASHES[i % len(_DASHES)]
        out.append(_step_path(points, end, x, y, colour, dash))
        ly = legend_top + 12 + i * LEGEND_ROW
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 28}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
        name = one_line(data.series_names.get(key, key))
        if len(name) > LEGEND_NAME:
            name = name[: LEGEND_NAME - 1] + "…"
        out.append(f'<text x="{left + 34}" y="{ly}">{html_escape(name)}</text>')
    if f.quorum_at is not None:
        qx = x(f.quorum_at)
        out.append(
            f'<line x1="{qx:.1f}" y1="{top}" x2="{qx:.1f}" y2="{top + plot_h}" stroke="#000" '
            'stroke-width="1.5" stroke-dasharray="3 3"/>'
        )
        # Inside the plot, on the side of the line that has room: never past the plot's edge.
        words = f"quorum {format_duration(f.quorum_after)}"
        if qx > left + plot_w / 2:
            anchor, tx = "end", qx - 4
        else:
            anchor, tx = "start", qx + 4
        out.append(
            f'<text x="{tx:.1f}" y="{top + 12}" text-anchor="{anchor}">{html_escape(words)}</text>'
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
