"""``/_standin/{action}``: the behaviour controls as JSON, for tests in another process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from mim_console.standin.app import StandIn


def _actions(standin: StandIn) -> dict[str, Callable[..., Any]]:
    return {
        "advance": standin.advance,
        "latency": standin.set_latency,
        "fault": standin.fault,
        "clear_faults": standin.clear_faults,
        "fail_number": standin.fail_number,
        "clear_number_errors": standin.clear_number_errors,
        "add_credentials": standin.add_credentials,
        "undeliverable": standin.undeliverable,
        "call_outcome": standin.call_outcome,
        "script_reply": standin.script_reply,
        "script_keypress": standin.script_keypress,
        "inject_inbound": standin.inject_inbound,
        "responders": standin.responders,
        "bridge_plan": standin.bridge_plan,
        "hang_up": standin.hang_up,
        "dial_in": standin.dial_in,
        "conference_limit": standin.set_conference_limit,
        "calls_per_second": standin.set_calls_per_second,
        "on_bridge": standin.on_bridge,
        "reset": standin.reset,
        "clear_log": standin.clear_log,
    }


async def _arguments(request: web.Request) -> dict[str, Any] | web.Response:
    if request.method != "POST" or not request.can_read_body:
        return {}
    try:
        args = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        args = None
    if not isinstance(args, dict):
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    return args


def _log(standin: StandIn) -> web.Response:
    entries = [{**asdict(entry), "at": entry.at.isoformat()} for entry in standin.request_log()]
    return web.json_response(entries)


def _go_down(standin: StandIn, args: dict[str, Any]) -> web.Response:
    seconds = float(args.get("for_seconds", 5.0))
    # Answer first, then go down, so the caller learns it worked.
    asyncio.get_running_loop().call_later(0.05, standin.spawn, lambda: standin.go_down(seconds))
    return web.json_response({"ok": True})


async def handle(standin: StandIn, request: web.Request) -> web.Response:
    """POST /_standin/{action} with the control method's arguments as a JSON object."""
    action = request.match_info["action"]
    args = await _arguments(request)
    if isinstance(args, web.Response):
        return args
    simple = _actions(standin)
    try:
        if action == "log":
            return _log(standin)
        if action == "state":
            return web.json_response(standin.snapshot())
        if action == "down":
            return _go_down(standin, args)
        if action not in simple:
            return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        result = simple[action](**args)
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"ok": True, "result": result})
