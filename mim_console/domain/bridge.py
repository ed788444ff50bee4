"""The incident's own bridge: a Twilio conference per incident that bridge calls put people into.

Pure: the conference's name, the TwiML of a bridge call (built here as text, every value
XML-escaped), the call order (deciders first), and reading presence from what the conference
shows: Twilio lists only who is in it *now*, so joins and leaves come from comparing polls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from mim_console.domain.incident import Role

MAX_TWIML = 4000  # Twilio refuses a ``Twiml`` parameter longer than this
LANGUAGE = "en-GB"
EXERCISE_MARK = "EXERCISE"
CONNECTING = (
    "Connecting you to the bridge. Hang up if you cannot join, and reply 2 to the text message."
)
KEY_PROMPT = "If you cannot join, press 2 now. Otherwise stay on the line."
LABEL_PREFIX = "mim-"  # a participant's label on the bridge: mim-<participant id>
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._-]")


class BridgeState(StrEnum):
    """Where someone is with respect to the bridge (``None``: never on it)."""

    CONNECTED = "connected"
    LEFT = "left"
    VOICEMAIL = "voicemail"  # a machine answered the bridge call


def conference_name(code: str, exercise: bool = False) -> str:
    """The conference's FriendlyName: the incident code, ``EXERCISE-`` in front for a drill (a
    name that shows up on Twilio's console and bill, so nobody takes a drill for real)."""
    safe = _UNSAFE_NAME.sub("", code).strip() or "incident"
    return f"{EXERCISE_MARK}-{safe}" if exercise else safe


def participant_label(participant_id: int) -> str:
    return f"{LABEL_PREFIX}{participant_id}"


def participant_of_label(label: str | None) -> int | None:
    """The participant id a bridge label names, or None (someone who dialled in, say)."""
    if not label or not label.startswith(LABEL_PREFIX):
        return None
    rest = label[len(LABEL_PREFIX) :]
    return int(rest) if rest.isascii() and rest.isdigit() and len(rest) <= 18 else None


def speakable(text: str) -> str:
    """Text fit for speech and for XML 1.0: control characters out, whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _say(text: str) -> str:
    return f"<Say language={quoteattr(LANGUAGE)}>{escape(text)}</Say>"


def _dial(conference: str, label: str | None) -> str:
    dial_attributes = ' beep="true" startConferenceOnEnter="true" endConferenceOnExit="false"' + (
        f" participantLabel={quoteattr(label)}" if label else ""
    )
    return f"<Dial><Conference{dial_attributes}>{escape(conference)}</Conference></Dial>"


def keypress_action(callback_url: str, conference: str, label: str | None) -> str:
    """A bridge call's ``<Gather action>``: the callback URL naming the conference (and the
    label) to connect the caller to. After a keypress Twilio runs the action's answer, not
    the rest of the call's TwiML: without these the caller was hung up on."""
    query = urlencode({"bridge": conference, **({"label": label} if label else {})})
    return f"{callback_url}{'&' if '?' in callback_url else '?'}{query}"


def keyed_bridge(conference: str | None, label: str | None) -> tuple[str, str | None] | None:
    """The (conference, label) a keypress's URL names, or None when it names no bridge or
    one that ``conference_name`` and ``participant_label`` could not have made."""
    if not conference or len(conference) > 64 or _UNSAFE_NAME.search(conference):
        return None
    if label is not None and participant_of_label(label) is None:
        return None
    return conference, label


def bridge_keypress_twiml(digit: str, conference: str, label: str | None) -> str:
    """The answer to a key pressed during a bridge call: 2 -> recorded unable, goodbye; any
    other key -> into the conference, as if no key had been pressed."""
    if digit == "2":
        body = _say("Thank you. You are recorded as unable to join. Goodbye.")
    else:
        body = _say("Thank you. Connecting you to the bridge.") + _dial(conference, label)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def _render(spoken: str, conference: str, label: str | None, callback_url: str | None) -> str:
    dial = _dial(conference, label)
    if callback_url:
        action = keypress_action(callback_url, conference, label)
        intro = (
            f'<Gather numDigits="1" action={quoteattr(action)} method="POST" '
            f'timeout="2" actionOnEmptyResult="false">{_say(spoken)}'
            f'<Pause length="1"/>{_say(KEY_PROMPT)}</Gather>'
        )
    else:
        intro = f'{_say(spoken)}<Pause length="1"/>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response>{intro}{_say(CONNECTING)}{dial}</Response>"
    )


def bridge_twiml(
    text: str, conference: str, *, label: str | None = None, callback_url: str | None = None
) -> str:
    """A bridge call: the alert read once, "connecting you to the bridge…", then into the
    conference (``beep``, starts it on entry, does not end it on exit). With a public callback
    URL the alert is read inside a ``<Gather>``, so a keypress still counts. The alert text is
    shortened if the whole would not fit in Twilio's 4,000 characters."""
    spoken = speakable(text) or "A major incident needs you."
    twiml = _render(spoken, conference, label, callback_url)
    if len(twiml) <= MAX_TWIML:
        return twiml
    low, high = 0, len(spoken)
    while low < high:  # escaping makes the size non-linear in the text: search the cut
        middle = (low + high + 1) // 2
        if len(_render(spoken[:middle].rstrip() + "…", conference, label, callback_url)) <= (
            MAX_TWIML
        ):
            low = middle
        else:
            high = middle - 1
    return _render(spoken[:low].rstrip() + "…", conference, label, callback_url)


def voicemail_twiml(code: str, exercise: bool = False) -> str:
    """What a voicemail box hears instead of the bridge: short, no details of the incident."""
    what = f"{EXERCISE_MARK}. This is an exercise" if exercise else "This is a major incident"
    words = f"{what}, {code}. Please read the text message we sent you and reply to it."
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{_say(speakable(words))}</Response>'


def is_machine(answered_by: str | None) -> bool:
    return (answered_by or "") in MACHINE_ANSWERS


# --- call order -----------------------------------------------------------------------------


def call_rank(role: Role | str, decision_authority: bool, deputy: bool) -> int:
    """Bridge calls go out one a second: deciders first. 0 the duty manager, 1 party
    representatives with decision authority, 2 deputies and other representatives, 3
    specialists."""
    role = Role(role)
    if role is Role.DUTY_MANAGER:
        return 0
    if role is Role.MRT:
        return 1 if decision_authority and not deputy else 2
    return 3


def queue_eta(position: int, calls_per_second: float) -> timedelta:
    """How long until the call at ``position`` (0: next) is placed at this rate."""
    rate = calls_per_second if calls_per_second > 0 else 1.0
    return timedelta(seconds=position / rate)


# --- presence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConferenceInfo:
    sid: str
    name: str
    status: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class OnBridge:
    """One participant of the conference as Twilio lists it."""

    call_sid: str
    label: str | None
    muted: bool
    hold: bool
    status: str  # connected, or Twilio's other participant statuses
    since: datetime | None = None


@dataclass(frozen=True)
class CallInfo:
    """A call as Twilio shows it: whether it is up, and who answered."""

    sid: str
    status: str
    answered_by: str | None
    to_number: str
    from_number: str
    direction: str = "outbound-api"


@dataclass(frozen=True)
class Presence:
    """What the console last recorded of one incident participant on the bridge."""

    participant_id: int
    state: BridgeState | None
    since: datetime | None  # when the state began
    muted: bool = False
    call_sid: str | None = None
    connected_s: float = 0.0  # seconds on the bridge before the current stay
    joins: int = 0


@dataclass(frozen=True)
class Change:
    participant_id: int
    kind: str  # joined | left | muted | unmuted | voicemail
    call_sid: str | None
    at: datetime
    stay_s: float = 0.0  # for ``left``: how long that stay lasted


def compare(
    before: Mapping[int, Presence],
    seen: Mapping[int, OnBridge],
    now: datetime,
) -> list[Change]:
    """Joins, leaves and mute changes between what was recorded and the poll's participants
    (``seen``: participant id -> their entry, only those matched to someone)."""
    changes: list[Change] = []
    for pid, entry in seen.items():
        known = before.get(pid)
        if known is None or known.state is not BridgeState.CONNECTED:
            changes.append(Change(pid, "joined", entry.call_sid, now))
        elif known.muted != entry.muted:
            changes.append(Change(pid, "muted" if entry.muted else "unmuted", entry.call_sid, now))
    for pid, known in before.items():
        if known.state is BridgeState.CONNECTED and pid not in seen:
            stay = (now - known.since).total_seconds() if known.since else 0.0
            changes.append(Change(pid, "left", known.call_sid, now, max(0.0, stay)))
    return sorted(changes, key=lambda c: (c.participant_id, c.kind))


def counts_as_joined(presence: Presence, now: datetime, joined_after_s: float) -> bool:
    """On the bridge long enough to count as joined (a pocket answer does not)."""
    if presence.state is not BridgeState.CONNECTED or presence.since is None:
        return False
    return (now - presence.since).total_seconds() >= joined_after_s


def on_bridge_count(presences: Iterable[Presence]) -> int:
    return sum(1 for p in presences if p.state is BridgeState.CONNECTED)


def bridge_mark(presence: Presence | None, now: datetime, local: str = "") -> str:
    """The roll call's mark: ``● on bridge``, ``left 05:12`` (``local``: the leave time as
    the screen shows it), ``voicemail``, or nothing."""
    if presence is None or presence.state is None:
        return ""
    if presence.state is BridgeState.CONNECTED:
        return "● on bridge" + (" (muted)" if presence.muted else "")
    if presence.state is BridgeState.VOICEMAIL:
        return "voicemail"
    return f"left {local}".rstrip()


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attendance:
    """One person's time on the bridge, from the timeline's ``bridge`` events."""

    participant_id: int
    joins: int
    first_at: datetime | None
    last_left_at: datetime | None
    seconds: float
    on_now: bool


@dataclass(frozen=True)
class BridgeFigures:
    first_on_after: timedelta | None  # declaration -> the first person on the bridge
    party_quorum_after: Mapping[int, timedelta | None]  # a decider of each party on it
    quorum_after: timedelta | None  # every party with a decider on it at once
    attendance: Mapping[int, Attendance]


def _stays(
    changes: Iterable[tuple[datetime, int, str]], until: datetime
) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Participant id -> (joined, left or None while still on) from (when, who, change)."""
    stays: dict[int, list[tuple[datetime, datetime | None]]] = {}
    for at, pid, change in sorted(changes, key=lambda c: c[0]):
        mine = stays.setdefault(pid, [])
        if change == "joined" and (not mine or mine[-1][1] is not None):
            mine.append((at, None))
        elif change == "left" and mine and mine[-1][1] is None:
            mine[-1] = (mine[-1][0], at)
    return stays


def bridge_figures(
    declared_at: datetime,
    changes: Iterable[tuple[datetime, int, str]],
    deciders: Mapping[int, Iterable[int]],
    now: datetime,
) -> BridgeFigures:
    """Time to the first person on the bridge, to each party's decider on it and to a quorum
    on it (every party with a decider there at the same moment), and who attended how long.
    ``changes``: (when, participant id, joined | left); ``deciders``: party id -> the
    participant ids who decide for it."""
    stays = _stays(list(changes), now)
    attendance = {
        pid: Attendance(
            participant_id=pid,
            joins=len(spans),
            first_at=spans[0][0] if spans else None,
            last_left_at=next((e for _, e in reversed(spans) if e is not None), None),
            seconds=sum(((e or now) - s).total_seconds() for s, e in spans),
            on_now=bool(spans) and spans[-1][1] is None,
        )
        for pid, spans in stays.items()
    }
    firsts = [a.first_at for a in attendance.values() if a.first_at is not None]
    first = min(firsts) - declared_at if firsts else None
    party_after: dict[int, timedelta | None] = {}
    for party, members in sorted(deciders.items()):
        starts = [s for pid in members for s, _ in stays.get(pid, [])]
        party_after[party] = min(starts) - declared_at if starts else None
    return BridgeFigures(first, party_after, _quorum_on(stays, deciders, declared_at), attendance)


def _quorum_on(
    stays: Mapping[int, list[tuple[datetime, datetime | None]]],
    deciders: Mapping[int, Iterable[int]],
    declared_at: datetime,
) -> timedelta | None:
    """The first moment every party had a decider on the bridge together."""
    parties = {party: set(members) for party, members in deciders.items()}
    if not parties:
        return None
    moments = sorted({s for spans in stays.values() for s, _ in spans})
    for moment in moments:
        if all(
            any(
                s <= moment and (e is None or e > moment)
                for pid in members
                for s, e in stays.get(pid, [])
            )
            for members in parties.values()
        ):
            return moment - declared_at
    return None
