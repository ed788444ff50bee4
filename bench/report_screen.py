"""Report screen: time from the key that opens it to its first page of the report on screen.

    python bench/report_screen.py [--runs 5] [--json]

On the demo organisation with an incident in progress (every specialist group paged, some
joined, a release and a recall, status reports), in this process with Textual's Pilot driving
the real app headless at 80x24. "First paint" is when the report's own text (not the
"Building…" line) is on screen; `mim-console report` on the same database is timed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_db(path: Path) -> str:
    from mim_console.config import Settings
    from mim_console.services.context import Context
    from mim_console.services.demo import seed
    from mim_console.services.incidents import IncidentService

    ctx = Context(settings=Settings(db_path=path), actor="bench")
    try:
        seed(ctx)
        service = IncidentService(ctx)
        groups = [str(g.id) for g in ctx.directory().groups()]
        code = service.declare(
            title="Card payments failing", severity="SEV1", group_refs=groups, channel="both"
        ).code
        seats = service.roll_call(code).seats
        names = [s.person.name for s in seats]
        service.mark_joined(code, names[: len(names) // 2])
        service.mark_unable(code, names[len(names) // 2 : len(names) // 2 + 2])
        service.release(code, names[:3])
        service.recall(code, names[:2])
        for n in range(5):
            service.status_report(code, f"status {n}: failover in progress", 15)
            service.note(code, f"note {n}")
        return code
    finally:
        ctx.close()


async def first_paint(path: Path, code: str) -> float:
    from textual.widgets import Markdown

    from mim_console.app import make_app
    from mim_console.config import Settings
    from mim_console.services.context import Context

    ctx = Context(settings=Settings(db_path=path), actor="bench")
    app = make_app(ctx, dispatch=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            from mim_console.screens.report import ReportScreen

            start = time.perf_counter()
            app.push_screen(ReportScreen(code))
            while True:
                await asyncio.sleep(0.002)
                screen = app.screen
                if not isinstance(screen, ReportScreen):
                    continue
                shown = screen.query(Markdown)
                # The report's title block is mounted (not the "Building…" line) ...
                if shown and any(
                    "Lessons learnt" in str(h.render()) for h in shown.first().query("MarkdownH1")
                ):
                    break
            # ... and the next screen refresh has painted it.
            painted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            app.call_after_refresh(lambda: painted.done() or painted.set_result(None))
            await painted
            return time.perf_counter() - start
    finally:
        ctx.close()


def cli_report(path: Path, code: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mim_console", "--db", str(path), "report", code],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.db"
        code = make_db(path)
        paints = [asyncio.run(first_paint(path, code)) for _ in range(args.runs)]
        clis = [cli_report(path, code) for _ in range(args.runs)]
    figures: dict[str, Any] = {
        "runs": args.runs,
        "first_paint_median_s": round(statistics.median(paints), 3),
        "first_paint_max_s": round(max(paints), 3),
        "cli_report_median_s": round(statistics.median(clis), 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
