"""The roll call's questions that need the database first: release (naming any party whose
quorum it would drop) and escalate (naming the step and the deputy). The read runs in a worker;
the question is asked on the UI thread; the answer's action runs in the screen's ``act``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mim_console.domain.incident import ActionKind
from mim_console.domain.text import names_list
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.escalate import EscalateScreen
from mim_console.services.escalation import EscalateChoice
from mim_console.services.incidents import IncidentService

if TYPE_CHECKING:
    from mim_console.screens.rollcall import RollCallScreen


def _ask(screen: RollCallScreen, name: str, read: Callable[[IncidentService], None]) -> None:
    screen.run_worker(
        lambda: read(IncidentService(screen.context)),
        thread=True,
        name=name,
        group="ask",
        exclusive=True,
        exit_on_error=False,
    )


def release_question(count: int, names: list[str], dropped: list[str]) -> str:
    text = f"Release {names_list(names)} to standby?\n"
    text += f"{'They get' if count == 1 else 'Each gets'} a standby SMS."
    if dropped:
        text += f"\nThis drops the quorum of {names_list(dropped)}."
    return text


def ask_release(screen: RollCallScreen) -> None:
    seats = screen.chosen()
    if not seats:
        screen.notify("nobody selected", severity="warning")
        return
    refs, names = [s.person_ref for s in seats], [s.name for s in seats]
    code = screen.incident_ref

    def read(service: IncidentService) -> None:
        dropped = service.quorum_dropped_by(code, refs)
        screen.app.call_from_thread(confirm, dropped)

    def confirm(dropped: list[str]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                screen.act(lambda: _released(screen, code, refs))

        question = release_question(len(refs), names, dropped)
        yes = "Release, lose quorum" if dropped else f"Release {len(refs)}"
        screen.app.push_screen(ConfirmScreen(question, yes=yes), answered)

    _ask(screen, "release question", read)


def _released(screen: RollCallScreen, code: str, refs: list[str]) -> str:
    done = IncidentService(screen.context).release(code, refs)
    return f"released to standby: {names_list(done)}"


def ask_escalate(screen: RollCallScreen, person_ref: str) -> None:
    code = screen.incident_ref

    def read(service: IncidentService) -> None:
        choice = service.escalate_choice(code, person_ref)
        screen.app.call_from_thread(choose, choice)

    def choose(choice: EscalateChoice) -> None:
        def answered(step: ActionKind | None) -> None:
            if step is not None:
                service = IncidentService(screen.context)
                screen.act(lambda: f"{choice.name}: {service.escalate(code, person_ref, step)}")

        screen.app.push_screen(EscalateScreen(choice), answered)

    _ask(screen, "escalate question", read)
