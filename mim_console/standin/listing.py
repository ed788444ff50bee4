"""Reading records back: ``GET …/{Sid}.json`` and the paged, filtered ``GET Messages.json`` and
``GET Calls.json`` (``To``, ``From``, ``Status``, ``DateSent``/``StartTime`` with ``<``/``>``,
``PageSize``, ``Page``, ``PageToken``)."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from mim_console.standin.responses import error, not_found
from mim_console.standin.state import Record, State

Render = Callable[[State, Record, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One listable resource: messages or calls."""

    name: str  # Record.kind
    key: str  # the list's key in the page
    date_field: str  # the filter parameter
    stamp: str  # the JSON field that filter compares
    render: Render


def parse_filter_time(text: str) -> tuple[datetime, bool]:
    """A ``DateSent>``-style value: a date (whole day) or a UTC date-time. True if date only."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC), True
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def date_ok(stamp_text: str | None, filters: list[tuple[str, datetime, bool]]) -> bool:
    if not stamp_text:
        return False
    stamp = email.utils.parsedate_to_datetime(stamp_text)
    for op, moment, date_only in filters:
        if op == "":
            ok = stamp.date() == moment.date() if date_only else stamp == moment
        elif op == ">":  # Twilio: on or after
            ok = stamp.date() >= moment.date() if date_only else stamp >= moment
        else:  # "<": on or before
            ok = stamp.date() <= moment.date() if date_only else stamp <= moment
        if not ok:
            return False
    return True


def fetch(request: web.Request, state: State, kind: Kind) -> web.Response:
    sid = request.match_info["sid"]
    with state.lock:
        record = state.records.get(sid)
        if record is None or record.kind != kind.name:
            return not_found(request)
        payload = kind.render(state, record, state.now())
    return web.json_response(payload)


@dataclass(frozen=True)
class _Query:
    page_size: int
    page: int
    filters: list[tuple[str, datetime, bool]]
    after_seq: int | None


def _parse(q: Mapping[str, str], date_field: str) -> _Query | web.Response:
    """The paging and date parameters, or Twilio's 400 for a bad one."""
    try:
        page_size = int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
    except ValueError:
        return error(400, 20001, "PageSize and Page must be whole numbers")
    if not 1 <= page_size <= 1000 or page < 0:
        return error(400, 20001, "PageSize must be 1 to 1000 and Page 0 or more")
    filters: list[tuple[str, datetime, bool]] = []
    for op in ("", "<", ">"):
        value = q.get(date_field + op)
        if value:
            try:
                moment, date_only = parse_filter_time(value)
            except ValueError:
                return error(400, 20001, f"{date_field}{op} is not a valid date: {value}")
            filters.append((op, moment, date_only))
    token = q.get("PageToken", "")
    after_seq: int | None = None
    if token:
        match = re.fullmatch(r"PA(\d+)", token)
        if not match:
            return error(400, 20001, f"Invalid PageToken {token}")
        after_seq = int(match.group(1))
    return _Query(page_size, page, filters, after_seq)


def _select(
    state: State, kind: Kind, q: Mapping[str, str], query: _Query
) -> tuple[list[dict[str, Any]], list[int]]:
    """Up to one more than a page of matching records, newest first, and their sequence numbers."""
    chosen: list[dict[str, Any]] = []
    seqs: list[int] = []
    with state.lock:
        now = state.now()
        for record in state.ordered(kind.name, newest_first=True):
            if query.after_seq is not None and record.seq >= query.after_seq:
                continue
            if q.get("To") and record.to != q["To"]:
                continue
            if q.get("From") and record.from_ != q["From"]:
                continue
            item = kind.render(state, record, now)
            if q.get("Status") and item["status"] != q["Status"]:
                continue
            if query.filters and not date_ok(item[kind.stamp], query.filters):
                continue
            chosen.append(item)
            seqs.append(record.seq)
            if len(chosen) > query.page_size:
                break
    return chosen, seqs


def page(request: web.Request, state: State, kind: Kind) -> web.Response:
    """One page of a list, with Twilio's paging fields."""
    q = request.query
    query = _parse(q, kind.date_field)
    if isinstance(query, web.Response):
        return query
    chosen, seqs = _select(state, kind, q, query)
    return _page_payload(request, kind.key, query, chosen, seqs)


def page_of(
    request: web.Request, key: str, items: list[tuple[int, dict[str, Any]]], date_field: str = ""
) -> web.Response:
    """A page of ``items`` (sequence number, JSON), already filtered and newest first: the
    paging of conferences and participants."""
    query = _parse(request.query, date_field or "DateCreated")
    if isinstance(query, web.Response):
        return query
    kept = [(s, item) for s, item in items if query.after_seq is None or s < query.after_seq]
    kept = kept[: query.page_size + 1]
    return _page_payload(request, key, query, [i for _, i in kept], [s for s, _ in kept])


def _page_payload(
    request: web.Request,
    key: str,
    query: _Query,
    chosen: list[dict[str, Any]],
    seqs: list[int],
) -> web.Response:
    q = request.query
    page_size, number = query.page_size, query.page
    has_more = len(chosen) > page_size
    chosen = chosen[:page_size]
    base_q = {k: v for k, v in q.items() if k not in ("Page", "PageToken", "PageSize")}

    def uri(extra: dict[str, str]) -> str:
        return request.path + "?" + urlencode({**base_q, "PageSize": str(page_size), **extra})

    next_uri = None
    if has_more:
        next_uri = uri({"Page": str(number + 1), "PageToken": f"PA{seqs[page_size - 1]}"})
    start = number * page_size
    payload = {
        key: chosen,
        "end": start + max(len(chosen) - 1, 0),
        "first_page_uri": uri({"Page": "0"}),
        "next_page_uri": next_uri,
        "page": number,
        "page_size": page_size,
        "previous_page_uri": uri({"Page": str(number - 1)}) if number > 0 else None,
        "start": start,
        "uri": request.path_qs,
    }
    return web.json_response(payload)
