"""The GSM modem route's side of the outbox: which alerts the modem takes, in what order, and
what a crash mid-send leaves behind. The ``alert`` table itself belongs to data/outbox.py; this
module holds only the modem route's statements on it, and the ``modem_status`` row.

Rules (docs/routes.md):

* The modem takes an SMS alert only while it is ``queued``, has no provider SID and is not in
  doubt (``uncertain = 0``): an alert never handed to Twilio. One whose Twilio create may have
  gone waits for reconciliation, or for the duty manager's "send anyway, may arrive twice".
* A claim sets ``route = 'modem'`` and ``status = 'sending'`` in a committed transaction (lease
  checked in it) *before* ``SendSMS``; the SID (``GSM…``) is stored right after. An alert found
  ``sending`` by the modem without a SID was perhaps sent: it goes back to the queue marked
  uncertain, "may have been sent", and is never resent without the duty manager's word.
* Decision makers first: duty manager, MRT representatives with decision authority, other MRT
  members and deputies, specialists, then everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import lease as lease_mod
from mim_console.data.outbox import _COLUMNS, Alert, _rows

MODEM = "modem"
MAY_HAVE_BEEN_SENT = (
    "may have been sent by the modem (the console stopped while sending): not resent; "
    "send it anyway if the person did not get it"
)
_TAKEABLE = (
    "a.status = 'queued' AND a.provider_sid IS NULL AND a.uncertain = 0 AND a.channel = 'sms'"
)
# Lower ranks go first.
_RANK = (
    "(SELECT CASE WHEN pt.role = 'duty_manager' THEN 0 "
    "WHEN pt.role = 'mrt' AND pe.decision_authority = 1 AND pt.deputy_for IS NULL THEN 1 "
    "WHEN pt.role = 'mrt' THEN 2 WHEN pt.role = 'specialist' THEN 3 ELSE 4 END "
    "FROM participant pt JOIN person pe ON pe.id = pt.person_id "
    "WHERE pt.incident_id = a.incident_id AND pt.person_id = a.person_id)"
)
_PLAIN = _COLUMNS.replace("a.", "")


def _lease_ok(db: Database, holder: str, now: datetime) -> bool:
    return lease_mod.holds(db, holder, now)


def claim_next(
    db: Database, holder: str, now: datetime, *, automatic: bool
) -> tuple[Alert, bool] | None:
    """Mark the modem's next alert ``sending`` (inside ``store.write()``, lease checked here);
    with whether it had been assigned to the modem before (see ``mark_not_sent``).

    Always those assigned to the modem (``route = 'modem'``: the duty manager's "send by modem
    now", or a retry); with ``automatic`` (``use = "always"``, or the fallback in force) every
    SMS alert never handed to Twilio too.
    """
    if not _lease_ok(db, holder, now):
        return None
    stamp = to_iso(now)
    scope = "" if automatic else "AND a.route = 'modem' "
    row = db.execute(
        f"SELECT a.id, a.route FROM alert a WHERE {_TAKEABLE} {scope}"
        "AND (a.route IS NOT 'modem' OR a.next_attempt_at <= ?) "
        f"ORDER BY COALESCE({_RANK}, 4), a.id LIMIT 1",
        [stamp],
    ).fetchone()
    if row is None:
        return None
    claimed = _rows(
        db,
        "UPDATE alert SET status = 'sending', route = 'modem', claimed_at = ?, claimed_by = ?, "
        "attempts = attempts + 1 WHERE id = ? AND status = 'queued' AND provider_sid IS NULL "
        f"RETURNING {_PLAIN}",
        [stamp, holder, int(row[0])],
    )
    return (claimed[0], row[1] == MODEM) if claimed else None


def release(db: Database, alert_id: int, holder: str, *, route: str | None) -> None:
    """Claimed by ``holder`` but certainly not sent (the lease was lost first): as it was."""
    db.execute(
        "UPDATE alert SET status = 'queued', attempts = MAX(attempts - 1, 0), claimed_at = NULL, "
        "claimed_by = NULL, route = ? WHERE id = ? AND status = 'sending' AND claimed_by = ? "
        "AND provider_sid IS NULL",
        [route, alert_id, holder],
    )


def mark_sent(db: Database, alert_id: int, sid: str, now: datetime) -> None:
    """The modem submitted it: from here on it is never sent again."""
    db.execute(
        "UPDATE alert SET status = 'sent', provider_sid = ?, sent_at = ?, uncertain = 0, "
        "last_error_code = NULL, last_error = NULL, next_poll_at = NULL, route = 'modem' "
        "WHERE id = ? AND provider_sid IS NULL",
        [sid, to_iso(now), alert_id],
    )


def mark_not_sent(
    db: Database,
    alert_id: int,
    next_at: datetime,
    *,
    error: str,
    code: int | None = None,
    keep_route: bool,
) -> None:
    """Nothing left the modem (not there, no network): queued again. An alert the duty manager
    sent this way stays with the modem; one the fallback took may go by Twilio again."""
    db.execute(
        "UPDATE alert SET status = 'queued', next_attempt_at = ?, last_error = ?, "
        "last_error_code = ?, route = CASE WHEN ? THEN 'modem' ELSE NULL END "
        "WHERE id = ? AND provider_sid IS NULL",
        [to_iso(next_at), error, code, int(keep_route), alert_id],
    )


def mark_in_doubt(db: Database, alert_id: int, *, error: str) -> None:
    """The modem may have submitted it: queued, uncertain, kept off every route until the duty
    manager says "send anyway"."""
    db.execute(
        "UPDATE alert SET status = 'queued', uncertain = 1, route = 'modem', last_error = ? "
        "WHERE id = ? AND provider_sid IS NULL",
        [error, alert_id],
    )


def mark_refused(db: Database, alert_id: int, now: datetime, *, error: str) -> None:
    db.execute(
        "UPDATE alert SET status = 'failed', final_at = ?, last_error = ?, route = 'modem', "
        "next_poll_at = NULL WHERE id = ? AND provider_sid IS NULL",
        [to_iso(now), error, alert_id],
    )


def settle_interrupted(db: Database, holder: str, now: datetime) -> list[Alert]:
    """On taking the lease: every modem claim left ``sending`` without a SID (a crash between
    the claim and the mark) becomes "may have been sent". Returns them for the timeline."""
    if not _lease_ok(db, holder, now):
        return []
    return _rows(
        db,
        "UPDATE alert SET status = 'queued', uncertain = 1, last_error = ? "
        "WHERE status = 'sending' AND route = 'modem' AND provider_sid IS NULL "
        f"RETURNING {_PLAIN}",
        [MAY_HAVE_BEEN_SENT],
    )


def _scope(incident_id: int | None) -> tuple[str, list[object]]:
    if incident_id is None:
        return "", []
    return "AND a.incident_id = ? ", [incident_id]


def assign_waiting(db: Database, now: datetime, incident_id: int | None = None) -> list[Alert]:
    """ "Send the waiting alerts by modem now": every SMS alert never handed to Twilio."""
    where, params = _scope(incident_id)
    return _rows(
        db,
        "UPDATE alert AS a SET route = 'modem', next_attempt_at = ? "
        f"WHERE {_TAKEABLE} AND a.route IS NOT 'modem' {where}RETURNING {_PLAIN}",
        [to_iso(now), *params],
    )


def send_anyway(db: Database, now: datetime, incident_id: int | None = None) -> list[Alert]:
    """ "Send anyway, may arrive twice": the alerts in doubt (a Twilio create without an answer,
    or a modem send cut short) go by modem. The caller records it in the timeline."""
    where, params = _scope(incident_id)
    return _rows(
        db,
        "UPDATE alert AS a SET route = 'modem', uncertain = 0, next_attempt_at = ? "
        "WHERE a.status = 'queued' AND a.provider_sid IS NULL AND a.uncertain = 1 "
        f"AND a.channel = 'sms' {where}RETURNING {_PLAIN}",
        [to_iso(now), *params],
    )


@dataclass(frozen=True)
class ModemQueue:
    assigned: int  # waiting for the modem: the duty manager's choice or a retry
    takeable: int  # never handed to Twilio: the modem takes them when the fallback is in force
    in_doubt: int  # waiting for reconciliation or "send anyway"

    def waiting(self, automatic: bool) -> int:
        return self.assigned + (self.takeable if automatic else 0)


def queue(db: Database, incident_id: int | None = None) -> ModemQueue:
    where, params = _scope(incident_id)
    row = db.execute(
        "SELECT "
        f"SUM(CASE WHEN {_TAKEABLE} AND a.route = 'modem' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {_TAKEABLE} AND a.route IS NOT 'modem' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN a.status = 'queued' AND a.provider_sid IS NULL AND a.uncertain = 1 "
        "AND a.channel = 'sms' THEN 1 ELSE 0 END) "
        f"FROM alert a WHERE a.status = 'queued' {where}",
        params,
    ).fetchone()
    return ModemQueue(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


@dataclass(frozen=True)
class ModemStatus:
    holder: str
    checked_at: datetime
    ok: bool
    summary: str
    per_minute: float | None


def save_status(
    db: Database, holder: str, now: datetime, *, ok: bool, summary: str, per_minute: float | None
) -> None:
    db.execute(
        "INSERT INTO modem_status (id, holder, checked_at, ok, summary, per_minute) "
        "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET holder = excluded.holder, "
        "checked_at = excluded.checked_at, ok = excluded.ok, summary = excluded.summary, "
        "per_minute = excluded.per_minute",
        [holder, to_iso(now), int(ok), summary, per_minute],
    )


def load_status(db: Database) -> ModemStatus | None:
    row = db.execute(
        "SELECT holder, checked_at, ok, summary, per_minute FROM modem_status WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return ModemStatus(row[0], from_iso(row[1]), bool(row[2]), row[3], row[4])
