"""The standing fuzz suite (issue 14): every CLI command's arguments, config files and import
files (people CSV, .ics), against a database holding the demo organisation, its rotations and an
incident. Whatever comes in:

* exit status 0, 1 (a problem, explained) or 2 (usage) — never a traceback;
* no half-written file left behind (a ``.tmp``, ``.part`` or ``.partial`` beside a target);
* the database's ``PRAGMA integrity_check`` is ``ok`` and its timeline's hash chain intact.

Modest example counts in the normal run (about 25 s on 2 CPUs); the ``_long`` variants, marked
``slow``, run thousands. Figures in docs/reliability.md, section "Input fuzzing". The argument
strategy is the one of tests/test_reliability_input.py, with far-future and far-past dates,
huge lengths and counts, NaN and infinity added, and the files it names.
"""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.demo import seed_demo
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.slow_gate import slow_only_when_asked  # noqa: F401
from tests.test_reliability_input import COMMANDS, config_files, tricky, words

SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
LEFTOVER = (".tmp", ".part", ".partial")

# What the report's tester typed, and its neighbours.
far = st.sampled_from(
    [
        "9999-12-31T23:59:59+14:00",
        "9999-12-31",
        "0001-01-01",
        "0001-01-01T00:00-12:00",
        "2199-12-31T23:59Z",
        "2200-01-01T00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00Z",
        "2026-12-01T00:00Z",
        "2026-03-29T03:30",
        "100000000000000000000",
        "3000000",
        "1e20",
        "1e308",
        "inf",
        "-inf",
        "nan",
        "-0",
        "0",
        "1",
        "3650",
        "3651",
        "87600",
        "521",
    ]
)
values = st.one_of(far, tricky, words, st.integers(-(2**70), 2**70).map(str))


def _ics(draw: st.DrawFn) -> str:
    """A calendar of a few events with times anywhere in years 1..9999, zones and attendees of
    any kind, and lines left out or broken."""
    stamp = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)).map(  # noqa: DTZ001 - wall times in a file
        lambda d: d.strftime("%Y%m%dT%H%M%S")
    )
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN"]
    for n in range(draw(st.integers(0, 4))):
        start, end = draw(stamp), draw(stamp)
        zone = draw(
            st.sampled_from(["", "Z", ";TZID=Europe/Helsinki", ";TZID=" + "A" * 300, ";TZID=x/y"])
        )
        suffix = "Z" if zone == "Z" else ""
        param = "" if zone in ("", "Z") else zone
        event = [
            "BEGIN:VEVENT",
            f"UID:fuzz-{n}",
            f"DTSTART{param}:{start}{suffix}",
            f"DTEND{param}:{end}{suffix}",
            draw(
                st.sampled_from(
                    [
                        "SUMMARY:On call: Aino Virtanen",
                        "ATTENDEE;CN=Aino Virtanen:mailto:aino.virtanen.1@example.org",
                        'ATTENDEE;CN="broken:mailto:x',
                        "SUMMARY:" + draw(words).replace("\n", " "),
                    ]
                )
            ),
            "END:VEVENT",
        ]
        if draw(st.booleans()):
            del event[draw(st.integers(1, len(event) - 2))]
        lines += event
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _csv(draw: st.DrawFn) -> str:
    header = draw(
        st.sampled_from(
            ["name,mobile,party", "id,name,mobile,email,party,title,decision_authority", ""]
        )
    )
    rows = draw(st.lists(st.lists(st.one_of(values, words), max_size=7), max_size=6))
    return header + "\n" + "\n".join(",".join(cell.replace("\n", " ") for cell in r) for r in rows)


def file_arg(folder: Path) -> st.SearchStrategy[str]:
    """A path in the test's folder: missing, a folder, a .ics or a CSV, or random bytes; or a
    target to write to that already exists as a file."""

    @st.composite
    def make(draw: st.DrawFn) -> str:
        kind = draw(st.sampled_from(["missing", "dir", "ics", "csv", "bytes", "existing"]))
        name = draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))
        path = folder / f"{kind}-{name}"
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "ics":
            path = path.with_suffix(".ics")
            path.write_text(_ics(draw), encoding="utf-8")
        elif kind == "csv":
            path = path.with_suffix(".csv")
            path.write_text(_csv(draw), encoding="utf-8")
        elif kind == "bytes":
            path.write_bytes(draw(st.binary(max_size=300)))
        elif kind == "existing":
            path = path.with_suffix(".md")
            path.write_text("old\n", encoding="utf-8")
        return str(path)

    return make()


def param_values(param: click.Parameter, folder: Path) -> st.SearchStrategy[list[str]]:
    kind = param.type
    if isinstance(kind, click.Choice):
        one: st.SearchStrategy[str] = st.one_of(st.sampled_from(list(kind.choices)), values)
    elif isinstance(kind, click.File | click.Path):
        one = st.one_of(file_arg(folder), file_arg(folder), values)
    elif param.name in ("incident",):
        one = st.one_of(st.just("MI-2026-001"), st.just("MI-2026-001"), values)
    elif param.name in ("rotation_ref",):
        one = st.one_of(st.sampled_from(["Duty managers", "1", "2"]), values)
    elif param.name in ("people", "person", "person_ref", "who"):
        one = st.one_of(st.sampled_from(["Aino Virtanen", "1", "2", "+12015550100"]), values)
    else:
        one = values
    many = param.multiple or getattr(param, "nargs", 1) == -1
    return st.lists(one, min_size=1 if param.required else 0, max_size=3 if many else 1)


@st.composite
def invocations(draw: st.DrawFn, folder: Path) -> list[str]:
    path, cmd = draw(st.sampled_from(COMMANDS))
    args: list[str] = list(path)
    for param in cmd.params:
        if isinstance(param, click.Option):
            if param.is_flag:
                if draw(st.booleans()):
                    args.append(param.opts[-1])
                continue
            if not param.required and not draw(st.booleans()):
                continue
            for value in draw(param_values(param, folder)):
                args += [param.opts[-1], value]
        else:
            args += draw(param_values(param, folder))
    if path == ("watch",):
        args.append("--once")
    return args


@pytest.fixture
def fuzz_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed_demo(ctx.store, datetime.now(UTC))
    IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    yield db_path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.setenv("VISUAL", "true")
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def check(
    db: Path, folder: Path, args: list[str], stdin: str = "", config: Path | None = None
) -> None:
    head = ["--config", str(config)] if config is not None else []
    result = CliRunner().invoke(main, [*head, "--db", str(db), *args], input=stdin)
    shown = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, shown, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "Traceback" not in shown, (args, shown)
    if result.exit_code == 1:
        assert shown.strip(), (args, "exit 1 without a word")
    for where in (folder, Path.cwd(), db.parent):
        left = [p.name for p in where.rglob("*") if p.name.endswith(LEFTOVER)]
        assert not left, (args, left)
    if db.exists():
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", args
            unhashed = conn.execute("SELECT count(*) FROM event WHERE hash IS NULL").fetchone()
            assert unhashed[0] == 0, args
        finally:
            conn.close()


@settings(max_examples=100, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data(), stdin=st.sampled_from(["", "y\n", "n\n"]))
def test_any_arguments(fuzz_db: Path, files: Path, data: st.DataObject, stdin: str) -> None:
    check(fuzz_db, files, data.draw(invocations(files)), stdin)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data(), stdin=st.sampled_from(["", "y\n", "n\n"]))
def test_any_arguments_long(fuzz_db: Path, files: Path, data: st.DataObject, stdin: str) -> None:
    check(fuzz_db, files, data.draw(invocations(files)), stdin)


IMPORTS = st.sampled_from(
    [
        ("rota", "import", "Duty managers"),
        ("rota", "import", "Duty managers", "--prune"),
        ("rota", "import", "2", "--dry-run"),
        ("import", "people"),
        ("import", "people", "--dry-run"),
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data(), command=IMPORTS)
def test_any_import_file(
    fuzz_db: Path, files: Path, data: st.DataObject, command: tuple[str, ...]
) -> None:
    _import_case(fuzz_db, files, data, command)


def _import_case(db: Path, files: Path, data: st.DataObject, command: tuple[str, ...]) -> None:
    fuzz_db = db
    path = files / ("feed.ics" if command[0] == "rota" else "people.csv")
    path.write_text(data.draw(st.composite(_ics if command[0] == "rota" else _csv)()), "utf-8")
    check(fuzz_db, files, [*command, str(path)])
    check(fuzz_db, files, ["duty"])  # whatever was imported, the board still answers
    check(fuzz_db, files, ["rota", "shifts", "Duty managers"])


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=SUPPRESS)
@given(data=st.data(), command=IMPORTS)
def test_any_import_file_long(
    fuzz_db: Path, files: Path, data: st.DataObject, command: tuple[str, ...]
) -> None:
    _import_case(fuzz_db, files, data, command)


huge_numbers = st.sampled_from(["1e308", "1e300", "inf", "nan", "-1", "9223372036854775807", "0"])


@st.composite
def bounded_config(draw: st.DrawFn) -> str:
    """Random config files, with every number key given the numbers of the report too."""
    text = draw(config_files())
    key = draw(
        st.sampled_from(
            [
                "backup_every_hours",
                "backup_keep",
                "max_in_flight",
                "retry_max_age_min",
                "verify_within_days",
            ]
        )
    )
    extra = f"{key} = {draw(huge_numbers)}\n" if draw(st.booleans()) else ""
    escalation = (
        f"[escalation.specialist]\nvoice_after_min = {draw(huge_numbers)}\n"
        if draw(st.booleans())
        else ""
    )
    if f'"{key}" =' in text or "escalation.specialist" in text:
        extra = ""
    return extra + text + escalation


@settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESS)
@given(
    text=bounded_config(),
    command=st.sampled_from([["info"], ["duty"], ["declare", "-t", "x", "--yes"], ["readiness"]]),
)
def test_any_config_file(
    fuzz_db: Path, files: Path, tmp_path: Path, text: str, command: list[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    check(fuzz_db, files, command, config=config)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=SUPPRESS)
@given(
    text=bounded_config(),
    command=st.sampled_from([["info"], ["duty"], ["declare", "-t", "x", "--yes"], ["readiness"]]),
)
def test_any_config_file_long(
    fuzz_db: Path, files: Path, tmp_path: Path, text: str, command: list[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    check(fuzz_db, files, command, config=config)
