"""Calls: creating one, its JSON, and playing Twilio posting a keypress to the Gather action."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from mim_console.standin.bridge import CONFERENCE_FULL, Bridges, Plan, conference_of, demo_plan
from mim_console.standin.responders import Responders
from mim_console.standin.responses import E164, REFUSAL_TEXT, error, refused
from mim_console.standin.state import API_PREFIX, KeypressAttempt, Record, State, rfc2822

Spawn = Callable[[Callable[[], Awaitable[None]]], None]


def gather_action(twiml: str) -> str | None:
    """The ``action`` URL of the TwiML's ``<Gather>``, if it has one."""
    match = re.search(r"<Gather\b[^>]*\baction=\"([^\"]+)\"", twiml)
    return html.unescape(match.group(1)) if match else None


def call_json(state: State, record: Record, now: datetime) -> dict[str, Any]:
    """The call as Twilio's API shows it at ``now``."""
    status = state.status(record, now)
    t = state.timing
    began = record.start_at or record.created_at  # out of the calls-per-second queue
    start = began + timedelta(seconds=t.call_ringing)
    answered = began + timedelta(seconds=t.call_answered)
    end: datetime | None = None
    if status == "completed":
        end = record.ended_at or began + timedelta(seconds=t.call_completed)
    elif status in ("no-answer", "busy", "failed", "canceled"):
        end = record.ended_at or began + timedelta(seconds=t.call_gave_up)
    duration = None
    if status == "completed" and end is not None:
        duration = str(max(0, int((end - answered).total_seconds())))
    base = f"{API_PREFIX}{state.account_sid}/Calls/{record.sid}"
    return {
        "account_sid": state.account_sid,
        "answered_by": record.answered_by if status not in ("queued", "ringing") else None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": rfc2822(record.created_at),
        "date_updated": rfc2822(min(now, end or now)),
        "direction": record.direction,
        "duration": duration,
        "end_time": rfc2822(end) if end else None,
        "forwarded_from": None,
        "from": record.from_,
        "from_formatted": record.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "0" * 32,
        "price": "-0.01300" if status == "completed" else None,
        "price_unit": "USD",
        "sid": record.sid,
        "start_time": rfc2822(start) if status != "queued" else None,
        "status": status,
        "subresource_uris": {"recordings": f"{base}/Recordings.json"},
        "to": record.to,
        "to_formatted": record.to,
        "uri": f"{base}.json",
        "queue_time": str(int((began - record.created_at).total_seconds() * 1000)),
        "trunk_sid": None,
    }


def _invalid(to: str, from_: str, twiml: str, form: Mapping[str, object]) -> web.Response | None:
    """Twilio's 400 for a call it would refuse on its fields, or None."""
    if not to:
        return error(400, 21201, "No 'To' number is specified")
    if not from_:
        return error(400, 21213, "No 'From' number is specified")
    if not (twiml or form.get("Url") or form.get("ApplicationSid")):
        return error(400, 21205, "Url parameter is required.")
    if len(twiml) > 4000:
        return error(400, 13520, "Twiml parameter exceeds the 4000 character limit")
    return None


def _bridge_plan(state: State, responders: Responders, bridges: Bridges, to: str) -> Plan:
    """What the callee of a bridge call does: an outcome rule for the number wins (it does
    not answer), then its bridge plan, then demo mode's, else it joins."""
    outcome = state.rules.call_outcomes.get(to)
    if outcome is not None and outcome != "completed":
        return Plan("no-answer")
    if to in bridges.plans:
        return bridges.plans[to]
    if responders.seed is not None:
        reply, delay = responders.plan(to)
        return demo_plan(responders.seed, to, reply, delay)
    return Plan("join")


def _outcome(state: State, responders: Responders, to: str) -> str:
    """How a new call to ``to`` ends: its rule, else demo mode's plan, else answered."""
    if to in state.rules.call_outcomes:
        return state.rules.call_outcomes[to]
    if responders.seed is not None:
        reply, _delay = responders.plan(to)
        return "no-answer" if reply is None else "completed"
    return "completed"


async def create_call(
    request: web.Request,
    state: State,
    responders: Responders,
    bridges: Bridges,
    spawn: Spawn,
    auth_token: str,
) -> web.Response:
    """``POST Calls.json``: store the call, queued behind the calls-per-second rate; a call
    into a conference gets its callee's plan; a scripted keypress is posted back later."""
    form = await request.post()
    to = str(form.get("To", "")).strip()
    from_ = str(form.get("From", "")).strip()
    twiml = str(form.get("Twiml", ""))
    invalid = _invalid(to, from_, twiml, form)
    if invalid is not None:
        return invalid
    with state.lock:
        code = state.rules.refusal(to, "voice")
    if code is not None:
        return refused(code, to)
    if not E164.match(to):
        return error(400, 21217, REFUSAL_TEXT[21217])
    dialled = conference_of(twiml)
    detect = str(form.get("MachineDetection", "")) in ("Enable", "DetectMessageEnd")
    with state.lock:
        responders.materialize()
        bridges.materialize()
        if dialled is not None and bridges.is_full(dialled[0]):
            return error(400, CONFERENCE_FULL, REFUSAL_TEXT[CONFERENCE_FULL])
        record = state.new_record("call", to, from_, "", "outbound-api", prefix="CA")
        record.twiml = twiml
        record.start_at = state.call_slot(record.created_at)
        record.outcome = _outcome(state, responders, to)
        pressed = state.rules.keypresses.get(to)
        action = gather_action(twiml)
        if dialled is not None:
            plan = _bridge_plan(state, responders, bridges, to)
            if pressed is not None and action is not None:  # the Gather's answer ends the call
                plan = Plan("decline", after=pressed[1] + 1.0)
            bridges.place(record, plan, *dialled)
            if detect and plan.kind != "no-answer":
                record.answered_by = "machine_start" if plan.kind == "voicemail" else "human"
        if pressed is not None:
            record.outcome = "completed"
        payload = call_json(state, record, state.now())
    if pressed is not None and action is not None:
        digit, after = pressed
        queued = ((record.start_at or record.created_at) - record.created_at).total_seconds()
        delay = queued + state.timing.call_answered + after
        spawn(lambda: press(state, auth_token, record, action, digit, delay))
    return web.json_response(payload, status=201)


async def press(
    state: State, auth_token: str, record: Record, url: str, digit: str, delay: float
) -> None:
    """Play Twilio calling the Gather action: a signed, form-encoded POST."""
    await asyncio.sleep(delay)
    params = {
        "AccountSid": state.account_sid,
        "CallSid": record.sid,
        "CallStatus": "in-progress",
        "Digits": digit,
        "Direction": "outbound-api",
        "From": record.from_,
        "To": record.to,
    }
    signature = RequestValidator(auth_token).compute_signature(url, params)
    status: int | None = None
    answer = ""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as r,
        ):
            status, answer = r.status, await r.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        pass
    with state.lock:
        state.keypress_log.append(KeypressAttempt(record.sid, digit, url, status, answer))
