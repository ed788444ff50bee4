"""The lessons-learnt report: its data, and Markdown, HTML (with the assembly curve as an
inline SVG chart) or JSON made from it.

Every stored text (titles, names, notes) goes through ``md_escape`` / ``html_escape``: a name like
``<script>`` or ``[x](javascript:…)`` is shown as typed, never interpreted. The HTML carries no
JavaScript and prints in black and white (series differ by dash pattern as well as colour). The
renderers are ``report_markdown`` and ``report_html``, over the rows of ``report_rows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from mim_console.data import comms as comms_repo
from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.outbox import Alert
from mim_console.domain.bridge import BridgeFigures, bridge_figures
from mim_console.domain.comms import Draft
from mim_console.domain.incident import Event, Incident, Role
from mim_console.domain.report import (
    Assembly,
    Figures,
    assembly,
    moves_from,
    response_figures,
)
from mim_console.domain.steering import outcome
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService, RollCall
from mim_console.services.report_html import html
from mim_console.services.report_markdown import markdown
from mim_console.services.report_rows import final_state
from mim_console.services.timezone import display_zone

__all__ = ["ReportData", "as_json", "build", "default_folder", "html", "markdown", "render", "save"]


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
    bridge: BridgeFigures | None = None  # the incident's own bridge, when it had one
    zone: tzinfo = UTC  # the organisation's: every time of the report is shown in it

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
        inc,
        rc,
        events,
        figures,
        names,
        people,
        alerts,
        ctx.clock(),
        statements,
        drill,
        _bridge(rc, events, alerts, ctx.clock()),
        display_zone(ctx),
    )


def _bridge(
    rc: RollCall, events: Sequence[Event], alerts: Sequence[Alert], now: datetime
) -> BridgeFigures | None:
    """Who was on the bridge and when, from the timeline (None: no bridge calls, no joins)."""
    changes = [
        (e.at, int(str(e.data["participant"])), str(e.data.get("change")))
        for e in events
        if e.kind == "bridge" and e.data.get("change") in ("joined", "left")
    ]
    if not changes and not any(a.channel == "bridge" for a in alerts):
        return None
    deciders: dict[int, list[int]] = {}
    for seat in rc.seats:
        p = seat.participant
        if p.party_id is not None and p.role is Role.MRT:
            members = deciders.setdefault(p.party_id, [])
            if seat.person.decision_authority:
                members.append(p.id)
    end = rc.incident.closed_at or now
    return bridge_figures(rc.incident.declared_at, changes, deciders, end)


def as_json(data: ReportData) -> dict[str, Any]:
    """The report's figures as data (`report --format json`), shape documented in docs/cli.md;
    ``drill`` is there for every incident, so scripts need no special case."""
    inc, f = data.incident, data.figures

    def secs(delta: timedelta | None) -> float | None:
        return None if delta is None else delta.total_seconds()

    a = data.assembly
    ends = outcome(inc)
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
            "time_to_restore_s": secs(ends.to_restore),
            "time_to_close_s": secs(ends.to_close),
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
        "bridge": _bridge_json(data),
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
                    "final_state": final_state(data, by_id[pid]),
                }
                for pid in a.never_answered
                if pid in by_id
            ],
        },
    }


def _bridge_json(data: ReportData) -> dict[str, Any] | None:
    b = data.bridge
    if b is None:
        return None

    def secs(delta: timedelta | None) -> float | None:
        return None if delta is None else delta.total_seconds()

    by_id = {s.participant.id: s for s in data.roll_call.seats}
    return {
        "first_on_bridge_after_s": secs(b.first_on_after),
        "quorum_on_bridge_after_s": secs(b.quorum_after),
        "party_on_bridge_after_s": [
            {"party": data.roll_call.party_names.get(pid, f"party {pid}"), "after_s": secs(after)}
            for pid, after in b.party_quorum_after.items()
        ],
        "attendance": [
            {
                "person": by_id[pid].person.name,
                "joins": a.joins,
                "first_joined_at": a.first_at.isoformat() if a.first_at else None,
                "last_left_at": a.last_left_at.isoformat() if a.last_left_at else None,
                "minutes": round(a.seconds / 60, 1),
                "on_bridge": a.on_now,
            }
            for pid, a in sorted(b.attendance.items())
            if pid in by_id
        ],
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
