"""Change a running incident: severity, title, description, categories.

The fields start as the incident reads; only what is changed is sent, each change becoming its
own timeline event. Adding categories offers the specialist groups that cover them and would
page someone new ("page Network team (covers network)? ctrl+g"): ticked, they are paged right
after the change, and the line says how many people that is. Checked as declare checks (known
severity, bounded lengths) before the form closes; names and markup are shown as typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from mim_console.domain.people import SpecialistGroup
from mim_console.domain.steering import SEVERITIES, changes
from mim_console.domain.text import one_line
from mim_console.errors import UserError
from mim_console.services.steering import EditBasis


@dataclass(frozen=True)
class EditForm:
    severity: str | None = None
    title: str | None = None
    description: str | None = None
    categories: tuple[str, ...] | None = None
    page_groups: tuple[str, ...] = ()  # group ids to page after the change

    @property
    def edits(self) -> bool:
        return any(v is not None for v in (self.severity, self.title, self.description)) or (
            self.categories is not None
        )


def split_categories(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(",") if c.strip())


class IncidentEditScreen(ModalScreen[EditForm | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="incident_edit.save", tooltip="Save the changes"),
        Binding(
            "ctrl+g",
            "toggle_groups",
            "Page groups",
            id="incident_edit.groups",
            tooltip="Page the groups covering the added categories, after the change",
        ),
        Binding("escape", "cancel", "Cancel", id="incident_edit.cancel", tooltip="Change nothing"),
    ]

    def __init__(self, basis: EditBasis) -> None:
        super().__init__()
        self.basis = basis
        self.offered: list[SpecialistGroup] = []
        self.page_offered = False

    def compose(self) -> ComposeResult:
        inc = self.basis.incident
        severities = list(SEVERITIES)
        if inc.severity not in severities:  # declared by the CLI with another word: kept
            severities.append(inc.severity)
        with Vertical(classes="dialog", id="edit-box"):
            yield Static(Content(f"Change {inc.code}"), classes="dialog-title")
            with Horizontal(classes="field"):
                yield Static(Content("Title"), classes="label")
                yield Input(one_line(inc.title), id="edit-title", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Severity"), classes="label")
                yield Select(
                    [(s, s) for s in severities],
                    value=inc.severity,
                    id="edit-severity",
                    allow_blank=False,
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Static(Content("Description"), classes="label")
                yield Input(one_line(inc.description), id="edit-description", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Categories"), classes="label")
                yield Input(
                    ", ".join(inc.categories),
                    id="edit-categories",
                    placeholder="e.g. payments, network",
                    compact=True,
                )
            yield Static(Content(""), id="edit-offer")
            yield Static(
                Content("Each change is a timeline event; later SMS carry the new title."),
                classes="hint",
            )
            yield Static(Content(""), id="edit-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="warning", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#edit-title", Input).focus()
        self._offer()

    @on(Input.Changed, "#edit-categories")
    def _categories_changed(self) -> None:
        self._offer()

    def _offer(self) -> None:
        typed = split_categories(self.query_one("#edit-categories", Input).value)
        self.offered = self.basis.offered(typed)
        line = self.query_one("#edit-offer", Static)
        line.display = bool(self.offered)
        if not self.offered:
            self.page_offered = False
            return
        names = ", ".join(f"{g.name} (covers {', '.join(g.categories)})" for g in self.offered)
        new = self._new_people(self.offered)
        if self.page_offered:
            text = f"✔ page {names} after saving: {new} new · ctrl+g: don't"
        else:
            text = f"page {names}? {new} new · ctrl+g: yes"
        line.update(Content(one_line(text)))

    def _new_people(self, groups: Sequence[SpecialistGroup]) -> int:
        members = {m for g in groups for m in g.members}
        return len({m for m in members if m in self.basis.active} - self.basis.on_incident)

    def action_toggle_groups(self) -> None:
        if not self.offered:
            self.notify("no group to offer: add a category a group covers", severity="warning")
            return
        self.page_offered = not self.page_offered
        self._offer()

    def on_input_submitted(self) -> None:
        self.focus_next()  # Enter moves on: saving takes Ctrl+S

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        inc = self.basis.incident
        title = self.query_one("#edit-title", Input).value
        description = self.query_one("#edit-description", Input).value
        severity = self.query_one("#edit-severity", Select).value
        typed = split_categories(self.query_one("#edit-categories", Input).value)
        form = EditForm(
            severity=str(severity) if severity != inc.severity else None,
            title=title if title != one_line(inc.title) else None,
            description=description if description != one_line(inc.description) else None,
            categories=typed if typed != inc.categories else None,
            page_groups=tuple(str(g.id) for g in self.offered) if self.page_offered else (),
        )
        error = self.query_one("#edit-error", Static)
        try:
            found = changes(
                inc,
                severity=form.severity,
                title=form.title,
                description=form.description,
                categories=form.categories,
            )
        except UserError as exc:
            error.update(Content(one_line(str(exc))))
            return
        if not found and not form.page_groups:
            error.update(Content("nothing changed: edit a field, or Esc"))
            return
        self.dismiss(form if found else EditForm(page_groups=form.page_groups))
