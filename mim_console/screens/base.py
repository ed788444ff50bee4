"""What every full screen shares: worker failures reach the app's one handler; polling for
other processes' writes is scheduled only after the previous poll finished."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.screen import Screen
from textual.worker import Worker

from mim_console.services.context import Context
from mim_console.widgets.banner import OutboxBanner, OutboxChanged, OutboxState

if TYPE_CHECKING:
    from mim_console.app import MimConsole

POLL_SECONDS = 1.0


class MimScreen(Screen[Any]):
    """Base screen: ``context`` access, failure forwarding and ``data_version`` polling."""

    #: Reload whenever another process commits to the database (set False to opt out).
    POLL_CHANGES = True
    #: Reload when the in-app dispatcher reports progress (replies, delivery states).
    RELOAD_ON_OUTBOX = False

    def __init__(self) -> None:
        super().__init__()
        self._data_version: int | None = None

    @property
    def mim(self) -> MimConsole:
        return cast("MimConsole", self.app)

    @property
    def context(self) -> Context:
        return self.mim.context

    def on_mount(self) -> None:
        self._show_outbox(self.mim.outbox)
        self.reload()
        if self.POLL_CHANGES:
            self.set_timer(POLL_SECONDS, self._poll)

    def reload(self) -> None:
        """Start loading the screen's data (in a worker); subclasses override."""

    def on_screen_resume(self) -> None:
        self._show_outbox(self.mim.outbox)

    def _show_outbox(self, state: OutboxState) -> None:
        for banner in self.query(OutboxBanner):
            banner.show_state(state)

    def on_outbox_changed(self, message: OutboxChanged) -> None:
        """The dispatcher moved something; screens that show alert states also reload."""
        self._show_outbox(message.state)
        if self.RELOAD_ON_OUTBOX:
            self.reload()

    @on(Worker.StateChanged)
    def _forward_worker_state(self, event: Worker.StateChanged) -> None:
        self.mim.worker_state_changed(event)

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_worker(self) -> bool:
        version = self.context.store.data_version()
        changed = self._data_version is not None and version != self._data_version
        self._data_version = version
        return changed

    async def _poll(self) -> None:
        if not self.is_attached:
            return
        worker = self._poll_worker()
        try:
            changed = await worker.wait()
        except Exception:  # noqa: BLE001 - the app's handler already shows the failure
            changed = False
        if changed and self.is_attached:
            self.reload()
        if self.is_attached:
            self.set_timer(POLL_SECONDS, self._poll)
