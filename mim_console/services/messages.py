"""The texts an incident sends, rendered from the organisation's templates.

The organisation's edited template (``template`` table) wins over the built-in default in
``domain/templates.py``; exercise incidents always start with ``EXERCISE`` (the renderer adds
it) so nobody mistakes a drill for the real thing. Voice alerts become TwiML through
``domain/voice.py``.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from mim_console.config import Settings
from mim_console.data import comms as comms_repo
from mim_console.domain import templates
from mim_console.domain.bridge import bridge_twiml, conference_name
from mim_console.domain.incident import Incident
from mim_console.domain.people import Person
from mim_console.domain.voice import alert_twiml
from mim_console.services.timezone import shown

# Our message kinds -> template names.
TEMPLATE = {
    "alert": "alert_sms",
    "standby": "standby",
    "recall": "recall",
    "stand_down": "stand_down",
    "voice": "voice",
}


def values(inc: Incident, person: Person, settings: Settings) -> dict[str, Any]:
    return {
        "incident_code": inc.code,
        "reply_code": inc.reply_code,
        "title": inc.title,
        "severity": inc.severity,
        "bridge": _bridge_words(settings),
        "person_name": person.name,
        "organisation": settings.organisation,
        "next_update": shown(inc.next_update_at, "%H:%M %Z").strip(),
        "status": inc.status.value,
        "exercise": inc.exercise,
    }


BRIDGE_CALL = "We are calling you onto the bridge."


def _bridge_words(settings: Settings) -> str:
    """The ``{bridge}`` value: the number to dial, or, on the Twilio bridge without one, that
    a call brings them onto it."""
    b = settings.bridge
    words = templates.bridge_text(b.number, b.pin, b.url)
    return words or (BRIDGE_CALL if b.twilio else "")


def _custom(db: Database | None, name: str) -> str | None:
    """The organisation's edited text for a template, if it saved one."""
    return None if db is None else comms_repo.custom_template(db, name)


def sms(
    kind: str, inc: Incident, person: Person, settings: Settings, db: Database | None = None
) -> str:
    name = TEMPLATE[kind]
    return templates.render(
        name, _custom(db, name), values(inc, person, settings), exercise=inc.exercise
    )


def voice(inc: Incident, person: Person, settings: Settings, db: Database | None = None) -> str:
    """TwiML: the alert read twice, then how to answer (only a reply counts as an answer)."""
    script = templates.render(
        "voice", _custom(db, "voice"), values(inc, person, settings), exercise=inc.exercise
    )
    return alert_twiml(script, settings.twilio.callback_url or None)


def bridge(
    inc: Incident,
    person: Person,
    settings: Settings,
    db: Database | None = None,
    label: str | None = None,
) -> str:
    """TwiML of a bridge call: the voice script read once, then into the incident's conference
    (a keypress still counts where a public callback URL exists)."""
    script = templates.render(
        "voice", _custom(db, "voice"), values(inc, person, settings), exercise=inc.exercise
    )
    script = script.replace(BRIDGE_CALL, "").strip()  # the call says it itself
    return bridge_twiml(
        script,
        conference_name(inc.code, inc.exercise),
        label=label,
        callback_url=settings.twilio.callback_url or None,
    )
