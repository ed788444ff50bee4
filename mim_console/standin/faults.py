"""Fault injection: the next matching requests get a 429/500/503, hang, or lose their connection."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from mim_console.standin.responses import error

FAULT_KINDS = ("429", "500", "503", "timeout", "drop")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    kind: str  # "429" | "500" | "503" | "timeout" | "drop"
    remaining: int
    retry_after: float | None = None
    hold: float = 30.0  # for "timeout": how long the request is held
    accepted: bool = False  # for "timeout"/"drop" on a create: was it stored anyway?
    method: str | None = None
    path_contains: str | None = None
    skip: int = 0  # let this many matching requests through first

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path_contains and self.path_contains not in path)


class Faults:
    """The faults waiting for requests, and the requests held by a ``timeout`` fault."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._faults: list[Fault] = []
        self._holding: set[asyncio.Task[Any]] = set()

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request gets (counted down), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    taken = Fault(**asdict(fault))
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return taken
        return None

    def release_held(self) -> None:
        """Cancel the requests a ``timeout`` fault is holding (the server is going away)."""
        for task in list(self._holding):
            task.cancel()

    async def answer(
        self, fault: Fault, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """The response a faulted request gets."""
        if fault.kind in ("429", "500", "503"):
            return status_response(fault)
        response: web.StreamResponse | None = None
        if fault.accepted:
            response = await handler(request)
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            # Nothing reaches the client: the transport is gone. The status is for the log.
            return web.Response(status=499)
        task = asyncio.current_task()
        if task is not None:
            self._holding.add(task)
        try:
            await asyncio.sleep(fault.hold)
        finally:
            if task is not None:
                self._holding.discard(task)
        if response is not None:
            return response
        # Not accepted: the client gave up long ago; say so without storing anything.
        return error(504, 20504, "Gateway Timeout")


def status_response(fault: Fault) -> web.Response:
    """A 429, 500 or 503 in Twilio's shape (429 with ``Retry-After`` when the fault has one)."""
    status = int(fault.kind)
    code = {429: 20429, 500: 20500, 503: 20503}[status]
    text = {429: "Too Many Requests", 500: "Internal Server Error"}.get(
        status, "Service Unavailable"
    )
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
    return error(status, code, text, headers)
