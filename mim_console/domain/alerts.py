"""What an outbox row is: its channel, its purpose, and the statuses it goes through.

Pure: the outbox repository (``data/outbox.py``) stores and returns these; the dispatcher picks
the sender for a row by its ``Channel`` (``notifiers/senders.py``), never by its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    """How an alert travels. A new route (bridge call, GSM modem) is a new member plus a sender
    registered for it; the schema's CHECK on ``alert.channel`` lists the stored ones."""

    SMS = "sms"
    VOICE = "voice"
    CHAT = "chat"
    BRIDGE = "bridge"  # a call into the incident's Twilio conference (domain/bridge.py)


class Purpose(StrEnum):
    """Why an alert was queued (the timeline, reports and the close path read it)."""

    ALERT = "alert"
    ESCALATION = "escalation"
    RECALL = "recall"
    STANDBY = "standby"
    STAND_DOWN = "stand_down"
    TEST = "test"  # a contact check
    STAKEHOLDER = "stakeholder"
    HELP = "help"  # the one short help SMS after a reply that could not be read


# Alerts that page someone to the incident (never help replies, stakeholder texts or checks):
# what a refusal or a cancel of means that person's escalation must change.
PAGES = frozenset({Purpose.ALERT, Purpose.ESCALATION, Purpose.RECALL})
PAGES_SQL = "a.purpose IN (" + ", ".join(f"'{p.value}'" for p in sorted(PAGES)) + ")"


# Provider statuses after which nothing changes any more.
FINAL_STATUSES = frozenset(
    {"delivered", "undelivered", "failed", "completed", "busy", "no-answer", "canceled", "read"}
)
# Provider statuses that only mean "the provider has it": shown as ours, ``accepted``
# (the provider's "sending" would otherwise read as our claim state).
_ACCEPTED_ALIASES = frozenset({"queued", "accepted", "sending", "initiated", "scheduled"})
STATUS_GROUPS = ("queued", "sending", "accepted", "failed")


@dataclass(frozen=True)
class AlertDraft:
    to_number: str  # E.164 number, or for chat the webhook's address (``chat:<name>``)
    channel: Channel
    purpose: Purpose
    body: str  # SMS text, TwiML, or chat payload
    incident_id: int | None = None
    person_id: int | None = None


@dataclass(frozen=True)
class Alert:
    id: int
    to_number: str
    channel: Channel
    purpose: Purpose
    body: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    incident_id: int | None = None
    person_id: int | None = None
    provider_sid: str | None = None
    claimed_at: datetime | None = None
    claimed_by: str | None = None
    uncertain: bool = False
    sent_at: datetime | None = None
    final_at: datetime | None = None
    last_error_code: int | None = None
    last_error: str | None = None
    route: str | None = None  # twilio | modem | webhook; None until a route took it
    incident_code: str | None = None
    person_name: str | None = None

    @property
    def group(self) -> str:
        """queued | sending | accepted | failed: the four counts the UI shows."""
        return status_group(self.status)

    @property
    def in_flight(self) -> bool:
        return self.provider_sid is not None and self.status not in FINAL_STATUSES


def status_group(status: str) -> str:
    if status == "cancelled":  # by the duty manager, never sent: counted in no group
        return "cancelled"
    if status in ("queued", "sending"):
        return status
    if status in ("failed", "undelivered", "busy", "no-answer", "canceled"):
        return "failed"
    return "accepted"


def provider_status(status: str) -> str:
    """How a provider status is stored on the alert row."""
    return "accepted" if status in _ACCEPTED_ALIASES else status
