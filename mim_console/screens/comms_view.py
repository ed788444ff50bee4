"""The Communications screen's view model: one incident's versions as rows, the due line.

Pure (no widgets but literal cells): ``load_comms_view`` runs in the screen's worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text

from mim_console.domain import sms
from mim_console.domain.comms import (
    ChatWebhook,
    Draft,
    DraftState,
    Publication,
    StakeholderList,
    kind_label,
)
from mim_console.domain.incident import Incident, IncidentStatus
from mim_console.errors import UserError
from mim_console.screens.comms_publish import PublishChoice
from mim_console.services.comms import CommsService
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from mim_console.services.timezone import shown
from mim_console.widgets.fittable import Col
from mim_console.widgets.literal import lit

SHORT_KIND = {"stakeholder_update": "update", "press_release": "press"}
# On the layout rule (widgets/fittable.py): who approved and where it went shorten with "…"
# (the line under the table says them whole); 76 cells at their widths, so whole at 80.
COLS = (
    Col("✓", "✓", 1),
    Col("kind", "kind", 6),
    Col("v", "v", 3),
    Col("state", "state", 11),
    Col("approved", "approved", 21, min_width=10, grow=True, detail="approved by {}"),
    Col("published", "published", 22, min_width=10, grow=True, detail="published: {}"),
)


def hm(moment: datetime | None) -> str:
    return shown(moment, "%H:%M")


def minutes_words(minutes: float) -> str:
    whole = int(minutes)
    if whole < 1:
        return "<1m"
    if whole < 60:
        return f"{whole}m"
    return f"{whole // 60}h{whole % 60:02d}m"


def due_words(inc: Incident, now: datetime) -> tuple[str, bool]:
    """The update rhythm in one line, and whether an update is due now."""
    if inc.status is IncidentStatus.CLOSED:
        return "Closed: no further stakeholder updates are due.", False
    due = inc.next_update_at
    if due is None:
        return "No stakeholder update promised yet · s sets when the next one is due", False
    if due <= now:
        late = minutes_words((now - due).total_seconds() / 60)
        return (
            f"⚠ STAKEHOLDER UPDATE DUE since {hm(due)} ({late} late) · "
            "u drafts one, s sets the next",
            True,
        )
    left = minutes_words((due - now).total_seconds() / 60)
    return f"Next stakeholder update due {hm(due)} (in {left}) · s changes it", False


def state_words(draft: Draft) -> str:
    return {
        DraftState.DRAFT: "· draft",
        DraftState.APPROVED: "✔ approved",
        DraftState.PUBLISHED: "➚ published",
    }[draft.state]


def published_words(publications: list[Publication]) -> str:
    """`sms Board 08:10 +1`: the first publication, and how many more there were."""
    if not publications:
        return ""
    first = publications[0]
    where = f"{first.channel} {first.target}".strip()
    more = f" +{len(publications) - 1}" if len(publications) > 1 else ""
    return f"{where} {hm(first.at)}{more}"


@dataclass(frozen=True)
class CommsView:
    incident: Incident
    header: str
    due_line: str
    due: bool
    drafts: list[Draft] = field(default_factory=list)  # newest first
    published: dict[int, list[Publication]] = field(default_factory=dict)  # by draft id
    lists: list[StakeholderList] = field(default_factory=list)
    hooks: list[ChatWebhook] = field(default_factory=list)

    def draft(self, draft_id: int) -> Draft | None:
        return next((d for d in self.drafts if d.id == draft_id), None)

    def previous(self, draft: Draft) -> Draft | None:
        """The version before ``draft`` of the same kind."""
        older = [d for d in self.drafts if d.kind == draft.kind and d.version < draft.version]
        return max(older, key=lambda d: d.version) if older else None

    def compared(self, draft: Draft, marked: int | None) -> tuple[Draft, Draft] | str:
        """The (older, newer) pair a diff shows: ``draft`` against the marked version, else
        against the one before it; or why there is nothing to compare."""
        other: Draft | None
        if marked is not None and marked != draft.id:
            other = self.draft(marked)
            if other is not None and other.kind != draft.kind:
                return "the marked version is a different kind of text: mark one of the same kind"
        else:
            other = self.previous(draft)
        if other is None:
            return (
                f"{kind_label(draft.kind)} v{draft.version} is the first version: nothing to "
                "compare (space marks another version)"
            )
        old, new = sorted((other, draft), key=lambda d: d.version)
        return old, new


def load_comms_view(context: Context, ref: str) -> CommsView:
    """Everything the screen shows (runs in a worker thread)."""
    service = CommsService(context)
    inc = IncidentService(context).incident(ref)
    drafts = sorted(service.versions(inc.code), key=lambda d: d.id, reverse=True)
    published: dict[int, list[Publication]] = {}
    for pub in service.publications(inc.code):
        published.setdefault(pub.draft_id, []).append(pub)
    due_line, due = due_words(inc, context.clock())
    flags = " · EXERCISE" if inc.exercise else ""
    status = "" if inc.status is IncidentStatus.ACTIVE else f" · {inc.status.value.upper()}"
    header = f"Communications · {inc.code} [{inc.severity}] {inc.title}{flags}{status}"
    return CommsView(
        incident=inc,
        header=header,
        due_line=due_line,
        due=due,
        drafts=drafts,
        published=published,
        lists=service.lists(),
        hooks=service.webhooks(),
    )


def row_cells(view: CommsView, draft: Draft, marked: bool) -> tuple[Text, ...]:
    approved = f"{draft.approved_by_name} {hm(draft.approved_at)}" if draft.approved_at else ""
    return (
        Text("●" if marked else ""),
        lit(SHORT_KIND.get(draft.kind, draft.kind)),
        lit(f"v{draft.version}"),
        lit(state_words(draft), "bold green" if draft.state is DraftState.PUBLISHED else ""),
        lit(approved),
        lit(published_words(view.published.get(draft.id, []))),
    )


def publish_question(
    draft: Draft,
    choice: PublishChoice,
    earlier: Sequence[Publication],
    hooks: Sequence[ChatWebhook],
) -> tuple[str, str, list[Publication]]:
    """What publishing asks first, its yes button, and the earlier publications to the same
    place (then the service is told to send once more: ``again=True``)."""
    what = f"{kind_label(draft.kind)} v{draft.version}"
    if choice.channel == "sms":
        people = f"{choice.count} {'person gets' if choice.count == 1 else 'people get'}"
        question = f"Publish {what} {choice.words}?\n{people} it by SMS now."
        cost = sms.analyse(draft.text)
        if cost.segments > 1:
            question += f" Each is {cost.segments} {cost.encoding.value} segments."
        yes = f"Send to {choice.count}"
    elif choice.channel == "chat":
        n = choice.count
        question = (
            f"Publish {what} {choice.words}?\nIt is posted to {n} chat "
            f"{'channel' if n == 1 else 'channels'}; nobody gets an SMS."
        )
        yes = "Post"
    else:
        question = f"Record {what} {choice.words}?\nNothing is sent."
        yes = "Record"
    target = choice.target or ""
    # The service's own rule: the same place twice only when asked for (again=True).
    if choice.channel == "chat" and choice.target is None:
        target = ", ".join(h.name for h in hooks)
    repeat = [p for p in earlier if p.channel == choice.channel and p.target == target]
    if repeat:
        question += (
            f"\n⚠ It was already published there at {hm(repeat[0].at)} (by "
            f"{repeat[0].by}): this sends it once more."
        )
    return question, yes, repeat


def not_empty(kind: str) -> Callable[[str], None]:
    """The editor's check before saving a version."""

    def check(text: str) -> None:
        if not text.strip():
            raise UserError(f"the {kind_label(kind)} text is empty")

    return check


def empty_row() -> tuple[Text, ...]:
    """The table's one row while there is no version yet: which keys make one."""
    return (
        Text(""),
        lit("none"),
        lit(""),
        lit(""),
        lit("u: stakeholder update"),
        lit("w: press release"),
    )


def version_title(draft: Draft) -> str:
    who = f" by {draft.created_by}" if draft.created_by else ""
    return f"{kind_label(draft.kind)} v{draft.version}, saved {hm(draft.created_at)}{who}"


def already_words(draft: Draft) -> str:
    """Why a version that is not a draft cannot be approved."""
    by = f" by {draft.approved_by_name}" if draft.approved_by_name else ""
    return f"v{draft.version} is already {draft.state.value}{by}"
