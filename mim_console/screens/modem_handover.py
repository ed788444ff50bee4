"""The roll call's "send the waiting alerts by the GSM modem now" (docs/routes.md): alerts never
handed to Twilio go at once; those perhaps at Twilio already only after the duty manager says
"send anyway" (they may arrive twice, and the timeline says so for each person)."""

from __future__ import annotations

from mim_console.screens.base import MimScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.modem import handover_text
from mim_console.services.modem import send_by_modem as hand_over


def send_by_modem(screen: MimScreen, incident_ref: str) -> None:
    """Hand this incident's waiting alerts to the modem in a worker; ask about the rest."""
    context = screen.context

    def run() -> str:
        handed = hand_over(context, incident_ref)
        if handed.assigned == 0 and handed.in_doubt_left:
            screen.app.call_from_thread(_offer_anyway, screen, incident_ref, handed.in_doubt_left)
        return handover_text(handed)

    screen.act(run)


def _offer_anyway(screen: MimScreen, incident_ref: str, count: int) -> None:
    context = screen.context

    def answered(yes: bool | None) -> None:
        if yes:
            screen.act(lambda: handover_text(hand_over(context, incident_ref, anyway=True)))

    screen.app.push_screen(
        ConfirmScreen(
            f"{count} alert(s) may have reached Twilio already (its answer never came).\n"
            "Send them by the GSM modem anyway? They may arrive twice; the timeline says so.",
            yes="Send anyway",
        ),
        answered,
    )
