"""Where an approved text goes: SMS to a stakeholder list, chat webhooks, or recorded as sent
by other means. Choosing here sends nothing: the screen asks for confirmation with the count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from mim_console.domain.comms import ChatWebhook, StakeholderList
from mim_console.domain.text import one_line


@dataclass(frozen=True)
class PublishChoice:
    channel: str  # sms | chat | manual
    target: str | None  # list name, webhook name (None: every webhook), manual "where"
    count: int  # people (sms) or chat channels; 0 for manual
    words: str  # "by SMS to stakeholder list Board" — for the confirmation


def recipients(chosen: StakeholderList) -> int:
    """Distinct numbers on a list: what the service texts (one SMS per number)."""
    return len({m.number for m in chosen.members})


def destinations(
    kind: str, lists: list[StakeholderList], hooks: list[ChatWebhook], where: str = ""
) -> list[PublishChoice]:
    """Every place this kind of text can go, in the order offered."""
    out: list[PublishChoice] = []
    if kind == "stakeholder_update":
        for sl in lists:
            n = recipients(sl)
            out.append(
                PublishChoice("sms", sl.name, n, f"by SMS to stakeholder list {one_line(sl.name)}")
            )
    if len(hooks) > 1:
        names = ", ".join(one_line(h.name) for h in hooks)
        out.append(PublishChoice("chat", None, len(hooks), f"to every chat webhook ({names})"))
    for hook in hooks:
        out.append(
            PublishChoice("chat", hook.name, 1, f"to chat {one_line(hook.name)} ({hook.kind})")
        )
    place = where.strip()
    out.append(
        PublishChoice(
            "manual",
            place,
            0,
            f"as published by other means{' (' + one_line(place) + ')' if place else ''}",
        )
    )
    return out


def _label(choice: PublishChoice) -> str:
    if choice.channel == "sms":
        people = "nobody on it" if choice.count == 0 else f"{choice.count} "
        people += "" if choice.count == 0 else "person" if choice.count == 1 else "people"
        return f"SMS → {one_line(choice.target or '')} ({people})"
    if choice.channel == "chat":
        return f"Chat → {choice.words.removeprefix('to ')}"
    return "Manual: record it as sent by other means (nothing is sent)"


class PublishScreen(ModalScreen[PublishChoice | None]):
    """Dismisses with the chosen destination, or None on Escape."""

    DEFAULT_CSS = """
    #publish-list { height: auto; max-height: 10; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="publish.cancel", tooltip="Publish nothing"),
    ]

    def __init__(
        self,
        what: str,
        kind: str,
        lists: list[StakeholderList],
        hooks: list[ChatWebhook],
    ) -> None:
        super().__init__()
        self.what = what
        self.kind = kind
        self.lists = lists
        self.hooks = hooks
        self.choices = destinations(kind, lists, hooks)

    def compose(self) -> ComposeResult:
        with Vertical(id="publish-box", classes="dialog"):
            yield Static(Content(f"Publish {self.what}: where?"), classes="dialog-title")
            yield OptionList(
                *(
                    Option(Content(_label(c)), disabled=c.channel == "sms" and c.count == 0)
                    for c in self.choices
                ),
                id="publish-list",
            )
            if self.kind == "stakeholder_update" and not self.lists:
                yield Static(
                    Content(
                        "No stakeholder lists yet: Esc, then l makes one (or `mim-console "
                        "comms list add LIST PERSON|NUMBER`)."
                    ),
                    classes="hint",
                )
            if not self.hooks:
                yield Static(
                    Content("No chat webhooks: `mim-console comms webhook add` sets one up."),
                    classes="hint",
                )
            yield Input(
                placeholder="manual only: where it went (e.g. intranet)", id="publish-where"
            )
            yield Static(
                Content("↓/↑ choose · Enter: next you confirm with the count · Esc cancels"),
                classes="hint",
            )

    def on_mount(self) -> None:
        options = self.query_one("#publish-list", OptionList)
        options.focus()
        first = next(
            (i for i, c in enumerate(self.choices) if not (c.channel == "sms" and c.count == 0)),
            0,
        )
        options.highlighted = first

    @on(OptionList.OptionSelected, "#publish-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option_index)

    @on(Input.Submitted, "#publish-where")
    def _where_given(self) -> None:
        self._choose(len(self.choices) - 1)

    def _choose(self, index: int) -> None:
        where = self.query_one("#publish-where", Input).value
        choice = destinations(self.kind, self.lists, self.hooks, where)[index]
        if choice.channel == "sms" and choice.count == 0:
            self.notify("that stakeholder list has nobody on it", severity="warning")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
