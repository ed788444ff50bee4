"""Message templates: the defaults, their placeholders, validation and rendering.

Pure: no I/O. The organisation's own versions live in the database (``data/comms.py``); this
module knows the defaults, which placeholders each template may use, and how to fill them.

Syntax: ``{name}`` is a placeholder, ``{{`` and ``}}`` are literal braces. Nothing else inside
braces is allowed (no format specs, no attributes), so a typo is an error when the template is
saved, not a garbled SMS at 3 a.m.

Rendering rules:

* Exercise incidents get ``EXERCISE`` in front of every message, whatever the template says.
* SMS templates are one line: runs of white space collapse to one space, and typographic
  characters (curly quotes, dashes, ellipsis, odd spaces) become their GSM-7 equivalents so one
  pasted quote does not turn a 1-segment alert into a 3-segment one.
* Templates meant for one SMS (alert, recall, standby, stand-down, test, reply help): if the
  rendered text needs more than one segment, the title is shortened until it fits — cut at the
  last word boundary that fits (or mid-word when the first word alone is too long), trailing
  spaces and punctuation dropped, no ellipsis (``…`` would force UCS-2, ``...`` costs three
  characters). Only the title is ever shortened: the code, reply code and bridge are what the
  recipient acts on. The title keeps at least ``MIN_TITLE`` (24) characters; if even that does
  not fit (a UCS-2 text has only 70), the message goes whole in more than one segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mim_console.domain import sms
from mim_console.domain.text import control_characters, outgoing
from mim_console.errors import OutOfRange, UserError

EXERCISE_PREFIX = "EXERCISE"
MIN_TITLE = 24  # characters of title an alert keeps, even if that costs a second segment

#: The bounds (docs/cli.md, "Templates"): a rendered SMS never needs more than
#: ``MAX_SMS_SEGMENTS``; a template's own text is at most ``MAX_TEMPLATE_CHARS`` of its
#: channel (a 1.6 MB alert template made `declare` take a minute and queue 1.8-million-
#: character SMS); the voice script then always fits Twilio's 4,000-character TwiML.
MAX_SMS_SEGMENTS = 10
MAX_TEMPLATE_CHARS = {"sms": 1_000, "voice": 1_500, "text": 10_000}

INCIDENT = frozenset(
    {
        "incident_code",
        "reply_code",
        "title",
        "severity",
        "bridge",
        "next_update",
        "reply_help",
        "status",
        "organisation",
    }
)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    label: str
    channel: str  # sms | voice | text (drafts: stakeholder update, press release)
    placeholders: frozenset[str]
    default: str
    one_segment: bool = False  # kept to a single SMS where possible

    @property
    def sms(self) -> bool:
        return self.channel == "sms"


_SPECS = (
    TemplateSpec(
        "alert_sms",
        "Alert SMS",
        "sms",
        INCIDENT | {"person_name"},
        "{incident_code} {reply_code} {severity}: {title}. {bridge} {reply_help}",
        one_segment=True,
    ),
    TemplateSpec(
        "voice",
        "Voice call script",
        "voice",
        INCIDENT | {"person_name"},
        "This is {organisation} major incident management. Major incident {incident_code}, "
        "severity {severity}: {title}. {bridge}",
    ),
    TemplateSpec(
        "recall",
        "Recall SMS",
        "sms",
        INCIDENT | {"person_name"},
        "{incident_code} {reply_code}: you are recalled to the bridge. {bridge} {reply_help}",
        one_segment=True,
    ),
    TemplateSpec(
        "standby",
        "Standby notice SMS",
        "sms",
        INCIDENT | {"person_name"},
        "{incident_code}: you are released to standby, thank you. Stay reachable; "
        "we may recall you.",
        one_segment=True,
    ),
    TemplateSpec(
        "stand_down",
        "Stand-down / all-clear SMS",
        "sms",
        INCIDENT | {"person_name"},
        "{incident_code}: all clear. {title}: service restored, you are stood down. Thank you.",
        one_segment=True,
    ),
    TemplateSpec(
        "stakeholder_update",
        "Stakeholder update",
        "text",
        INCIDENT | {"update_time", "spokesperson"},
        "Incident update {incident_code} ({severity}): {title}. Status: {status}. "
        "Next update: {next_update}.",
    ),
    TemplateSpec(
        "press_release",
        "Press release",
        "text",
        INCIDENT | {"update_time", "spokesperson"},
        "{title}\n"
        "\n"
        "We are aware of a disruption: {title}. Our teams are working to restore normal "
        "service. Current status: {status}.\n"
        "\n"
        "The next update will follow by {next_update}.\n"
        "\n"
        "Media contact: {spokesperson}\n"
        "{organisation}\n",
    ),
    TemplateSpec(
        "test",
        "Contact verification SMS",
        "sms",
        frozenset({"person_name", "organisation", "reply_help"}),
        "{organisation} contact check for {person_name}: this number is on the major incident "
        "call list. {reply_help}",
        one_segment=True,
    ),
    TemplateSpec(
        "reply_help",
        "Reply help",
        "sms",
        frozenset({"incident_code", "reply_code", "organisation"}),
        "Reply 1 {reply_code} join, 2 {reply_code} unable",
        one_segment=True,
    ),
)

SPECS: dict[str, TemplateSpec] = {spec.name: spec for spec in _SPECS}
NAMES = tuple(SPECS)


def spec(name: str) -> TemplateSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UserError(
            f"unknown template {name!r}; the templates are: {', '.join(NAMES)}"
        ) from None


_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


@dataclass(frozen=True)
class _Piece:
    literal: str
    field: str | None  # placeholder after the literal, if any


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def _parse(name: str, text: str) -> list[_Piece]:
    """Split a template into literal text and placeholders, refusing anything malformed."""
    pieces: list[_Piece] = []
    buffer: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                buffer.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            newline = text.find("\n", i + 1)
            inner_open = text.find("{", i + 1)
            if end == -1 or (newline != -1 and newline < end) or (-1 < inner_open < end):
                raise UserError(
                    f"template {name}, {_where(text, i)}: '{{' is never closed; "
                    "write {{ for a literal brace"
                )
            field = text[i + 1 : end]
            if not _NAME.match(field):
                raise UserError(
                    f"template {name}, {_where(text, i)}: {{{field}}} is not a placeholder; "
                    "use a plain name such as {title}, or {{ and }} for literal braces"
                )
            pieces.append(_Piece("".join(buffer), field))
            buffer = []
            i = end + 1
            continue
        if ch == "}":
            if text.startswith("}}", i):
                buffer.append("}")
                i += 2
                continue
            raise UserError(
                f"template {name}, {_where(text, i)}: a '}}' without its '{{'; "
                "write }} for a literal brace"
            )
        buffer.append(ch)
        i += 1
    pieces.append(_Piece("".join(buffer), None))
    return pieces


def placeholders_in(name: str, text: str) -> list[str]:
    """The placeholders a template text uses, in order of first use (validates the syntax)."""
    seen: list[str] = []
    for piece in _parse(name, text):
        if piece.field and piece.field not in seen:
            seen.append(piece.field)
    return seen


def validate(name: str, text: str) -> None:
    """Refuse a template text the console could not render as meant; the message says where."""
    template = spec(name)
    if not text.strip():
        raise UserError(f"template {name} is empty")
    most = MAX_TEMPLATE_CHARS[template.channel]
    if len(text) > most:
        raise OutOfRange(
            f"template {name} is {len(text):,} characters: at most {most:,} "
            f"(a {template.channel} template)"
        )
    found = control_characters(text)
    if found:
        index, code = found[0]
        raise UserError(
            f"template {name}, {_where(text, index)}: control character {code} is not allowed "
            f"in a template ({len(found)} found); it would go into every message"
        )
    for piece in _parse(name, text):
        if piece.field and piece.field not in template.placeholders:
            at = _where(text, _field_offset(text, piece.field))
            allowed = ", ".join("{" + p + "}" for p in sorted(template.placeholders))
            raise UserError(
                f"template {name}, {at}: unknown placeholder {{{piece.field}}}; "
                f"{name} may use {allowed}"
            )


def _field_offset(text: str, field: str) -> int:
    """Where ``{field}`` first appears as a placeholder (not inside ``{{…}}``)."""
    for match in re.finditer(r"\{+" + re.escape(field) + r"\}", text):
        braces = len(match.group()) - len(field) - 1
        if braces % 2 == 1:
            return match.start() + braces - 1
    return 0


def _fill(pieces: list[_Piece], values: Mapping[str, object]) -> str:
    out = []
    for piece in pieces:
        out.append(piece.literal)
        if piece.field:
            value = values.get(piece.field)
            out.append("" if value is None else str(value))
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(title: str, budget: int) -> str:
    """The title cut to at most ``budget`` characters at a word boundary, no ellipsis."""
    if budget <= 0:
        return ""
    if len(title) <= budget:
        return title
    cut = title[: budget + 1]
    space = cut.rfind(" ")
    shortened = cut[:space] if space > 0 else title[:budget]
    return shortened.rstrip(" .,;:-")


def render(
    name: str,
    text: str | None,
    values: Mapping[str, object],
    *,
    exercise: bool | None = None,
) -> str:
    """Fill a template (``text`` None = the default) with ``values``.

    Missing or None values render as nothing. ``exercise`` (or a truthy ``values["exercise"]``)
    puts ``EXERCISE`` in front. ``{reply_help}`` defaults to the reply-help template rendered
    with the same values.
    """
    template = spec(name)
    body = template.default if text is None else text
    validate(name, body)
    pieces = _parse(name, body)
    if exercise is None:
        exercise = bool(values.get("exercise"))
    filled_values: dict[str, object] = dict(values)
    if "reply_help" in template.placeholders and not values.get("reply_help"):
        if name != "reply_help" and values.get("reply_code"):
            filled_values["reply_help"] = render("reply_help", None, values, exercise=False)

    def finish(vals: Mapping[str, object]) -> str:
        out = outgoing(_fill(pieces, vals))  # an ESC in a stored name never reaches a phone
        if template.sms:
            out = _one_line(sms.to_gsm7(out, typography_only=True))
        elif template.channel == "voice":
            out = _one_line(out)
        else:
            # An empty value must not leave stray spaces at a line's end or the text's ends.
            out = "\n".join(line.rstrip() for line in out.strip().splitlines())
        if exercise and not out.startswith(EXERCISE_PREFIX):
            out = f"{EXERCISE_PREFIX} {out}" if template.sms else f"{EXERCISE_PREFIX}: {out}"
        return out

    rendered = finish(filled_values)
    title = str(filled_values.get("title") or "")
    if not (template.one_segment and title and sms.analyse(rendered).segments > 1):
        return within_segments(rendered) if template.sms else rendered
    # Shorten the title until the whole message fits one segment, but never below MIN_TITLE
    # characters: a readable title is worth more than the segment it would save.
    low, high = min(MIN_TITLE, len(title)), len(title)
    best: str | None = None
    while low <= high:
        mid = (low + high) // 2
        candidate = finish({**filled_values, "title": _shorten(title, mid)})
        if sms.analyse(candidate).segments <= 1:
            best = candidate
            low = mid + 1
        else:
            high = mid - 1
    return best if best is not None else within_segments(rendered)


def within_segments(text: str, most: int = MAX_SMS_SEGMENTS) -> str:
    """``text`` cut (at a word boundary where one is near) to at most ``most`` SMS segments:
    long values (a pasted title, a long bridge URL) never make an alert a 30-part SMS."""
    if sms.analyse(text).segments <= most:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits
        middle = (low + high + 1) // 2
        if sms.analyse(text[:middle]).segments <= most:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    space = cut.rfind(" ")
    return (cut[:space] if space > low - 20 else cut).rstrip()


def bridge_text(number: str, pin: str = "", url: str = "") -> str:
    """The ``{bridge}`` value: "Bridge +358 9 1234 5678 PIN 4242." (empty when unset)."""
    parts = []
    if number:
        parts.append(f"Bridge {number}" + (f" PIN {pin}" if pin else ""))
    if url:
        parts.append(url)
    return (" ".join(parts) + ".") if parts else ""
