"""The roll call of a closed incident: the keys that would change it are hidden (the footer
tells the truth), and one pressed anyway from habit says why. A base of ``RollCallScreen``."""

from __future__ import annotations

from mim_console.screens.rollcall_steer import SteerKeys


class ClosedKeys(SteerKeys):
    # Keys that change the roll call: hidden once the incident is closed (the footer tells the
    # truth; the report, timeline, comms and lessons stay).
    OPEN_ONLY = frozenset(
        (
            "mark joined unable log_call release recall escalate spokesperson note close_incident "
            "page_more edit_incident service_restored"
        ).split()
    )

    def refusal(self, action: str) -> str | None:
        if action in self.OPEN_ONLY and self.view is not None and not self.view.open:
            return (
                f"{self.view.code} is closed: its roll call cannot change (t: timeline, p: report)"
            )
        return super().refusal(action)
