"""Communications the MRT owns: draft versions, their approval and publication, stakeholder lists.

Pure: no I/O, no clock. The rules live here so the console, the CLI and the tests agree on them:
a draft version is approved by an MRT member with decision authority, a published version never
changes (a correction is a new version), and chat payloads are built per webhook kind.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

KINDS = ("stakeholder_update", "press_release")
CHANNELS = ("sms", "chat", "manual")
CHAT_KINDS = ("slack", "teams", "mattermost")
CHAT_TO_PREFIX = "chat:"


def chat_address(name: str) -> str:
    """What a chat outbox row's ``to_number`` holds: the webhook's name, not its secret URL."""
    return f"{CHAT_TO_PREFIX}{name}"


class DraftState(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Draft:
    id: int
    incident_id: int
    kind: str
    version: int
    text: str
    created_at: datetime
    created_by: str = ""
    approved_by: int | None = None  # person id
    approved_by_name: str = ""
    approved_at: datetime | None = None
    published_at: datetime | None = None
    channel: str | None = None  # first channel it was published on
    published_by: str | None = None

    @property
    def state(self) -> DraftState:
        if self.published_at is not None:
            return DraftState.PUBLISHED
        if self.approved_at is not None:
            return DraftState.APPROVED
        return DraftState.DRAFT


@dataclass(frozen=True)
class Publication:
    id: int
    draft_id: int
    channel: str
    target: str
    at: datetime
    by: str
    queued: int


@dataclass(frozen=True)
class StakeholderMember:
    id: int
    list_id: int
    number: str  # E.164: the person's mobile, or the plain number
    label: str  # the person's name or the label given to a plain number
    person_id: int | None = None


@dataclass(frozen=True)
class StakeholderList:
    id: int
    name: str
    description: str = ""
    members: tuple[StakeholderMember, ...] = ()


@dataclass(frozen=True)
class ChatWebhook:
    name: str
    kind: str  # slack | teams | mattermost
    url: str


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    label: str
    channel: str
    customised: bool
    text: str
    updated_at: datetime | None = None


def kind_label(kind: str) -> str:
    return kind.replace("_", " ")


def diff(old: Draft, new: Draft) -> str:
    """A unified diff between two saved versions, for the MRT to see what changed."""
    lines = difflib.unified_diff(
        old.text.splitlines(keepends=True),
        new.text.splitlines(keepends=True),
        fromfile=f"{old.kind} v{old.version}",
        tofile=f"{new.kind} v{new.version}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def chat_payload(kind: str, text: str) -> str:
    """The JSON body an incoming webhook of ``kind`` expects for a plain text message."""
    if kind == "teams":
        # Teams incoming webhooks (and Workflows) accept a MessageCard with a text field.
        body: dict[str, object] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "text": text.replace("\n", "\n\n"),
        }
    elif kind == "slack":
        # Slack reads &, < and > as markup: escaped so names and links stay literal.
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = {"text": escaped}
    elif kind == "mattermost":
        body = {"text": text}
    else:
        raise ValueError(f"unknown chat kind {kind!r}")
    return json.dumps(body, ensure_ascii=False)
