"""What the Outbox screen shows for one alert: short words, pure (the clock comes in)."""

from __future__ import annotations

from datetime import datetime

from mim_console.domain.alerts import Alert
from mim_console.domain.twilio_errors import describe
from mim_console.screens.rollcall_view import ago

WORDS = {
    "accepted": "sent",
    "completed": "answered",
    "no-answer": "no answer",
    "in-progress": "on call",
    "undelivered": "undeliv.",
    "read": "read",
}
PURPOSES = {"stand_down": "stand-down", "stakeholder": "update", "escalation": "escalate"}


def status_word(alert: Alert, now: datetime) -> str:
    """One short word: "waiting" for a queued alert not yet due (a retry later), "due" when it
    is; the provider's status otherwise."""
    if alert.status == "queued":
        return "waiting" if alert.next_attempt_at > now else "due"
    return WORDS.get(alert.status, alert.status)


def error_words(alert: Alert) -> str:
    """Twilio's error in plain words (and the code), or nothing."""
    if alert.last_error_code is None and not alert.last_error:
        return ""
    reason = describe(alert.last_error_code, alert.last_error or "").reason
    return f"{reason} ({alert.last_error_code})" if alert.last_error_code else reason


def can_retry(alert: Alert) -> bool:
    return alert.status == "queued" or (alert.group == "failed")


def can_cancel(alert: Alert) -> bool:
    return alert.provider_sid is None and alert.status in ("queued", "failed")


def cells(alert: Alert, now: datetime, *, with_incident: bool) -> tuple[str, ...]:
    """who, channel, purpose, status, age, tries, error (and the incident)."""
    row = (
        alert.person_name or alert.to_number,
        str(alert.channel),
        PURPOSES.get(str(alert.purpose), str(alert.purpose)),
        status_word(alert, now),
        ago(now, alert.created_at),
        str(alert.attempts),
        error_words(alert),
    )
    return (*row, alert.incident_code or "") if with_incident else row
