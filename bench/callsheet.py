"""The call sheet on a large directory: how long `mim-console callsheet` and the `k` key take.

Builds the large database of ``bench/gen_large.py`` (10,000 people, 200 parties, 200 specialist
groups, a duty rotation, 200,000 events), then times building and rendering the duty board's
sheet and the sheet of an incident that pages every party and every group, and writing it
(txt + html, fsync'd) the way the console's `k` does.

    python bench/callsheet.py [--people 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gen_large import CATEGORIES, generate
from mim_console.config import BridgeSettings, Settings
from mim_console.domain.callsheet import render
from mim_console.services import callsheet
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.db"
        generate(path, args.people, 200, 200, 500, args.events)
        settings = Settings(db_path=path, bridge=BridgeSettings(number="+358 9 1234 5678"))
        ctx = Context(settings=settings, clock=lambda: NOW)
        # An incident touching every service: every party's seat and all 200 groups paged.
        code = (
            IncidentService(ctx)
            .declare(title="Everything is down", severity="SEV1", categories=CATEGORIES)
            .code
        )
        for label, ref in (("duty board", None), (f"incident {code}", code)):
            sheet = callsheet.build(ctx, ref)
            build = timed(lambda ref=ref: callsheet.build(ctx, ref), args.repeat)  # type: ignore[misc]
            txt = timed(lambda sheet=sheet: render(sheet, "txt"), args.repeat)  # type: ignore[misc]
            html = timed(lambda sheet=sheet: render(sheet, "html"), args.repeat)  # type: ignore[misc]
            save = timed(
                lambda ref=ref: callsheet.save(ctx, ref, folder=Path(tmp) / "sheets"),  # type: ignore[misc]
                args.repeat,
            )
            print(
                f"{label}: {len(sheet.sections)} sections, {sheet.people_count} people; "
                f"build {ms(build)}; render txt {ms(txt)}, html {ms(html)}; "
                f"build + write txt and html {ms(save)}"
            )
        ctx.close()


if __name__ == "__main__":
    main()
