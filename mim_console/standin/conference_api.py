"""The HTTP side of conferences: ``Conferences.json`` (list by ``FriendlyName`` and ``Status``),
``Conferences/{Sid}.json``, ``Participants.json`` (list, ``Muted``/``Hold`` filters),
``Participants/{CallSid or label}.json`` (fetch, update ``Muted``/``Hold``, DELETE to remove),
and ``POST Calls/{Sid}.json`` (new ``Twiml``, or ``Status=completed``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mim_console.standin import listing
from mim_console.standin.bridge import Bridges, conference_json, conference_of, participant_json
from mim_console.standin.calls import call_json
from mim_console.standin.responses import error, not_found
from mim_console.standin.state import State

_STATUSES = ("init", "in-progress", "completed")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[Callable[[web.Request], Awaitable[web.Response]]], Handler]


def add_routes(
    app: web.Application, account: str, guard: Guard, state: State, bridges: Bridges
) -> None:
    """The conference routes under ``account`` (``…/Accounts/{account}/``), each behind
    ``guard`` (basic auth)."""
    conference = account + "Conferences/{conference}"
    participant = conference + "/Participants/{call}.json"

    def bound(handler: Callable[..., Awaitable[web.Response] | web.Response]) -> Handler:
        async def run(request: web.Request) -> web.Response:
            answer = handler(request, state, bridges)
            return await answer if isinstance(answer, Awaitable) else answer

        return guard(run)

    app.router.add_get(account + "Conferences.json", bound(list_conferences))
    app.router.add_get(conference + ".json", bound(fetch_conference))
    app.router.add_get(conference + "/Participants.json", bound(list_participants))
    app.router.add_get(participant, bound(fetch_participant))
    app.router.add_post(participant, bound(update_participant))
    app.router.add_delete(participant, bound(delete_participant))


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def list_conferences(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    q = request.query
    status = q.get("Status")
    if status and status not in _STATUSES:
        return error(400, 20001, f"Status must be one of {', '.join(_STATUSES)}")
    name = q.get("FriendlyName")
    with state.lock:
        bridges.materialize()
        chosen = sorted(bridges.conferences.values(), key=lambda c: c.seq, reverse=True)
        items = [
            (c.seq, conference_json(state, c))
            for c in chosen
            if (not name or c.friendly_name == name) and (not status or c.status == status)
        ]
    return listing.page_of(request, "conferences", items)


def fetch_conference(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    with state.lock:
        bridges.materialize()
        conference = bridges.conferences.get(request.match_info["conference"])
        if conference is None:
            return not_found(request)
        return web.json_response(conference_json(state, conference))


def list_participants(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    q = request.query
    wanted: dict[str, bool] = {}
    for key in ("Muted", "Hold"):
        if key in q:
            flag = _flag(q[key])
            if flag is None:
                return error(400, 20001, f"{key} must be true or false")
            wanted[key.lower()] = flag
    with state.lock:
        bridges.materialize()
        conference = bridges.conferences.get(request.match_info["conference"])
        if conference is None:
            return not_found(request)
        legs = sorted(conference.participants.values(), key=lambda leg: leg.seq, reverse=True)
        items = [
            (leg.seq, participant_json(state, leg))
            for leg in legs
            if all(getattr(leg, key) == flag for key, flag in wanted.items())
        ]
    return listing.page_of(request, "participants", items)


def fetch_participant(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    with state.lock:
        bridges.materialize()
        leg = bridges.participant(request.match_info["conference"], request.match_info["call"])
        if leg is None:
            return not_found(request)
        return web.json_response(participant_json(state, leg))


async def update_participant(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    form = await request.post()
    changes: dict[str, bool] = {}
    for key in ("Muted", "Hold"):
        if key in form:
            flag = _flag(str(form[key]))
            if flag is None:
                return error(400, 20001, f"{key} must be true or false")
            changes[key.lower()] = flag
    with state.lock:
        bridges.materialize()
        leg = bridges.participant(request.match_info["conference"], request.match_info["call"])
        if leg is None:
            return not_found(request)
        for key, flag in changes.items():
            setattr(leg, key, flag)
        return web.json_response(participant_json(state, leg))


def delete_participant(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    """Remove (kick) a participant: its call leaves the conference and ends."""
    with state.lock:
        bridges.materialize()
        leg = bridges.participant(request.match_info["conference"], request.match_info["call"])
        if leg is None:
            return not_found(request)
        bridges.end_leg(leg.call_sid, message_s=0.0, kicked=True)
    return web.Response(status=204)


async def update_call(request: web.Request, state: State, bridges: Bridges) -> web.Response:
    """New TwiML for a call in progress (it leaves a conference for it), or end it."""
    form = await request.post()
    twiml = str(form.get("Twiml", ""))
    status = str(form.get("Status", ""))
    if len(twiml) > 4000:
        return error(400, 13520, "Twiml parameter exceeds the 4000 character limit")
    if status and status not in ("completed", "canceled"):
        return error(400, 20001, "Status must be completed or canceled")
    with state.lock:
        bridges.materialize()
        record = state.records.get(request.match_info["sid"])
        if record is None or record.kind != "call":
            return not_found(request)
        current = state.status(record, state.now())
        if current in ("completed", "no-answer", "busy", "failed", "canceled"):
            return error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status:
            bridges.end_leg(record.sid, message_s=0.0)
        elif twiml:
            record.twiml = twiml
            if conference_of(twiml) is None:
                bridges.end_leg(record.sid, message_s=state.timing.message_s)
        return web.json_response(call_json(state, record, state.now()))
