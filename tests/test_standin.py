"""The Twilio stand-in over raw loopback HTTP: Twilio's shapes, auth, paging, behaviour controls."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import math
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import cache
from typing import Any

import aiohttp
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.rest import Client

from mim_console.standin import (
    API_PREFIX,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    StandIn,
    ThreadedStandIn,
    Timing,
    segments,
)
from tests.conftest import shared_path
from tests.twilio_fixtures import settings_of

ALICE = "+358401234567"
BOB = "+358407654321"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


AUTH = basic(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
BASE = API_PREFIX + DEFAULT_ACCOUNT_SID


# ---------------------------------------------------------------- the published schemas
def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` → JSON Schema; everything else as published."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "$ref" in out:
            return {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def _spec() -> dict[str, Any]:
    path = shared_path("twilio-api", "twilio_api_v2010.json")
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def _response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    spec = _spec()
    operation = spec["paths"][path][method]
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return {
        **_openapi_to_jsonschema(schema),
        "components": _openapi_to_jsonschema(spec["components"]),
    }


def _component(name: str) -> dict[str, Any]:
    props: dict[str, Any] = _spec()["components"]["schemas"][name]["properties"]
    return props


def assert_matches(body: Any, path: str, method: str, status: str) -> None:
    jsonschema.Draft7Validator(_response_schema(path, method, status)).validate(body)


MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
CALL = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], auth: Any = AUTH
) -> tuple[int, Any, Any]:
    async with http.post(url, data=form, headers=auth) as response:
        return response.status, await response.json(), response.headers


async def _get(
    http: aiohttp.ClientSession, url: str, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, params=params, headers=AUTH) as response:
        return response.status, await response.json()


async def _send(standin: StandIn, http: aiohttp.ClientSession, to: str, body: str = "hi") -> Any:
    status, payload, _ = await _post(
        http,
        standin.url + BASE + "/Messages.json",
        {"To": to, "From": DEFAULT_SENDER, "Body": body},
    )
    assert status == 201, payload
    return payload


# ---------------------------------------------------------------- shapes
async def test_message_create_fetch_list_match_published_schemas(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    created = await _send(standin, http, ALICE, "MI-2026-001 ☎ bridge")
    assert_matches(created, MESSAGES, "post", "201")
    assert set(created) <= set(_component("api.v2010.account.message"))
    assert created["direction"] == "outbound-api" and created["status"] == "queued"
    assert created["num_segments"] == "1" and created["date_sent"] is None
    standin.advance(5)
    status, fetched = await _get(http, standin.url + BASE + f"/Messages/{created['sid']}.json")
    assert status == 200
    assert_matches(fetched, MESSAGE, "get", "200")
    assert fetched["status"] == "delivered" and fetched["date_sent"].endswith("+0000")
    standin.inject_inbound(ALICE, "1")
    status, page = await _get(http, standin.url + BASE + "/Messages.json")
    assert_matches(page, MESSAGES, "get", "200")
    assert [m["direction"] for m in page["messages"]] == ["inbound", "outbound-api"]


async def test_call_create_fetch_list_match_published_schemas(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    status, created, _ = await _post(
        http,
        standin.url + BASE + "/Calls.json",
        {"To": ALICE, "From": DEFAULT_SENDER, "Twiml": "<Response><Say>hi</Say></Response>"},
    )
    assert status == 201
    assert_matches(created, CALLS, "post", "201")
    assert set(created) <= set(_component("api.v2010.account.call"))
    standin.advance(60)
    status, fetched = await _get(http, standin.url + BASE + f"/Calls/{created['sid']}.json")
    assert_matches(fetched, CALL, "get", "200")
    assert fetched["status"] == "completed" and fetched["duration"] is not None
    status, page = await _get(http, standin.url + BASE + "/Calls.json", {"Status": "completed"})
    assert_matches(page, CALLS, "get", "200")
    assert [c["sid"] for c in page["calls"]] == [created["sid"]]


async def test_errors_have_twilios_shape(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.fail_number(BOB, 21610)
    status, body, _ = await _post(
        http,
        standin.url + BASE + "/Messages.json",
        {"To": BOB, "From": DEFAULT_SENDER, "Body": "x"},
    )
    assert status == 400
    assert body == {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": DEFAULT_SENDER, "Body": "x"}, 21604),
        ({"To": ALICE, "Body": "x"}, 21603),
        ({"To": ALICE, "From": DEFAULT_SENDER}, 21602),
        ({"To": ALICE, "From": DEFAULT_SENDER, "Body": "x" * 1601}, 21617),
        ({"To": "0401234567", "From": DEFAULT_SENDER, "Body": "x"}, 21211),
        ({"To": ALICE, "MessagingServiceSid": "MG123", "Body": "x"}, 21701),
    ],
)
async def test_invalid_creates_are_refused_like_twilio(
    standin: StandIn, http: aiohttp.ClientSession, form: dict[str, str], code: int
) -> None:
    status, body, _ = await _post(http, standin.url + BASE + "/Messages.json", form)
    assert (status, body["code"]) == (400, code)
    assert standin.messages() == []


async def test_call_without_instructions_is_refused(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await _post(
        http, standin.url + BASE + "/Calls.json", {"To": ALICE, "From": DEFAULT_SENDER}
    )
    assert (status, body["code"]) == (400, 21205)


# ---------------------------------------------------------------- auth
@pytest.mark.parametrize(
    "auth",
    [{}, basic(DEFAULT_ACCOUNT_SID, "wrong"), basic("ACx", "y"), {"Authorization": "Basic !!"}],
)
async def test_requests_without_valid_credentials_get_401(
    standin: StandIn, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    status, body, _ = await _post(
        http, standin.url + BASE + "/Messages.json", {"To": ALICE, "From": DEFAULT_SENDER}, auth
    )
    assert (status, body["code"]) == (401, 20003)
    assert standin.messages() == []


async def test_another_accounts_path_is_not_found(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    other = API_PREFIX + "AC" + "f" * 32 + "/Messages.json"
    status, body, _ = await _post(
        http, standin.url + other, {"To": ALICE, "From": DEFAULT_SENDER, "Body": "x"}
    )
    assert (status, body["code"]) == (404, 20404)


async def test_unknown_sid_is_404(standin: StandIn, http: aiohttp.ClientSession) -> None:
    status, body = await _get(http, standin.url + BASE + "/Messages/SM" + "0" * 32 + ".json")
    assert (status, body["code"]) == (404, 20404)


# ---------------------------------------------------------------- listing
async def test_paging_walks_every_message_once_newest_first(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    sent = [(await _send(standin, http, ALICE, f"m{i}"))["sid"] for i in range(7)]
    seen: list[str] = []
    url: str | None = standin.url + BASE + "/Messages.json?PageSize=3"
    pages = 0
    while url:
        status, page = await _get(http, url)
        assert status == 200 and page["page_size"] == 3
        assert_matches(page, MESSAGES, "get", "200")
        seen += [m["sid"] for m in page["messages"]]
        # A message arriving mid-walk must not shift the pages.
        if pages == 0:
            await _send(standin, http, BOB, "late")
        url = standin.url + page["next_page_uri"] if page["next_page_uri"] else None
        pages += 1
    assert seen == list(reversed(sent))
    assert pages == 3


async def test_list_filters(standin: StandIn, http: aiohttp.ClientSession) -> None:
    await _send(standin, http, ALICE)
    await _send(standin, http, BOB)
    standin.advance(1)
    standin.inject_inbound(ALICE, "yes")
    url = standin.url + BASE + "/Messages.json"
    _, to_bob = await _get(http, url, {"To": BOB})
    assert [m["to"] for m in to_bob["messages"]] == [BOB]
    _, from_alice = await _get(http, url, {"From": ALICE})
    assert [m["body"] for m in from_alice["messages"]] == ["yes"]
    today = standin.now().strftime("%Y-%m-%d")
    _, on_day = await _get(http, url, {"DateSent>": today})
    assert len(on_day["messages"]) == 3
    just_now = (standin.now() - timedelta(milliseconds=500)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, recent = await _get(http, url, {"DateSent>": just_now})
    assert [m["body"] for m in recent["messages"]][0] == "yes"
    tomorrow = (standin.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    _, future = await _get(http, url, {"DateSent>": tomorrow})
    assert future["messages"] == []
    _, before = await _get(http, url, {"DateSent<": tomorrow})
    assert len(before["messages"]) == 3
    status, bad = await _get(http, url, {"DateSent>": "yesterday"})
    assert (status, bad["code"]) == (400, 20001)


async def test_call_list_filters(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.timing = Timing(call_ringing=1, call_answered=60)
    url = standin.url + BASE + "/Calls.json"
    for to in (ALICE, BOB):
        form = {"To": to, "From": DEFAULT_SENDER, "Twiml": "<Response/>"}
        assert (await _post(http, url, form))[0] == 201
    standin.advance(10)
    _, to_bob = await _get(http, url, {"To": BOB})
    assert [c["to"] for c in to_bob["calls"]] == [BOB]
    today = standin.now().strftime("%Y-%m-%d")
    _, started = await _get(http, url, {"StartTime>": today, "Status": "ringing"})
    assert len(started["calls"]) == 2
    _, none = await _get(http, url, {"Status": "completed"})
    assert none["calls"] == []


async def test_unknown_paths_get_twilios_404(standin: StandIn, http: aiohttp.ClientSession) -> None:
    status, body = await _get(http, standin.url + BASE + "/Messages")
    assert (status, body["code"]) == (404, 20404)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=9))
def test_paging_property(threaded_standin: ThreadedStandIn, count: int, page_size: int) -> None:
    """Whatever the count and page size, the SDK's paging sees each message once, newest first."""
    threaded_standin.reset()
    sids = [threaded_standin.inject_inbound(f"+35840{i:07d}", "1") for i in range(count)]
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.api.base_url = threaded_standin.url
    listed = [m.sid for m in client.messages.stream(page_size=page_size)]
    assert listed == list(reversed(sids))
    pages = [e for e in threaded_standin.request_log() if e.method == "GET"]
    assert len(pages) == max(1, math.ceil(count / page_size))


async def test_a_lone_surrogate_in_an_inbound_body_does_not_break_the_lists(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    """Issue 14: one inbound body holding a lone surrogate made every message list a 500."""
    body = json.dumps({"from_number": ALICE, "body": "1 \ud800 ok"})  # escaped: \\ud800
    async with http.post(
        standin.url + "/_standin/inject_inbound",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as r:
        assert r.status == 200
    await _send(standin, http, BOB, "after it")
    status, page = await _get(http, standin.url + BASE + "/Messages.json")
    assert status == 200
    assert [m["body"] for m in page["messages"]] == ["after it", "1 \ud800 ok"]
    assert page["messages"][1]["num_segments"] == "1"
    status, fetched = await _get(
        http, standin.url + BASE + f"/Messages/{page['messages'][1]['sid']}.json"
    )
    assert status == 200 and fetched["body"] == "1 \ud800 ok"
    async with http.get(standin.url + "/_standin/state") as r:
        assert r.status == 200
        assert len((await r.json())["messages"]) == 2


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(st.characters(categories=["Cs"]) | st.characters(codec=None), max_size=200))
def test_any_inbound_body_lists_back_as_sent(threaded_standin: ThreadedStandIn, body: str) -> None:
    """Whatever text arrives (surrogates, NUL, ESC included), the SDK lists it back unchanged."""
    threaded_standin.reset()
    threaded_standin.inject_inbound(ALICE, body)
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    client.api.base_url = threaded_standin.url
    (listed,) = client.messages.list(limit=5)
    assert listed.body == json.loads(json.dumps(body))  # JSON joins a surrogate pair: one char
    assert int(listed.num_segments) == segments(body) >= 1


async def test_queued_messages_have_no_date_sent_so_date_filters_skip_them(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    await _send(standin, http, ALICE)
    today = standin.now().strftime("%Y-%m-%d")
    _, page = await _get(http, standin.url + BASE + "/Messages.json", {"DateSent>": today})
    assert page["messages"] == []


# ---------------------------------------------------------------- behaviour
async def test_scripted_replies_times_and_never(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.script_reply(ALICE, "1", after=30, times=1)
    standin.script_reply(BOB, None)
    await _send(standin, http, ALICE)
    await _send(standin, http, ALICE)
    await _send(standin, http, BOB)
    standin.advance(20)
    assert standin.messages(direction="inbound") == []
    standin.advance(11)
    (reply,) = standin.messages(direction="inbound")
    assert (reply.from_, reply.to, reply.body) == (ALICE, DEFAULT_SENDER, "1")
    standin.advance(3600)
    assert len(standin.messages(direction="inbound")) == 1


async def test_late_materialised_reply_keeps_time_order(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.script_reply(ALICE, "1", after=30)
    await _send(standin, http, ALICE, "alert")
    standin.advance(60)
    await _send(standin, http, BOB, "later alert")
    _, page = await _get(http, standin.url + BASE + "/Messages.json")
    assert [m["body"] for m in page["messages"]] == ["later alert", "1", "alert"]
    created = [email.utils.parsedate_to_datetime(m["date_created"]) for m in page["messages"]]
    assert created == sorted(created, reverse=True)


async def test_replies_to_every_message_when_times_is_none(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.script_reply(ALICE, "?", after=0, times=None)
    for _ in range(3):
        await _send(standin, http, ALICE)
    assert [m.body for m in standin.messages(direction="inbound")] == ["?", "?", "?"]


async def test_responders_are_deterministic_and_mostly_join(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.responders(seed=3)
    numbers = [f"+3584020{i:05d}" for i in range(200)]
    plans = {n: standin.responder_plan(n) for n in numbers}
    assert plans == {n: standin.responder_plan(n) for n in numbers}
    joins = sum(1 for reply, _ in plans.values() if reply == "1")
    unable = sum(1 for reply, _ in plans.values() if reply == "2")
    never = sum(1 for reply, _ in plans.values() if reply is None)
    assert joins > 100 and unable > 10 and never > 10
    assert all(delay <= 60 for reply, delay in plans.values() if reply is not None)
    for number in numbers[:20]:
        await _send(standin, http, number)
        await _send(standin, http, number)  # a second alert gets no second answer
    standin.advance(61)
    replies = {m.from_: m.body for m in standin.messages(direction="inbound")}
    expected = {n: plans[n][0] for n in numbers[:20] if plans[n][0] is not None}
    assert replies == expected
    assert len(standin.messages(direction="inbound")) == len(expected)


async def test_fault_filters_and_counts(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.fault("500", count=2, method="POST", path_contains="Messages")
    url = standin.url + BASE + "/Messages.json"
    status, _ = await _get(http, url)
    assert status == 200  # a GET is not matched
    form = {"To": ALICE, "From": DEFAULT_SENDER, "Body": "x"}
    assert (await _post(http, url, form))[0] == 500
    assert (await _post(http, url, form))[0] == 500
    assert (await _post(http, url, form))[0] == 201
    statuses = [(e.method, e.status, e.fault) for e in standin.request_log()]
    assert statuses == [
        ("GET", 200, None),
        ("POST", 500, "500"),
        ("POST", 500, "500"),
        ("POST", 201, None),
    ]
    assert standin.request_log()[-1].form == form


async def test_429_carries_retry_after(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.fault("429", retry_after=2.5)
    status, body, headers = await _post(
        http, standin.url + BASE + "/Messages.json", {"To": ALICE, "From": DEFAULT_SENDER}
    )
    assert (status, body["code"], headers["Retry-After"]) == (429, 20429, "3")


async def test_timeout_accepted_stores_then_holds(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    standin.fault("timeout", hold=5, accepted=True)
    url = standin.url + BASE + "/Messages.json"
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            url,
            data={"To": ALICE, "From": DEFAULT_SENDER, "Body": "x"},
            headers=AUTH,
            timeout=aiohttp.ClientTimeout(total=0.3),
        ):
            pass
    assert [m.to for m in standin.messages()] == [ALICE]


async def test_drop_closes_without_answer(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.fault("drop")
    with pytest.raises(aiohttp.ClientError):
        await _post(
            http,
            standin.url + BASE + "/Messages.json",
            {"To": ALICE, "From": DEFAULT_SENDER, "Body": "x"},
        )
    assert standin.messages() == []
    assert standin.request_log()[-1].status is None


async def test_down_refuses_then_comes_back_on_the_same_port(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    url = standin.url
    await _send(standin, http, ALICE)
    await standin.go_down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await _get(http, url + BASE + "/Messages.json")
    await standin.come_up()
    assert standin.url == url
    status, page = await _get(http, url + BASE + "/Messages.json")
    assert status == 200 and len(page["messages"]) == 1  # state survives the outage


async def test_latency_is_applied(standin: StandIn, http: aiohttp.ClientSession) -> None:
    standin.set_latency(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _get(http, standin.url + BASE + "/Messages.json")
    assert loop.time() - started >= 0.2


async def test_control_endpoint_drives_the_stand_in(
    standin: StandIn, http: aiohttp.ClientSession
) -> None:
    control = standin.url + "/_standin/"
    async with http.post(control + "fail_number", json={"number": BOB, "code": 21614}) as r:
        assert r.status == 200
    async with http.post(control + "script_reply", json={"number": ALICE, "body": "2"}) as r:
        assert r.status == 200
    async with http.post(control + "fault", json={"kind": "bogus"}) as r:
        assert r.status == 400
    async with http.post(control + "explode", json={}) as r:
        assert r.status == 404
    async with http.post(control + "fault", data="not json") as r:
        assert r.status == 400
    await _send(standin, http, ALICE)
    status, body, _ = await _post(
        http,
        standin.url + BASE + "/Messages.json",
        {"To": BOB, "From": DEFAULT_SENDER, "Body": "x"},
    )
    assert body["code"] == 21614
    async with http.get(control + "log") as r:
        log = await r.json()
    assert [entry["status"] for entry in log] == [201, 400]
    async with http.get(control + "state") as r:
        state = await r.json()
    assert [m["body"] for m in state["messages"]] == ["hi", "2"]
    async with http.post(control + "down", json={"for_seconds": 0.3}) as r:
        assert r.status == 200
    for _ in range(100):
        if not standin.is_up:
            break
        await asyncio.sleep(0.02)
    assert not standin.is_up
    for _ in range(200):  # back after 0.3 s; allow for a loaded machine
        if standin.is_up:
            break
        await asyncio.sleep(0.05)
    assert standin.is_up


def test_threaded_stand_in_serves_the_sync_sdk(threaded_standin: ThreadedStandIn) -> None:
    settings = settings_of(threaded_standin)
    assert settings.configured and settings.api_url == threaded_standin.url
    client = Client(settings.account_sid, settings.auth_token)
    client.api.base_url = settings.api_url
    message = client.messages.create(to=ALICE, from_=DEFAULT_SENDER, body="sync")
    assert message.sid.startswith("SM")
    threaded_standin.go_down()
    threaded_standin.come_up()
    fetched = client.messages(message.sid).fetch()
    assert fetched.body == "sync"
    threaded_standin.timing = Timing(sms_sent=3600)
    assert threaded_standin.standin.timing.sms_sent == 3600
    assert [m.body for m in threaded_standin.messages()] == ["sync"]


def test_runs_standalone_with_responders_driven_from_another_process() -> None:
    command = [sys.executable, "-m", "mim_console.standin", "--latency-ms", "5"]
    process = subprocess.Popen(
        [*command, "--responders", "--seed", "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        client.api.base_url = url
        numbers = [f"+3584020{i:05d}" for i in range(12)]
        for number in numbers:
            assert client.messages.create(to=number, from_=DEFAULT_SENDER, body="x").sid
        # The demo's people answer within a minute: skip ahead through the control endpoint.
        request = urllib.request.Request(
            url + "/_standin/advance",
            data=json.dumps({"seconds": 61}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["ok"] is True
        replies = {m.from_: m.body for m in client.messages.list(to=DEFAULT_SENDER, limit=50)}
        plan = StandIn()
        plan.responders(seed=3)
        expected = {n: plan.responder_plan(n)[0] for n in numbers}
        assert replies == {n: r for n, r in expected.items() if r is not None}
        assert set(replies.values()) <= {"1", "2"} and "1" in replies.values()
    finally:
        process.terminate()
        # SIGTERM (a service manager's stop) is a clean exit, not a crash.
        assert process.wait(10) == 0


def test_standalone_reports_a_busy_port(threaded_standin: ThreadedStandIn) -> None:
    port = threaded_standin.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "mim_console.standin", "--port", port],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode != 0
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- pure helpers
_GSM = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?-+@"


@given(st.text(alphabet=_GSM, max_size=1600))
def test_gsm_segments(body: str) -> None:
    n = len(body)
    assert segments(body) == (1 if n <= 160 else math.ceil(n / 153))


@given(st.text(alphabet=_GSM, max_size=400), st.sampled_from("☎ääЖ€"))
def test_any_non_gsm_character_switches_to_ucs2(body: str, odd: str) -> None:
    text = body + odd
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    if odd in "ä€":  # these two are in the GSM-7 set (€ via the extension table)
        return
    assert segments(text) == expected
