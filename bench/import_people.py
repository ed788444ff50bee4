"""How long a large people CSV takes to import, re-import (no change) and export.

    python bench/import_people.py [N]    # default 10,000 people

Deterministic input: N people over 40 parties and 30 groups, national and international
numbers. Prints one line per step; docs/performance.md records the figures.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mim_console.data.directory import Directory
from mim_console.data.people_csv import export_people, import_people
from mim_console.data.store import Store


def make_csv(n: int) -> str:
    lines = ["id;name;mobile;phone2;email;party;seat;title;decision_authority;groups"]
    for i in range(n):
        party = f"Party {i % 40:02d}"
        seat = str(i // 40 + 1) if i // 40 < 3 else ""
        mobile = f"040 {1000000 + i:07d}" if i % 2 else f"+1 201 555 {i % 100:04d}"
        mobile = f"+35840{1000000 + i:07d}" if i % 2 == 0 else mobile
        groups = f"Group {i % 30:02d}|Group {(i * 7) % 30:02d}" if i % 3 == 0 else ""
        lines.append(
            f"E{i:06d};Person {i};{mobile};;p{i}@example.org;{party};{seat};Title {i % 17};"
            f"{'yes' if i % 4 else 'no'};{groups}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    data = make_csv(n).encode()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        directory = Directory(store, clock=lambda: datetime(2026, 3, 2, tzinfo=UTC))
        for label in ("import (empty db)", "re-import (no change)"):
            start = time.perf_counter()
            report = import_people(directory, data)
            took = time.perf_counter() - start
            print(
                f"{label}: {n} rows in {took:.2f} s ({n / took:,.0f} rows/s); "
                f"added {report.added}, unchanged {report.unchanged}, "
                f"rejected {len(report.rejected)}"
            )
        start = time.perf_counter()
        text = export_people(directory)
        print(f"export: {len(text.splitlines()) - 1} rows in {time.perf_counter() - start:.2f} s")
        store.close()


if __name__ == "__main__":
    main()
