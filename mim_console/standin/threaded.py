"""A stand-in on its own event loop in a daemon thread, for sync code and CLIs."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mim_console.standin.app import StandIn

_HANDLE_FIELDS = frozenset({"standin", "_loop", "_ready", "_error", "_thread"})


class ThreadedStandIn:
    """A stand-in on its own loop in a daemon thread; control methods pass straight through."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="twilio-standin", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"stand-in did not start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.standin.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.standin.stop())
        self._loop.close()

    @property
    def url(self) -> str:
        return self.standin.url

    def go_down(self, for_seconds: float | None = None) -> None:
        asyncio.run_coroutine_threadsafe(self.standin.go_down(for_seconds), self._loop).result(10)

    def come_up(self) -> None:
        asyncio.run_coroutine_threadsafe(self.standin.come_up(), self._loop).result(10)

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.standin, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """``handle.timing = …`` must reach the stand-in, not stop at the handle."""
        if name in _HANDLE_FIELDS:
            object.__setattr__(self, name, value)
        else:
            setattr(self.standin, name, value)

    def __enter__(self) -> ThreadedStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
