"""Approving a version as someone: pick the approver; one who has not joined the incident is
asked about first ("approving without joining?"), and the timeline then says so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mim_console.domain.comms import kind_label
from mim_console.domain.text import printable
from mim_console.errors import UserError
from mim_console.screens.comms_approver import ApproverScreen
from mim_console.screens.confirm import ConfirmScreen
from mim_console.services.comms import CommsService

if TYPE_CHECKING:
    from mim_console.screens.comms import CommsScreen


def ask_approve(screen: CommsScreen, kind: str, version: int) -> None:
    code, what = screen.incident_ref, f"{kind_label(kind)} v{version}"

    def approve(person_id: int, without_joining: bool) -> None:
        def run(service: CommsService) -> tuple[str, int | None]:
            done = service.approve(
                code, kind, version, str(person_id), without_joining=without_joining
            )
            unjoined = " (without joining)" if without_joining else ""
            return f"{what} approved by {done.approved_by_name}{unjoined}", done.id

        screen._act(run)

    def joined_or_ask(person_id: int, name: str, joined: bool) -> None:
        if joined:
            approve(person_id, False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                approve(person_id, True)

        question = (
            f"{printable(name)} has not joined {code}.\nApproving {what} without joining?\n"
            "The timeline records that the approver had not joined."
        )
        screen.app.push_screen(ConfirmScreen(question, yes="Approve without joining"), answered)

    def check(person_id: int) -> None:
        """The service's refusals first (no authority, no MRT seat…), then the question."""
        try:
            name, joined = CommsService(screen.context).approver_joined(
                code, kind, version, str(person_id)
            )
        except UserError as exc:
            screen.post_message(screen.Done(str(exc), failed=True))
            return
        screen.app.call_from_thread(joined_or_ask, person_id, name, joined)

    def chosen(person_id: int | None) -> None:
        if person_id is not None:
            screen.run_worker(
                lambda: check(person_id),
                thread=True,
                name="approver check",
                group="comms-approve",
                exit_on_error=False,
            )

    screen.app.push_screen(ApproverScreen(what), chosen)
