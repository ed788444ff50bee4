"""The Twilio notifier's requests for the incident bridge (a base of ``TwilioNotifier``): the
call into the conference, the conference by name, its participants, mute/hold, removal, a
call's answer and its new TwiML. Each goes through the notifier's ``_call``, so errors are the
dispatcher's two kinds, with plain reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mim_console.domain.bridge import CallInfo, ConferenceInfo, OnBridge
from mim_console.notifiers.base import PermanentSendError, SendResult

if TYPE_CHECKING:
    from twilio.rest import Client

MAX_PARTICIPANTS = 250  # Twilio's limit per conference: one page lists them all
RING_SECONDS = 30  # how long a voice or bridge call rings before Twilio gives up (no-answer)


class ConferenceRequests:
    if TYPE_CHECKING:  # the notifier has them
        client: Client
        sender: str
        uses_service: bool

        async def _call(self, func: Any, *, on_account: bool = False, **kwargs: Any) -> Any: ...

    async def place_bridge_call(self, to: str, twiml: str) -> SendResult:
        """A call into the incident's conference (``twiml`` from ``domain.bridge``), with
        answering-machine detection so that a voicemail box is told from a person."""
        if self.uses_service:
            raise PermanentSendError(
                "bridge calls need a sending phone number, but MIM_TWILIO_FROM is a Messaging "
                "Service (MG…); set a number to place calls"
            )
        call = await self._call(
            self.client.calls.create_async,
            on_account=True,
            to=to,
            from_=self.sender,
            twiml=twiml,
            timeout=RING_SECONDS,
            machine_detection="Enable",
        )
        return SendResult(sid=str(call.sid), status=str(call.status or "queued"))

    async def find_conference(self, name: str) -> ConferenceInfo | None:
        """The conference of this FriendlyName in progress (the newest, should there be two),
        or None when nobody is on it."""
        found = await self._call(
            self.client.conferences.list_async,
            friendly_name=name,
            status="in-progress",
            limit=5,
            page_size=5,
        )
        for conference in found:
            return ConferenceInfo(
                sid=str(conference.sid),
                name=str(conference.friendly_name or name),
                status=str(conference.status or "in-progress"),
                created_at=aware(conference.date_created) if conference.date_created else None,
            )
        return None

    async def participants(self, conference_sid: str) -> list[OnBridge]:
        """Who is in the conference now (Twilio lists current participants only)."""
        listed = await self._call(
            self.client.conferences(conference_sid).participants.list_async,
            limit=MAX_PARTICIPANTS,
            page_size=MAX_PARTICIPANTS,
        )
        return [_on_bridge(p) for p in listed]

    async def update_participant(
        self,
        conference_sid: str,
        ref: str,
        *,
        muted: bool | None = None,
        hold: bool | None = None,
    ) -> OnBridge:
        """Mute/unmute or hold/resume a participant (``ref``: its call SID or label)."""
        changes: dict[str, bool] = {}
        if muted is not None:
            changes["muted"] = muted
        if hold is not None:
            changes["hold"] = hold
        updated = await self._call(
            self.client.conferences(conference_sid).participants(ref).update_async, **changes
        )
        return _on_bridge(updated)

    async def remove_participant(self, conference_sid: str, ref: str) -> None:
        """Take a participant off the bridge (their call ends)."""
        await self._call(self.client.conferences(conference_sid).participants(ref).delete_async)

    async def call_info(self, sid: str) -> CallInfo:
        """A call's status and who answered it (``answered_by`` with machine detection)."""
        call = await self._call(self.client.calls(sid).fetch_async)
        return _call_info(call)

    async def redirect_call(self, sid: str, twiml: str) -> CallInfo:
        """Give a call in progress new TwiML (a voicemail box hears a short message instead
        of reaching the bridge)."""
        call = await self._call(self.client.calls(sid).update_async, twiml=twiml)
        return _call_info(call)


def _on_bridge(participant: Any) -> OnBridge:
    created = participant.date_created
    return OnBridge(
        call_sid=str(participant.call_sid or ""),
        label=str(participant.label) if participant.label else None,
        muted=bool(participant.muted),
        hold=bool(participant.hold),
        status=str(participant.status or "connected"),
        since=aware(created) if created else None,
    )


def _call_info(call: Any) -> CallInfo:
    return CallInfo(
        sid=str(call.sid),
        status=str(call.status or ""),
        answered_by=str(call.answered_by) if call.answered_by else None,
        to_number=str(call.to or ""),
        from_number=str(getattr(call, "_from", None) or ""),
        direction=str(call.direction or ""),
    )


def aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
