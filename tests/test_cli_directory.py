"""Directory commands through click's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.data.directory import Directory
from mim_console.data.store import Store
from tests.test_people_csv import MESSY

REPO = Path(__file__).resolve().parents[1]


def run(db: Path, *args: str, stdin: bytes | str | None = None) -> Result:
    # Wide enough that Rich tables do not wrap names the tests look for.
    return CliRunner().invoke(main, ["--db", str(db), *args], input=stdin, env={"COLUMNS": "250"})


def people_rows(db: Path) -> list[dict[str, object]]:
    store = Store(db)
    try:
        return store.query("SELECT * FROM person ORDER BY id")
    finally:
        store.close()


def test_import_messy_file_exit_1_then_nothing_changes(db_path: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "messy.csv"
    csv_file.write_bytes(MESSY)
    first = run(db_path, "import", "people", str(csv_file))
    assert first.exit_code == 1
    assert first.stderr.splitlines()[:2] == [
        'line 3: phone "+358 40" is too short',
        'line 6: repeats id "1001" from line 2',
    ]
    assert "imported 3 people (3 added" in first.stdout
    before = people_rows(db_path)
    second = run(db_path, "import", "people", str(csv_file), "--json")
    assert second.exit_code == 1
    body = json.loads(second.stdout)
    assert (body["added"], body["updated"], body["unchanged"]) == (0, 0, 3)
    assert [r["line"] for r in body["rejected"]] == [3, 6]
    assert people_rows(db_path) == before


def test_import_clean_file_exits_0_and_dry_run_changes_nothing(db_path: Path) -> None:
    data = "id,name,mobile\n1,Aino,040 123 4567\n"
    dry = run(db_path, "import", "people", "-", "--dry-run", stdin=data)
    assert dry.exit_code == 0 and "would import 1 people" in dry.stdout
    assert people_rows(db_path) == []
    assert run(db_path, "import", "people", "-", stdin=data).exit_code == 0
    assert len(people_rows(db_path)) == 1


def test_usage_errors_exit_2(db_path: Path, tmp_path: Path) -> None:
    assert run(db_path, "import", "people", str(tmp_path / "missing.csv")).exit_code == 2
    assert run(db_path, "person", "add", "Bo").exit_code == 2  # --mobile missing
    assert run(db_path, "party", "set-reps", "X").exit_code == 2


def test_file_level_problem_exits_1_with_message(db_path: Path) -> None:
    result = run(db_path, "import", "people", "-", stdin="name;email\nBo;b@x.org\n")
    assert result.exit_code == 1
    assert "line 1: the header has no mobile column" in result.stderr


def test_person_party_group_commands(db_path: Path) -> None:
    assert run(db_path, "party", "add", "Security").exit_code == 0
    added = run(db_path, "person", "add", "Eve", "--mobile", "040 123 4567", "--party",
                "security", "--authority", "--email", "eve@example.org", "--json")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["party"] == "Security"
    run(db_path, "person", "add", "Bo", "--mobile", "+1 201 555 0123")
    bad = run(db_path, "person", "add", "Cy", "--mobile", "09 123 4567")
    assert bad.exit_code == 1 and "is not a mobile number" in bad.stderr
    reps = run(db_path, "party", "set-reps", "Security", "bo", "eve@example.org", "--json")
    assert [r["name"] for r in json.loads(reps.stdout)["representatives"]] == ["Bo", "Eve"]
    assert "Bo has no decision authority" in reps.stderr
    assert run(db_path, "group", "add", "Network", "--category", "network").exit_code == 0
    assert run(db_path, "group", "set-members", "network", "eve", "bo").exit_code == 0
    groups = json.loads(run(db_path, "groups", "--json").stdout)
    assert groups[0]["categories"] == ["network"]
    assert [m["name"] for m in groups[0]["members"]] == ["Eve", "Bo"]
    parties = json.loads(run(db_path, "parties", "--json").stdout)
    assert parties[0]["representatives"][0]["name"] == "Bo"
    edited = run(db_path, "person", "edit", "eve", "--title", "CISO", "--phone2", "", "--json")
    assert json.loads(edited.stdout)["title"] == "CISO"
    assert run(db_path, "person", "deactivate", "bo").exit_code == 0
    active = json.loads(run(db_path, "people", "--json").stdout)
    assert [p["name"] for p in active] == ["Eve"]
    assert active[0]["groups"] == ["Network"]
    assert len(json.loads(run(db_path, "people", "--all", "--json").stdout)) == 2
    run(db_path, "person", "add", "Evelyn", "--mobile", "0401234568")
    assert "CISO" in run(db_path, "person", "show", "eve").stdout  # exact name wins
    ambiguous = run(db_path, "person", "show", "ev")
    assert ambiguous.exit_code == 1 and "matches 2 people" in ambiguous.stderr


def test_markup_names_show_literally(db_path: Path) -> None:
    run(db_path, "person", "add", "[bold red]Eve[/]\x1b[2J", "--mobile", "0401234567")
    listed = run(db_path, "people")
    assert "[bold red]Eve[/]\\x1b[2J" in listed.stdout
    assert "\x1b" not in listed.stdout


def test_export_reimports_unchanged(db_path: Path) -> None:
    assert run(db_path, "demo", "--seed-only").exit_code == 0
    exported = run(db_path, "export", "people", "--delimiter", ";")
    assert exported.exit_code == 0
    assert exported.stdout.startswith("id;name;mobile;")
    again = run(db_path, "import", "people", "-", "--json", stdin=exported.stdout)
    body = json.loads(again.stdout)
    assert again.exit_code == 0 and body["added"] == body["updated"] == 0
    assert body["unchanged"] == len(people_rows(db_path))


def test_demo_never_writes_over_real_data(db_path: Path) -> None:
    run(db_path, "person", "add", "Real", "--mobile", "0401234567")
    result = run(db_path, "demo", "--seed-only")
    assert result.exit_code == 0 and "not seeding" in result.stdout
    assert len(people_rows(db_path)) == 1


def test_real_subprocess_import_and_people_json(db_path: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "messy.csv"
    csv_file.write_bytes(MESSY)
    env = {**os.environ, "MIM_CONSOLE_DB": str(db_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mim_console", *args],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip

    imported = cli("import", "people", str(csv_file))
    assert imported.returncode == 1
    assert 'line 3: phone "+358 40" is too short' in imported.stderr.splitlines()
    listed = cli("people", "--json")
    assert listed.returncode == 0
    names = sorted(p["name"] for p in json.loads(listed.stdout))
    assert names == ["Aino Virtanen", "Cai Koski", "[bold red]Eve[/]"]
    store = Store(db_path)
    assert len(Directory(store).people()) == 3
    store.close()


@pytest.mark.slow
def test_killed_import_leaves_the_database_as_it_was(db_path: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of a real import: afterwards nobody or everybody is there."""
    sys.path.insert(0, str(REPO / "bench"))
    from import_people import make_csv  # type: ignore[import-not-found]

    store = Store(db_path)
    Directory(store).add_person("Existing", "0401234567", email="x@example.org")
    store.close()
    csv_file = tmp_path / "big.csv"
    csv_file.write_text(make_csv(8000), encoding="utf-8")
    env = {**os.environ, "MIM_CONSOLE_DB": str(db_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mim_console", "import", "people", str(csv_file)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3.0)  # well into the rows, well before the end
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    count = len(people_rows(db_path))
    assert count in (1, 8001)
    if still_running:
        assert count == 1
