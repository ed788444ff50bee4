"""Replies that people send back: scripted per number, or demo mode's simulated responders.

A reply is planned when an outbound message is created and becomes an inbound message once the
stand-in's clock reaches it (:meth:`Responders.materialize`, called before every read).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from mim_console.standin.state import Record, State


@dataclass
class ScriptedReply:
    body: str
    after: float
    times: int | None  # None: answer every message


@dataclass
class PendingInbound:
    appear_at: datetime
    from_: str
    to: str
    body: str


class Responders:
    """Scripted replies, demo mode's seed, and the replies waiting to appear."""

    def __init__(self, state: State) -> None:
        self._state = state
        self.scripts: dict[str, list[ScriptedReply]] = {}
        self.pending: list[PendingInbound] = []
        self.seed: int | None = None

    def script(self, number: str, body: str | None, after: float, times: int | None) -> None:
        with self._state.lock:
            if body is None:
                self.scripts[number] = []
            else:
                self.scripts.setdefault(number, []).append(ScriptedReply(body, after, times))

    def plan(self, number: str) -> tuple[str | None, float]:
        """What demo mode does for ``number``: (reply or None for never, delay in seconds)."""
        seed = self.seed if self.seed is not None else 0
        digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
        rng = random.Random(digest)
        roll = rng.random()
        if roll < 0.7:
            return "1", rng.uniform(5.0, 55.0)
        if roll < 0.85:
            return "2", rng.uniform(10.0, 60.0)
        return None, 0.0

    def clear(self) -> None:
        with self._state.lock:
            self.scripts.clear()
            self.pending.clear()
            self.seed = None

    def _scripted(self, to: str) -> tuple[str | None, float] | None:
        """The next scripted reply to ``to`` (consuming it), or None if ``to`` has no script."""
        rules = self.scripts.get(to)
        if rules is None:
            return None
        if not rules:
            return None, 0.0
        rule = rules[0]
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                rules.pop(0)
        return rule.body, rule.after

    def _already_answered(self, number: str) -> bool:
        return any(p.from_ == number for p in self.pending) or any(
            r.direction == "inbound" and r.from_ == number for r in self._state.records.values()
        )

    def schedule(self, outbound: Record) -> None:
        """Plan the reply (if any) to a message just created."""
        with self._state.lock:
            planned = self._scripted(outbound.to)
            body: str | None = None
            after = 0.0
            if planned is not None:
                body, after = planned
            elif self.seed is not None and outbound.direction == "outbound-api":
                if not self._already_answered(outbound.to):
                    body, after = self.plan(outbound.to)
            if body is not None:
                appear_at = outbound.created_at + timedelta(seconds=after)
                self.pending.append(PendingInbound(appear_at, outbound.to, outbound.from_, body))

    def resume(self, number: str, sender: str, now: datetime) -> bool:
        """Demo mode after a restart: ``number`` was alerted before this stand-in started and
        has not answered; it answers as its plan says, counted from now. True if it will."""
        with self._state.lock:
            if self.seed is None or self._already_answered(number):
                return False
            body, after = self.plan(number)
            if body is None:
                return False
            self.pending.append(
                PendingInbound(now + timedelta(seconds=after), number, sender, body)
            )
            return True

    def materialize(self) -> None:
        """Replies whose time has come become inbound messages."""
        with self._state.lock:
            if not self.pending:
                return
            now = self._state.now()
            due = [p for p in self.pending if p.appear_at <= now]
            if not due:
                return
            self.pending = [p for p in self.pending if p.appear_at > now]
            for item in sorted(due, key=lambda p: p.appear_at):
                record = self._state.new_record(
                    "message", item.to, item.from_, item.body, "inbound", "SM"
                )
                record.created_at = item.appear_at
                record.outcome = "received"
