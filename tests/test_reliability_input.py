"""Bad input everywhere: every CLI argument of every command, and stored text that fights back.

The CLI property test walks click's own description of every command (arguments, options, their
types and choices) and feeds each random text, ids, numbers, dates, phones, markup, control
characters and files with random content. Whatever comes in: exit status 0, 1 (a problem,
explained) or 2 (usage), never a traceback, never an exception escaping. The importers, phone and
reply parsing and templates have their own property tests beside their code; this file covers
what ties them together.

Stored text with Rich/Textual markup and terminal control sequences is shown literally in the
console's roll call (Pilot), in the CLI's tables and in the reports (Markdown and HTML escaped).
"""

from __future__ import annotations

import asyncio
import re
import string
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.app import make_app
from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.store import Store
from mim_console.screens.rollcall import RollCallScreen
from mim_console.services import report
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import PEOPLE as SEED_PEOPLE
from tests.incident_seed import seed
from tests.slow_gate import slow_only_when_asked  # noqa: F401
from tests.ui_data import seed_small

# Commands that never return on their own or take over the terminal: covered elsewhere.
SKIP = {("serve",), ("dispatch",), ("demo",), ("standby",), ("drill", "takeover")}
EVIL = "[bold red]Eve[/]\x1b[2J\x1b]0;pwned\x07"

# --- the command table, from click itself --------------------------------------------------


def leaf_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(main)
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, (*path, name))
        elif path not in SKIP:
            found.append((path, cmd))

    walk(main, ())
    return found


COMMANDS = leaf_commands()
SEEDED_NAMES = [p[0] for p in SEED_PEOPLE]

# Text people type or paste: names, codes, markup, control and combining characters, RTL.
words = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30)
# argv as Python sees it: bytes that are not UTF-8 arrive as lone surrogates (surrogateescape).
argv_words = st.text(st.characters(exclude_characters="\x00"), max_size=30)
tricky = st.sampled_from(
    [
        "",
        " ",
        "-",
        "--",
        "MI-2026-001",
        "mi-2026-001",
        "MI-9999-999",
        "Alice Ops",
        "alice",
        "Payments",
        "IT Operations",
        "+358400000001",
        "+358 40",
        "0",
        "-1",
        "1e309",
        "nan",
        "2026-02-30",
        "2026-03-02T25:00",
        "24:00",
        "Europe/Nowhere",
        "../../etc/passwd",
        EVIL,
        "\u202eevil",
        "a" * 5000,
    ]
)
values = st.one_of(tricky, argv_words, st.integers(-(2**70), 2**70).map(str))


def file_arg(folder: Path) -> st.SearchStrategy[str]:
    """A path in the test's folder: missing, a directory, or a file of random text or bytes."""

    @st.composite
    def make(draw: st.DrawFn) -> str:
        kind = draw(st.sampled_from(["missing", "dir", "text", "bytes", "csv"]))
        name = draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))
        path = folder / f"{kind}-{name}"
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "text":
            path.write_text(draw(words), encoding="utf-8")
        elif kind == "bytes":
            path.write_bytes(draw(st.binary(max_size=200)))
        elif kind == "csv":
            rows = draw(st.lists(st.lists(st.one_of(tricky, words), max_size=5), max_size=5))
            path.write_text(
                "name,mobile,party\n" + "\n".join(",".join(r) for r in rows), encoding="utf-8"
            )
        return str(path)

    return make()


def param_values(param: click.Parameter, folder: Path) -> st.SearchStrategy[list[str]]:
    kind = param.type
    if isinstance(kind, click.Choice):
        one: st.SearchStrategy[str] = st.one_of(st.sampled_from(list(kind.choices)), values)
    elif isinstance(kind, click.File | click.Path):
        one = st.one_of(file_arg(folder), values)
    elif param.name in ("incident", "rotation_ref"):
        # Mostly a real one, so the command goes past the lookup and meets the other arguments.
        one = st.one_of(st.just("MI-2026-001"), st.just("MI-2026-001"), values)
    elif param.name in ("people", "person", "person_ref", "who", "group", "party"):
        one = st.one_of(st.sampled_from([*SEEDED_NAMES, "Payments", "Business"]), values)
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
    if draw(st.booleans()):  # sometimes a stray extra word or option
        args.insert(draw(st.integers(0, len(args))), draw(st.sampled_from(["--nope", "x", "-"])))
    return args


@pytest.fixture
def cli_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    yield db_path


def check_invocation(db: Path, args: list[str], stdin: str) -> None:
    result = CliRunner().invoke(main, ["--db", str(db), *args], input=stdin)
    shown = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, shown, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert "Traceback" not in shown, (args, shown)
    if result.exit_code == 1:
        assert shown.strip(), (args, "exit 1 without a word")


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"declare", "note", "import people", "rota import", "person add", "close"} <= names
    assert len(COMMANDS) > 50


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), stdin=st.sampled_from(["", "y\n", "n\n", "\x1b\n"]))
def test_any_arguments_to_any_command(
    cli_db: Path, files: Path, data: st.DataObject, stdin: str
) -> None:
    check_invocation(cli_db, data.draw(invocations(files)), stdin)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where generated files go; an editor that returns at once (``template edit-file``)."""
    monkeypatch.setenv("EDITOR", "true")
    monkeypatch.setenv("VISUAL", "true")
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def test_argv_that_is_not_utf8_is_a_usage_error(cli_db: Path) -> None:
    """A Latin-1 terminal sends bytes Python cannot store as text: exit 2, said plainly."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"mim_console", b"--db", bytes(cli_db)]
        + [b"note", b"MI-2026-001", b"caf\xe9 closed"],
        capture_output=True,
        cwd=root,
        timeout=60,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "Traceback" not in err, err
    assert "argument 5" in err and "not UTF-8" in err


@pytest.mark.parametrize(
    "args",
    [
        ["rota", "create", "x", "--tz", "a" * 5000],  # zoneinfo: "File name too long"
        ["rota", "create", "x", "--tz", "../../etc/passwd"],
        ["note", "MI-2026-001", "\x1b[2J" + "x" * 100_000],
        ["person", "add", EVIL, "--mobile", "+358 40 123 4567 ext. 99999999999999"],
        ["declare", "-t", "", "--yes"],
        ["status-report", "MI-2026-001", "x", "--next-in", "1e309"],
        ["status-report", "MI-2026-001", "x", "--next-in", "nan"],
        ["outbox", "--limit", "-1"],
        ["duty", "--at", "2026-02-30 25:00"],
        ["status", "1180591620717411303423"],  # an id too big for SQLite: OverflowError
        ["spokesperson", "MI-2026-001", "115607661738725048320"],
        ["rota", "gaps", "1180591620717411303424"],
        # Found by the long variant: numbers given as versions and override ids.
        ["comms", "approve", "MI-2026-001", "9223372036854775808", "--by", ""],
        ["comms", "diff", "MI-2026-001", "1", "99999999999999999999"],
        ["rota", "override", "remove", "x", "9223372036854775808"],
        ["status", "\u00b2"],  # "²".isdigit() is True, int("²") fails
        ["person", "show", "#\u00b2"],
        ["restore", "a" * 5000],  # "File name too long" from the file system
        ["comms", "template", "import", "a" * 5000],
        ["note", "MI-2026-001", "caf\udce9"],  # what Python makes of a Latin-1 byte in argv
        ["person", "add", "N\udcffame", "--mobile", "+358401112233"],
    ],
)
def test_known_hard_cases(cli_db: Path, files: Path, args: list[str]) -> None:
    check_invocation(cli_db, args, "")


@pytest.mark.slow
@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), stdin=st.sampled_from(["", "y\n", "n\n"]))
def test_any_arguments_to_any_command_long(
    cli_db: Path, files: Path, data: st.DataObject, stdin: str
) -> None:
    check_invocation(cli_db, data.draw(invocations(files)), stdin)


# --- stored text shown literally ----------------------------------------------------------


def evil_incident(ctx: Context) -> str:
    """An incident where every free-text field holds markup and escape sequences."""
    from mim_console.data.directory import Directory

    directory = Directory(ctx.store, default_region="FI", clock=ctx.clock)
    seed(ctx.store, FROZEN_NOW)
    party = directory.add_party(f"{EVIL} party")
    eve = directory.add_person(
        name=EVIL, mobile="+358400000099", party_id=party.id, decision_authority=True
    )
    chief = directory.add_person(name=f"{EVIL} chief", mobile="+358400000098", party_id=party.id)
    directory.set_representatives(party.id, [chief.id])
    directory.add_group_member(directory.group("Payments").id, eve.id)
    svc = IncidentService(ctx)
    code = svc.declare(title=f"<script>x</script> {EVIL}", severity="SEV1", categories=["cards"])
    svc.mark_joined(code.code, [EVIL])
    svc.note(code.code, f"note {EVIL} <img src=x onerror=alert(1)> | pipe | *star*")
    svc.directive(code.code, f"directive {EVIL}")
    svc.set_spokesperson(code.code, EVIL)
    svc.status_report(code.code, f"status {EVIL} & <b>", next_in_min=30)
    svc.close(code.code, problem_ref=f"PRB {EVIL}", owner=EVIL, went_well=f"<i>{EVIL}</i>")
    return code.code


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [name for name, _ in attrs]


def test_reports_escape_every_stored_text(context: Context) -> None:
    code = evil_incident(context)
    html = report.render(context, code, "html")
    md = report.render(context, code, "md")
    for page in (html, md):
        assert "\x1b" not in page and "\x07" not in page
    parsed = _Tags()
    parsed.feed(html)
    assert not parsed.tags & {"script", "img", "b", "i"}
    assert not [a for a in parsed.attrs if a.startswith("on")]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # Markdown: the note cannot open a tag, a link, emphasis or break the table.
    assert not re.search(r"(?<!\\)<(img|script|b|i)\b", md) and "\\*star\\*" in md
    for line in md.splitlines():
        if line.startswith("|") and "pipe" in line:
            assert "\\|" in line


def test_cli_shows_stored_text_literally(context: Context, db_path: Path) -> None:
    code = evil_incident(context)
    context.close()
    runner = CliRunner()
    for args in (["status", code], ["timeline", code], ["people"], ["parties"]):
        result = runner.invoke(
            main, ["--db", str(db_path), *args], color=True, env={"COLUMNS": "400"}
        )
        assert result.exit_code == 0, result.output
        assert "[bold red]Eve[/]" in result.output, args
        assert "\x1b[2J" not in result.output and "\x07" not in result.output, args


async def test_roll_call_shows_markup_and_escapes_literally(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)  # "[bold red]Eve[/] \x1b[31mEvil" is a primary
    code = IncidentService(context).declare(title=f"Title {EVIL}", severity="SEV2").code
    app = make_app(context, dispatch=False)
    # Wide enough for every column and the whole name (the name grows into the spare width).
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        roll = app.screen
        assert isinstance(roll, RollCallScreen)
        deadline = asyncio.get_running_loop().time() + 10
        while roll.view is None:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await pilot.pause()
        table = roll.query_one("#rc-table")
        cells: list[Any] = [
            str(cell)
            for row in range(table.row_count)  # type: ignore[attr-defined]
            for cell in table.get_row_at(row)  # type: ignore[attr-defined]
        ]
        # The name cell may carry the quorum mark before the name ("◆ …").
        assert any(c.endswith("[bold red]Eve[/] \\x1b[31mEvil") for c in cells)
        assert not any("\x1b" in c for c in cells)
        screen_text = app.export_screenshot()
        assert "[bold red]Eve[/]" in screen_text.replace("&#160;", " ")  # drawn as typed
        assert code in str(roll.query_one("#rc-header").render())
    context.close()


def test_damaged_text_in_the_database_is_still_shown(db_path: Path) -> None:
    """Bytes that are not UTF-8 (written by another tool) do not crash the CLI."""
    ctx = Context(settings=Settings(db_path=db_path), actor="duty manager")
    seed(ctx.store, FROZEN_NOW)
    code = IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    store = Store(db_path)
    with store.write() as db:
        db.execute("UPDATE person SET name = CAST(X'416c69ceff' AS TEXT) WHERE name = 'Alice Ops'")
    store.close()
    for args in (["status", code.code], ["people"]):
        result = CliRunner().invoke(main, ["--db", str(db_path), *args])
        assert result.exit_code in (0, 1), (args, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )


# --- the .ics importer: damaged feeds lose no good event ------------------------------------


def _ics_event(n: int) -> list[str]:
    return [
        "BEGIN:VEVENT",
        f"UID:shift-{n}",
        f"DTSTART:202603{10 + n:02d}T070000Z",
        f"DTEND:202603{11 + n:02d}T070000Z",
        f"SUMMARY:On call: Person {n}",
        f"ATTENDEE:mailto:person{n}@example.org",
        "END:VEVENT",
    ]


ICS_EVENTS = [_ics_event(n) for n in range(3)]


@settings(max_examples=60, deadline=None)
@given(
    victim=st.integers(0, 2),
    line=st.integers(1, 5),
    how=st.sampled_from(["drop", "garble", "replace", "duplicate"]),
    junk=st.text(max_size=40),
)
def test_ics_feed_with_one_damaged_event_keeps_the_others(
    victim: int, line: int, how: str, junk: str
) -> None:
    from zoneinfo import ZoneInfo

    from mim_console.data.ics import parse_feed

    events = [list(e) for e in ICS_EVENTS]
    target = events[victim]
    key = target[line].split(":", 1)[0]
    if how == "drop":
        del target[line]
    elif how == "garble":
        target[line] = junk
    elif how == "replace":
        target[line] = f"{key}:{junk}"
    else:
        target.insert(line, target[line])
    text = "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", *sum(events, []), "END:VCALENDAR", ""]
    )
    feed = parse_feed(text.encode("utf-8", "surrogatepass"), ZoneInfo("Europe/Helsinki"))
    uids = {s.uid for s in feed.shifts}
    others = {f"shift-{n}" for n in range(3) if n != victim}
    # A file-level failure (the parser gives up on the whole file) is allowed only when the
    # damage made the file itself invalid iCalendar, and then it says so with a line number.
    if not feed.shifts and feed.problems:
        assert any("line" in str(p) or "file" in str(p) for p in feed.problems), feed.problems
        return
    assert others <= uids, (how, key, junk, feed.problems)
    for problem in feed.problems:
        assert str(problem).strip()


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=400)
    | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_ics_parser_never_raises(data: bytes) -> None:
    from zoneinfo import ZoneInfo

    from mim_console.data.ics import parse_feed

    feed = parse_feed(data, ZoneInfo("UTC"))
    assert feed.shifts or feed.problems or feed.skipped >= 0


# --- a config file nobody checked -------------------------------------------------------------

SETTING_KEYS = {
    None: [
        "default_region",
        "organisation",
        "max_in_flight",
        "retry_max_age_min",
        "verify_within_days",
        "declare_criteria",
        "backup_dir",
        "backup_keep",
        "backup_every_hours",
        "db_path",
        "nonsense",
    ],
    "twilio": ["account_sid", "auth_token", "sender", "api_url", "callback_url", "api_key"],
    "bridge": ["number", "pin", "url"],
    "escalation.mrt": ["voice_after_min", "deputy_after_min"],
    "keymap": ["rollcall.unable", "duty.declare", "x"],
}
toml_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
)


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value) if isinstance(value, list) else str(value)


@st.composite
def config_files(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for section, keys in SETTING_KEYS.items():
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
        if section is not None and (chosen or draw(st.booleans())):
            if draw(st.booleans()):
                lines.append(f"[{section}]")
            else:  # the section given as a plain value instead of a table
                lines.insert(0, f"{section.split('.')[0]} = {_toml_value(draw(toml_values))}")
                continue
        for key in chosen:
            lines.append(f'"{key}" = {_toml_value(draw(toml_values))}')
    return "\n".join(lines) + "\n"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=config_files(), command=st.sampled_from([["info"], ["duty"], ["status", "MI-2026-001"]])
)
def test_any_config_file(cli_db: Path, tmp_path: Path, text: str, command: list[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "--db", str(cli_db), *command])
    shown = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exit_code in (0, 1), (text, shown, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        text,
        repr(result.exception),
    )
    if result.exit_code == 1:
        assert "config.toml" in shown, (text, shown)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[escalation]\nmrt = 5\n", "[escalation.mrt] must be a table"),  # was a TypeError
        ('[escalation.mrt]\nvoice_after_min = "abc"\n', "voice_after_min"),  # timers never ran
        ("[escalation.mrt]\ndeputy_after_min = -1\n", "deputy_after_min"),
        ("[escalation.specialist]\nvoice_after_min = nan\n", "voice_after_min"),
        ("default_region = 5\n", "default_region"),  # was an AttributeError at `person add`
        ("organisation = [1, 2]\n", "organisation"),
        ('[keymap]\n"rollcall.unable" = 5\n', "rollcall.unable"),
        ("max_in_flight = true\n", "max_in_flight"),
        ("[twilio]\nauth_token = 918273645\n", "auth_token"),
    ],
)
def test_known_bad_config_files(cli_db: Path, tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "--db",
            str(cli_db),
            "person",
            "add",
            "X Y",
            "--mobile",
            "040 1234567",
        ],
    )
    assert result.exit_code == 1 and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert named in result.stderr and "config.toml" in result.stderr
    assert "918273645" not in result.stderr  # a secret is never echoed, even a wrong one
