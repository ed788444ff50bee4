"""The report as Markdown (`mim-console report`, the console's report preview)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mim_console.domain.text import md_escape
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
)

if TYPE_CHECKING:
    from mim_console.services.report import ReportData


def markdown(data: ReportData) -> str:
    inc = data.incident
    rows = summary_rows(data)
    out: list[str] = []
    flag = "EXERCISE - " if inc.exercise else ""
    out.append(f"# {flag}Lessons learnt: {md_escape(inc.code)} {md_escape(inc.title)}")
    out.append("")
    if inc.exercise:
        out += ["**EXERCISE: this incident was a drill.**", ""]
    out.append(generated_line(data))
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
    _bridge_md(data, out, table)
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
            f"| {final_state(data, seat)} | {stamp(p.joined_at, data.zone)} |"
        )
    out.append("")
    for title, kind in (("Status reports", "status_report"), ("Directives", "directive")):
        out += [f"## {title}", ""]
        items = events_of(data, kind)
        out += [
            f"- {stamp(e.at, data.zone)} {md_escape(e.actor)}: {md_escape(e.text)}" for e in items
        ] or ["None."]
        out.append("")
    out += ["## Communications issued", "", "### Stakeholder updates and press releases", ""]
    statements = statement_rows(data)
    out += [f"- {md_escape(w)} ({md_escape(k)}): {md_escape(t)}" for w, k, t in statements] or [
        "None published."
    ]
    out += ["", "### Alerts and messages to the response team", ""]
    comms = message_rows(data)
    texts: dict[str, int] = {}  # each distinct text once, in the appendix
    if comms:
        out += ["| Queued | To | Kind | Status | Text |", "|---|---|---|---|---|"]
        for *cells, text in comms:
            number = texts.setdefault(text, len(texts) + 1)
            cells.append(f"text {number}")
            out.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    else:
        out.append("None.")
    out += ["", "## Timeline", ""]
    out += [
        f"- {stamp(e.at, data.zone)} [{md_escape(e.kind)}] {md_escape(e.actor)}: "
        f"{md_escape(e.text)}"
        for e in data.events
    ]
    out.append("")
    out += ["## What went well", "", _para_md(inc.went_well), ""]
    out += ["## What to improve", "", _para_md(inc.to_improve), ""]
    if texts:
        out += ["## Appendix: message texts", ""]
        out += [f"{n}. {md_escape(text)}" for text, n in texts.items()]
        out.append("")
    return "\n".join(out)


def _bridge_md(
    data: ReportData,
    out: list[str],
    table: Callable[[tuple[str, str], list[tuple[str, str]]], None],
) -> None:
    figures, people = bridge_rows(data)
    if not figures:
        return
    out += ["### The incident bridge", ""]
    table(("Figure", "Value"), figures)
    out += ["| Person | Times on | First on | Last left | Minutes |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in people]
    if not people:
        out.append("| Nobody reached the bridge. | | | | |")
    out.append("")


def _drill_md(data: ReportData, out: list[str]) -> None:
    drill = drill_rows(data)
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
        return TO_FILL
    return "\n".join(md_escape(line) if line.strip() else "" for line in text.splitlines())
