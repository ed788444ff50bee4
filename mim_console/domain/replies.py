"""Reading an SMS reply: joining or unable, optionally naming an incident by its reply code.

Pure: no clock, no database. People answer in a hurry on a phone keyboard, so case, spacing and
punctuation are ignored (``Yes!``, `` 1 k7.``, ``K7,1``) while anything doubtful is reported as
unrecognised rather than guessed: a wrong "joining" misleads the duty manager more than a help SMS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mim_console.domain.templates import EXERCISE_PREFIX
from mim_console.domain.verification import OPT_OUT as OPT_OUT_WORDS


@dataclass(frozen=True)
class InboundReply:
    """A message someone sent us, as any route delivers it (Twilio SMS today, a GSM modem
    next): what the dispatcher hands to the reply receiver."""

    sender: str  # the number it came from (E.164)
    body: str
    provider_id: str  # unique per message at its provider: replies are applied once by it
    received_at: datetime
    route: str = "twilio"  # the route it came by ("twilio"; the GSM modem's will be "modem")


class Meaning(StrEnum):
    JOINING = "joining"
    UNABLE = "unable"
    UNRECOGNISED = "unrecognised"


_WORDS = {
    "1": Meaning.JOINING,
    "yes": Meaning.JOINING,
    "y": Meaning.JOINING,
    "2": Meaning.UNABLE,
    "no": Meaning.UNABLE,
    "n": Meaning.UNABLE,
}
# A reply code: a letter then letters/digits, at most 6 characters ("K7", "AB12").
_CODE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
# "1K7" / "K71"-style run-together answers are not guessed, except digit-then-code ("1K7").
_GLUED = re.compile(r"^([12])([a-z][a-z0-9]{0,5})$")
_SEPARATORS = re.compile(r"[^\w]+|_")


@dataclass(frozen=True)
class ParsedReply:
    meaning: Meaning
    code: str | None = None  # upper-case reply code, if the reply named one

    @property
    def recognised(self) -> bool:
        return self.meaning is not Meaning.UNRECOGNISED


UNRECOGNISED = ParsedReply(Meaning.UNRECOGNISED)


def parse_reply(body: str) -> ParsedReply:
    """``1``/``yes``/``y`` = joining, ``2``/``no``/``n`` = unable, plus at most one reply code."""
    tokens = [t for t in _SEPARATORS.split(body.casefold()) if t]
    if len(tokens) == 1 and (glued := _GLUED.match(tokens[0])):
        tokens = [glued.group(1), glued.group(2)]
    meanings = {_WORDS[t] for t in tokens if t in _WORDS}
    others = [t for t in tokens if t not in _WORDS]
    if len(meanings) != 1 or len(others) > 1 or len(tokens) > 3:
        return UNRECOGNISED
    if others and not _CODE.match(others[0]):
        return UNRECOGNISED
    return ParsedReply(meanings.pop(), others[0].upper() if others else None)


class Resolution(StrEnum):
    BY_CODE = "by_code"  # the reply named an active incident's code
    ONLY_ALERTED = "only_alerted"  # no code, and the person was alerted for one active incident
    AMBIGUOUS = "ambiguous"  # no code, alerted for several active incidents
    UNKNOWN_CODE = "unknown_code"  # a code that names no active incident
    NOT_ALERTED = "not_alerted"  # no code, and not alerted for any active incident


@dataclass(frozen=True)
class IncidentChoice:
    resolution: Resolution
    incident_id: int | None = None

    @property
    def needs_help(self) -> bool:
        """Whether the sender should get the one short help SMS."""
        return self.resolution in (Resolution.AMBIGUOUS, Resolution.UNKNOWN_CODE)


def choose_incident(
    reply: ParsedReply,
    active: Sequence[tuple[int, str]],
    alerted_for: Iterable[int],
) -> IncidentChoice:
    """Which incident a recognised reply is about.

    ``active``: (incident id, reply code) of the active incidents; ``alerted_for``: incident ids
    the person was alerted for before the reply arrived. The code wins if given; otherwise the
    only active incident the person was alerted for; otherwise the reply is ambiguous.
    """
    if reply.code is not None:
        for incident_id, code in active:
            if code.casefold() == reply.code.casefold():
                return IncidentChoice(Resolution.BY_CODE, incident_id)
        return IncidentChoice(Resolution.UNKNOWN_CODE)
    active_ids = {incident_id for incident_id, _ in active}
    candidates = sorted(set(alerted_for) & active_ids)
    if len(candidates) == 1:
        return IncidentChoice(Resolution.ONLY_ALERTED, candidates[0])
    if not candidates:
        return IncidentChoice(Resolution.NOT_ALERTED)
    return IncidentChoice(Resolution.AMBIGUOUS)


def help_text(codes: Sequence[str], lead: str = "") -> str:
    """The one short help SMS: how to answer, and the codes when several incidents are open.

    ``lead``: the organisation's own first sentence (the ``reply_help`` setting), if any."""
    text = lead.strip() or "Reply 1 to join or 2 if unable."
    if len(codes) > 1:
        shown = ", ".join(sorted(codes)[:4])
        text += f" Several incidents are open ({shown}): add the code, e.g. 1 {sorted(codes)[0]}."
    return text


# What a stored message meant when it was no incident answer (``inbound.meaning``).
OWN_MESSAGE = "own_message"  # sent from our own number (a provider echo)
UNKNOWN_NUMBER = "unknown_number"  # from nobody in the directory: logged, never acted on
VERIFIED = "verified"  # answered a contact check (``domain/verification.py``)
# Twilio's own keywords: it answers them itself, and after an opt-out it refuses every SMS to
# the number (21610) until they text START. Never answered by us (no help SMS), never read as
# an answer or as a contact check's reply.
OPT_OUT = "opt_out"  # STOP and its kin
OPT_IN = "opt_in"  # START, UNSTOP
PROVIDER_HELP = "provider_help"  # HELP, INFO
_KEYWORDS = {
    **dict.fromkeys(sorted(OPT_OUT_WORDS), OPT_OUT),
    **dict.fromkeys(("start", "unstop"), OPT_IN),
    **dict.fromkeys(("help", "info"), PROVIDER_HELP),
}


def keyword_meaning(body: str) -> str | None:
    """``OPT_OUT``, ``OPT_IN`` or ``PROVIDER_HELP`` when the whole message is one of Twilio's
    keywords (any case, punctuation and spacing around it ignored: ``Stop.``, `` STOP ``)."""
    tokens = [t for t in _SEPARATORS.split(body.casefold()) if t]
    return _KEYWORDS.get(tokens[0]) if len(tokens) == 1 else None


def _mentions_keyword(body: str) -> bool:
    """A keyword among other words ("stop all", "STOP texting me"): Twilio may read it as one,
    so no help SMS either (the words still reach the duty manager, unplaced)."""
    return any(t in _KEYWORDS for t in _SEPARATORS.split(body.casefold()))


@dataclass(frozen=True)
class Reading:
    """What one inbound message means: from whom, about which incident, and whether the sender
    is due the short help SMS (the reply codes it lists, or None for no help SMS)."""

    meaning: str  # a Meaning, a Resolution, or one of the constants above
    person_id: int | None = None
    incident_id: int | None = None
    help_codes: tuple[str, ...] | None = None

    @property
    def answers(self) -> bool:
        """A joining/unable answer about one incident: it moves the roll call."""
        return self.incident_id is not None and self.meaning in (Meaning.JOINING, Meaning.UNABLE)


def alerted_before(received_at: datetime) -> datetime:
    """Alerts created before this moment count as sent before the reply. The provider stamps
    replies to the whole second while alerts carry microseconds: a "1" sent within the alert's
    own second is stamped before it. One second of slack."""
    return received_at.replace(microsecond=0) + timedelta(seconds=1)


def read_reply(
    body: str,
    person_id: int,
    active: Sequence[tuple[int, str]],
    alerted_for: Iterable[int],
) -> Reading:
    """The reading of a reply from a known person who did not answer a contact check.

    ``active``: (incident id, reply code) of the active incidents; ``alerted_for``: incidents
    the person was alerted for before the reply. Help goes only to someone alerted for an
    active incident whose reply could not be placed (never to a stranger, never twice: the
    caller limits it per number).
    """
    keyword = keyword_meaning(body)
    if keyword is not None:  # Twilio answers these itself: no help SMS, ever
        return Reading(keyword, person_id)
    alerted = set(alerted_for)
    codes = tuple(code for incident_id, code in active if incident_id in alerted) or tuple(
        code for _, code in active
    )
    quiet = _mentions_keyword(body)
    on_incident = bool(alerted & {i for i, _ in active}) and not quiet
    parsed = parse_reply(body)
    if not parsed.recognised:
        return Reading(Meaning.UNRECOGNISED.value, person_id, None, codes if on_incident else None)
    choice = choose_incident(parsed, active, alerted)
    if choice.incident_id is not None:
        return Reading(parsed.meaning.value, person_id, choice.incident_id)
    helped = choice.needs_help and not quiet
    return Reading(choice.resolution.value, person_id, None, codes if helped else None)


def help_body(reply_codes: Sequence[str], exercise_flags: Sequence[bool], lead: str = "") -> str:
    """The help SMS, marked ``EXERCISE`` when every incident it names is a drill (never when a
    real one is among them: nobody may take a real incident for a drill). ``lead``: the
    organisation's first sentence (the ``reply_help`` setting)."""
    text = help_text(reply_codes, lead)
    if reply_codes and exercise_flags and all(exercise_flags):
        return f"{EXERCISE_PREFIX} {text}"
    return text


def meaning_of_digit(digit: str) -> str | None:
    """A keypress during a voice alert: ``joined`` for 1, ``unable`` for 2, None otherwise."""
    return {"1": "joined", "2": "unable"}.get(digit.strip())
