"""`mim-console stats`: real incidents and drills never mix; figures agree with the timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.config import Settings
from mim_console.services import stats
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.incident_seed import FakeClock, seed

# declare pages one seat per party: Alice (IT Operations), Dan (Business), Frank (Comms), all
# with decision authority, and the Payments group (Sam, Tina, Uma).
SEATED = ("Alice Ops", "Dan Biz", "Frank Comms")


@pytest.fixture
def world(db_path: Path) -> Iterator[tuple[Context, FakeClock, IncidentService]]:
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(Settings(db_path=db_path), clock=clock, actor="tester")
    seed(ctx.store, FROZEN_NOW)
    yield ctx, clock, IncidentService(ctx)
    ctx.close()


def run_incident(
    svc: IncidentService,
    clock: FakeClock,
    *,
    exercise: bool,
    joins: dict[str, float],  # person -> minutes after declaring
    unreachable: tuple[str, ...] = (),
    close: bool = True,
) -> str:
    """Declare at the clock's now, apply joins in time order, optionally close; returns code."""
    start = clock.now
    code = svc.declare(title="T", severity="SEV1", categories=["cards"], exercise=exercise).code
    for name in unreachable:
        svc.escalate(code, name)  # voice call
        svc.escalate(code, name)  # deputy: the person is unreachable
    for name, minutes in sorted(joins.items(), key=lambda kv: kv[1]):
        clock.now = start + timedelta(minutes=minutes)
        svc.mark_joined(code, [name])
    clock.now = start + timedelta(minutes=max(joins.values(), default=0) + 1)
    if close:
        svc.close(code)
    clock.now += timedelta(hours=1)
    return code


def test_drills_stay_out_of_real_statistics(
    world: tuple[Context, FakeClock, IncidentService],
) -> None:
    ctx, clock, svc = world
    everyone = {name: 1.0 for name in SEATED}
    real = [
        run_incident(svc, clock, exercise=False, joins={**everyone, "Frank Comms": 4}),
        run_incident(svc, clock, exercise=False, joins={**everyone, "Dan Biz": 5}),
        run_incident(svc, clock, exercise=False, joins={**everyone, "Alice Ops": 12}),
        # Never assembled: Frank never joined; his deputy Gina neither.
        run_incident(
            svc,
            clock,
            exercise=False,
            joins={"Alice Ops": 2, "Dan Biz": 2},
            unreachable=("Frank Comms",),
        ),
    ]
    drill = run_incident(
        svc,
        clock,
        exercise=True,
        joins={"Alice Ops": 0.5, "Dan Biz": 0.5, "Frank Comms": 0.5},
        unreachable=("Sam Spec", "Tina Spec"),
    )

    figures = stats.compute(ctx)
    assert [i.code for i in figures.incidents] == real
    assert figures.median_assemble == timedelta(minutes=5)
    assert figures.mean_assemble == timedelta(minutes=7)  # (4 + 5 + 12) / 3
    assert len(figures.assembled) == 3
    # Real: 4 incidents x 6 alerted + Gina (Frank's deputy) = 25; one unreachable (Frank).
    assert figures.alerted == 25 and figures.unreachable == 1
    assert figures.unreachable_rate == pytest.approx(1 / 25)

    drills = stats.compute(ctx, exercises=True)
    assert [i.code for i in drills.incidents] == [drill]
    assert drills.median_assemble == drills.mean_assemble == timedelta(seconds=30)
    assert drills.unreachable == 2 and drills.incidents[0].exercise


def test_cli_stats_text_and_json(world: tuple[Context, FakeClock, IncidentService]) -> None:
    ctx, clock, svc = world
    real = run_incident(svc, clock, exercise=False, joins={n: 3.0 for n in SEATED})
    drill = run_incident(svc, clock, exercise=True, joins={n: 1.0 for n in SEATED})
    runner = CliRunner()
    db = ["--db", str(ctx.db_path)]

    out = runner.invoke(main, [*db, "stats"])
    assert out.exit_code == 0, out.output
    assert real in out.output and drill not in out.output
    text = " ".join(out.output.split())
    assert "drills left out" in text and "3 min 00 s" in text

    data = json.loads(runner.invoke(main, [*db, "stats", "--json"]).output)
    assert data["exercises"] is False and data["incidents"] == 1
    assert data["median_assemble_s"] == data["mean_assemble_s"] == 180.0
    assert data["unreachable_rate"] == 0.0
    (row,) = data["per_incident"]
    assert row["code"] == real and row["assemble_s"] == 180.0 and row["exercise"] is False
    assert row["never_answered"] == 3  # the Payments group was never asked to answer here

    data = json.loads(runner.invoke(main, [*db, "stats", "--exercises", "--json"]).output)
    assert data["exercises"] is True
    assert [r["code"] for r in data["per_incident"]] == [drill]
    assert data["median_assemble_s"] == 60.0


def test_stats_on_an_empty_database_say_so(db_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["--db", str(db_path), "stats"])
    assert out.exit_code == 0 and "no real incidents yet" in out.output
    data = json.loads(runner.invoke(main, ["--db", str(db_path), "stats", "--json"]).output)
    assert data["incidents"] == 0 and data["median_assemble_s"] is None
    assert data["unreachable_rate"] is None


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    delays=st.lists(
        st.fixed_dictionaries(
            {name: st.integers(min_value=0, max_value=90) for name in SEATED},
            optional={"Bob Ops": st.integers(min_value=0, max_value=90)},
        ),
        min_size=1,
        max_size=4,
    )
)
def test_time_to_assemble_is_the_last_party_to_reach_quorum(
    tmp_path_factory: pytest.TempPathFactory, delays: list[dict[str, int]]
) -> None:
    """Whatever the join times: assemble = the latest party's first joined authority."""
    clock = FakeClock(FROZEN_NOW)
    ctx = Context(Settings(db_path=tmp_path_factory.mktemp("s") / "m.db"), clock=clock)
    seed(ctx.store, FROZEN_NOW)
    svc = IncidentService(ctx)
    try:
        for joins in delays:
            if "Bob Ops" in joins:  # Bob joins as well: IT Operations' quorum is the earlier
                code = svc.declare(title="T", severity="SEV1", categories=["cards"]).code
                svc.mark_unable(code, ["Alice Ops"])  # pages Bob, her deputy, at once
                start = clock.now
                for name, minutes in sorted(joins.items(), key=lambda kv: kv[1]):
                    clock.now = start + timedelta(minutes=minutes)
                    if name != "Alice Ops":
                        svc.mark_joined(code, [name])
                joins = {k: v for k, v in joins.items() if k != "Alice Ops"}
                clock.now = start + timedelta(hours=2)
            else:
                run_incident(svc, clock, exercise=False, joins=dict(joins), close=False)
        figures = stats.compute(ctx)
        expected = []
        for joins in delays:
            it_ops = joins.get("Bob Ops", joins["Alice Ops"])
            expected.append(timedelta(minutes=max(it_ops, joins["Dan Biz"], joins["Frank Comms"])))
        assert [i.assemble for i in figures.incidents] == expected
    finally:
        ctx.close()
