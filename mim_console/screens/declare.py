"""Declare: title, severity, categories → suggested specialist groups, channel, exercise flag;
the exact SMS text with its character and segment count; then a confirmation that says how many
people will be paged before anyone is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from mim_console.domain import sms
from mim_console.domain.incident import Role
from mim_console.domain.people import Person
from mim_console.screens.base import MimModal
from mim_console.services import messages
from mim_console.services.context import Context
from mim_console.services.drafts import draft_incident
from mim_console.services.incidents import IncidentService
from mim_console.widgets.literal import lit_block
from mim_console.widgets.ticks import TickBox, TickList

SEVERITIES = ("SEV1", "SEV2", "SEV3")
CHANNELS = (
    ("SMS", "sms"),
    ("voice call", "voice"),
    ("SMS and call", "both"),
    ("SMS and bridge call", "bridge"),  # the incident's Twilio bridge ([bridge] mode = "twilio")
)
SHORT = {"both": "SMS + call", "bridge": "SMS + bridge"}  # whole in the 16-cell select


@dataclass(frozen=True)
class DeclareForm:
    title: str
    severity: str
    categories: tuple[str, ...]
    group_ids: tuple[int, ...]
    channel: str
    exercise: bool


@dataclass(frozen=True)
class Preview:
    form: DeclareForm
    groups: list[tuple[int, str, bool]] = field(default_factory=list)  # id, name, suggested
    sms_text: str = ""
    sms_line: str = ""
    recipients: dict[str, int] = field(default_factory=dict)  # role -> count

    @property
    def total(self) -> int:
        return sum(self.recipients.values())


def parse_categories(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.strip() for c in text.replace(";", ",").split(",") if c.strip()))


def sms_line(text: str) -> str:
    info = sms.analyse(text)
    parts = [
        f"{info.characters} characters",
        info.encoding.value,
        f"{info.segments} segment{'s' if info.segments != 1 else ''}",
    ]
    if info.offenders:
        shown = ", ".join(o.name for o in info.offenders[:2])
        parts.append(f"⚠ not GSM-7: {shown}")
    return " · ".join(parts)


def build_preview(context: Context, form: DeclareForm, now: datetime) -> Preview:
    """Who would be paged and the exact alert text (runs in a worker thread)."""
    directory = context.directory()
    groups = directory.groups()
    suggested = {g.id for g in directory.groups_covering(list(form.categories))}
    group_refs = [str(g) for g in form.group_ids]
    service = IncidentService(context)
    # Exactly what ``declare`` will do with the same form, so the count shown is the truth.
    recipients = service.plan_recipients(form.categories, group_refs, now)
    counts: dict[str, int] = {}
    for r in recipients:
        counts[r.role.value] = counts.get(r.role.value, 0) + 1
    draft = draft_incident(
        context,
        title=form.title or "(title)",
        severity=form.severity,
        categories=form.categories,
        exercise=form.exercise,
        now=now,
    )
    first = directory.people_by_ids([recipients[0].person_id]) if recipients else {}
    person = next(iter(first.values()), None) or Person(id=0, name="", mobile="")
    text = messages.sms("alert", draft, person, context.settings)
    return Preview(
        form=form,
        groups=sorted(
            ((g.id, g.name, g.id in suggested) for g in groups), key=lambda g: (not g[2], g[1])
        ),
        sms_text=text,
        sms_line=sms_line(text),
        recipients=counts,
    )


def recipients_words(counts: dict[str, int]) -> str:
    names = {
        Role.DUTY_MANAGER.value: "duty manager",
        Role.MRT.value: "MRT",
        Role.SPECIALIST.value: "specialist",
    }
    parts = [f"{n} {names.get(role, role)}" for role, n in counts.items() if n]
    total = sum(counts.values())
    if not total:
        return "⚠ nobody would be paged: no duty manager, party seat or group found"
    return f"pages {total} {'person' if total == 1 else 'people'}: " + ", ".join(parts)


class DeclareScreen(MimModal[str | None]):
    """Dismisses with the new incident's code, or None when backed out."""

    HELP_TITLE = "Declare a major incident"
    HELP_TEXT = "Tab moves between fields; suggested groups are ticked from the categories."
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "declare",
            "Declare…",
            id="declare.go",
            tooltip="Check, show how many people will be paged, then ask to confirm",
        ),
        Binding("escape", "cancel", "Cancel", id="declare.cancel", tooltip="Back out, page nobody"),
    ]

    class Previewed(Message):
        def __init__(self, preview: Preview) -> None:
            super().__init__()
            self.preview = preview

    class Declared(Message):
        def __init__(self, code: str) -> None:
            super().__init__()
            self.code = code

    def __init__(self) -> None:
        super().__init__()
        self.preview: Preview | None = None
        self._filling = False
        self._declare_when_ready = False  # Ctrl+S came before the count: ask once it is known
        self._error_about = ""  # what the shown error is about ("title"), to clear it

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="declare-box"):
            yield Static(Content("Declare a major incident"), classes="dialog-title")
            with Horizontal(classes="field"):
                yield Static(Content("Title"), classes="label")
                yield Input(id="title", placeholder="what is broken, for whom", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Severity"), classes="label")
                yield Select(
                    [(s, s) for s in SEVERITIES],
                    value="SEV1",
                    id="severity",
                    allow_blank=False,
                    compact=True,
                )
                yield Static(Content(" Channel "), classes="label-inline")
                on_bridge = self.context.settings.bridge.twilio
                yield Select(
                    [(SHORT.get(v, w), v) for w, v in CHANNELS if on_bridge or v != "bridge"],
                    value="bridge" if on_bridge else "sms",
                    id="channel",
                    allow_blank=False,
                    compact=True,
                )
                yield TickBox("Exercise (drill)", id="exercise", compact=True)
            with Horizontal(classes="field"):
                yield Static(Content("Categories"), classes="label")
                yield Input(id="categories", placeholder="e.g. payments, network", compact=True)
            yield Static(Content("Specialist groups (suggested ones are ticked):"))
            yield TickList(id="groups", compact=True)
            yield Static(Content("SMS:"), classes="label-inline")
            yield Static(Content(""), id="sms-text")
            yield Static(Content(""), id="sms-count")
            yield Static(Content(""), id="recipients")
            yield Static(Content(""), id="declare-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Declare… [ctrl+s]"), id="go", variant="error", compact=True)
                yield Button(Content("Cancel [esc]"), id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#title", Input).focus()
        self._refresh_preview()

    def form(self) -> DeclareForm:
        groups = self.query_one("#groups", SelectionList)
        severity = self.query_one("#severity", Select).value
        channel = self.query_one("#channel", Select).value
        return DeclareForm(
            title=self.query_one("#title", Input).value.strip(),
            severity=str(severity),
            categories=parse_categories(self.query_one("#categories", Input).value),
            group_ids=tuple(int(g) for g in groups.selected),
            channel=str(channel),
            exercise=self.query_one("#exercise", Checkbox).value,
        )

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        if isinstance(event, Input.Changed) and event.input.id == "title" and event.value.strip():
            self._clear_error("title")
        self._refresh_preview()

    @on(SelectionList.SelectedChanged)
    def _groups_changed(self) -> None:
        if self._filling:
            return
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        self._preview(self.form())

    @work(thread=True, exclusive=True, group="declare-preview", exit_on_error=False)
    def _preview(self, form: DeclareForm) -> None:
        self.post_message(self.Previewed(build_preview(self.context, form, self.context.clock())))

    @on(Previewed)
    def _show_preview(self, message: Previewed) -> None:
        preview = message.preview
        previous = self.preview
        self.preview = preview
        groups = self.query_one("#groups", SelectionList)
        listed = [g[0] for g in preview.groups]
        suggested = {g[0] for g in preview.groups if g[2]}
        old_suggested = {g[0] for g in previous.groups if g[2]} if previous else set()
        if (
            previous is None
            or [g[0] for g in previous.groups] != listed
            or (suggested != old_suggested)
        ):
            chosen = set(groups.selected)
            # Newly suggested groups get ticked, groups no longer suggested get unticked,
            # groups the duty manager ticked by hand stay as they are.
            chosen = (chosen - (old_suggested - suggested)) | (suggested - old_suggested)
            self._filling = True
            groups.clear_options()
            groups.add_options(
                Selection(Content(f"{name}{'  (suggested)' if hit else ''}"), gid, gid in chosen)
                for gid, name, hit in preview.groups
            )
            self._filling = False
            if set(groups.selected) != set(preview.form.group_ids):
                self._refresh_preview()
                return
        self.query_one("#sms-text", Static).update(lit_block(preview.sms_text))
        self.query_one("#sms-count", Static).update(Content(preview.sms_line))
        self.query_one("#recipients", Static).update(Content(recipients_words(preview.recipients)))
        if preview.form == self.form() and self._declare_when_ready:
            self.query_one("#declare-error", Static).update(Content(""))
            self.action_declare()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "go":
            self.action_declare()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _error(self, text: str, about: str = "") -> None:
        self._error_about = about
        self.query_one("#declare-error", Static).update(Content(f"✖ {text}"))
        title = self.query_one("#title", Input)
        title.set_class(about == "title", "-invalid")

    def _clear_error(self, about: str) -> None:
        """A shown error goes as soon as what it is about is put right."""
        if self._error_about == about:
            self._error_about = ""
            self.query_one("#declare-error", Static).update(Content(""))
            self.query_one("#title", Input).set_class(False, "-invalid")

    def action_declare(self) -> None:
        form = self.form()
        if not form.title:
            self._error("Title: the incident needs a title", "title")
            self.query_one("#title", Input).focus()
            return
        preview = self.preview
        if preview is None or preview.form != form:
            # Not lost: the question comes as soon as the count is known.
            self._declare_when_ready = True
            self.query_one("#declare-error", Static).update(
                Content("… working out who would be paged, then it asks")
            )
            self._refresh_preview()
            return
        self._declare_when_ready = False
        if not preview.total:
            self._error("nobody would be paged: add people and party seats, or tick a group")
            return
        from mim_console.screens.confirm import ConfirmScreen

        total = preview.total
        kind = "EXERCISE " if form.exercise else ""
        by = {value: words for words, value in CHANNELS}[form.channel]
        question = (
            f"Declare {kind}{form.severity} “{form.title}” and page {total} "
            f"{'person' if total == 1 else 'people'} by {by} now?\n"
            f"{recipients_words(preview.recipients)}"
        )

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._declare(form)

        self.app.push_screen(ConfirmScreen(question, yes=f"Page {total}"), confirmed)

    @work(thread=True, exclusive=True, group="declare", exit_on_error=False)
    def _declare(self, form: DeclareForm) -> None:
        service = IncidentService(self.context)
        incident = service.declare(
            title=form.title,
            severity=form.severity,
            categories=form.categories,
            group_refs=[str(g) for g in form.group_ids],
            channel=form.channel,
            exercise=form.exercise,
        )
        self.post_message(self.Declared(incident.code))

    @on(Declared)
    def _declared(self, message: Declared) -> None:
        self.dismiss(message.code)
