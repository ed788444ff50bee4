"""Messages: creating one (with Twilio's checks), its JSON, and how carriers count segments."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from mim_console.standin.responders import Responders
from mim_console.standin.responses import E164, REFUSAL_TEXT, error, refused
from mim_console.standin.state import API_PREFIX, Record, State, rfc2822

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_DELIVERY_TEXT = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}


def segments(body: str) -> int:
    """SMS segments the way carriers count them: GSM-7 160/153, otherwise UCS-2 70/67.

    Any text is counted, even one holding a lone surrogate (one UTF-16 unit each): an inbound
    body is whatever arrived, and listing it must not fail.
    """
    if not body:
        return 1
    if all(ch in _GSM7 for ch in body):
        return 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    units = len(body.encode("utf-16-le", "surrogatepass")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def delivery_text(code: int) -> str:
    return _DELIVERY_TEXT.get(code, "Delivery failed")


def message_json(state: State, record: Record, now: datetime) -> dict[str, Any]:
    """The message as Twilio's API shows it at ``now``."""
    status = state.status(record, now)
    sent_at: datetime | None = None
    if record.direction == "inbound":
        sent_at = record.created_at
    elif status != "queued":
        sent_at = record.created_at + timedelta(seconds=state.timing.sms_sent)
    final_error = status in ("undelivered", "failed")
    base = f"{API_PREFIX}{state.account_sid}/Messages/{record.sid}"
    priced = status not in ("queued", "accepted")
    parts = segments(record.body)
    return {
        "account_sid": state.account_sid,
        "api_version": "2010-04-01",
        "body": record.body,
        "date_created": rfc2822(record.created_at),
        "date_sent": rfc2822(sent_at) if sent_at else None,
        "date_updated": rfc2822(max(record.created_at, min(now, sent_at or now))),
        "direction": record.direction,
        "error_code": record.error_code if final_error else None,
        "error_message": record.error_message if final_error else None,
        "from": record.from_,
        "messaging_service_sid": record.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(parts),
        "price": f"-{0.0075 * parts:.5f}" if priced else None,
        "price_unit": "USD",
        "sid": record.sid,
        "status": status,
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": record.to,
        "uri": f"{base}.json",
    }


def _invalid(
    form: Mapping[str, object], to: str, from_: str, service: str, body: str
) -> web.Response | None:
    """Twilio's 400 for a create it would refuse on its fields, or None."""
    if not to:
        return error(400, 21604, "A 'To' phone number is required.")
    if not from_ and not service:
        return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
    if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
        return error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if from_ and not (E164.match(from_) or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", from_)):
        return error(400, 21212, f"The 'From' number {from_} is not a valid phone number")
    if not body.strip() and "MediaUrl" not in form and "ContentSid" not in form:
        return error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    validity = str(form.get("ValidityPeriod", "1"))
    if not (validity.isascii() and validity.isdigit() and 1 <= int(validity) <= 36_000):
        return error(400, 21624, "Validity period can only be set to integers between 1 and 36000")
    return None


async def create_message(
    request: web.Request, state: State, responders: Responders
) -> web.Response:
    """``POST Messages.json``: store an outbound message and plan its reply."""
    form = await request.post()
    to = str(form.get("To", "")).strip()
    from_ = str(form.get("From", "")).strip()
    service = str(form.get("MessagingServiceSid", "")).strip()
    body = str(form.get("Body", ""))
    invalid = _invalid(form, to, from_, service, body)
    if invalid is not None:
        return invalid
    with state.lock:
        code = state.rules.refusal(to, "sms")
    if code is not None:
        return refused(code, to)
    if not E164.match(to):
        return error(400, 21211, REFUSAL_TEXT[21211].format(to=to))
    with state.lock:
        responders.materialize()
        record = state.new_record(
            "message", to, from_ or state.sender, body, "outbound-api", prefix="SM"
        )
        record.messaging_service_sid = service or None
        if "ValidityPeriod" in form:
            record.validity_period = int(str(form["ValidityPeriod"]))
        final, failure = state.rules.delivery.get(to, ("delivered", None))
        record.outcome = final
        if failure is not None:
            record.error_code = failure
            record.error_message = delivery_text(failure)
        responders.schedule(record)
        payload = message_json(state, record, state.now())
    return web.json_response(payload, status=201)


def inbound(state: State, responders: Responders, from_number: str, body: str, to: str) -> str:
    """An inbound SMS arrives now; returns its SID."""
    with state.lock:
        responders.materialize()
        record = state.new_record("message", to, from_number, body, "inbound", prefix="SM")
        record.outcome = "received"
        return record.sid
