"""The duty manager's hand on single alerts: retry now, cancel (the Outbox screen and
`mim-console outbox retry|cancel`). Every change is guarded in its own statement, so an alert the
dispatcher claimed or the provider accepted meanwhile is never touched: ``provider_sid IS NULL``
and the expected status are in every WHERE.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import to_iso
from mim_console.data import outbox
from mim_console.domain.alerts import Alert

CANCELLED = "cancelled"  # ours; Twilio's own is spelled "canceled"


def open_alerts(db: Database, incident_id: int | None = None) -> list[Alert]:
    """Every alert of the incidents still open (or of ``incident_id``), newest first."""
    return outbox.list_alerts(db, incident_id=incident_id, open_only=incident_id is None)


def due_now(db: Database, alert_id: int, now: datetime) -> bool:
    """A waiting alert (queued, not yet sent) becomes due now; the same row, so never twice."""
    cursor = db.execute(
        "UPDATE alert SET next_attempt_at = ? WHERE id = ? AND status = 'queued' "
        "AND provider_sid IS NULL",
        [to_iso(now), alert_id],
    )
    return cursor.rowcount == 1


def requeue_failed(db: Database, alert_id: int, now: datetime) -> bool:
    """A failed alert the provider never accepted (no SID) back to the queue, due now. The row's
    ``uncertain`` mark stays: a try that may have landed is looked up before any resend."""
    cursor = db.execute(
        "UPDATE alert SET status = 'queued', next_attempt_at = ?, final_at = NULL, "
        "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'failed' "
        "AND provider_sid IS NULL",
        [to_iso(now), alert_id],
    )
    return cursor.rowcount == 1


def cancel(db: Database, alert_id: int, now: datetime) -> bool:
    """A queued or failed alert that was never sent: cancelled, never claimed again."""
    cursor = db.execute(
        f"UPDATE alert SET status = '{CANCELLED}', final_at = ?, next_poll_at = NULL "
        "WHERE id = ? AND status IN ('queued', 'failed') AND provider_sid IS NULL",
        [to_iso(now), alert_id],
    )
    return cursor.rowcount == 1
