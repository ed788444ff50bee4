"""Twilio-shaped error answers and the refusal texts the stand-in gives."""

from __future__ import annotations

import re

from aiohttp import web

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

REFUSAL_TEXT = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21614: "'To' number {to} is not a valid mobile number",
    21610: "Attempt to send to unsubscribed recipient",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number: {to}.",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
    "number via SMS.",
    21217: "Phone number does not appear to be valid",
    21216: "Call blocked by Twilio blocklist",
    16020: "Conference is full",
    16021: "Maximum number of concurrent calls reached",
}


def error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Twilio's error shape."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
        headers=headers,
    )


def refused(code: int, to: str) -> web.Response:
    """A create refused with Twilio error ``code`` (400)."""
    return error(400, code, REFUSAL_TEXT.get(code, "Error").format(to=to))


def not_found(request: web.Request) -> web.Response:
    return error(404, 20404, f"The requested resource {request.path} was not found")
