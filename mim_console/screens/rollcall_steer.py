"""The roll call's keys for steering the incident: `+` pages more people (a picker, then a
confirmation with how many are new), `E` changes severity, title, description or categories,
`R` records that service was restored. A base of ``RollCallScreen``, so its bindings merge with
the roll call's; what they do is in ``services/steering.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.binding import Binding, BindingType

from mim_console.domain.text import names_list
from mim_console.errors import UserError
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.rollcall_bridge import BridgeKeys
from mim_console.services.steering import EditBasis, PagePreview, PageTargets, Steering
from mim_console.services.timezone import wall

if TYPE_CHECKING:
    from mim_console.screens.incident_edit import EditForm
    from mim_console.screens.page_picker import PagePick
    from mim_console.screens.rollcall_view import RollCallView


class SteerKeys(BridgeKeys):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "plus",
            "page_more",
            "Page more",
            id="rollcall.page_more",
            tooltip="Page more people: a person, a party's seat, a specialist group",
        ),
        Binding(
            "E",
            "edit_incident",
            "Edit",
            id="rollcall.edit_incident",
            tooltip="Change severity, title, description or categories",
            show=False,  # Help lists it: the footer at 80 columns is full
        ),
        Binding(
            "R",
            "service_restored",
            "Restored",
            id="rollcall.service_restored",
            tooltip="Record that service was restored (the incident stays open until closed)",
            show=False,
        ),
    ]

    if TYPE_CHECKING:  # the roll call screen has them
        view: RollCallView | None
        incident_ref: str

    def _steer(self, run: Callable[[Steering], str]) -> None:
        self.act(lambda: run(Steering(self.context)))

    # --- page more -----------------------------------------------------------------------------

    def action_page_more(self) -> None:
        from mim_console.screens.page_picker import PagePickerScreen

        code = self.incident_ref

        def picked(pick: PagePick | None) -> None:
            if pick is not None:
                self._preview_page(code, pick.targets, pick.channel)

        self.app.push_screen(PagePickerScreen(code), picked)

    @work(thread=True, exclusive=True, group="steer-preview", exit_on_error=False)
    def _preview_page(self, code: str, targets: PageTargets, channel: str) -> None:
        try:
            preview = Steering(self.context).preview_page(code, targets)
        except UserError as exc:
            self.app.call_from_thread(self.mim.problem, str(exc))
            return
        self.app.call_from_thread(self._confirm_page, preview, targets, channel)

    def _confirm_page(self, preview: PagePreview, targets: PageTargets, channel: str) -> None:
        if not preview.new:
            skipped = [p.name for p in preview.already]
            self.notify(
                f"nobody new to page: {names_list(skipped, 5)} already on the incident"
                if skipped
                else "nobody new to page (inactive in the directory)",
                severity="warning",
                markup=False,
            )
            return
        code, count = preview.incident.code, len(preview.new)

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._steer(lambda s: s.page(code, targets, channel=channel).text)

        self.app.push_screen(
            ConfirmScreen(preview.question(channel), yes=f"Page {count}"),
            confirmed,
        )

    # --- change the incident --------------------------------------------------------------------

    def action_edit_incident(self) -> None:
        self._load_basis(self.incident_ref)

    @work(thread=True, exclusive=True, group="steer-basis", exit_on_error=False)
    def _load_basis(self, code: str) -> None:
        try:
            basis = Steering(self.context).edit_basis(code)
        except UserError as exc:
            self.app.call_from_thread(self.mim.problem, str(exc))
            return
        self.app.call_from_thread(self._open_edit, basis)

    def _open_edit(self, basis: EditBasis) -> None:
        from mim_console.screens.incident_edit import IncidentEditScreen

        code = basis.incident.code

        def saved(form: EditForm | None) -> None:
            if form is not None:
                self._steer(lambda s: _apply_edit(s, code, form))

        self.app.push_screen(IncidentEditScreen(basis), saved)

    # --- service restored -----------------------------------------------------------------------

    def action_service_restored(self) -> None:
        code = self.incident_ref

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._steer(lambda s: f"{code}: {_restored_words(s, code)}")

        self.app.push_screen(
            ConfirmScreen(
                f"Record that service was restored in {code} now?\n"
                "The incident stays open until you close it (c); "
                "`mim-console restored --at` records an earlier time.",
                yes="Restored",
            ),
            confirmed,
        )


def _apply_edit(service: Steering, code: str, form: EditForm) -> str:
    """The change, then the groups ticked in the form (each its own transaction)."""
    words: list[str] = []
    if form.edits:
        done = service.edit(
            code,
            severity=form.severity,
            title=form.title,
            description=form.description,
            categories=form.categories,
        )
        words += [c.text for c in done.changes]
    if form.page_groups:
        words.append(service.page(code, PageTargets(groups=form.page_groups)).text)
    return "; ".join(words)


def _restored_words(service: Steering, code: str) -> str:
    inc = service.restored(code)
    when = inc.restored_at
    return f"service restored at {wall(when):%H:%M %Z}" if when else "service restored"
