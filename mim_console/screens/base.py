"""What every full screen shares: worker failures reach the app's one handler; polling for
other processes' writes is scheduled only after the previous poll finished."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.outbox_view import outbox_counts, sender_elsewhere
from mim_console.services.sites import REFUSAL as STANDBY_REFUSAL
from mim_console.widgets.banner import OutboxBanner, OutboxChanged, OutboxState

if TYPE_CHECKING:
    from mim_console.app import MimConsole

POLL_SECONDS = 1.0
T = TypeVar("T")


class ActionDone(Message):
    """An action run by ``MimScreen.act`` finished: its words, and whether it was refused."""

    def __init__(self, text: str, *, failed: bool = False) -> None:
        super().__init__()
        self.text = text
        self.failed = failed


class MimScreen(Screen[Any]):
    """Base screen: ``context`` access, failure forwarding and ``data_version`` polling."""

    # Also the app's, but here it comes first in every screen's footer: at 80 columns the
    # screen's own keys fill the line, and Help lists the ones that do not fit. The same id, so
    # a keymap entry for "app.help" moves both.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark,f1",
            "app.help",
            "Help",
            id="app.help",
            tooltip="List every key of this screen",
        )
    ]
    #: Actions that change the database: on a standby copy their keys are hidden, and one
    #: pressed anyway says why before any form opens (``refusal``).
    WRITES: ClassVar[frozenset[str]] = frozenset()
    #: Reload whenever another process commits to the database (set False to opt out).
    POLL_CHANGES = True
    #: Reload when the in-app dispatcher reports progress (replies, delivery states).
    RELOAD_ON_OUTBOX = False

    def __init__(self) -> None:
        super().__init__()
        self._data_version: int | None = None
        self._stale = False
        self._started = False

    @property
    def mim(self) -> MimConsole:
        return cast("MimConsole", self.app)

    @property
    def context(self) -> Context:
        return self.mim.context

    def on_mount(self) -> None:
        # Textual calls this handler itself (it runs every class's on_mount in the MRO) and
        # subclasses also call super().on_mount(): without this guard each screen loaded its
        # data twice on opening and ran two polling chains for as long as it lived.
        if self._started:
            return
        self._started = True
        self._show_outbox(self.mim.outbox)
        self.reload()
        if self.POLL_CHANGES:
            self.call_after_refresh(self._poll)

    def reload(self) -> None:
        """Start loading the screen's data (in a worker); subclasses override."""

    def refusal(self, action: str) -> str | None:
        """Why ``action`` cannot apply now, or None; subclasses add their own reasons."""
        if action in self.WRITES and self.mim.sites.standby:
            return STANDBY_REFUSAL
        return None

    def refused(self, action: str) -> bool:
        """Say why ``action`` cannot apply now (for paths other than its key: Enter on a row)."""
        reason = self.refusal(action)
        if reason is not None:
            self.notify(reason, severity="warning", markup=False)
        return reason is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A refused action's key is hidden: the footer tells the truth."""
        if self.refusal(action) is not None:
            return False
        return super().check_action(action, parameters)

    def on_key(self, event: events.Key) -> None:
        """A hidden key pressed anyway (from habit) says why, instead of nothing happening."""
        for binding in self._bindings.key_to_bindings.get(event.key, []):
            if self.refused(binding.action.split("(", 1)[0]):
                event.stop()
                return

    def on_screen_resume(self) -> None:
        self._show_outbox(self.mim.outbox)
        if self._stale:
            self._stale = False
            self.reload()

    @property
    def showing(self) -> bool:
        """On top (a modal above still counts): screens underneath do not reload."""
        for screen in reversed(self.app.screen_stack):
            if screen is self:
                return True
            if not screen.is_modal:
                return False
        return False

    def _show_outbox(self, state: OutboxState) -> None:
        for banner in self.query(OutboxBanner):
            banner.show_state(state)

    def on_outbox_changed(self, message: OutboxChanged) -> None:
        """The dispatcher moved something; screens that show alert states also reload."""
        self._show_outbox(message.state)
        if self.RELOAD_ON_OUTBOX:
            if self.showing:
                self.reload()
            else:
                self._stale = True

    @work(thread=True, exclusive=True, group="act", exit_on_error=False)
    def act(self, run: Callable[[], str]) -> None:
        """Run a service call off the UI thread; what it says, or its refusal in its own
        words, comes back as ``ActionDone`` (any other failure goes to the app's handler)."""
        try:
            text = run()
        except UserError as exc:
            self.post_message(ActionDone(str(exc), failed=True))
            return
        self.app.call_from_thread(self._others_stale)
        self.post_message(ActionDone(text))

    def _others_stale(self) -> None:
        """A write through this console's own connection does not move ``data_version``: the
        screens underneath reload when they are shown again."""
        for screen in self.app.screen_stack:
            if isinstance(screen, MimScreen) and screen is not self:
                screen._stale = True

    @on(Worker.StateChanged)
    def _forward_worker_state(self, event: Worker.StateChanged) -> None:
        self.mim.worker_state_changed(event)

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_worker(self) -> bool:
        version = self.context.data_version()
        changed = self._data_version is not None and version != self._data_version
        self._data_version = version
        counts = outbox_counts(self.context)
        elsewhere = ""
        if not self.mim.outbox.configured:  # this console cannot send: does another process?
            elsewhere = sender_elsewhere(self.context, self.mim.own_holder)
        self.app.call_from_thread(self._outbox_counts, counts, elsewhere)
        return changed

    def _outbox_counts(self, counts: dict[str, int], elsewhere: str) -> None:
        """The outbox as the database has it (any process's alerts), every poll."""
        state = replace(
            self.mim.outbox,
            queued=counts.get("queued", 0),
            failed=counts.get("failed", 0),
            in_flight=max(self.mim.outbox.in_flight, counts.get("sending", 0)),
            elsewhere=elsewhere,
        )
        self.mim.outbox = state
        self._show_outbox(state)

    async def _poll(self) -> None:
        if not self.is_attached:
            return
        worker = self._poll_worker()
        try:
            changed = await worker.wait()
        except Exception:  # the app's handler already shows the failure
            changed = False
        if changed and self.is_attached:
            if self.showing:
                self.reload()
            else:
                self._stale = True  # reload when it is shown again
        if self.is_attached:
            self.set_timer(POLL_SECONDS, self._poll)


class MimModal(ModalScreen[T]):
    """Base dialog, dismissed with a ``T``: ``context`` access and worker failures forwarded to
    the app's one handler (``handle_failure`` lets a form show a refusal in itself instead)."""

    @property
    def mim(self) -> MimConsole:
        return cast("MimConsole", self.app)

    @property
    def context(self) -> Context:
        return self.mim.context

    def handle_failure(self, error: BaseException) -> bool:
        """A failed worker's error: True when the dialog showed it itself."""
        return False

    @on(Worker.StateChanged)
    def _forward_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            if self.handle_failure(event.worker.error):
                return
        forward = getattr(self.app, "worker_state_changed", None)
        if forward is not None:  # a dialog shown by a plain App (tests) has no handler
            forward(event)
