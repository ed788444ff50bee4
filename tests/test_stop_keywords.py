"""Twilio's keywords (issue 14, item 13): a reply STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END,
QUIT…) is never answered with our help SMS — Twilio answers it, and from then on refuses every
SMS to that number — nor are START, UNSTOP, HELP and INFO, which Twilio answers itself. An
opt-out is recorded: listed with the unplaced replies as "opted out", and on the timeline of
each open incident whose roll call has the sender."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mim_console.domain.replies import (
    OPT_IN,
    OPT_OUT,
    PROVIDER_HELP,
    InboundReply,
    keyword_meaning,
    read_reply,
)
from mim_console.screens.replies import READS
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.conftest import FROZEN_NOW
from tests.ui_data import PEOPLE, seed_small

MOBILE = {name: mobile for name, mobile, _, _ in PEOPLE}
OPT_OUTS = ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
TWILIO_ANSWERS = ["START", "UNSTOP", "HELP", "info"]


@pytest.mark.parametrize("body", OPT_OUTS)
def test_opt_out_keywords_are_read_as_opt_outs(body: str) -> None:
    assert keyword_meaning(body) == OPT_OUT
    reading = read_reply(body, 7, [(1, "K7")], [1])
    assert reading.meaning == OPT_OUT and reading.help_codes is None and not reading.answers


def test_twilios_other_keywords_are_not_answered() -> None:
    assert [keyword_meaning(b) for b in TWILIO_ANSWERS] == [OPT_IN, OPT_IN] + [PROVIDER_HELP] * 2
    for body in TWILIO_ANSWERS:
        assert read_reply(body, 7, [(1, "K7")], [1]).help_codes is None


@pytest.mark.parametrize("body", ["stop all", "STOP texting me", "1 stop", "end"])
def test_a_keyword_among_words_gets_no_help_sms_either(body: str) -> None:
    assert read_reply(body, 7, [(1, "K7"), (2, "M3")], [1, 2]).help_codes is None


def test_other_words_still_get_the_help_sms() -> None:
    """The check above can fail: the same reader does send help for words it cannot place."""
    assert read_reply("on my way", 7, [(1, "K7")], [1]).help_codes == ("K7",)
    assert read_reply("1", 7, [(1, "K7"), (2, "M3")], [1, 2]).help_codes == ("K7", "M3")


def _help_sms_to(ctx: Context) -> set[str]:
    return {
        r["to_number"]
        for r in ctx.store.query("SELECT to_number FROM alert WHERE purpose = 'help'")
    }


def test_stop_is_recorded_never_answered(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    code = service.declare(title="Payments down", severity="SEV1").code
    seats = IncidentService(context).roll_call(code).seats
    quitter, talker, asker = (s.person for s in seats[:3])
    at = FROZEN_NOW + timedelta(minutes=1)
    service.receive(InboundReply(MOBILE[quitter.name], "STOP", "SM" + "1" * 32, at))
    service.receive(InboundReply(MOBILE[talker.name], "on my way", "SM" + "2" * 32, at))
    service.receive(InboundReply(MOBILE[asker.name], "HELP", "SM" + "3" * 32, at))
    # Help for the words it could not read; none for STOP, none for Twilio's own HELP.
    assert _help_sms_to(context) == {MOBILE[talker.name]}
    listed = {r.person_name: r.meaning for r in service.replies(unplaced=True)}
    assert listed == {quitter.name: OPT_OUT, talker.name: "unrecognised"}
    assert READS[OPT_OUT] == "opted out"
    events = [e.text for e in service.timeline(code) if "opted out" in e.text]
    assert len(events) == 1 and quitter.name in events[0] and "START" in events[0]
    states = {s.person.name: s.participant.state for s in service.roll_call(code).seats}
    assert states[quitter.name] == seats[0].participant.state  # an opt-out is no answer


def test_stop_from_someone_on_no_roll_call_is_kept_off_the_timeline(context: Context) -> None:
    seed_small(context.store, FROZEN_NOW)
    service = IncidentService(context)
    code = service.declare(title="Payments down", severity="SEV1").code
    on_call = {s.person.name for s in service.roll_call(code).seats}
    outsider = next(name for name, *_ in PEOPLE if name not in on_call)
    at = FROZEN_NOW + timedelta(minutes=1)
    outcome = service.receive(InboundReply(MOBILE[outsider], "Stop", "SM" + "4" * 32, at))
    assert outcome.reading is not None and outcome.reading.meaning == OPT_OUT
    assert not [e for e in service.timeline(code) if "opted out" in e.text]
    assert _help_sms_to(context) == set()


def test_stop_never_answers_a_contact_check(context: Context) -> None:
    from mim_console.services.verification import VerificationService

    seed_small(context.store, FROZEN_NOW)
    with context.store.write() as db:
        db.execute("UPDATE person SET verified_at = NULL")
    quitter, answerer = PEOPLE[0][0], PEOPLE[1][0]
    checks = VerificationService(context)
    checks.send(checks.plan([quitter, answerer]).people)
    service = IncidentService(context)
    at = FROZEN_NOW + timedelta(minutes=1)
    service.receive(InboundReply(MOBILE[quitter], "STOP", "SM" + "5" * 32, at))
    service.receive(InboundReply(MOBILE[answerer], "got it", "SM" + "6" * 32, at))
    rows = context.store.query("SELECT name, verified_at FROM person")
    verified = {str(r["name"]) for r in rows if r["verified_at"]}
    assert answerer in verified and quitter not in verified
    assert _help_sms_to(context) == set()
