"""`mim-console demo`: the fictional organisation seeded into an empty database, and the
settings that send its alerts to the local stand-in instead of Twilio."""

from __future__ import annotations

from dataclasses import replace

from mim_console.config import BridgeSettings, Settings, TwilioSettings
from mim_console.data.demo import DemoSummary, seed_demo
from mim_console.services.context import Context


def seed(ctx: Context) -> DemoSummary | int:
    """Seed the demo organisation; an int (how many people) when the directory is not empty,
    since the demo never writes over real data."""
    existing = ctx.directory().count_people()
    if existing:
        return existing
    return seed_demo(ctx.store, ctx.clock())


# The demo brings people onto its own (stand-in) Twilio bridge; the number is for dialling in.
DEMO_BRIDGE = BridgeSettings(
    number="+1 212 555 0100", pin="4242", url="https://meet.example.org/mim", mode="twilio"
)
DEMO_ORGANISATION = "Fabrikam Bank"
DEMO_CRITERIA = (
    "Declare a major incident when a service that customers or staff depend on is down or "
    "degraded with no workaround, or data may be lost or exposed, and the normal incident "
    "process cannot restore it within an hour."
)


def demo_settings(settings: Settings, twilio: TwilioSettings) -> Settings:
    """The demo's settings: alerts go to ``twilio`` (a local stand-in), never to the real Twilio;
    a fictional bridge, declaration criteria and organisation name fill in what the user has not
    configured."""
    return replace(
        settings,
        twilio=twilio,
        bridge=settings.bridge if settings.bridge.configured else DEMO_BRIDGE,
        declare_criteria=settings.declare_criteria or DEMO_CRITERIA,
        organisation=settings.organisation or DEMO_ORGANISATION,
    )


def still_to_answer(ctx: Context) -> list[str]:
    """Mobiles of the people alerted by incidents still open who have not answered: the demo's
    simulated people answer them when it starts again."""
    from mim_console.domain.incident import State
    from mim_console.services.incidents import IncidentService

    service = IncidentService(ctx)
    waiting = (State.ALERTED, State.ESCALATED)
    numbers: dict[str, None] = {}
    for inc in service.incidents():
        for seat in service.roll_call(inc).seats:
            if seat.participant.state in waiting and seat.person.mobile:
                numbers[seat.person.mobile] = None
    return list(numbers)
