"""Files the console writes (issue 14, item 4) and text it prints (item 9).

A call sheet is a 0600 file of phone numbers: `callsheet -o PATH` used to replace whatever was
at PATH (a device node, a FIFO, a symlink). Now only a new path or a regular file is written,
whole; a character device is written into, never replaced; `-o -` is standard output.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.data.backup import take_backup_of_file
from mim_console.data.files import write_file
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import seed

EVIL = "[bold red]Eve[/] \x1b[31mEvil"


@pytest.fixture
def cli_db(db_path: Path) -> Iterator[Path]:
    ctx = Context(settings=Settings(db_path=db_path), clock=lambda: FROZEN_NOW, actor="dm")
    seed(ctx.store, FROZEN_NOW)
    IncidentService(ctx).declare(title="Cards down", severity="SEV1", categories=["cards"])
    ctx.close()
    yield db_path


def run(db: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


WRITERS = [
    ("callsheet", "-o"),
    ("callsheet", "MI-2026-001", "-o"),
    ("report", "MI-2026-001", "-o"),
    ("rota", "export", "1", "--from", "2026-03-01", "--to", "2026-03-20"),  # FILE at the end
]


def _args(writer: tuple[str, ...], target: Path) -> list[str]:
    if writer[0] == "rota":
        return [*writer[:3], str(target), *writer[3:]]
    return [*writer, str(target)]


@pytest.fixture
def rota_db(cli_db: Path) -> Path:
    assert (
        run(cli_db, "rota", "create", "Duty", "--tz", "UTC", "--start", "2026-03-01").exit_code == 0
    )
    return cli_db


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w[:2]))
def test_a_fifo_is_refused_and_stays_a_fifo(
    rota_db: Path, tmp_path: Path, writer: tuple[str, ...]
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run(rota_db, *_args(writer, fifo))  # would block forever if it were opened
    assert result.exit_code == 1
    assert "it is a named pipe (FIFO), not a file; nothing was written" in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w[:2]))
def test_a_symlink_is_not_followed_nor_replaced(
    rota_db: Path, tmp_path: Path, writer: tuple[str, ...]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "link.txt"
    link.symlink_to(victim)
    result = run(rota_db, *_args(writer, link))
    assert result.exit_code == 1
    assert "it is a symbolic link (to " in result.stderr and "not followed" in result.stderr
    assert link.is_symlink() and victim.read_text() == "keep me\n"
    assert not list(tmp_path.glob(".link.txt.*"))  # no temporary file left behind


def test_a_device_node_is_written_into_never_replaced(cli_db: Path, tmp_path: Path) -> None:
    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    result = run(cli_db, "callsheet", "-o", str(node))
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert stat.S_ISCHR(os.lstat(node).st_mode)  # it was replaced by a 0600 file before


def test_report_to_dev_full_says_no_space(cli_db: Path) -> None:
    result = run(cli_db, "report", "MI-2026-001", "-o", "/dev/full")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    sheet = run(cli_db, "callsheet", "-o", "/dev/full")
    assert sheet.exit_code == 1 and "No space left on device" in sheet.stderr
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


def test_dash_is_standard_output(cli_db: Path, tmp_path: Path) -> None:
    sheet = run(cli_db, "callsheet", "MI-2026-001", "-o", "-")
    assert sheet.exit_code == 0 and "Call sheet" in sheet.output
    report = run(cli_db, "report", "MI-2026-001", "-o", "-")
    assert report.exit_code == 0 and "MI-2026-001" in report.output
    assert not Path("-").exists()


def test_a_regular_file_is_replaced_whole_and_private(cli_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "sheet.md"
    target.write_text("old")
    assert run(cli_db, "callsheet", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("#") and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".sheet.md.*"))


def test_close_refuses_a_fifo_for_the_problem_case_before_closing(
    cli_db: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "case.json"
    os.mkfifo(fifo)
    result = run(
        cli_db,
        "close",
        "MI-2026-001",
        "--problem",
        "PRB1",
        "--problem-json",
        str(fifo),
    )
    assert result.exit_code in (1, 2) and "FIFO" in result.stderr, result.stderr
    status = run(cli_db, "status", "MI-2026-001", "--json")
    assert '"status": "active"' in status.output


def test_backup_never_follows_a_planted_link(cli_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    # the name the backup would use for its temporary copy, planted as a link
    from mim_console.data.backup import _name

    (folder / _name(FROZEN_NOW)).with_suffix(".partial").symlink_to(victim)
    taken = take_backup_of_file(cli_db, folder, FROZEN_NOW)
    assert taken.path.is_file() and not taken.path.is_symlink()
    assert victim.read_text() == "keep me"


def test_the_helper_refuses_what_it_must(tmp_path: Path) -> None:
    write_file(tmp_path / "new.txt", b"x")
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="it is a folder"):
        write_file(tmp_path / "d", b"x")
    with pytest.raises(UserError, match="Not a directory"):
        write_file(tmp_path / "new.txt" / "below", b"x")


# --- item 9: markup and escapes in table titles, shown literally ---------------------------


def test_titles_show_markup_and_escapes_literally(cli_db: Path) -> None:
    added = run(cli_db, "person", "add", EVIL, "--mobile", "+358401112299")
    assert added.exit_code == 0, added.stderr
    person_id = added.output.split("(id ")[1].split(",")[0]
    shown = run(cli_db, "person", "show", person_id)
    assert shown.exit_code == 0
    assert "[bold red]Eve[/]" in shown.output and "\\x1b[31mEvil" in shown.output
    assert "\x1b" not in shown.output
    made = run(cli_db, "rota", "create", EVIL, "--tz", "UTC", "--member", person_id)
    assert made.exit_code == 0, made.stderr
    members = run(cli_db, "rota", "members", "1")
    assert "[bold red]Eve[/] \\x1b[31mEvil: members in order" in members.output
    assert "\x1b" not in members.output
