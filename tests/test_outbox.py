"""The outbox repository, reply handling through the dispatcher, and `mim-console outbox`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.clock import to_iso, utcnow
from mim_console.config import Settings
from mim_console.data import outbox
from mim_console.data.lease import Lease
from mim_console.data.outbox import AlertDraft
from mim_console.data.store import Store
from mim_console.domain.alerts import Channel, Purpose
from mim_console.domain.replies import InboundReply
from mim_console.notifiers.dispatcher import Dispatcher
from mim_console.notifiers.senders import twilio_routes
from mim_console.notifiers.twilio import TwilioNotifier
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.standin import DEFAULT_SENDER, StandIn, Timing
from tests.conftest import FROZEN_NOW
from tests.test_dispatcher import FAST, twilio_settings

T0 = FROZEN_NOW


def held_lease(store: Store, holder: str = "me") -> Lease:
    lease = Lease(store, holder=holder, ttl_s=3600, clock=lambda: T0)
    assert lease.try_acquire()
    return lease


def queue(store: Store, *drafts: AlertDraft) -> list[int]:
    with store.write() as db:
        return outbox.enqueue(db, list(drafts), T0)


SMS = AlertDraft("+358401111111", Channel.SMS, Purpose.ALERT, "MI-1: join the bridge")


def test_claim_requires_the_lease(store: Store) -> None:
    queue(store, SMS)
    with store.write() as db:
        assert outbox.claim_due(db, "me", T0, 10) == []
    held_lease(store)
    with store.write() as db:
        assert outbox.claim_due(db, "someone-else", T0, 10) == []
        [alert] = outbox.claim_due(db, "me", T0, 10)
    assert (alert.status, alert.attempts, alert.claimed_by) == ("sending", 1, "me")
    row = store.query("SELECT status, claimed_at, attempts FROM alert")[0]
    assert row == {"status": "sending", "claimed_at": to_iso(T0), "attempts": 1}


def test_claim_takes_only_due_alerts_in_order(store: Store) -> None:
    held_lease(store)
    ids = queue(
        store,
        SMS,
        AlertDraft("+358401111112", Channel.VOICE, Purpose.ALERT, "<Response/>"),
        AlertDraft("", Channel.CHAT, Purpose.STAKEHOLDER, "{}"),
        AlertDraft("+358401111113", Channel.SMS, Purpose.ALERT, "later"),
    )
    with store.write() as db:
        db.execute(
            "UPDATE alert SET next_attempt_at = ? WHERE id = ?",
            [to_iso(T0 + timedelta(minutes=1)), ids[3]],
        )
        claimed = outbox.claim_due(db, "me", T0, 10)
        assert outbox.next_due_at(db) == T0 + timedelta(minutes=1)
    assert [a.id for a in claimed] == ids[:3]  # chat rows go out through the chat sender
    with store.write() as db:
        assert outbox.claim_due(db, "me", T0, 10) == []  # nothing is claimed twice


def test_claim_respects_the_limit(store: Store) -> None:
    held_lease(store)
    queue(store, *[SMS] * 7)
    with store.write() as db:
        assert len(outbox.claim_due(db, "me", T0, 3)) == 3
        assert len(outbox.claim_due(db, "me", T0, 0)) == 0
    with store.read() as db:
        assert outbox.counts(db) == {"queued": 4, "sending": 3, "accepted": 0, "failed": 0}


def test_accept_retry_fail_lifecycle(store: Store) -> None:
    held_lease(store)
    a, b, c = queue(store, SMS, SMS, SMS)
    with store.write() as db:
        outbox.claim_due(db, "me", T0, 10)
        assert outbox.mark_accepted(db, a, "SM1", "queued", T0)
        assert not outbox.mark_accepted(db, a, "SM2", "queued", T0)  # the SID never changes
        outbox.mark_retry(db, b, T0 + timedelta(seconds=5), code=None, error="x", uncertain=True)
        outbox.mark_retry(db, b, T0 + timedelta(seconds=9), code=429, error="y", uncertain=False)
        outbox.mark_failed(db, c, T0, code=21211, reason="not a valid phone number")
        outbox.mark_failed(db, a, T0, code=1, reason="too late")  # accepted stays accepted
    with store.read() as db:
        alerts = {x.id: x for x in outbox.list_alerts(db)}
        assert outbox.in_doubt(db) == []
    assert (alerts[a].status, alerts[a].provider_sid) == ("accepted", "SM1")
    assert alerts[a].in_flight
    assert alerts[b].status == "queued" and alerts[b].uncertain  # uncertainty is sticky
    assert alerts[b].next_attempt_at == T0 + timedelta(seconds=9)
    assert (alerts[c].status, alerts[c].last_error_code) == ("failed", 21211)


def test_status_updates_stop_polling_when_final(store: Store) -> None:
    held_lease(store)
    [a] = queue(store, SMS)
    with store.write() as db:
        outbox.claim_due(db, "me", T0, 10)
        outbox.mark_accepted(db, a, "SM1", "queued", T0, poll_after_s=2)
        assert outbox.due_polls(db, T0, 10) == []
        [due] = outbox.due_polls(db, T0 + timedelta(seconds=2), 10)
        outbox.record_status(db, a, "sent", T0, next_poll_at=T0 + timedelta(seconds=5))
        outbox.record_status(
            db, a, "undelivered", T0, next_poll_at=T0, code=30003, error="unreachable"
        )
        assert outbox.due_polls(db, T0 + timedelta(days=1), 10) == []
        alert = outbox.get(db, a)
    assert due.id == a
    assert alert is not None and alert.status == "undelivered" and alert.group == "failed"
    assert alert.final_at == T0 and alert.last_error_code == 30003 and not alert.in_flight


def test_provider_statuses_map_to_groups() -> None:
    assert outbox.provider_status("sending") == "accepted"  # never confused with our claim
    assert outbox.status_group("delivered") == "accepted"
    assert outbox.status_group("no-answer") == "failed"
    assert outbox.status_group("ringing") == "accepted"


# ------------------------------------------------------------------ replies


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    s = StandIn(timing=Timing(sms_sent=0.05, sms_delivered=0.1))
    await s.start()
    yield s
    await s.stop()


def seed_people(store: Store) -> dict[str, int]:
    now = to_iso(utcnow() - timedelta(minutes=5))
    ids: dict[str, int] = {}
    with store.write() as db:
        for name, mobile, phone2 in (
            ("Ann", "+358401000001", None),
            ("Bob", "+358401000002", "+358501000002"),
        ):
            ids[name] = int(
                db.execute(
                    "INSERT INTO person (name, mobile, phone2, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [name, mobile, phone2, now, now],
                ).lastrowid
                or 0
            )
        for code, reply in (("MI-2026-001", "K7"), ("MI-2026-002", "Q2")):
            ids[code] = int(
                db.execute(
                    "INSERT INTO incident (code, reply_code, title, severity, declared_at) "
                    "VALUES (?, ?, 'Payments down', 'critical', ?)",
                    [code, reply, now],
                ).lastrowid
                or 0
            )
    return ids


def alert_for(store: Store, person: int, incident: int, number: str) -> None:
    with store.write() as db:
        outbox.enqueue(
            db,
            [AlertDraft(number, Channel.SMS, Purpose.ALERT, f"alert {incident}", incident, person)],
            utcnow() - timedelta(minutes=1),
        )
        db.execute("UPDATE alert SET status = 'accepted', provider_sid = 'SMx' || id")


class Recording:
    """The services' reply receiver, noting the id of each reply it applied to a roll call."""

    def __init__(self, store: Store, standin: StandIn, replied: list[int]) -> None:
        settings = Settings(db_path=store.path, twilio=twilio_settings(standin))
        self.service = IncidentService(Context(settings=settings, _store=store))
        self.replied = replied

    def receive(self, reply: InboundReply) -> object:
        outcome = self.service.receive(reply)
        if outcome.answered and outcome.inbound_id is not None:
            self.replied.append(outcome.inbound_id)
        return outcome


async def run_polls(store: Store, standin: StandIn, replied: list[int], until: object) -> None:
    notifier = TwilioNotifier(twilio_settings(standin))
    d = Dispatcher(
        store, twilio_routes(notifier), config=FAST, receiver=Recording(store, standin, replied)
    )
    task = asyncio.create_task(d.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            if until():  # type: ignore[operator]
                break
        else:
            raise AssertionError("replies were not processed in time")
        await asyncio.sleep(0.3)  # one more poll: duplicates must not appear
    finally:
        d.stop()
        await task
        await notifier.aclose()


def inbound(store: Store) -> list[dict[str, object]]:
    return store.query(
        "SELECT provider_sid, from_number, person_id, incident_id, meaning FROM inbound ORDER BY id"
    )


async def test_reply_from_alerted_person_is_matched(store: Store, standin: StandIn) -> None:
    ids = seed_people(store)
    alert_for(store, ids["Ann"], ids["MI-2026-001"], "+358401000001")
    alert_for(store, ids["Bob"], ids["MI-2026-001"], "+358401000002")
    standin.inject_inbound("+358401000001", " Yes! ")
    standin.inject_inbound("+358501000002", "2")  # Bob's second phone
    replied: list[int] = []
    await run_polls(store, standin, replied, lambda: len(replied) == 2)
    rows = inbound(store)
    assert [(r["person_id"], r["incident_id"], r["meaning"]) for r in rows] == [
        (ids["Ann"], ids["MI-2026-001"], "joining"),
        (ids["Bob"], ids["MI-2026-001"], "unable"),
    ]
    assert len(replied) == 2  # each reply handed over once, despite repeated polls


async def test_unknown_number_is_logged_not_answered(store: Store, standin: StandIn) -> None:
    seed_people(store)
    standin.inject_inbound("+15550001111", "1")
    standin.inject_inbound(DEFAULT_SENDER, "1")  # our own number: never answered
    replied: list[int] = []
    await run_polls(store, standin, replied, lambda: len(inbound(store)) == 2)
    assert [r["meaning"] for r in inbound(store)] == ["unknown_number", "own_message"]
    assert replied == []
    assert store.query("SELECT * FROM alert WHERE purpose = 'help'") == []


async def test_ambiguous_reply_gets_one_help_sms(store: Store, standin: StandIn) -> None:
    ids = seed_people(store)
    alert_for(store, ids["Ann"], ids["MI-2026-001"], "+358401000001")
    alert_for(store, ids["Ann"], ids["MI-2026-002"], "+358401000001")
    standin.inject_inbound("+358401000001", "1")
    standin.inject_inbound("+358401000001", "what?")
    standin.inject_inbound("+358401000001", "1 ZZ")
    replied: list[int] = []
    await run_polls(store, standin, replied, lambda: len(inbound(store)) == 3)
    assert [r["meaning"] for r in inbound(store)] == ["ambiguous", "unrecognised", "unknown_code"]
    helps = store.query("SELECT to_number, body, status FROM alert WHERE purpose = 'help'")
    assert len(helps) == 1  # never a loop
    assert helps[0]["to_number"] == "+358401000001"
    assert "K7" in helps[0]["body"] and "Q2" in helps[0]["body"]
    assert replied == []


async def test_reply_code_picks_the_incident(store: Store, standin: StandIn) -> None:
    ids = seed_people(store)
    alert_for(store, ids["Ann"], ids["MI-2026-001"], "+358401000001")
    alert_for(store, ids["Ann"], ids["MI-2026-002"], "+358401000001")
    standin.inject_inbound("+358401000001", "q2 1")
    replied: list[int] = []
    await run_polls(store, standin, replied, lambda: len(replied) == 1)
    assert inbound(store)[0]["incident_id"] == ids["MI-2026-002"]


# ------------------------------------------------------------------ CLI


def test_outbox_command_lists_alerts(db_path: Path) -> None:
    store = Store(db_path)
    ids = seed_people(store)
    alert_for(store, ids["Ann"], ids["MI-2026-001"], "+358401000001")
    queue(store, AlertDraft("+358401000009", Channel.SMS, Purpose.ALERT, "[bold red]x[/]"))
    store.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", str(db_path), "outbox", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"] == {"queued": 1, "sending": 0, "accepted": 1, "failed": 0}
    assert data["alerts"][1]["incident"] == "MI-2026-001"
    assert data["alerts"][1]["person"] == "Ann"
    result = runner.invoke(main, ["--db", str(db_path), "outbox", "--incident", "mi-2026-001"])
    assert result.exit_code == 0 and "Ann" in result.output and "+358401000009" not in result.output
    result = runner.invoke(main, ["--db", str(db_path), "outbox", "--incident", "MI-9"])
    assert result.exit_code == 1 and "no incident 'MI-9'" in result.output


def test_dispatch_without_credentials_says_why(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["--db", str(db_path), "dispatch", "--lease-ttl", "0.1"])
    assert result.exit_code == 2  # below the minimum: a usage error
