"""Contact verification: the reply rule, a round trip through the stand-in, and `verify`.

The round trip runs the real dispatcher against the real stand-in over loopback HTTP: the test
SMS goes out, replies come back through the inbound poll, and the same poll also carries incident
replies, so the test shows that neither is mistaken for the other.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import assume, given
from hypothesis import strategies as st

from mim_console.cli import main
from mim_console.clock import utcnow
from mim_console.config import Settings
from mim_console.domain.verification import (
    CLOCK_SLACK,
    OPT_OUT,
    REPLY_WINDOW,
    OpenCheck,
    answered_check,
    new_code,
    reply_help,
)
from mim_console.errors import NotFound, UserError
from mim_console.notifiers.dispatcher import Dispatcher
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.services.verification import VerificationService
from mim_console.standin import StandIn, Timing
from tests.incident_seed import mobile, seed
from tests.test_dispatcher import FAST, twilio_settings

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NUMBER = "+358401000001"


def check(code: str = "4821", at: datetime = T0, number: str = NUMBER) -> OpenCheck:
    return OpenCheck(code=code, to_number=number, requested_at=at, alert_id=1)


# --- the rule (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["OK 4821", "4821", "ok, 4821!", "1 4821", "yes 4821 thanks"])
def test_the_code_answers_even_on_an_active_incident(body: str) -> None:
    found = answered_check(body, NUMBER, T0, [check()], on_active_incident=True)
    assert found == check()


@pytest.mark.parametrize("body", ["1", "yes", "OK", "thanks, got it", "", "48210", "4822"])
def test_without_the_code_an_incident_reply_stays_an_incident_reply(body: str) -> None:
    assert answered_check(body, NUMBER, T0, [check()], on_active_incident=True) is None


@pytest.mark.parametrize("body", ["1", "yes", "OK", "thanks, got it", "2", "no"])
def test_off_incident_any_text_answers(body: str) -> None:
    assert answered_check(body, NUMBER, T0, [check()], on_active_incident=False) == check()


@pytest.mark.parametrize("body", ["STOP", "stop", "Unsubscribe", "STOP 4821", "cancel"])
def test_an_opt_out_never_verifies(body: str) -> None:
    for on_incident in (False, True):
        assert answered_check(body, NUMBER, T0, [check()], on_active_incident=on_incident) is None


def test_only_from_the_number_it_was_sent_to_and_within_the_window() -> None:
    assert (
        answered_check("OK 4821", "+358501000001", T0, [check()], on_active_incident=False) is None
    )
    late = T0 + REPLY_WINDOW + timedelta(seconds=1)
    assert answered_check("OK 4821", NUMBER, late, [check()], on_active_incident=False) is None
    early = T0 - CLOCK_SLACK - timedelta(seconds=1)
    assert answered_check("OK 4821", NUMBER, early, [check()], on_active_incident=False) is None
    just_before = T0 - timedelta(seconds=1)  # provider stamps whole seconds
    assert answered_check("OK 4821", NUMBER, just_before, [check()], on_active_incident=False)


def test_the_code_picks_among_several_open_checks() -> None:
    older = check("1111", T0)
    newer = check("2222", T0 + timedelta(hours=1))
    at = T0 + timedelta(hours=2)
    assert answered_check("1111", NUMBER, at, [older, newer], on_active_incident=True) == older
    assert answered_check("sure", NUMBER, at, [older, newer], on_active_incident=False) == newer


@given(body=st.text(max_size=40), on_incident=st.booleans())
def test_a_reply_naming_the_code_always_answers(body: str, on_incident: bool) -> None:
    assume(not any(word in body.casefold() for word in OPT_OUT))
    found = answered_check(f"{body} 4821", NUMBER, T0, [check()], on_active_incident=on_incident)
    assert found == check()


WORDS = st.sampled_from(["1", "2", "yes", "OK", "4821", "14821", "4821x", "K7", "48 21", "x4821"])


@given(words=st.lists(WORDS, max_size=5), sep=st.sampled_from([" ", ", ", "!", "\n"]))
def test_on_an_incident_only_the_code_answers(words: list[str], sep: str) -> None:
    found = answered_check(sep.join(words), NUMBER, T0, [check()], on_active_incident=True)
    assert (found is not None) == ("4821" in words)


@given(taken=st.sets(st.from_regex(r"\A[1-9][0-9]{3}\Z"), max_size=50), r=st.floats(0, 0.999))
def test_new_codes_are_four_digits_and_unused(taken: set[str], r: float) -> None:
    code = new_code(taken, lambda: r)
    assert len(code) == 4 and code.isdigit() and code[0] != "0" and code not in taken


def test_reply_help_names_the_code() -> None:
    assert "OK 4821" in reply_help("4821")


# --- planning and queueing ------------------------------------------------------------------


@pytest.fixture
def ctx(db_path: Path) -> Iterator[Context]:
    c = Context(settings=Settings(db_path=db_path, organisation="Acme"), clock=lambda: T0)
    seed(c.store, T0)
    yield c
    c.close()


def test_plan_resolves_people_groups_and_parties(ctx: Context) -> None:
    service = VerificationService(ctx)
    plan = service.plan(["Alice Ops"], ["Payments"], ["Business"])
    assert [p.name for p in plan.people] == [
        "Alice Ops",
        "Sam Spec",
        "Tina Spec",
        "Uma Spec",
        "Dan Biz",
        "Erin Biz",
    ]
    assert len(service.plan(everyone=True).people) == 10
    with pytest.raises(UserError, match="say whom"):
        service.plan()
    with pytest.raises(NotFound):
        service.plan(["Nobody"])


def test_inactive_people_are_skipped_with_a_reason(ctx: Context) -> None:
    with ctx.store.write() as db:
        db.execute("UPDATE person SET active = 0 WHERE name = 'Tina Spec'")
    plan = VerificationService(ctx).plan(groups=["Payments", "payments"])
    assert [p.name for p in plan.people] == ["Sam Spec", "Uma Spec"]  # once each
    assert plan.skipped == (("Tina Spec", "inactive: never alerted, so not checked"),)


def test_a_mobile_that_cannot_take_an_sms_is_skipped_with_the_fix(ctx: Context) -> None:
    with ctx.store.write() as db:  # a Helsinki fixed line, stored before mobiles were checked
        db.execute("UPDATE person SET mobile = '+358912345678' WHERE name = 'Uma Spec'")
    plan = VerificationService(ctx).plan(groups=["Payments"])
    assert [p.name for p in plan.people] == ["Sam Spec", "Tina Spec"]
    [(name, reason)] = plan.skipped
    assert name == "Uma Spec" and "fixed line" in reason and "person edit" in reason


def test_send_queues_one_test_sms_each_with_its_code(ctx: Context) -> None:
    service = VerificationService(ctx)
    sent = service.send(service.plan(groups=["Payments"]).people)
    rows = ctx.store.query(
        "SELECT to_number, purpose, channel, body, incident_id FROM alert ORDER BY id"
    )
    assert [r["to_number"] for r in rows] == [
        mobile("Sam Spec"),
        mobile("Tina Spec"),
        mobile("Uma Spec"),
    ]
    assert {(r["purpose"], r["channel"], r["incident_id"]) for r in rows} == {("test", "sms", None)}
    for s, row in zip(sent, rows, strict=True):
        assert f"OK {s.code}" in row["body"]
        assert row["body"].startswith(f"Acme contact check for {s.name}")
    events = ctx.store.query("SELECT kind, person_id, incident_id FROM event")
    assert len(events) == 3 and {e["kind"] for e in events} == {"contact_check_sent"}


def test_readiness_says_when_the_last_check_did_not_arrive(ctx: Context) -> None:
    from mim_console.services.readiness import readiness

    service = VerificationService(ctx)
    [sent] = service.send(service.plan(["Sam Spec"]).people)
    with ctx.store.write() as db:
        db.execute(
            "UPDATE alert SET status = 'failed', last_error = ? WHERE id = ?",
            ["21614: the number is not a mobile", sent.alert_id],
        )
    found = {f.subject: f for f in readiness(ctx).failing if f.check == "verified"}
    sam = found["Sam Spec"]
    assert "did not arrive: 21614: the number is not a mobile" in sam.message
    assert f"person edit {sam.person_id} --mobile" in sam.fix
    assert "did not arrive" not in found["Tina Spec"].message


def test_a_second_check_gets_a_different_code(ctx: Context) -> None:
    service = VerificationService(ctx, rand=lambda: 0.5)
    people = service.plan(["Sam Spec"]).people
    first, second = service.send(people)[0], service.send(people)[0]
    assert first.code != second.code


# --- the round trip through the stand-in ------------------------------------------------


@pytest.fixture
async def fast_standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1, call_ringing=0.05))
    await s.start()
    yield s
    await s.stop()


async def _run(d: Dispatcher, done: Callable[[], bool], limit_s: float = 15.0) -> None:
    task = asyncio.create_task(d.run())
    deadline = time.monotonic() + limit_s
    try:
        while not done():
            if task.done():
                task.result()
                raise AssertionError("dispatcher stopped early")
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            await asyncio.sleep(0.02)
    finally:
        d.stop()
        await task
        if d.routes is not None:
            await d.routes.aclose()


def _verified(c: Context) -> dict[str, str | None]:
    rows = c.store.query("SELECT name, verified_at FROM person")
    return {str(r["name"]): r["verified_at"] for r in rows}


async def test_round_trip_and_incident_replies_stay_apart(
    db_path: Path, fast_standin: StandIn
) -> None:
    real = Context(settings=Settings(db_path=db_path, organisation="Acme"), actor="dm")
    seed(real.store, utcnow())
    incidents = IncidentService(real)
    inc = incidents.declare(title="Payments down", severity="SEV1")
    alerted = {
        str(r["name"])
        for r in real.store.query(
            "SELECT p.name FROM participant x JOIN person p ON p.id = x.person_id"
        )
    }
    assert {"Alice Ops", "Dan Biz"} <= alerted and "Sam Spec" not in alerted
    service = VerificationService(real)
    codes = {
        s.name: s.code
        for s in service.send(
            service.plan(["Alice Ops", "Sam Spec", "Tina Spec", "Uma Spec"]).people
        )
    }
    # Sam answers anything; Tina sends her code; Uma never answers.
    fast_standin.script_reply(mobile("Sam Spec"), "1", after=0.05)
    fast_standin.script_reply(mobile("Tina Spec"), f"OK {codes['Tina Spec']}", after=0.05)
    fast_standin.script_reply(mobile("Uma Spec"), None)
    notifier = TwilioNotifier(twilio_settings(fast_standin), timeout=5)
    d = Dispatcher(real.store, twilio_routes(notifier), config=FAST, receiver=incidents)
    injected = False

    def done() -> bool:
        nonlocal injected
        sent = real.store.query("SELECT count(*) AS n FROM alert WHERE provider_sid IS NOT NULL")
        if not injected and sent[0]["n"] >= len(alerted) + 4:
            # Alice, on the incident, answers it ("1"), then the check with its code; Dan,
            # with no check, answers the incident.
            fast_standin.inject_inbound(mobile("Alice Ops"), "1")
            fast_standin.inject_inbound(mobile("Alice Ops"), f"ok {codes['Alice Ops']}")
            fast_standin.inject_inbound(mobile("Dan Biz"), "yes")
            injected = True
        meanings = real.store.query("SELECT count(*) AS n FROM inbound")[0]["n"]
        return injected and meanings >= 5

    await _run(d, done)
    rows = real.store.query(
        "SELECT p.name, i.body, i.meaning, i.incident_id FROM inbound i "
        "JOIN person p ON p.id = i.person_id ORDER BY i.id"
    )
    meaning = {(r["name"], r["body"]): (r["meaning"], r["incident_id"]) for r in rows}
    assert meaning[("Sam Spec", "1")] == ("verified", None)
    assert meaning[("Tina Spec", f"OK {codes['Tina Spec']}")] == ("verified", None)
    assert meaning[("Alice Ops", "1")] == ("joining", inc.id)
    assert meaning[("Alice Ops", f"ok {codes['Alice Ops']}")] == ("verified", None)
    assert meaning[("Dan Biz", "yes")] == ("joining", inc.id)
    verified = _verified(real)
    assert verified["Sam Spec"] and verified["Tina Spec"] and verified["Alice Ops"]
    assert verified["Uma Spec"] is None and verified["Dan Biz"] is None
    states = {
        str(r["name"]): r["state"]
        for r in real.store.query(
            "SELECT p.name, x.state FROM participant x JOIN person p ON p.id = x.person_id"
        )
    }
    assert states["Alice Ops"] == "joined" and states["Dan Biz"] == "joined"
    bodies = {m.to: m.body for m in fast_standin.messages(direction="outbound-api")}
    assert f"OK {codes['Uma Spec']}" in bodies[mobile("Uma Spec")]
    assert real.store.query("SELECT * FROM alert WHERE purpose = 'help'") == []
    logged = real.store.query(
        "SELECT p.name FROM event e JOIN person p ON p.id = e.person_id "
        "WHERE e.kind = 'contact_verified' AND e.incident_id IS NULL ORDER BY p.name"
    )
    assert [r["name"] for r in logged] == ["Alice Ops", "Sam Spec", "Tina Spec"]
    # The check's answer is not on the incident's timeline.
    on_timeline = real.store.query(
        "SELECT count(*) AS n FROM event WHERE incident_id = ? AND kind LIKE 'contact%'", [inc.id]
    )
    assert on_timeline[0]["n"] == 0
    status = run(db_path, "verify", "--status", "--json")
    answered = {r["name"]: r["answered_at"] for r in json.loads(status.stdout)}
    assert answered["Uma Spec"] is None and answered["Sam Spec"] is not None
    real.close()


# --- the CLI ----------------------------------------------------------------------------


def run(db: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args], input=stdin, env={"COLUMNS": "250"})


@pytest.fixture
def seeded(ctx: Context, db_path: Path) -> Path:
    ctx.close()
    return db_path


def _queued(db: Path) -> int:
    c = Context(settings=Settings(db_path=db))
    try:
        return int(c.store.query("SELECT count(*) AS n FROM alert WHERE purpose = 'test'")[0]["n"])
    finally:
        c.close()


def test_cli_one_person_needs_no_confirmation(seeded: Path) -> None:
    result = run(seeded, "verify", "--person", "sam spec")
    assert result.exit_code == 0, result.output
    assert "Sam Spec" in result.stdout and "Contact checks queued: 1" in result.stdout
    assert "Twilio is not configured" in result.stderr
    assert _queued(seeded) == 1


def test_cli_many_asks_first_and_no_means_nothing_sent(seeded: Path) -> None:
    refused = run(seeded, "verify", "--all", stdin="n\n")
    assert refused.exit_code == 1
    assert "Send a test SMS to 10 people?" in refused.stderr
    assert "nothing sent" in refused.stderr
    assert _queued(seeded) == 0
    agreed = run(seeded, "verify", "--group", "Payments", stdin="y\n")
    assert agreed.exit_code == 0 and _queued(seeded) == 3


def test_cli_json_and_yes(seeded: Path) -> None:
    result = run(seeded, "verify", "--party", "IT Operations", "--yes", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"queued", "skipped"}
    assert [q["name"] for q in body["queued"]] == ["Alice Ops", "Bob Ops", "Carol Ops"]
    assert set(body["queued"][0]) == {"person_id", "name", "to", "code", "alert_id"}
    status = json.loads(run(seeded, "verify", "--status", "--json").stdout)
    assert len(status) == 3 and all(s["answered_at"] is None for s in status)
    assert set(status[0]) == {
        "person_id",
        "name",
        "to",
        "code",
        "requested_at",
        "alert_id",
        "alert_status",
        "answered_at",
        "answer",
    }


def test_cli_problems_exit_1_or_2(seeded: Path) -> None:
    nobody = run(seeded, "verify")
    assert nobody.exit_code == 1 and "--person, --group, --party or --all" in nobody.stderr
    unknown = run(seeded, "verify", "--group", "Nope")
    assert unknown.exit_code == 1 and "Nope" in unknown.stderr
    mixed = run(seeded, "verify", "--status", "--all")
    assert mixed.exit_code == 2
    assert _queued(seeded) == 0
