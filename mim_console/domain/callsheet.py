"""The printable call sheet: who to phone, in call order, when nothing else works.

Pure rendering of an already-ordered sheet into plain text, Markdown or HTML. Every stored text
goes through the literal-text helpers, so a name can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mim_console.domain.text import html_escape, md_escape, one_line

FORMATS = ("txt", "md", "html")


@dataclass(frozen=True)
class Entry:
    name: str
    role: str  # "primary", "deputy 1", "member 2", "duty manager"…
    phones: tuple[str, ...]
    title: str = ""
    state: str = ""  # roll-call state when printed for an incident
    authority: bool = False


@dataclass(frozen=True)
class Section:
    heading: str  # "Duty manager", "MRT — Finance", "Specialists — Network"
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class CallSheet:
    title: str  # "Call sheet" or "MI-2026-007 Payments down"
    generated_at: datetime  # on the organisation's wall clock: the sheet's times are in its zone
    bridge: tuple[str, str, str]  # number, pin, url
    script: str
    sections: tuple[Section, ...]
    exercise: bool = False


def _bridge_lines(sheet: CallSheet) -> list[str]:
    number, pin, url = sheet.bridge
    lines = []
    if number:
        lines.append(f"Bridge: {number}" + (f"  PIN {pin}" if pin else ""))
    if url:
        lines.append(f"Bridge URL: {url}")
    return lines or ["Bridge: not configured"]


def _stamp(sheet: CallSheet) -> str:
    """When, and the zone every time on the sheet is in (said once)."""
    moment = sheet.generated_at
    zone = getattr(moment.tzinfo, "key", None) or moment.tzname() or "local time"
    return f"{moment:%Y-%m-%d %H:%M} (times in {zone})"


def render(sheet: CallSheet, fmt: str) -> str:
    if fmt == "txt":
        return render_text(sheet)
    if fmt == "md":
        return render_markdown(sheet)
    if fmt == "html":
        return render_html(sheet)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _state(entry: Entry) -> str:
    return f" [{entry.state}]" if entry.state else ""


def render_text(sheet: CallSheet) -> str:
    out = []
    if sheet.exercise:
        out.append("EXERCISE - EXERCISE - EXERCISE")
    out += [one_line(sheet.title), f"Printed {_stamp(sheet)}", *_bridge_lines(sheet), ""]
    out += ["Script to read:", *(f"  {one_line(line)}" for line in sheet.script.splitlines()), ""]
    for section in sheet.sections:
        out.append(one_line(section.heading))
        out.append("-" * min(len(section.heading), 60))
        for n, entry in enumerate(section.entries, 1):
            who = one_line(entry.name) + (f", {one_line(entry.title)}" if entry.title else "")
            star = " *" if entry.authority else ""
            out.append(f"{n:>2}. [ ] {who} ({entry.role}){star}{_state(entry)}")
            for phone in entry.phones:
                out.append(f"       {phone}")
        out.append("")
    out.append(
        "* = decision authority. Tick the box when reached; note joined / unable / voicemail."
    )
    return "\n".join(out) + "\n"


def render_markdown(sheet: CallSheet) -> str:
    out = []
    if sheet.exercise:
        out.append("**EXERCISE**\n")
    out += [f"# {md_escape(sheet.title)}", "", f"Printed {_stamp(sheet)}", ""]
    out += [f"- {md_escape(line)}" for line in _bridge_lines(sheet)]
    out += ["", "## Script to read", ""]
    out += [f"> {md_escape(line)}" for line in sheet.script.splitlines()]
    for section in sheet.sections:
        out += ["", f"## {md_escape(section.heading)}", ""]
        out += ["| # | Reached | Name | Role | Phones | State |", "|---|---|---|---|---|---|"]
        for n, entry in enumerate(section.entries, 1):
            name = md_escape(entry.name) + (f", {md_escape(entry.title)}" if entry.title else "")
            role = entry.role + (" (decides)" if entry.authority else "")
            phones = "<br>".join(md_escape(p) for p in entry.phones)
            out.append(f"| {n} | [ ] | {name} | {role} | {phones} | {md_escape(entry.state)} |")
    return "\n".join(out) + "\n"


def render_html(sheet: CallSheet) -> str:
    e = html_escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(sheet.title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "width:100%;margin-bottom:1em}td,th{border:1px solid #444;padding:.3em;text-align:left}"
        ".ex{font-weight:bold;border:2px solid #000;padding:.3em}"
        "@media print{h2{page-break-after:avoid}tr{page-break-inside:avoid}}</style>",
        "</head><body>",
    ]
    if sheet.exercise:
        parts.append('<p class="ex">EXERCISE</p>')
    parts.append(f"<h1>{e(sheet.title)}</h1><p>Printed {e(_stamp(sheet))}</p>")
    parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in _bridge_lines(sheet)) + "</ul>")
    parts.append("<h2>Script to read</h2><blockquote>")
    parts.append("<br>".join(e(line) for line in sheet.script.splitlines()) + "</blockquote>")
    for section in sheet.sections:
        parts.append(f"<h2>{e(section.heading)}</h2><table>")
        parts.append(
            "<tr><th>#</th><th>Reached</th><th>Name</th><th>Role</th><th>Phones</th>"
            "<th>State</th></tr>"
        )
        for n, entry in enumerate(section.entries, 1):
            name = e(entry.name) + (f", {e(entry.title)}" if entry.title else "")
            role = e(entry.role) + (" (decides)" if entry.authority else "")
            phones = "<br>".join(e(p) for p in entry.phones)
            parts.append(
                f"<tr><td>{n}</td><td>&#9744;</td><td>{name}</td><td>{role}</td>"
                f"<td>{phones}</td><td>{e(entry.state)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
