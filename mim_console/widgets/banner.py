"""The outbox / Twilio banner: a lost connection is a visible line of words, never a freeze."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.message import Message
from textual.widgets import Static


@dataclass(frozen=True)
class OutboxState:
    """What the banner shows; screens fill it from the dispatcher's snapshot."""

    queued: int = 0
    in_flight: int = 0
    failed: int = 0
    reachable: bool | None = None  # None: not known yet (or no dispatcher running)
    configured: bool = True
    detail: str = ""
    site: str = ""  # replication's words (two sites: docs/sites.md), or the standby's
    site_ok: bool = True
    standby: bool = False  # a read-only standby copy: no dispatcher here, the primary's queue
    modem: str = ""  # the GSM modem route's part ("modem: 14 waiting, ~2 min"), if configured
    refused: str = ""  # Twilio refuses our account ("Twilio refuses our credentials (20003)")
    elsewhere: str = ""  # another process sends while this one cannot ("mim-a, process 42")


class OutboxChanged(Message):
    """The dispatcher moved something: banners update, screens showing alerts reload."""

    def __init__(self, state: OutboxState) -> None:
        super().__init__()
        self.state = state


def describe(
    state: OutboxState, sheet_key: str | None = None, modem_key: str | None = None
) -> tuple[str, str]:
    """The banner's words and its CSS class; the words alone must carry the meaning.

    ``sheet_key``: the key that writes the call sheet on this screen, named when Twilio is
    unreachable (the way forward: phone people by hand); ``modem_key`` likewise the key that
    sends the waiting alerts by the GSM modem, where one is configured. A standby names whose
    copy it shows and how far behind; replication in trouble comes first, replication well
    comes last.
    """
    if state.standby:
        counts = f"{state.queued} queued · {state.in_flight} sending · {state.failed} failed"
        return f"{state.site} · {counts}", "-warn"
    words, css = _outbox_words(state, sheet_key, modem_key)
    if not state.site:
        return words, css
    if not state.site_ok:
        return f"{state.site} · {words}", "-bad" if css == "-bad" else "-warn"
    return f"{words} · {state.site}", css


def _outbox_words(
    state: OutboxState, sheet_key: str | None, modem_key: str | None
) -> tuple[str, str]:
    counts = f"{state.queued} queued · {state.in_flight} sending · {state.failed} failed"
    if state.modem:
        counts = f"{state.modem} · {counts}"
    if not state.configured:
        if state.elsewhere:  # not this console's business: it is being done
            return f"✔ alerts sent by {state.elsewhere} · {counts}", ""
        if state.modem:
            return f"⚠ Twilio NOT CONFIGURED, SMS by modem · {counts}", "-warn"
        return f"⚠ Twilio NOT CONFIGURED, alerts wait · {counts}", "-warn"
    if state.refused:  # answered, but refused: fix the settings (retrying cannot help)
        offer = f" · {sheet_key}: call sheet" if sheet_key else ""
        if state.modem and modem_key:
            offer += f" · {modem_key}: send by modem"
        return f"✖ {state.refused}: alerts kept{offer} · {counts}", "-bad"
    if state.reachable is False:
        tail = f" ({state.detail})" if state.detail else ""
        offer = f" · {sheet_key}: call sheet" if sheet_key else ""
        if state.modem and modem_key:
            offer += f" · {modem_key}: send by modem"
        return f"✖ Twilio UNREACHABLE: alerts kept, retrying{offer} · {counts}{tail}", "-bad"
    if state.failed:
        return f"⚠ Twilio reachable · {counts}", "-warn"
    if state.detail and state.reachable is None:
        return f"… {state.detail} · {counts}", ""
    if state.reachable is None:
        return f"… Twilio not checked yet · {counts}", ""
    return f"✔ Twilio reachable · {counts}", "-ok"


class OutboxBanner(Static):
    DEFAULT_CSS = """
    OutboxBanner {
        height: 1; width: 1fr; padding: 0 1; background: $panel;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    OutboxBanner.-ok { color: $success; }
    OutboxBanner.-warn { background: $warning 30%; text-style: bold; }
    OutboxBanner.-bad { background: $error 40%; text-style: bold reverse; }
    """

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002 - Textual's name
        sheet_key: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.sheet_key = sheet_key
        self.modem_key: str | None = None
        self.state = OutboxState(reachable=None)
        self._show(self.state)

    def on_mount(self) -> None:
        """Name the call-sheet key as the keymap has it (a remapped key must not be misnamed)."""
        if self.sheet_key is None:
            return
        for active in self.screen.active_bindings.values():
            if active.binding.action == "call_sheet":
                self.sheet_key = self.app.get_key_display(active.binding)
            elif active.binding.action == "send_by_modem":
                self.modem_key = self.app.get_key_display(active.binding)
        self._show(self.state)

    def show_state(self, state: OutboxState) -> None:
        if state != self.state:
            self.state = state
            self._show(state)

    def _show(self, state: OutboxState) -> None:
        words, css = describe(state, self.sheet_key, self.modem_key)
        self.set_classes(css) if css else self.set_classes("")
        self.update(Content(words))
