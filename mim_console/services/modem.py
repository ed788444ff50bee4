"""The GSM modem route for the CLI and the console: check the modem, write the contact card.

The CLI calls these, never the notifier itself (layers: cli → services → notifiers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mim_console.config import Settings
from mim_console.data import lease
from mim_console.domain.contact_card import SourceNumber, numbers_text, vcard
from mim_console.domain.modem import ModemHealth
from mim_console.domain.phones import PhoneError, normalize_phone
from mim_console.domain.readiness import Finding
from mim_console.errors import UserError
from mim_console.notifiers.base import SendError
from mim_console.services.context import Context


@dataclass(frozen=True)
class ModemCheck:
    gammurc: str
    section: int
    health: ModemHealth
    test_to: str | None = None
    test_sid: str | None = None
    test_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.health.ok and self.test_error is None


def check_modem(ctx: Context, to: str | None = None) -> ModemCheck:
    """Open the modem, read its identity, network, signal and SIM state; send a test SMS to
    ``to`` when given. Refused while a dispatcher runs: it has the modem (a serial device
    takes one talker at a time) and shows the same health on the banner."""
    modem = ctx.settings.modem
    if modem.gammurc is None:
        raise UserError(
            "no modem configured: set gammurc in the [modem] section of the config file "
            "(or MIM_MODEM_GAMMURC); docs/routes.md shows one"
        )
    number = _number(to, ctx.settings.default_region, "--to") if to else None
    holder = running_dispatcher(ctx)
    if holder is not None:
        raise UserError(
            f"a dispatcher is running ({holder}) and has the modem open: its health is on the "
            "console's banner and in `mim-console readiness`; stop it to check the modem here"
        )
    return asyncio.run(_check(ctx, number))


async def _check(ctx: Context, to: str | None) -> ModemCheck:
    from mim_console.notifiers.modem import GammuModem

    settings = ctx.settings.modem
    device = GammuModem(settings, clock=ctx.clock, timeout_s=60.0)
    try:
        health = await device.health()
        sid = error = None
        if to is not None and health.error is None:
            try:
                sid = (await device.send_sms(to, _test_text(ctx.settings))).sid
            except SendError as exc:
                error = str(exc) or type(exc).__name__
        elif to is not None:
            error = "not sent: the modem cannot be used (above)"
    finally:
        await device.aclose()
    return ModemCheck(
        gammurc=str(settings.gammurc),
        section=settings.section,
        health=health,
        test_to=to,
        test_sid=sid,
        test_error=error,
    )


def _test_text(settings: Settings) -> str:
    who = f" ({settings.organisation})" if settings.organisation else ""
    return f"Test from the MIM console{who}: the GSM modem route works. No action needed."


def running_dispatcher(ctx: Context) -> str | None:
    """The holder of the dispatcher lease, while one runs."""
    with ctx.store.read() as db:
        info = lease.current(db)
    if info is None or info.expires_at <= ctx.clock():
        return None
    return info.holder


def _number(text: str, region: str, where: str) -> str:
    try:
        return normalize_phone(text, region)
    except PhoneError as exc:
        raise UserError(f"{where}: {exc}") from exc


def contact_numbers(settings: Settings) -> list[SourceNumber]:
    """Every number alerts may come from: Twilio's sender (or its sender pool), the modem's."""
    found: list[SourceNumber] = []
    twilio = settings.twilio
    region = settings.default_region
    if twilio.sender and not twilio.sender.startswith("MG"):
        found.append(SourceNumber(_number(twilio.sender, region, "MIM_TWILIO_FROM"), "Twilio"))
    for raw in twilio.sender_numbers:
        found.append(SourceNumber(_number(raw, region, "[twilio] sender_numbers"), "Twilio"))
    if settings.modem.number:
        found.append(
            SourceNumber(_number(settings.modem.number, region, "[modem] number"), "GSM modem")
        )
    if not found:
        hint = (
            " (MIM_TWILIO_FROM is a Messaging Service: list its numbers in [twilio] sender_numbers)"
            if twilio.sender.startswith("MG")
            else ""
        )
        raise UserError(
            "no sender numbers configured: set MIM_TWILIO_FROM to a number, [twilio] "
            f"sender_numbers, or [modem] number{hint}"
        )
    return found


def numbers_sms(settings: Settings) -> str:
    """The contact card as a line of text: for `verify --with-numbers`."""
    return numbers_text(contact_numbers(settings))


def contact_card(settings: Settings, now: datetime) -> str:
    """The "MIM alerts" vCard 4.0 with every configured sender number."""
    return vcard(contact_numbers(settings), organisation=settings.organisation, now=now)


def write_contact_card(settings: Settings, path: Path, now: datetime) -> int:
    """Write the card to ``path`` (whole or not at all); how many numbers it lists."""
    from mim_console.services.callsheet import write_atomic

    numbers = contact_numbers(settings)
    write_atomic(path, vcard(numbers, organisation=settings.organisation, now=now))
    return len({n.number for n in numbers})


@dataclass(frozen=True)
class ModemHandover:
    """What "send the waiting alerts by modem now" did."""

    assigned: int  # alerts never handed to Twilio, now the modem's
    anyway: int  # alerts in doubt sent anyway ("may arrive twice")
    in_doubt_left: int  # in doubt and left waiting (ask again with anyway)


def send_by_modem(
    ctx: Context, incident: str | None = None, *, anyway: bool = False
) -> ModemHandover:
    """Hand the waiting SMS alerts (of ``incident``, or all) to the modem now, whatever the
    policy; with ``anyway`` also those whose Twilio create is in doubt, each recorded in the
    timeline as "may arrive twice". The dispatcher holding the lease sends them."""
    from mim_console.data import incidents as incident_repo
    from mim_console.data import modem_queue

    modem = ctx.settings.modem
    if modem.gammurc is None:
        raise UserError("no modem configured: set gammurc in the [modem] section (docs/routes.md)")
    if modem.use == "never":
        raise UserError('the modem route is off ([modem] use = "never"): set "fallback" to use it')
    now = ctx.clock()
    with ctx.store.write() as db:
        incident_id = incident_repo.find_incident(db, incident).id if incident else None
        assigned = modem_queue.assign_waiting(db, now, incident_id)
        doubtful = modem_queue.send_anyway(db, now, incident_id) if anyway else []
        for alert in doubtful:
            if alert.incident_id is None:
                continue
            incident_repo.append_event(
                db,
                incident_id=alert.incident_id,
                at=now,
                actor=ctx.actor,
                kind="route",
                person_id=alert.person_id,
                text=f"Alert {alert.id}: send anyway by modem, may arrive twice "
                "(its earlier try got no answer)",
                data={"alert_id": alert.id, "route": "modem", "anyway": True},
            )
        left = modem_queue.queue(db, incident_id).in_doubt
    return ModemHandover(assigned=len(assigned), anyway=len(doubtful), in_doubt_left=left)


def handover_text(handed: ModemHandover) -> str:
    """What "send by modem now" did, in one line."""
    parts = [f"{handed.assigned} waiting alert(s) handed to the GSM modem"]
    if handed.anyway:
        parts.append(f"{handed.anyway} sent anyway (may arrive twice)")
    if handed.in_doubt_left:
        parts.append(f"{handed.in_doubt_left} may have reached Twilio and wait for it")
    return "; ".join(parts)


HEALTH_STALE_S = 300.0  # a dispatcher reports the modem's health every minute


def modem_findings(ctx: Context, now: datetime) -> list[Finding]:
    """The readiness item for the GSM modem (none when no modem is configured)."""
    from mim_console.data import modem_queue
    from mim_console.notifiers.modem import gammurc_problem

    modem = ctx.settings.modem
    if modem.gammurc is None or modem.use == "never":
        return []
    subject = "GSM modem"
    problem = gammurc_problem(modem.gammurc)
    if problem is not None:
        return [
            Finding("modem", False, subject, problem, "see docs/routes.md, Hardware and set-up")
        ]
    with ctx.store.read() as db:
        status = modem_queue.load_status(db)
        holder = lease.current(db)
    running = holder is not None and holder.expires_at > now
    if not running or status is None:
        return [
            Finding(
                "modem",
                True,
                subject,
                "GSM modem configured; checked while a dispatcher runs",
                "`mim-console modem check` tests it now",
            )
        ]
    age = (now - status.checked_at).total_seconds()
    if age > HEALTH_STALE_S:
        return [
            Finding(
                "modem",
                False,
                subject,
                f"the dispatcher has not reported the GSM modem's health for {age / 60:.0f} min",
                "look at the dispatcher's log; restart it if the modem hangs",
            )
        ]
    if status.ok:
        return [Finding("modem", True, subject, f"GSM modem: {status.summary}")]
    return [Finding("modem", False, subject, f"GSM modem: {status.summary}", "docs/routes.md")]
