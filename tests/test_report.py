"""The lessons-learnt report: right figures, every event, stored text escaped, SVG chart."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mim_console.config import Settings
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, seed

EVIL = "[bold red]Eve[/] <script>alert(1)</script> *x* | \x1b[31m"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(FROZEN_NOW)


@pytest.fixture
def ctx(db_path: Path, clock: FakeClock) -> Iterator[Context]:
    c = Context(settings=Settings(db_path=db_path), clock=clock, actor="dm")
    seed(c.store, clock.now)
    yield c
    c.close()


def run_incident(ctx: Context, clock: FakeClock, *, exercise: bool = False, title: str = "") -> str:
    svc = IncidentService(ctx)
    code = svc.declare(
        title=title or "Payments down",
        severity="SEV1",
        categories=["payments"],
        exercise=exercise,
    ).code
    clock.advance(minutes=2)
    svc.mark_joined(code, ["Alice Ops", "Sam Spec"])
    clock.advance(minutes=1)
    svc.mark_unable(code, ["Dan Biz"])  # Erin is alerted
    clock.advance(minutes=2)
    svc.mark_joined(code, ["Erin Biz", "Frank Comms", "Tina Spec", "Uma Spec"])  # quorum at +5
    clock.advance(minutes=5)
    svc.release(code, ["Tina Spec", "Uma Spec"])
    clock.advance(minutes=10)
    svc.recall(code, ["Tina Spec"])
    svc.set_spokesperson(code, "Sam Spec")
    svc.status_report(code, "Switch rebooted", next_in_min=30)
    svc.directive(code, "Cards before invoices")
    clock.advance(minutes=40)
    svc.close(code, problem_ref="PRB-77", owner="Alice Ops", summary="switch firmware")
    return code


def test_figures_in_markdown(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock)
    md = report.render(ctx, code, "md")
    assert f"Lessons learnt: {code}" in md
    assert "| Time to first join | 2 min 00 s |" in md
    assert "| Time to full quorum | 5 min 00 s |" in md
    assert "| IT Operations | 2 min 00 s |" in md
    assert "| Business | 5 min 00 s |" in md
    assert "| Alerted | 7 |" in md and "| Joined | 6 |" in md and "| Unable | 1 |" in md
    assert "| Released to standby | 2 |" in md
    # Tina was recalled after 10 min; Uma stayed on standby until the close stood her down.
    assert "| Tina Spec | 2026-03-02 08:10:00 to 2026-03-02 08:20:00 (10 min 00 s) |" in md
    assert "| Uma Spec | 2026-03-02 08:10:00 to 2026-03-02 09:00:00 (50 min 00 s) |" in md
    assert "PRB-77" in md
    assert "Switch rebooted" in md and "Cards before invoices" in md
    assert "to be filled in by the duty manager" in md
    data = report.build(ctx, code)
    for event in data.events:  # every event is on the timeline
        assert f"[{event.kind}]" in md.replace("\\_", "_")


def test_lessons_fill_the_sections(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock)
    IncidentService(ctx).lessons(code, went_well="Fast quorum", to_improve="Deputy list")
    md = report.render(ctx, code, "md")
    assert "## What went well\n\nFast quorum" in md
    assert "## What to improve\n\nDeputy list" in md


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_stored_text_and_has_no_script(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock, title=EVIL)
    page = report.render(ctx, code, "html")
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "<script>" not in page and "\x1b" not in page
    assert "&lt;script&gt;" in page and "[bold red]Eve[/]" in page
    md = report.render(ctx, code, "md")
    assert "\x1b" not in md and "\\<script\\>" in md and "\\[bold red\\]" in md


def test_html_svg_curve_marks_quorum(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock)
    page = report.render(ctx, code, "html")
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    root = ET.fromstring(svg.group(0))  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 4  # three parties and the Payments group
    labels = [t.text or "" for t in root.iter(f"{ns}text")]
    assert "quorum 5 min 00 s" in labels
    assert {"IT Operations", "Business", "Communications", "Payments"} <= set(labels)
    assert "@media print" in page


def test_exercise_is_flagged(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock, exercise=True)
    assert report.render(ctx, code, "md").startswith("# EXERCISE")
    assert "EXERCISE: this incident was a drill." in report.render(ctx, code, "html")


def test_report_of_a_fresh_incident(ctx: Context) -> None:
    code = IncidentService(ctx).declare(title="x", severity="SEV2", categories=["cards"]).code
    md = report.render(ctx, code, "md")
    assert "| Time to first join | - |" in md
    assert "Nobody was released to standby." in md
    assert "<svg" in report.render(ctx, code, "html")


def test_published_statements_are_in_the_report(ctx: Context, clock: FakeClock) -> None:
    from mim_console.services.comms import CommsService

    svc = IncidentService(ctx)
    code = svc.declare(title="Cards down", severity="SEV1", categories=["cards"]).code
    comms = CommsService(ctx)
    draft = comms.draft(code, "press_release", "We are <restoring> card payments.")
    comms.approve(code, "press_release", draft.version, "Alice Ops", without_joining=True)
    comms.publish(code, "press_release", draft.version, "manual", "newsroom")
    unpublished = comms.draft(code, "stakeholder_update", "Never sent")
    assert unpublished.published_at is None
    md = report.render(ctx, code, "md")
    assert "press release v1, approved by Alice Ops, published on manual" in md
    assert "We are \\<restoring\\> card payments." in md and "Never sent" not in md
    page = report.render(ctx, code, "html")
    assert "We are &lt;restoring&gt; card payments." in page


def test_roll_call_shows_the_state_at_close(ctx: Context, clock: FakeClock) -> None:
    code = run_incident(ctx, clock)
    md = report.render(ctx, code, "md")
    assert "| Uma Spec | specialist | Payments | standby, stood down |" in md
    assert "| Dan Biz | mrt | Business | unable, stood down |" in md
    assert "| Alice Ops | mrt | IT Operations | joined, stood down |" in md


def test_curve_labels_never_overlap_the_legend_with_long_party_names(
    ctx: Context, clock: FakeClock
) -> None:
    long_name = "Contoso Networks (vendor) – managed WAN and data centre interconnect"
    with ctx.store.write() as db:
        db.execute("UPDATE party SET name = ? WHERE name = 'Business'", [long_name])
    code = run_incident(ctx, clock)
    svg = re.search(r"<svg.*?</svg>", report.render(ctx, code, "html"), re.S)
    assert svg is not None
    root = ET.fromstring(svg.group(0))
    ns = "{http://www.w3.org/2000/svg}"
    width = float(root.get("width") or 0)
    plot = root.find(f"{ns}rect")
    assert plot is not None
    left, plot_w = float(plot.get("x") or 0), float(plot.get("width") or 0)
    plot_bottom = float(plot.get("y") or 0) + float(plot.get("height") or 0)
    texts = {t.text or "": t for t in root.iter(f"{ns}text")}
    assert long_name in texts  # whole, not clipped
    axis_y = float(texts["time (UTC)"].get("y") or 0)
    legend = [texts[n] for n in (long_name, "IT Operations", "Communications", "Payments")]
    assert all(float(t.get("y") or 0) > axis_y > plot_bottom for t in legend)  # under it all
    char = 7.5  # a generous glyph width at the default 16px sans-serif
    for t in legend:
        assert float(t.get("x") or 0) + char * len(t.text or "") <= width
    quorum = next(t for name, t in texts.items() if name.startswith("quorum"))
    qx, extent = float(quorum.get("x") or 0), char * len(quorum.text or "")
    if quorum.get("text-anchor") == "end":
        assert left <= qx - extent
    else:
        assert qx + extent <= left + plot_w  # inside the plot, clear of everything else
