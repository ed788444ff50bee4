"""Retry now and cancel for single alerts (the Outbox screen, `mim-console outbox retry|cancel`).

Never twice: a waiting alert is the same row made due now; a failed one the provider never
accepted goes back to the queue as the same row (its ``uncertain`` mark kept, so a try that may
have landed is looked up first); a failed one the provider did accept and then could not deliver
(it has a SID: that attempt is over) is queued as a new alert. Anything accepted, delivered or
being sent right now is refused. Each change is a timeline event of the alert's incident.
"""

from __future__ import annotations

from sqlite_utils import Database

from mim_console.data import incidents as incidents_repo
from mim_console.data import outbox, outbox_steer
from mim_console.domain.alerts import PAGES, Alert, AlertDraft
from mim_console.errors import NotFound, UserError
from mim_console.services.context import Context

RETRIED = "alert_retried"
CANCELLED = "alert_cancelled"


def _rank(alert: Alert) -> int:
    """Failed first, then waiting, then in flight, then the rest."""
    return {"failed": 0, "queued": 1, "sending": 2}.get(alert.group, 3)


def open_outbox(ctx: Context, incident_ref: str | None = None) -> list[Alert]:
    """The alerts of every open incident (or of ``incident_ref``): failed and waiting first,
    newest first within each."""
    with ctx.store.read() as db:
        incident_id = None
        if incident_ref is not None:
            incident_id = incidents_repo.find_incident(db, incident_ref).id
        alerts = outbox_steer.open_alerts(db, incident_id)
    return sorted(alerts, key=lambda a: (_rank(a), -a.id))


def who(alert: Alert) -> str:
    return alert.person_name or alert.to_number


def pages_someone(alert: Alert) -> bool:
    """A page of a participant: cancelling every such page stops their escalation timers."""
    return alert.person_id is not None and alert.purpose in PAGES


def _load(db: Database, alert_id: int) -> Alert:
    alert = outbox.get(db, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id} (see `mim-console outbox`)")
    return alert


def _refusal(alert: Alert, doing: str) -> str:
    if alert.status == outbox_steer.CANCELLED:
        return f"alert {alert.id} to {who(alert)} was cancelled: nothing to {doing}"
    if alert.status == "sending":
        return f"alert {alert.id} to {who(alert)} is being sent right now: not {doing}ed"
    return (
        f"alert {alert.id} to {who(alert)} was already sent ({alert.status}): "
        f"not {doing}ed, it is never sent twice"
    )


def _event(ctx: Context, db: Database, alert: Alert, kind: str, text: str, **data: int) -> None:
    incidents_repo.append_event(
        db,
        incident_id=alert.incident_id,
        at=ctx.clock(),
        actor=ctx.actor,
        kind=kind,
        text=text,
        person_id=alert.person_id,
        data={"alert_id": alert.id, **data},
    )


def retry(ctx: Context, alert_id: int) -> str:
    """Send a waiting or failed alert now; the words say what happened."""
    now = ctx.clock()
    with ctx.store.write() as db:
        alert = _load(db, alert_id)
        name = who(alert)
        if alert.status == "queued" and outbox_steer.due_now(db, alert.id, now):
            text = f"alert to {name} sent now by {ctx.actor} (it was waiting)"
            _event(ctx, db, alert, RETRIED, text)
            return f"alert {alert.id} to {name}: sending now"
        if alert.group != "failed":
            raise UserError(_refusal(alert, "retry"))
        if alert.incident_id is not None:
            if not incidents_repo.incident_by_id(db, alert.incident_id).is_open:
                raise UserError(f"alert {alert.id}: its incident is closed, not sent again")
        if alert.provider_sid is None:
            if not outbox_steer.requeue_failed(db, alert.id, now):
                raise UserError(f"alert {alert.id} changed meanwhile: look again")
            _event(ctx, db, alert, RETRIED, f"alert to {name} retried by {ctx.actor}")
            return f"alert {alert.id} to {name}: queued again, sending now"
        draft = AlertDraft(
            to_number=alert.to_number,
            channel=alert.channel,
            purpose=alert.purpose,
            body=alert.body,
            incident_id=alert.incident_id,
            person_id=alert.person_id,
        )
        (new_id,) = outbox.enqueue(db, [draft], now)
        text = f"alert to {name} retried by {ctx.actor} as a new alert ({alert.status} before)"
        _event(ctx, db, alert, RETRIED, text, new_alert_id=new_id)
        return f"alert {alert.id} to {name}: sent again as alert {new_id}"


def cancel(ctx: Context, alert_id: int) -> str:
    """A queued or failed alert that was never sent: cancelled, it never goes out."""
    with ctx.store.write() as db:
        alert = _load(db, alert_id)
        if not outbox_steer.cancel(db, alert.id, ctx.clock()):
            raise UserError(_refusal(alert, "cancel"))
        _event(ctx, db, alert, CANCELLED, f"alert to {who(alert)} cancelled by {ctx.actor}")
        held = " (no timer escalates them after it)" if pages_someone(alert) else ""
        return f"alert {alert.id} to {who(alert)}: cancelled, it will not be sent{held}"


def alert(ctx: Context, alert_id: int) -> Alert:
    with ctx.store.read() as db:
        return _load(db, alert_id)
