"""Publishing an approved communications version: stakeholder SMS, chat posts, or a record
that it went out by other means, with its timeline event, in one transaction.

Stakeholder SMS and chat posts are outbox rows (purpose ``stakeholder``) sent by the dispatcher
like any alert: a chat tool that is down delays its post, never anything else.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from mim_console.data import comms as repo
from mim_console.data import incidents as incidents_repo
from mim_console.data.outbox import enqueue
from mim_console.data.store import Store
from mim_console.domain import templates
from mim_console.domain.alerts import AlertDraft, Channel, Purpose
from mim_console.domain.comms import (
    KINDS,
    Draft,
    DraftState,
    Publication,
    StakeholderList,
    chat_address,
    chat_payload,
    kind_label,
)
from mim_console.domain.incident import Incident
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.timezone import shown

PUBLISH_CHANNELS = ("sms", "chat", "manual")


def local_time(moment: datetime | None) -> str:
    """How a time reads in a message (one time, so it names its zone): the organisation's."""
    return shown(moment, "%H:%M %Z").strip()


class Publishing:
    ctx: Context

    @property
    def store(self) -> Store:
        return self.ctx.store

    def publish(
        self,
        incident_ref: str,
        kind: str,
        version: int,
        channel: str,
        target: str | None = None,
        *,
        again: bool = False,
    ) -> Publication:
        """Publish an approved version on one channel.

        ``sms``: to a stakeholder list (``target``; may be omitted when there is one list).
        ``chat``: to a webhook (``target``) or every configured webhook. ``manual``: only
        records that it went out by other means (``target`` says where). Publishing the same
        version to the same place twice is refused unless ``again``: a re-run command must not
        text every stakeholder a second time.
        """
        _check_publish(kind, channel)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            current = repo.find_draft(db, inc.id, kind, version)
            if current.state is DraftState.DRAFT:
                raise UserError(
                    f"{kind_label(kind)} version {version} is not approved yet: "
                    f"`mim-console comms approve {inc.code} {version} --by PERSON`"
                )
            text = _published_text(inc, current)
            if channel == "sms":
                drafts, where = self._sms_drafts(db, inc, text, target)
            elif channel == "chat":
                drafts, where = _chat_drafts(db, inc, text, target)
            else:
                drafts, where = [], (target or "").strip()
            self._refuse_repeat(db, inc, current, channel, where, again)
            enqueue(db, drafts, now)
            return self._record(db, inc, current, channel, where, len(drafts), now)

    def _sms_drafts(
        self, db: Database, inc: Incident, text: str, target: str | None
    ) -> tuple[list[AlertDraft], str]:
        """One SMS per distinct number on the chosen stakeholder list."""
        chosen = self._pick_list(db, target)
        if not chosen.members:
            raise UserError(f'stakeholder list "{chosen.name}" has nobody on it')
        drafts: list[AlertDraft] = []
        seen: set[str] = set()
        for member in chosen.members:
            if member.number in seen:
                continue
            seen.add(member.number)
            drafts.append(
                AlertDraft(
                    to_number=member.number,
                    channel=Channel.SMS,
                    purpose=Purpose.STAKEHOLDER,
                    body=text,
                    incident_id=inc.id,
                    person_id=member.person_id,
                )
            )
        return drafts, chosen.name

    def _refuse_repeat(
        self, db: Database, inc: Incident, current: Draft, channel: str, where: str, again: bool
    ) -> None:
        earlier = [
            p
            for p in repo.publications(db, inc.id)
            if p.draft_id == current.id and p.channel == channel and p.target == where
        ]
        if earlier and not again:
            raise UserError(
                f"{kind_label(current.kind)} version {current.version} was already published by "
                f"{channel}{' to ' + where if where else ''} at {local_time(earlier[0].at)} "
                f"(by {earlier[0].by}); add --again to publish it once more"
            )

    def _record(
        self,
        db: Database,
        inc: Incident,
        current: Draft,
        channel: str,
        where: str,
        queued: int,
        now: datetime,
    ) -> Publication:
        publication = repo.set_published(
            db, current.id, channel=channel, target=where, by=self.ctx.actor, now=now, queued=queued
        )
        said = f" to {where}" if where else ""
        label = f"{kind_label(current.kind)} version {current.version}"
        incidents_repo.append_event(
            db,
            incident_id=inc.id,
            at=now,
            actor=self.ctx.actor,
            kind="comms_published",
            text=f"{label} published by {channel}{said}",
            data={
                "draft_id": current.id,
                "kind": current.kind,
                "version": current.version,
                "channel": channel,
                "target": where,
                "queued": queued,
            },
        )
        return publication

    def _pick_list(self, db: Database, target: str | None) -> StakeholderList:
        if target:
            return repo.stakeholder_list(db, target)
        lists = repo.stakeholder_lists(db)
        if len(lists) == 1:
            return lists[0]
        if not lists:
            raise UserError(
                "no stakeholder lists: `mim-console comms list add LIST PERSON|NUMBER` makes one"
            )
        names = ", ".join(sl.name for sl in lists)
        raise UserError(f"say which stakeholder list (--to): {names}")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UserError(f'unknown kind "{kind}": use {" or ".join(KINDS)}')


def _check_publish(kind: str, channel: str) -> None:
    check_kind(kind)
    if channel not in PUBLISH_CHANNELS:
        raise UserError(f'unknown channel "{channel}": use sms, chat or manual')
    if channel == "sms" and kind == "press_release":
        raise UserError(
            "a press release does not go out by SMS: publish it by chat or manual, and "
            "send stakeholders a stakeholder update"
        )


def _published_text(inc: Incident, current: Draft) -> str:
    """A drill's text always starts with ``EXERCISE``, whatever the draft says."""
    text = current.text
    if inc.exercise and not text.startswith(templates.EXERCISE_PREFIX):
        text = f"{templates.EXERCISE_PREFIX}: {text}"
    return text


def _chat_drafts(
    db: Database, inc: Incident, text: str, target: str | None
) -> tuple[list[AlertDraft], str]:
    """One post per webhook (the named one, or every configured one)."""
    hooks = [repo.webhook(db, target)] if target else repo.webhooks(db)
    if not hooks:
        raise UserError(
            "no chat webhooks configured: `mim-console comms webhook add NAME "
            "--kind slack|teams|mattermost --url URL`"
        )
    drafts = [
        AlertDraft(
            to_number=chat_address(hook.name),
            channel=Channel.CHAT,
            purpose=Purpose.STAKEHOLDER,
            body=chat_payload(hook.kind, text),
            incident_id=inc.id,
        )
        for hook in hooks
    ]
    return drafts, ", ".join(h.name for h in hooks)
