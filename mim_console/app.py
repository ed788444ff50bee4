"""The Textual app: bindings, the command palette and screen routing. Nothing else lives here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.notifications import Notify
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from mim_console.domain.text import one_line
from mim_console.errors import UserError
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.duty import DutyScreen
from mim_console.screens.help import HelpScreen
from mim_console.services.context import Context
from mim_console.services.opening import BackgroundOpen
from mim_console.services.sites import SiteWatch
from mim_console.widgets.banner import OutboxChanged, OutboxState
from mim_console.widgets.dispatch import DispatchLink, ToTextualLog

BACKUP_CHECK_S = 60.0  # how often the console asks whether a scheduled backup is due
BACKUP_FIRST_S = 5.0  # the first time: soon after start, once the screen is up
SITE_CHECK_S = 1.0  # the standby's lag, or this site's replication, on the banner


class ActionCommands(Provider):
    """Every binding of the screen the palette was opened on, by name: generated, so no action
    can have a key but no palette entry."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        screen = self.screen
        out: list[tuple[str, str, Callable[[], Any]]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action == "command_palette":
                continue
            if binding.description in seen or not active.enabled:
                continue
            seen.add(binding.description)
            key = app.get_key_display(binding)
            help_text = f"[{key}] {binding.tooltip}" if binding.tooltip else f"[{key}]"
            out.append(
                (
                    binding.description,
                    help_text,
                    partial(app.run_action, binding.action, active.node),
                )
            )
        return out

    async def discover(self) -> Hits:
        for name, help_text, run in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, text=name, help=help_text)


class MimConsole(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mim-console"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave the console"),
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            id="app.help",
            tooltip="List every key of this screen",
        ),
    ]

    def __init__(
        self, context: Context, *, dispatch: bool = True, dispatch_config: Any = None
    ) -> None:
        super().__init__()
        self.context = context
        self.sites = SiteWatch(context)  # two sites: a standby copy sends nothing, writes nothing
        self.outbox = OutboxState(
            configured=context.settings.twilio.configured, standby=self.sites.standby
        )
        self.link = (
            DispatchLink(context, self._outbox_changed, config=dispatch_config)
            if dispatch and not self.sites.standby
            else None
        )
        self._backups: Any = None  # services.backups.BackupSchedule, made on the first check
        if context.settings.keymap:
            self.set_keymap(dict(context.settings.keymap))

    def on_mount(self) -> None:
        self._log_handler = ToTextualLog(self.log.warning)
        logging.getLogger("mim_console").addHandler(self._log_handler)
        from mim_console.services import timezone

        timezone.use(self.context)  # every time on every screen in the organisation's zone
        timezone.apply_zone(self.context)
        self.push_screen(DutyScreen())
        if self.sites.active:
            self.set_interval(SITE_CHECK_S, self._site_check)
            self._site_check()
        if self.context.settings.backup_every is not None and not self.sites.standby:
            self.set_timer(BACKUP_FIRST_S, self._scheduled_backup)  # one may be overdue
            self.set_interval(BACKUP_CHECK_S, self._scheduled_backup)
        if self.link is not None:
            self.run_worker(
                self.link.run(), name="dispatcher", group="dispatcher", exit_on_error=False
            )

    async def on_unmount(self) -> None:
        if self.link is not None:
            self.link.stop()
        self.sites.stop()
        logging.getLogger("mim_console").removeHandler(self._log_handler)

    # -- the outbox ----------------------------------------------------------------------------

    def _outbox_changed(self, state: OutboxState) -> None:
        if not state.site and self.outbox.site:  # the dispatcher's news keeps the site's words
            old = self.outbox
            state = replace(state, site=old.site, site_ok=old.site_ok, standby=old.standby)
        self.outbox = state
        for screen in self.screen_stack:
            screen.post_message(OutboxChanged(state))

    def _site_check(self) -> None:
        self.run_worker(
            self._site_line, thread=True, name="sites", group="sites", exit_on_error=False
        )

    def _site_line(self) -> None:
        words, ok = self.sites.line()
        self.call_from_thread(self._site_shown, words, ok)

    def _site_shown(self, words: str, ok: bool) -> None:
        if (words, ok) != (self.outbox.site, self.outbox.site_ok):
            state = replace(self.outbox, site=words, site_ok=ok, standby=self.sites.standby)
            self._outbox_changed(state)

    def refused_on_standby(self) -> bool:
        """On a standby copy, say so before a form is filled in that could not be saved."""
        if not self.sites.standby:
            return False
        from mim_console.services.sites import REFUSAL

        self.notify(REFUSAL, severity="warning")
        return True

    def wake_dispatcher(self) -> None:
        """Alerts were just queued by this console: send them now, not at the next poll."""
        if self.link is not None:
            self.link.wake()

    def _scheduled_backup(self) -> None:
        """Off the UI thread; a failure shows like any failed worker (worker_state_changed)."""
        from mim_console.services.backups import BackupSchedule

        if self._backups is None:
            self._backups = BackupSchedule(self.context)
        self.run_worker(
            self._backups.check,
            thread=True,
            name="scheduled backup",
            group="backups",
            exit_on_error=False,
        )

    # -- routing -------------------------------------------------------------------------------

    def go(self, screen: Screen[Any], *, stack: bool = False) -> None:
        """Open a full screen: from Duty (home) unless ``stack``, so Escape leads back home."""
        if not stack:
            while len(self.screen_stack) > 2 and not isinstance(self.screen, DutyScreen):
                self.pop_screen()
        self.push_screen(screen)

    async def action_quit(self) -> None:
        """Quit, but ask first while an incident is open and this console may be the only
        process sending alerts and running the timers."""
        self.run_worker(self._quit_check, thread=True, name="quit check", exit_on_error=False)

    @property
    def own_holder(self) -> str | None:
        """This console's dispatcher's name on the lease (None: it runs none)."""
        own = self.link.dispatcher if self.link is not None else None
        return own.lease.holder if own is not None else None

    def _quit_check(self) -> None:
        from mim_console.services.dispatching import quit_warning

        question = quit_warning(self.context, self.own_holder)
        self.call_from_thread(self._quit_or_ask, question)

    def _quit_or_ask(self, question: str | None) -> None:
        if question is None:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay"), answered)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.screen))

    # -- failures ------------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes a visible message (screens forward theirs)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, UserError):
            self.problem(str(error))
        else:
            self.problem(f"{event.worker.name or 'background work'} failed: {error!r}")

    def _on_notify(self, event: Notify) -> None:
        """At most one toast per kind (severity and title) at a time: a new one replaces the
        last, so toasts never pile up over the state column."""
        new = event.notification
        for old in list(self._notifications):
            if old.severity == new.severity and old.title == new.title:
                self._unnotify(old, refresh=False)
        super()._on_notify(event)

    def problem(self, message: str) -> None:
        """A refusal or failure, in words, without stopping anything."""
        self.notify(one_line(message), title="Problem", severity="error", timeout=10, markup=False)


def make_app(context: Context, *, dispatch: bool = True, dispatch_config: Any = None) -> MimConsole:
    """The one factory: the CLI, `serve` and the tests all build the app here.

    ``dispatch=False`` leaves the outbox alone (another process sends), e.g. in snapshots;
    ``dispatch_config`` (a ``DispatcherConfig``) lets tests poll faster.
    """
    return MimConsole(context, dispatch=dispatch, dispatch_config=dispatch_config)


def run(
    context: Context,
    *,
    headless: bool = False,
    on_start: Callable[[MimConsole], None] | None = None,
    opening: BackgroundOpen | None = None,
) -> None:
    """Start the console: what `mim-console` with no command does.

    The database is opened (integrity check, migrations) on a second thread while this one
    imports what the Duty screen's first load needs and builds the app: the check runs in
    SQLite's C code, which releases the GIL, so the two overlap. The CLI starts ``opening``
    even earlier, before Textual is imported. A damaged or newer database is still reported in
    plain words before the screen is taken over. ``on_start`` lets the benchmark watch the
    running app.
    """
    if opening is None:
        opening = BackgroundOpen(context)
    # What the Duty screen's first load imports (in its worker): here, in the meantime.
    from mim_console.services import comms, duty, incidents  # noqa: F401

    app = make_app(context)
    opening.wait()
    if on_start is not None:
        app.call_later(on_start, app)
    app.run(headless=headless)
