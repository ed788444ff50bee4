"""Open the database on a second thread while the caller does Python work (imports, the UI).

Opening runs ``PRAGMA quick_check`` (0.1 s on a 31 MB file, growing with it), in SQLite's C code
with the GIL released, so it truly overlaps with Python on the main thread. Anything else done
on the opener would only take turns with the main thread: keep it to the store.
"""

from __future__ import annotations

import threading

from mim_console.services.context import Context


class BackgroundOpen:
    """``context.store`` opened on its own thread; ``wait()`` before anything else uses it."""

    def __init__(self, context: Context) -> None:
        self._failure: BaseException | None = None
        self._context = context
        self._thread = threading.Thread(target=self._open, name="mim-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            _ = self._context.store
        except BaseException as exc:  # re-raised by wait() on the caller's thread
            self._failure = exc

    def wait(self) -> None:
        """Block until the store is open; a damaged or newer database raises here."""
        self._thread.join()
        if self._failure is not None:
            raise self._failure
