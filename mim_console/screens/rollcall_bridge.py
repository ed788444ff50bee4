"""The roll call's keys for the incident's own (Twilio) bridge: call me onto it, mute or unmute
and remove the person under the cursor. A base of ``RollCallScreen``, so its bindings merge
with the roll call's; shown only where the incident has such a bridge."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType

from mim_console.screens.base import MimScreen
from mim_console.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from mim_console.screens.rollcall_view import RollCallView, SeatView
    from mim_console.services.incidents import IncidentService


class BridgeKeys(MimScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            "call_me",
            "Call me",
            id="rollcall.call_me",
            tooltip="Call me (the duty manager) onto the incident's bridge",
        ),
        Binding(
            "v",
            "mute",
            "Mute",
            id="rollcall.mute",
            tooltip="Mute or unmute the person under the cursor on the bridge",
        ),
        Binding(
            "x",
            "remove_from_bridge",
            "Off bridge",
            id="rollcall.remove_from_bridge",
            tooltip="Take the person under the cursor off the bridge",
        ),
    ]

    if TYPE_CHECKING:  # the roll call screen has them
        view: RollCallView | None
        incident_ref: str

        def _one(self) -> SeatView | None: ...

        def _act(self, run: Callable[[IncidentService], str]) -> None: ...

    _BRIDGE_ACTIONS = frozenset({"call_me", "mute", "remove_from_bridge"})

    def check_action(self, action: str, _parameters: tuple[object, ...]) -> bool | None:
        """The bridge keys only where the incident has its own bridge (the footer tells)."""
        if action in self._BRIDGE_ACTIONS:
            if not (self.view is not None and self.view.bridge and self.view.open):
                return False
        return super().check_action(action, _parameters)

    def action_call_me(self) -> None:
        code = self.incident_ref
        self._act(lambda s: s.call_me(code))

    def action_mute(self) -> None:
        seat = self._one()
        if seat is None:
            return
        if not seat.on_bridge:
            self.notify(f"{seat.name} is not on the bridge", severity="warning", markup=False)
            return
        code, ref, muted = self.incident_ref, seat.person_ref, not seat.muted
        self._act(lambda s: s.set_muted(code, ref, muted))

    def action_remove_from_bridge(self) -> None:
        seat = self._one()
        if seat is None:
            return
        if not seat.on_bridge:
            self.notify(f"{seat.name} is not on the bridge", severity="warning", markup=False)
            return
        code, ref, name = self.incident_ref, seat.person_ref, seat.name

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._act(lambda s: s.remove_from_bridge(code, ref))

        self.app.push_screen(
            ConfirmScreen(f"Take {name} off the bridge?\nTheir call ends."), confirmed
        )
