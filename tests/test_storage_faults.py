"""Storage faults: a full disk or a read-only database mid-write gives a clear message and
leaves the database exactly as it was."""

from __future__ import annotations

import pytest

from mim_console.data.store import Store
from mim_console.errors import StorageError


def _fill_parties(store: Store, count: int, prefix: str) -> None:
    with store.write() as db:
        for i in range(count):
            db.table("party").insert({"name": f"{prefix}{i}", "description": "x" * 2000})


def test_disk_full_mid_transaction_rolls_back_whole(store: Store) -> None:
    _fill_parties(store, 3, "kept")
    pages = store.query("PRAGMA page_count")[0]["page_count"]
    # SQLite's own way to make the file "full": it cannot grow past this many pages.
    store.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StorageError, match="disk .* is full: nothing was saved"):
        _fill_parties(store, 200, "lost")
    names = [r["name"] for r in store.query("SELECT name FROM party ORDER BY name")]
    assert names == ["kept0", "kept1", "kept2"]
    # Once space is back, the same write succeeds.
    store.db.execute("PRAGMA max_page_count = 1073741823")
    _fill_parties(store, 2, "later")
    assert store.query("SELECT count(*) AS n FROM party")[0]["n"] == 5


def test_read_only_database_refuses_writes_clearly(store: Store) -> None:
    _fill_parties(store, 1, "kept")
    store.db.execute("PRAGMA query_only = ON")
    with pytest.raises(StorageError, match="read-only: nothing was saved"):
        _fill_parties(store, 1, "lost")
    # Reading still works: the console keeps showing what it has.
    assert [r["name"] for r in store.query("SELECT name FROM party")] == ["kept0"]
