"""A local GSM modem through python-gammu: the SMS route that needs no internet.

One ``gammu.StateMachine`` per process, opened on first use by the process that holds the
dispatcher lease (the dispatcher creates this object only there). Modems are serial devices:
every Gammu call runs in a worker thread (``asyncio.to_thread``) under one lock, so a multi-part
message is submitted whole before anything else talks to the modem, and nothing stalls the
event loop. A modem that stops answering is closed and reopened with backoff; until then every
call fails at once with the reason and its fix (domain/modem.py words them).

Gammu's debug log (``logfile`` in the gammurc) is the record of what the modem submitted. Gammu
truncates it on every connect; this module keeps it appending across reopens and restarts, so
"was it sent?" can be answered after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from mim_console.clock import Clock, utcnow
from mim_console.config import ModemSettings
from mim_console.domain import modem as advice
from mim_console.domain.backoff import BackoffPolicy
from mim_console.domain.sms import is_gsm7
from mim_console.notifiers.base import (
    InboundMessage,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from mim_console.notifiers.logmask import masked_logger

log = masked_logger("mim_console.modem")

T = TypeVar("T")

SID_PREFIX = "GSM"  # provider ids of the modem route: "GSM" + 32 hex digits
INCOMPLETE_WAIT_S = 600.0  # a multi-part reply missing parts is joined as it is after this

# Errors after which the link is not trusted: close it and reopen with backoff.
_LINK_ERRORS = {
    "ERR_TIMEOUT",
    "ERR_NOTCONNECTED",
    "ERR_UNKNOWNRESPONSE",
    "ERR_UNKNOWNFRAME",
    "ERR_FRAMENOTREQUESTED",
    "ERR_CORRUPTED",
    "ERR_PHONEOFF",
    "ERR_BUG",
}


class ModemUnavailable(TransientSendError):
    """Nothing was sent: the modem cannot be used now (the message says why and how to fix)."""


class ModemInDoubt(TransientSendError):
    """The modem may have submitted the message (no clear answer): never resend it blind."""


class ModemRefused(PermanentSendError):
    """The modem refused this message for good (a number Gammu cannot encode)."""


@dataclass(frozen=True)
class ModemInbound:
    """One received text (parts joined), and where its parts sit in the modem's memory."""

    message: InboundMessage
    locations: tuple[int, ...]


@dataclass(frozen=True)
class ModemReport:
    """A delivery report the network sent back for message ``reference``."""

    reference: int
    number: str
    delivered: bool
    location: int


@dataclass(frozen=True)
class InboxRead:
    texts: list[ModemInbound]
    reports: list[ModemReport]


def new_sid() -> str:
    return f"{SID_PREFIX}{uuid.uuid4().hex}"


class GammuModem:
    """The modem: send, read the inbox, report health; reopened with backoff when it fails."""

    def __init__(
        self,
        settings: ModemSettings,
        *,
        clock: Clock = utcnow,
        backoff: BackoffPolicy | None = None,
        timeout_s: float = 90.0,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.backoff = backoff or BackoffPolicy(base_s=1.0, cap_s=60.0)
        self.timeout_s = timeout_s
        self._rand = rand or (lambda: 0.5)
        self._sm: Any = None
        self._lock = threading.Lock()  # held by the thread for the whole operation
        self._log: IO[str] | None = None
        self._log_level = ""
        self._failures = 0
        self._retry_at = 0.0  # monotonic: no reopen before this
        self.last_error: str | None = None
        self._durations: list[float] = []  # seconds per message, recent ones

    # ------------------------------------------------------------ public
    async def send_sms(self, to: str, body: str) -> SendResult:
        """Submit ``body`` to ``to`` (multi-part when long); the SID is ours (``GSM…``)."""
        started = time.monotonic()
        refs = await self._run(lambda sm: self._send_sync(sm, to, body))
        self._durations = [*self._durations[-19:], time.monotonic() - started]
        return SendResult(sid=new_sid(), status="sent" if refs else "queued")

    async def read_inbox(self) -> InboxRead:
        """Every received text (multi-part joined) and delivery report, not yet deleted."""
        return await self._run(self._inbox_sync)

    async def delete(self, locations: list[int]) -> None:
        """Remove read messages from the modem (after they are stored)."""
        if locations:
            await self._run(lambda sm: self._delete_sync(sm, locations))

    async def health(self) -> advice.ModemHealth:
        """Identity, network, signal, SIM lock and inbox fill; an error text if it cannot ask."""
        try:
            return await self._run(self._health_sync)
        except (ModemUnavailable, ModemInDoubt, ModemRefused) as exc:
            return advice.ModemHealth(checked_at=self.clock(), error=str(exc))

    @property
    def per_minute(self) -> float | None:
        """Messages a minute, measured over the recent sends; None before any."""
        if not self._durations:
            return None
        mean = sum(self._durations) / len(self._durations)
        return 60.0 / mean if mean > 0 else None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close_locked)

    # ------------------------------------------------------------ the thread side
    async def _run(self, work: Callable[[Any], T]) -> T:
        async with asyncio.timeout(self.timeout_s):
            return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[Any], T]) -> T:
        import gammu

        with self._lock:
            sm = self._ensure_open()
            try:
                result = work(sm)
            except gammu.GSMError as exc:
                name = type(exc).__name__
                if name in _LINK_ERRORS or name.startswith("ERR_DEVICE"):
                    self._broken(advice.explain(name, _gammu_text(exc)))
                raise _mapped(exc) from exc
            self._failures = 0
            self.last_error = None
            return result

    def _ensure_open(self) -> Any:
        if self._sm is not None:
            return self._sm
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            raise ModemUnavailable(
                f"{self.last_error or 'modem not open'} (trying again in {wait:.0f} s)"
            )
        try:
            self._sm = self._open_sync()
        except ModemUnavailable as exc:
            self._broken(str(exc))
            raise
        return self._sm

    def _open_sync(self) -> Any:
        import gammu

        path = self.settings.gammurc
        if path is None:
            raise ModemUnavailable("no modem configured: set [modem] gammurc or MIM_MODEM_GAMMURC")
        problem = gammurc_problem(path)
        if problem:
            raise ModemUnavailable(problem)
        sm = gammu.StateMachine()
        try:
            sm.ReadConfig(Section=self.settings.section, Filename=str(path))
            config = sm.GetConfig(0)
            logfile, level = config.get("DebugFile"), config.get("DebugLevel") or ""
            if logfile:
                config["DebugFile"] = None  # Gammu would truncate it: we append (see above)
                sm.SetConfig(0, config)
                self._open_log(Path(str(logfile)), str(level))
            sm.Init()
        except gammu.GSMError as exc:
            with _quiet():
                sm.Terminate()
            name = type(exc).__name__
            raise ModemUnavailable(
                f"modem ({path}): {advice.explain(name, _gammu_text(exc))}",
                code=_gammu_code(exc),
            ) from exc
        if self._log is not None:
            sm.SetDebugFile(self._log)
            sm.SetDebugLevel(self._log_level or "textall")
        log.info("modem opened (%s, section %d)", path, self.settings.section)
        return sm

    def _open_log(self, path: Path, level: str) -> None:
        if self._log is not None:
            return
        path = path.expanduser()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # numbers and texts
        self._log = os.fdopen(fd, "a", encoding="utf-8")
        self._log_level = level

    def _broken(self, reason: str) -> None:
        """Close the link; the next call reopens it after a backoff delay."""
        self._failures += 1
        self.last_error = reason
        delay = self.backoff.delay(self._failures, self._rand())
        self._retry_at = time.monotonic() + delay
        if self._sm is not None:
            with _quiet():
                self._sm.Terminate()
            self._sm = None
        log.warning("modem: %s; reopening in %.0f s", reason, delay)

    def _close_locked(self) -> None:
        with self._lock:
            if self._sm is not None:
                with _quiet():
                    self._sm.Terminate()
                self._sm = None
            if self._log is not None:
                with _quiet():
                    self._log.close()
                self._log = None

    def _send_sync(self, sm: Any, to: str, body: str) -> list[int]:
        import gammu

        parts = gammu.EncodeSMS(
            {
                "Class": -1,
                "Unicode": not all(is_gsm7(ch) for ch in body),
                "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": body}],
            }
        )
        refs: list[int] = []
        for part in parts:
            part["SMSC"] = {"Location": 1}  # the SIM's own message centre
            part["Number"] = to
            try:
                refs.append(int(sm.SendSMS(part)))
            except gammu.GSMError as exc:
                if refs:  # the first parts went: the person has half a message
                    name = type(exc).__name__
                    raise ModemInDoubt(
                        f"modem sent {len(refs)} of {len(parts)} parts, then: "
                        f"{advice.explain(name, _gammu_text(exc))}"
                    ) from exc
                raise
        return refs

    def _inbox_sync(self, sm: Any) -> InboxRead:
        import gammu

        found: list[list[dict[str, Any]]] = []
        reports: list[ModemReport] = []
        location: int | None = None
        while True:
            try:
                if location is None:
                    entry = sm.GetNextSMS(Folder=0, Start=True)
                else:
                    entry = sm.GetNextSMS(Folder=0, Location=location)
            except gammu.ERR_EMPTY:
                break
            location = int(entry[0]["Location"])
            first = entry[0]
            if first.get("Type") == "Status_Report":
                reports.append(
                    ModemReport(
                        reference=int(first.get("MessageReference") or 0),
                        number=str(first.get("Number") or ""),
                        delivered=str(first.get("DeliveryStatus", "")).startswith("Deliver")
                        or first.get("DeliveryStatus") == 0,
                        location=location,
                    )
                )
            elif first.get("InboxFolder"):
                found.append(entry)
        texts = [t for group in gammu.LinkSMS(found) if (t := self._joined(group)) is not None]
        return InboxRead(texts=texts, reports=reports)

    def _joined(self, group: list[dict[str, Any]]) -> ModemInbound | None:
        import gammu

        first = group[0]
        udh = first.get("UDH") or {}
        total = int(udh.get("AllParts") or -1)
        # DateTime is the network's stamp on a received message (SMSCDateTime is the discharge
        # time of a delivery report): stable across reads, so the id below is too.
        sent_at = _aware(first.get("DateTime") or first.get("SMSCDateTime"))
        now = self.clock()
        if total > len(group) and sent_at is not None:
            if now - sent_at < timedelta(seconds=INCOMPLETE_WAIT_S):
                return None  # the other parts are still on their way
        text = ""
        decoded = gammu.DecodeSMS(group) if len(group) > 1 else None
        if decoded and decoded.get("Entries"):
            text = "".join(str(e.get("Buffer") or "") for e in decoded["Entries"])
        if not text:
            ordered = sorted(group, key=lambda p: int((p.get("UDH") or {}).get("PartNumber") or 0))
            text = "".join(str(p.get("Text") or "") for p in ordered)
        number = str(first.get("Number") or "")
        stamp = sent_at.isoformat() if sent_at else ""
        key = hashlib.sha256(f"{number}\n{stamp}\n{text}".encode()).hexdigest()[:32]
        message = InboundMessage(
            sid=f"{SID_PREFIX}-in-{key}",
            from_number=number,
            to_number=self.settings.number,
            body=text,
            # Our clock, not the network's: replies are matched against alert times we wrote.
            received_at=now,
        )
        return ModemInbound(message, tuple(int(p["Location"]) for p in group))

    def _delete_sync(self, sm: Any, locations: list[int]) -> None:
        import gammu

        for location in locations:
            try:
                sm.DeleteSMS(Folder=0, Location=location)
            except gammu.ERR_EMPTY:
                pass  # already gone

    def _health_sync(self, sm: Any) -> advice.ModemHealth:
        import gammu

        def ask(name: str, *args: Any) -> Any:
            try:
                return getattr(sm, name)(*args)
            except (gammu.ERR_NOTSUPPORTED, gammu.ERR_NOTIMPLEMENTED):
                return None

        model = ask("GetModel")
        network = ask("GetNetworkInfo") or {}
        signal = ask("GetSignalQuality") or {}
        status = ask("GetSMSStatus") or {}
        try:
            security = ask("GetSecurityStatus")
        except gammu.ERR_SECURITYERROR:
            security = "PIN"
        values = {
            "network_state": str(network.get("State") or ""),
            "signal_percent": _int(signal.get("SignalPercent")),
            "security": str(security) if security else None,
            "inbox_used": _int(status.get("SIMUsed")),
            "inbox_size": _int(status.get("SIMSize")),
        }
        return advice.ModemHealth(
            checked_at=self.clock(),
            manufacturer=str(ask("GetManufacturer") or ""),
            model=str(model[1] if isinstance(model, tuple) else model or ""),
            imei=str(ask("GetIMEI") or ""),
            network_name=str(network.get("NetworkName") or ""),
            network_code=str(network.get("NetworkCode") or ""),
            problems=advice.problems_of(**values),  # type: ignore[arg-type]
            **values,  # type: ignore[arg-type]
        )


def gammurc_problem(path: Path) -> str | None:
    """Why the gammurc cannot be used, with the fix; None when it is a readable file."""
    shown = str(path)
    if not path.exists():
        return (
            f"the gammurc {shown} does not exist: write it (docs/routes.md) or correct "
            "[modem] gammurc / MIM_MODEM_GAMMURC"
        )
    if not path.is_file():
        return f"the gammurc {shown} is not a file: name Gammu's config file itself"
    if not os.access(path, os.R_OK):
        return f"the gammurc {shown} cannot be read by this user: `chmod u+r {shown}`"
    return None


def _mapped(exc: Exception) -> Exception:
    name = type(exc).__name__
    text = advice.explain(name, _gammu_text(exc))
    outcome = advice.outcome_of(name)
    code = _gammu_code(exc)
    if outcome == advice.REFUSED:
        return ModemRefused(text, code=code)
    if outcome == advice.IN_DOUBT:
        return ModemInDoubt(text, code=code)
    return ModemUnavailable(text, code=code)


def _gammu_text(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("Text") or "")


def _gammu_code(exc: Exception) -> int | None:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    code = info.get("Code")
    return int(code) if isinstance(code, int) else None


def _aware(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.astimezone().astimezone(UTC)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _quiet() -> contextlib.suppress:
    """Whatever closing a broken link raises: it is being thrown away."""
    return contextlib.suppress(Exception)
