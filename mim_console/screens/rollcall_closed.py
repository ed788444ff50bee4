"""The roll call of a closed incident: the keys that would change it are hidden (the footer
tells the truth), and one pressed anyway from habit says why. A base of ``RollCallScreen``."""

from __future__ import annotations

from textual import events

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

    def check_action(self, action: str, _parameters: tuple[object, ...]) -> bool | None:
        if action in self.OPEN_ONLY and self.view is not None and not self.view.open:
            return False
        return super().check_action(action, _parameters)  # the bridge keys' own rule

    def on_key(self, event: events.Key) -> None:
        """A hidden key pressed anyway (from habit) says why, instead of nothing happening."""
        if self.view is None or self.view.open:
            return
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            if binding.action.split("(", 1)[0] in self.OPEN_ONLY:
                event.stop()
                self.notify(
                    f"{self.view.code} is closed: its roll call cannot change "
                    "(t: timeline, p: report)",
                    severity="warning",
                )
                return
