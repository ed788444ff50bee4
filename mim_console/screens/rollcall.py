"""Roll call: one incident's participants, live. Who was alerted, who joined, who is on standby.

Rows are grouped by party / specialist group; each MRT party shows whether it has quorum. The
table is updated cell by cell when only states change, so a busy incident (1,000 people, many
replies a second) never rebuilds the whole table under the duty manager's cursor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from mim_console.domain.incident import State
from mim_console.domain.text import names_list
from mim_console.screens.base import ActionDone
from mim_console.screens.confirm import ConfirmScreen
from mim_console.screens.note import NoteResult, NoteScreen
from mim_console.screens.outbox import OutboxScreen, outbox_binding
from mim_console.screens.replies import unplaced_words
from mim_console.screens.rollcall_ask import ask_escalate, ask_release
from mim_console.screens.rollcall_closed import ClosedKeys
from mim_console.screens.rollcall_view import (
    COLS,
    DECIDES,
    RollCallView,
    SeatView,
    displayed,
    load_view,
)
from mim_console.services.incidents import IncidentService
from mim_console.widgets.banner import OutboxBanner
from mim_console.widgets.fittable import FitTable
from mim_console.widgets.literal import lit

COLUMNS = tuple(c.key for c in COLS)


class RollCallScreen(ClosedKeys):
    RELOAD_ON_OUTBOX = True
    HELP_TITLE = "Roll call"
    HELP_TEXT = (
        "Space marks rows; release, recall, joined and unable act on the marked rows "
        "(or the row under the cursor when none is marked). "
        f"{DECIDES} before a name: decides for the party, counts for quorum; ★: spokesperson. "
        "Columns that do not fit the width are in the line below the table."
    )
    # Every key that changes the incident: refused on a standby copy.
    WRITES = (ClosedKeys.OPEN_ONLY - {"mark"}) | {
        "send_by_modem",
        "call_me",
        "mute",
        "remove_from_bridge",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", id="rollcall.mark", tooltip="Mark / unmark this row"),
        Binding(
            "j",
            "joined",
            "Joined",
            id="rollcall.joined",
            tooltip="Mark as joined (seen on the bridge; l logs a phone call)",
        ),
        Binding("u", "unable", "Unable", id="rollcall.unable", tooltip="Mark as unable to join"),
        Binding(
            "l",
            "log_call",
            "Log call",
            id="rollcall.log_call",
            tooltip="Log a phone call to this person: joining, unable, voicemail, no answer",
        ),
        Binding(
            "k",
            "call_sheet",
            "Call sheet",
            id="rollcall.call_sheet",
            tooltip="Write this incident's call sheet to the data dir and show it",
            show=False,  # the banner names it when Twilio is unreachable
        ),
        Binding(
            "g",
            "send_by_modem",
            "By modem",
            id="rollcall.send_by_modem",
            tooltip="Send the waiting alerts by the GSM modem now (docs/routes.md)",
            show=False,  # the banner names it when Twilio is unreachable
        ),
        Binding(
            "r",
            "release",
            "Release",
            id="rollcall.release",
            tooltip="Release to standby (they stay ready to rejoin)",
        ),
        Binding(
            "b",
            "recall",
            "Recall",
            id="rollcall.recall",
            tooltip="Recall from standby (sends an SMS); nothing marked: everyone on standby",
        ),
        Binding(
            "e",
            "escalate",
            "Escalate",
            id="rollcall.escalate",
            tooltip="Escalate now: voice call, then the deputy",
        ),
        Binding(
            "s",
            "spokesperson",
            "Spokesperson",
            id="rollcall.spokesperson",
            tooltip="Make this specialist the one spokesperson",
        ),
        Binding("n", "note('note')", "Note", id="rollcall.note", tooltip="Add a note"),
        Binding(
            "a",
            "note('status_report')",
            "Status",
            id="rollcall.status",
            tooltip="Record the spokesperson's status report and the next one's time",
        ),
        Binding(
            "d",
            "note('directive')",
            "Directive",
            id="rollcall.directive",
            tooltip="Record an MRT directive to the workgroup",
        ),
        Binding(
            "c",
            "close_incident",
            "Close",
            id="rollcall.close",
            tooltip="Close: stand everyone down (all-clear SMS) and record the problem case",
        ),
        Binding(
            "m",
            "comms",
            "Comms",
            id="rollcall.comms",
            tooltip="Communications: stakeholder updates, press releases, approval, publishing",
        ),
        Binding("t", "timeline", "Timeline", id="rollcall.timeline", tooltip="The timeline"),
        Binding("p", "report", "Report", id="rollcall.report", tooltip="Report preview"),
        Binding("escape", "back", "Back", id="rollcall.back", tooltip="Back to Duty"),
        outbox_binding("rollcall", "This incident's alerts: retry now, cancel"),
        Binding(
            "y",
            "replies",
            "Replies",
            id="rollcall.replies",
            tooltip="Replies that named no incident: place them on one, or dismiss them",
            show=False,  # the line naming how many wait says "y"
        ),
    ]

    class Loaded(Message):
        def __init__(self, view: RollCallView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, incident_ref: str) -> None:
        super().__init__()
        self.incident_ref = incident_ref
        self.view: RollCallView | None = None
        self.marked: set[int] = set()
        self._ticks = 0
        self.loads = 0  # views shown so far (benchmarks and tests watch it)
        self._detail = ""  # the line below the table, as last shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield OutboxBanner(id="banner", sheet_key="k")
        yield Static(Content(f"{self.incident_ref}: loading…"), id="rc-header")
        yield Static(Content(""), id="rc-unplaced", classes="unplaced")
        with Horizontal(id="rc-summary"):
            with Vertical(id="rc-lines"):
                yield Static(Content(""), id="rc-quorum")
                yield Static(Content(""), id="rc-speaker")
            yield Sparkline([0.0], id="rc-curve", summary_function=max)
        yield FitTable(COLS, id="rc-table")
        yield Static(Content(""), id="rc-detail")  # the row under the cursor, phone included
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#rc-table", FitTable).focus()
        super().on_mount()

    # -- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="rollcall-load", exit_on_error=False)
    def _load(self) -> None:
        previous = self.view.rows if self.view is not None else None
        self.post_message(self.Loaded(load_view(self.context, self.incident_ref, previous)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        view = message.view
        self.view = view
        self.loads += 1
        self.incident_ref = view.code
        self.sub_title = view.code
        self.query_one("#rc-header", Static).update(Content(view.header))
        unplaced = self.query_one("#rc-unplaced", Static)
        unplaced.update(Content(unplaced_words(view.unplaced)))
        unplaced.display = bool(view.unplaced)
        self.query_one("#rc-quorum", Static).update(Content(view.quorum_line))
        self.query_one("#rc-speaker", Static).update(
            Content(f"{view.counts_line} · {view.speaker_line}")
        )
        self.query_one("#rc-curve", Sparkline).data = view.curve
        self._fill(view.seats)
        self._show_detail()
        self.refresh_bindings()  # the bridge keys and a closed incident's keys follow the view

    @on(DataTable.RowHighlighted)
    def _show_detail(self) -> None:
        """The row under the cursor, with what the table cannot show at this width: the
        columns moved out (phone, delivery… at 80) and every shortened cell in full."""
        table = self.query_one("#rc-table", FitTable)
        pid = self.current_participant()
        seat = self._seat(pid) if pid is not None else None
        line = ""
        if seat is not None:
            words = [seat.cells[1].plain, *table.detail_words(str(pid), skip=("mark", "name"))]
            if DECIDES in seat.cells[1].plain:
                words.append(f"{DECIDES} decides: counts for quorum")
            line = " · ".join(words)
        if line != self._detail:
            self._detail = line
            self.query_one("#rc-detail", Static).update(lit(line))

    def _fill(self, seats: list[SeatView]) -> None:
        table = self.query_one("#rc-table", FitTable)
        shown = displayed(seats)
        live = {s.participant_id for s in seats}
        self.marked &= live
        table.set_rows(
            [
                (str(s.participant_id), (self._mark(s.participant_id), *cells))
                for s, cells in zip(seats, shown, strict=True)
            ]
        )

    def _mark(self, pid: int) -> Text:
        return Text("●" if pid in self.marked else "")

    async def _poll(self) -> None:
        # Times ("4m since alert") move on even when nothing is written: redraw every 5 s.
        self._ticks += 1
        if self._ticks % 5 == 0:
            self.reload()
        await super()._poll()

    # -- selection -----------------------------------------------------------------------------

    def current_participant(self) -> int | None:
        key = self.query_one("#rc-table", FitTable).cursor_key()
        return int(key) if key and key.isdigit() else None

    def _seat(self, participant_id: int) -> SeatView | None:
        if self.view is None:
            return None
        return self.view.by_participant.get(participant_id)

    def chosen(self) -> list[SeatView]:
        """The marked rows, or the row under the cursor when nothing is marked."""
        ids = sorted(self.marked) if self.marked else [self.current_participant()]
        return [s for s in (self._seat(i) for i in ids if i is not None) if s is not None]

    def action_mark(self) -> None:
        pid = self.current_participant()
        if pid is None:
            return
        table = self.query_one("#rc-table", FitTable)
        if pid in self.marked:
            self.marked.discard(pid)
        else:
            self.marked.add(pid)
        cells = table.full_cells(str(pid))
        if cells is not None:
            table.update_row(str(pid), (self._mark(pid), *cells[1:]))
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    # -- actions -------------------------------------------------------------------------------

    def _act(self, run: Callable[[IncidentService], str]) -> None:
        self.act(lambda: run(IncidentService(self.context)))

    @on(ActionDone)
    def _done(self, message: ActionDone) -> None:
        if message.failed:
            self.mim.problem(message.text)
            return
        self.mim.wake_dispatcher()
        self.marked.clear()
        self.notify(message.text, markup=False)
        self.reload()  # the marks go with the next load

    def _bulk(self, verb: str, method: str) -> None:
        seats = self.chosen()
        if not seats:
            self.notify("nobody selected", severity="warning")
            return
        refs = [s.person_ref for s in seats]
        code = self.incident_ref

        def run(service: IncidentService) -> str:
            done = getattr(service, method)(code, refs)
            return f"{verb}: {names_list(done)}"

        self._act(run)

    def action_joined(self) -> None:
        self._bulk("marked joined", "mark_joined")

    def action_unable(self) -> None:
        self._bulk("marked unable", "mark_unable")

    def action_release(self) -> None:
        ask_release(self)  # asks first, naming any party whose quorum it would drop

    def action_recall(self) -> None:
        if self.view is None:
            return
        if self.marked:
            seats = self.chosen()
        else:  # everyone on standby, longest first
            by_ref = {s.person_ref: s for s in self.view.seats}
            seats = [by_ref[ref] for ref in self.view.standby_refs if ref in by_ref]
        refs = [s.person_ref for s in seats]
        if not refs:
            self.notify("nobody is on standby to recall", severity="warning")
            return
        code = self.incident_ref
        count = len(refs)
        who = names_list([s.name for s in seats])

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._act(lambda s: f"recalled: {names_list(s.recall(code, refs))}")

        self.app.push_screen(
            ConfirmScreen(
                f"Recall {who} from standby?\n"
                f"{'They get' if count == 1 else 'Each gets'} a recall SMS now.",
                yes=f"Recall {count}",
            ),
            confirmed,
        )

    def _one(self) -> SeatView | None:
        pid = self.current_participant()
        seat = self._seat(pid) if pid is not None else None
        if seat is None:
            self.notify("no row under the cursor", severity="warning")
        return seat

    def action_escalate(self) -> None:
        seat = self._one()
        if seat is not None:
            ask_escalate(self, seat.person_ref)  # names the step and offers the other

    def action_log_call(self) -> None:
        from mim_console.screens.call_log import CallLogResult, CallLogScreen

        seat = self._one()
        if seat is None:
            return
        code, ref, name = self.incident_ref, seat.person_ref, seat.name

        def logged(result: CallLogResult | None) -> None:
            if result is not None:
                self._act(
                    lambda s: (
                        f"{name}: {result.outcome} -> "
                        + s.log_call(code, ref, result.outcome, result.note)
                    )
                )

        self.app.push_screen(CallLogScreen(code, name, seat.cells[-1].plain), logged)

    def action_call_sheet(self) -> None:
        from mim_console.screens.call_log import offer_call_sheet

        offer_call_sheet(self, self.incident_ref)

    def action_send_by_modem(self) -> None:
        from mim_console.screens.modem_handover import send_by_modem

        send_by_modem(self, self.incident_ref)

    def action_spokesperson(self) -> None:
        seat = self._one()
        if seat is None:
            return
        code, ref = self.incident_ref, seat.person_ref
        self._act(lambda s: s.set_spokesperson(code, ref, replace_current=True))

    def action_note(self, kind: str) -> None:
        code = self.incident_ref

        def saved(result: NoteResult | None) -> None:
            if result is None:
                return

            def run(s: IncidentService) -> str:
                if result.kind == "status_report":
                    s.status_report(code, result.text, result.next_in_min)
                    return "status report added"
                if result.kind == "directive":
                    s.directive(code, result.text)
                    return "directive added"
                s.note(code, result.text)
                return "note added"

            self._act(run)

        self.app.push_screen(NoteScreen(kind, code), saved)

    def action_close_incident(self) -> None:
        from mim_console.screens.close import CloseForm, CloseScreen

        if self.view is None:
            return
        code = self.incident_ref
        active = [s for s in self.view.seats if s.state is not State.STOOD_DOWN]

        def closed(form: CloseForm | None) -> None:
            if form is None:
                return

            def close(s: IncidentService) -> str:
                done = s.close(
                    code,
                    problem_ref=form.problem_ref,
                    owner=form.owner,
                    summary=form.summary,
                    all_clear=form.all_clear,
                )
                case = f"; problem case {done.problem_ref}" if done.problem_ref else ""
                return "; ".join([f"{done.code} closed{case}", *s.warnings])  # e.g. no backup

            self._act(close)

        self.app.push_screen(CloseScreen(code, len(active)), closed)

    def action_comms(self) -> None:
        from mim_console.screens.comms import CommsScreen

        self.mim.go(CommsScreen(self.incident_ref), stack=True)

    def action_timeline(self) -> None:
        from mim_console.screens.timeline import TimelineScreen

        self.mim.go(TimelineScreen(self.incident_ref), stack=True)

    def action_report(self) -> None:
        from mim_console.screens.report import ReportScreen

        self.mim.go(ReportScreen(self.incident_ref), stack=True)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_replies(self) -> None:
        from mim_console.screens.replies import RepliesScreen

        self.mim.go(RepliesScreen(), stack=True)

    def action_outbox(self) -> None:
        self.mim.go(OutboxScreen(self.incident_ref), stack=True)
