"""Edit a communication text (a draft version or a template) with a live SMS preview.

The check runs as you type and again on save: a text it refuses (an unknown placeholder, an
empty draft) stays in the editor with the reason shown, and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from mim_console.domain import sms
from mim_console.domain.text import one_line
from mim_console.errors import UserError
from mim_console.screens.confirm import ConfirmScreen
from mim_console.widgets.literal import lit_block
from mim_console.widgets.sms_preview import SmsPreview

Check = Callable[[str], None]  # raises UserError with the reason a text cannot be saved
Render = Callable[[str], str]  # the text as it would be sent (templates: with sample values)


class TextEditScreen(ModalScreen[str | None]):
    """Dismisses with the new text on a save the check accepts, None on Escape."""

    DEFAULT_CSS = """
    /* The text takes what the preview and a long error leave: the buttons never fall off. */
    #edit-box { width: 90; height: 100%; max-height: 32; }
    #edit-text { height: 1fr; min-height: 3; }
    #edit-rendered { height: auto; max-height: 3; background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="edit.save", tooltip="Save (a new version)"),
        Binding(
            "ctrl+g",
            "gsm_fix",
            "GSM-7 fix",
            id="edit.gsm_fix",
            tooltip="Replace every character that forces UCS-2 with its suggested replacement",
        ),
        Binding("escape", "cancel", "Cancel", id="edit.cancel", tooltip="Back out, save nothing"),
    ]

    def __init__(
        self,
        title: str,
        text: str,
        *,
        check: Check | None = None,
        sms_preview: bool = False,
        render: Render | None = None,
        hint: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.original = text
        self._check_fn = check
        self._sms_on = sms_preview
        self._render_fn = render
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-box", classes="dialog"):
            yield Static(Content(self.title_text), classes="dialog-title")
            if self._hint:
                yield Static(Content(self._hint), classes="hint")
            yield TextArea(self.original, id="edit-text", soft_wrap=True, tab_behavior="focus")
            if self._render_fn is not None:
                yield Static(Content(""), id="edit-rendered")
            if self._sms_on:
                yield SmsPreview(id="edit-sms")
            yield Static(Content(""), id="edit-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(Content("Save [ctrl+s]"), id="save", variant="primary")
                yield Button(Content("Cancel [esc]"), id="cancel")

    def on_mount(self) -> None:
        area = self.query_one("#edit-text", TextArea)
        area.focus()
        area.move_cursor(area.document.end)  # a correction is usually added at the end
        self._refresh(self.original)

    @property
    def text(self) -> str:
        return self.query_one("#edit-text", TextArea).text

    def check_action(self, action: str, _parameters: tuple[object, ...]) -> bool | None:
        if action == "gsm_fix":
            return self._sms_on
        return True

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        self._refresh(event.text_area.text)

    def _problem(self, text: str) -> str:
        """The reason ``text`` cannot be saved, or ''."""
        try:
            if self._check_fn is not None:
                self._check_fn(text)
        except UserError as exc:
            return str(exc)
        return ""

    def _refresh(self, text: str) -> None:
        problem = self._problem(text)
        self.query_one("#edit-error", Static).update(
            Content(f"✖ {one_line(problem)}" if problem else "")
        )
        sent = text
        if self._render_fn is not None:
            rendered = self.query_one("#edit-rendered", Static)
            if problem:
                rendered.update(Content("(no preview until the text is valid)"))
            else:
                try:
                    sent = self._render_fn(text)
                except UserError as exc:
                    sent = text
                    rendered.update(Content(f"(no preview: {one_line(str(exc))})"))
                else:
                    rendered.update(lit_block(f"With sample values: {sent}"))
        if self._sms_on:
            self.query_one("#edit-sms", SmsPreview).show_text(sent)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        text = self.text
        problem = self._problem(text)
        if problem:
            self.query_one("#edit-error", Static).update(
                Content(f"✖ not saved: {one_line(problem)}")
            )
            self.notify(f"not saved: {problem}", severity="error", markup=False)
            return
        self.dismiss(text)

    def action_gsm_fix(self) -> None:
        area = self.query_one("#edit-text", TextArea)
        fixed = sms.to_gsm7(area.text)
        if fixed != area.text:
            area.load_text(fixed)
            self._refresh(fixed)

    def action_cancel(self) -> None:
        if self.text == self.original:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmScreen("Discard your changes?", yes="Discard", no="Keep editing"), answered
        )
