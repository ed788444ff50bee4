"""The outbox: every alert is a committed row before any request leaves.

Life of an alert row::

    queued ──claim (lease checked in the same transaction)──▶ sending ──SID──▶ accepted
      ▲                                                          │             │ polls
      └──── transient error: backoff, ``uncertain`` if the ──────┘             ▼
            request may have reached the provider                  sent / delivered / ringing…
                                                     (final: delivered, undelivered, completed…)
    sending with no SID after a crash ──reconcile: look it up at the provider──▶ accepted | queued
    permanent error or too old ──▶ failed (code + plain reason)

``uncertain`` marks an alert whose last try ended in a timeout or a dropped connection: the
provider may have accepted it, so it is looked up by recipient and text before any resend.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import lease as lease_mod
from mim_console.domain.alerts import FINAL_STATUSES, STATUS_GROUPS, Channel, Purpose
from mim_console.domain.alerts import Alert as Alert  # re-exported for callers of the outbox
from mim_console.domain.alerts import AlertDraft as AlertDraft
from mim_console.domain.alerts import provider_status as provider_status
from mim_console.domain.alerts import status_group as status_group


def _when(value: Any) -> datetime | None:
    return from_iso(value) if value else None


_COLUMNS = (
    "a.id, a.to_number, a.channel, a.purpose, a.body, a.status, a.attempts, a.created_at, "
    "a.next_attempt_at, a.incident_id, a.person_id, a.provider_sid, a.claimed_at, a.claimed_by, "
    "a.uncertain, a.sent_at, a.final_at, a.last_error_code, a.last_error, a.route"
)
_DISPLAY = _COLUMNS + ", i.code AS incident_code, p.name AS person_name"
_DISPLAY_FROM = (
    "alert a LEFT JOIN incident i ON i.id = a.incident_id LEFT JOIN person p ON p.id = a.person_id"
)


_PLAIN_COLUMNS = _COLUMNS.replace("a.", "")
# Which route carried an alert the providers accepted (the modem route marks its own:
# data/modem_queue.py; its claims are never this module's to claim, reconcile or resend).
_ROUTE = "route = CASE WHEN channel = 'chat' THEN 'webhook' ELSE 'twilio' END"


def _alert(v: Any) -> Alert:
    """From a row in ``_COLUMNS`` order (plus the two display columns, when selected)."""
    return Alert(
        id=v[0],
        to_number=v[1],
        channel=Channel(v[2]),
        purpose=Purpose(v[3]),
        body=v[4],
        status=v[5],
        attempts=v[6],
        created_at=from_iso(v[7]),
        next_attempt_at=from_iso(v[8]),
        incident_id=v[9],
        person_id=v[10],
        provider_sid=v[11],
        claimed_at=_when(v[12]),
        claimed_by=v[13],
        uncertain=bool(v[14]),
        sent_at=_when(v[15]),
        final_at=_when(v[16]),
        last_error_code=v[17],
        last_error=v[18],
        route=v[19],
        incident_code=v[20] if len(v) > 20 else None,
        person_name=v[21] if len(v) > 21 else None,
    )


def _rows(db: Database, sql: str, params: Iterable[Any] = ()) -> list[Alert]:
    return [_alert(values) for values in db.conn.execute(sql, list(params)).fetchall()]


def enqueue(db: Database, drafts: list[AlertDraft], now: datetime) -> list[int]:
    """Queue alerts inside the caller's transaction (``store.write()``); returns their ids."""
    ids = []
    stamp = to_iso(now)
    for draft in drafts:
        cursor = db.execute(
            "INSERT INTO alert (incident_id, person_id, to_number, channel, purpose, body, "
            "status, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
            [
                draft.incident_id,
                draft.person_id,
                draft.to_number,
                draft.channel,
                draft.purpose,
                draft.body,
                stamp,
                stamp,
            ],
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


def _channels(channels: Iterable[Channel]) -> tuple[str, list[str]]:
    wanted = [str(c) for c in channels]
    return ",".join("?" * len(wanted)), wanted


def claim_due(
    db: Database,
    holder: str,
    now: datetime,
    limit: int,
    channels: Iterable[Channel] = tuple(Channel),
    lease_name: str = lease_mod.DISPATCHER,
) -> list[Alert]:
    """Mark up to ``limit`` due alerts of ``channels`` ``sending`` for ``holder``: inside
    ``store.write()``. Rows of a channel nobody can send stay queued.

    Claims nothing unless ``holder`` has the unexpired lease, checked in this transaction: a
    process that lost its lease while paused cannot claim what the new holder is sending.
    """
    marks, wanted = _channels(channels)
    if limit <= 0 or not wanted or not lease_mod.holds(db, holder, now, lease_name):
        return []
    stamp = to_iso(now)
    claimed = _rows(
        db,
        "UPDATE alert SET status = 'sending', claimed_at = ?, claimed_by = ?, "
        "attempts = attempts + 1 WHERE id IN (SELECT id FROM alert WHERE status = 'queued' "
        f"AND next_attempt_at <= ? AND channel IN ({marks}) AND route IS NOT 'modem' "
        f"ORDER BY next_attempt_at, id LIMIT ?) RETURNING {_PLAIN_COLUMNS}",
        [stamp, holder, stamp, *wanted, limit],
    )
    # RETURNING gives no order: oldest due first, as selected.
    return sorted(claimed, key=lambda a: (a.next_attempt_at, a.id))


def mark_accepted(
    db: Database,
    alert_id: int,
    sid: str,
    status: str,
    now: datetime,
    poll_after_s: float = 2.0,
) -> bool:
    """Record the provider's SID: from here on the alert is never sent again."""
    stored = provider_status(status)
    final = stored in FINAL_STATUSES
    cursor = db.execute(
        "UPDATE alert SET status = ?, provider_sid = ?, sent_at = ?, uncertain = 0, "
        f"last_error_code = NULL, last_error = NULL, final_at = ?, next_poll_at = ?, {_ROUTE} "
        "WHERE id = ? AND provider_sid IS NULL",
        [
            stored,
            sid,
            to_iso(now),
            to_iso(now) if final else None,
            None if final else to_iso(now + timedelta(seconds=poll_after_s)),
            alert_id,
        ],
    )
    return cursor.rowcount == 1


def mark_accepted_many(
    db: Database, answers: Iterable[tuple[int, str, str, datetime]], poll_after_s: float = 2.0
) -> None:
    """``mark_accepted`` for (alert id, SID, provider status, when) in one statement."""
    params = []
    for alert_id, sid, status, at in answers:
        stored = provider_status(status)
        final = stored in FINAL_STATUSES
        params.append(
            [
                stored,
                sid,
                to_iso(at),
                to_iso(at) if final else None,
                None if final else to_iso(at + timedelta(seconds=poll_after_s)),
                alert_id,
            ]
        )
    db.conn.executemany(
        "UPDATE alert SET status = ?, provider_sid = ?, sent_at = ?, uncertain = 0, "
        f"last_error_code = NULL, last_error = NULL, final_at = ?, next_poll_at = ?, {_ROUTE} "
        "WHERE id = ? AND provider_sid IS NULL",
        params,
    )


def mark_retry(
    db: Database,
    alert_id: int,
    next_at: datetime,
    *,
    code: int | None,
    error: str,
    uncertain: bool,
) -> None:
    """Back to the queue until ``next_at``; ``uncertain`` is sticky until a lookup clears it."""
    db.execute(
        "UPDATE alert SET status = 'queued', next_attempt_at = ?, last_error_code = ?, "
        "last_error = ?, uncertain = MAX(uncertain, ?) WHERE id = ? AND provider_sid IS NULL",
        [to_iso(next_at), code, error, int(uncertain), alert_id],
    )


def requeue_checked(db: Database, alert: Alert, now: datetime) -> None:
    """A lookup found no trace at the provider: safe to send again, now, if it is still the
    claim that was looked up (nobody released and claimed it again meanwhile)."""
    db.execute(
        "UPDATE alert SET status = 'queued', uncertain = 0, next_attempt_at = ? "
        "WHERE id = ? AND provider_sid IS NULL AND status = 'sending' AND attempts = ? "
        "AND claimed_by IS ?",
        [to_iso(now), alert.id, alert.attempts, alert.claimed_by],
    )


def waiting_on_errors(db: Database, now: datetime) -> list[tuple[int, int | None, datetime]]:
    """Queued alerts backing off after a failed try (id, last error code, when due), soonest
    first: what an outage may be holding back (notifiers/outage.py decides which)."""
    return [
        (int(r[0]), r[1], from_iso(r[2]))
        for r in db.execute(
            "SELECT id, last_error_code, next_attempt_at FROM alert WHERE status = 'queued' "
            "AND provider_sid IS NULL AND last_error IS NOT NULL AND next_attempt_at > ? "
            "AND route IS NOT 'modem' ORDER BY next_attempt_at, id",
            [to_iso(now)],
        )
    ]


def due_now(db: Database, alert_ids: list[int], now: datetime) -> int:
    """Make still-queued ``alert_ids`` due at ``now`` (the backoff reset); how many moved."""
    moved = 0
    for start in range(0, len(alert_ids), 500):  # within SQLite's bound on parameters
        chunk = alert_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        cursor = db.execute(
            f"UPDATE alert SET next_attempt_at = ? WHERE id IN ({marks}) AND status = 'queued' "
            "AND provider_sid IS NULL AND next_attempt_at > ?",
            [to_iso(now), *chunk, to_iso(now)],
        )
        moved += cursor.rowcount
    return moved


def release_claims(db: Database, alert_ids: list[int], holder: str) -> None:
    """Claimed by ``holder`` but certainly never sent: back to the queue as they were."""
    marks = ",".join("?" * len(alert_ids))
    db.execute(
        "UPDATE alert SET status = 'queued', attempts = MAX(attempts - 1, 0), claimed_at = NULL, "
        f"claimed_by = NULL WHERE id IN ({marks}) AND status = 'sending' AND claimed_by = ? "
        "AND provider_sid IS NULL",
        [*alert_ids, holder],
    )


def mark_failed(
    db: Database, alert_id: int, now: datetime, *, code: int | None, reason: str
) -> None:
    db.execute(
        "UPDATE alert SET status = 'failed', final_at = ?, last_error_code = ?, last_error = ?, "
        "next_poll_at = NULL WHERE id = ? AND provider_sid IS NULL",
        [to_iso(now), code, reason, alert_id],
    )


def withdraw_unsent(db: Database, incident_id: int, now: datetime, reason: str) -> int:
    """An incident closed before its alerts could go out (Twilio unreachable): nobody should be
    asked to join a bridge after the all-clear. Alerts being sent right now are left alone, and
    so are the stand-down itself and stakeholder updates (approved texts the MRT published)."""
    cursor = db.execute(
        "UPDATE alert SET status = 'failed', final_at = ?, last_error = ?, next_poll_at = NULL "
        "WHERE incident_id = ? AND status = 'queued' AND provider_sid IS NULL "
        "AND purpose NOT IN ('stand_down', 'stakeholder')",
        [to_iso(now), reason, incident_id],
    )
    return cursor.rowcount


def in_doubt(db: Database) -> list[Alert]:
    """Claimed but no SID recorded: a crash (or a lost lease) between claim and answer."""
    return _rows(
        db,
        f"SELECT {_COLUMNS} FROM alert a WHERE a.status = 'sending' "
        "AND a.provider_sid IS NULL AND a.route IS NOT 'modem' ORDER BY a.id",
    )


def known_sids(db: Database, sids: Iterable[str]) -> set[str]:
    wanted = list(sids)
    if not wanted:
        return set()
    marks = ",".join("?" * len(wanted))
    cursor = db.execute(f"SELECT provider_sid FROM alert WHERE provider_sid IN ({marks})", wanted)
    return {row[0] for row in cursor.fetchall()}


def due_polls(db: Database, now: datetime, limit: int) -> list[Alert]:
    """Alerts still in flight whose next status poll is due."""
    return _rows(
        db,
        f"SELECT {_COLUMNS} FROM alert a WHERE a.next_poll_at IS NOT NULL "
        "AND a.next_poll_at <= ? ORDER BY a.next_poll_at LIMIT ?",
        [to_iso(now), limit],
    )


def record_status(
    db: Database,
    alert_id: int,
    status: str,
    now: datetime,
    *,
    next_poll_at: datetime | None,
    code: int | None = None,
    error: str | None = None,
) -> None:
    """A polled provider status; a final one stops the polling."""
    stored = provider_status(status)
    final = stored in FINAL_STATUSES
    db.execute(
        "UPDATE alert SET status = ?, final_at = CASE WHEN ? THEN ? ELSE final_at END, "
        "next_poll_at = ?, last_error_code = COALESCE(?, last_error_code), "
        "last_error = COALESCE(?, last_error) WHERE id = ? AND provider_sid IS NOT NULL",
        [
            stored,
            int(final),
            to_iso(now),
            None if final or next_poll_at is None else to_iso(next_poll_at),
            code,
            error,
            alert_id,
        ],
    )


def next_due_at(db: Database, channels: Iterable[Channel] = tuple(Channel)) -> datetime | None:
    """When the earliest queued alert of ``channels`` becomes due: how long the dispatcher may
    sleep."""
    marks, wanted = _channels(channels)
    if not wanted:
        return None
    row = db.execute(
        "SELECT MIN(next_attempt_at) FROM alert WHERE status = 'queued' "
        f"AND channel IN ({marks}) AND route IS NOT 'modem'",
        wanted,
    ).fetchone()
    return _when(row[0])


def counts(db: Database, incident_id: int | None = None) -> dict[str, int]:
    """queued / sending / accepted / failed, for the UI and `mim-console outbox`."""
    where, params = (
        ("WHERE incident_id = ?", [incident_id]) if incident_id is not None else ("", [])
    )
    result = dict.fromkeys(STATUS_GROUPS, 0)
    for status, n in db.execute(
        f"SELECT status, COUNT(*) FROM alert {where} GROUP BY status", params
    ).fetchall():
        if status_group(status) in result:  # a cancelled alert needs nobody's attention
            result[status_group(status)] += n
    return result


def list_alerts(
    db: Database,
    *,
    incident_id: int | None = None,
    limit: int | None = None,
    open_only: bool = False,
) -> list[Alert]:
    """Newest first, with the incident code and the person's name for display; ``open_only``:
    those of incidents not closed (the Outbox screen)."""
    sql = f"SELECT {_DISPLAY} FROM {_DISPLAY_FROM}"
    params: list[Any] = []
    if incident_id is not None:
        sql += " WHERE a.incident_id = ?"
        params.append(incident_id)
    elif open_only:
        sql += " WHERE i.status != 'closed'"
    sql += " ORDER BY a.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _rows(db, sql, params)


def get(db: Database, alert_id: int) -> Alert | None:
    found = _rows(db, f"SELECT {_DISPLAY} FROM {_DISPLAY_FROM} WHERE a.id = ?", [alert_id])
    return found[0] if found else None


def by_sid(db: Database, sid: str, channel: Channel) -> Alert | None:
    """The alert the provider knows as ``sid`` (a voice keypress names its call)."""
    found = _rows(
        db,
        f"SELECT {_COLUMNS} FROM alert a WHERE a.provider_sid = ? AND a.channel = ?",
        [sid, str(channel)],
    )
    return found[0] if found else None


def alerted_incidents(db: Database, person_id: int, before: datetime) -> set[int]:
    """Incidents ``person_id`` was alerted for (help SMS aside) by alerts queued before
    ``before``: what a reply without a code can be about."""
    return {
        int(r[0])
        for r in db.execute(
            "SELECT DISTINCT incident_id FROM alert WHERE person_id = ? "
            "AND incident_id IS NOT NULL AND purpose != ? AND created_at < ?",
            [person_id, str(Purpose.HELP), to_iso(before)],
        )
    }


def help_sent_since(db: Database, number: str, since: datetime) -> bool:
    """Whether ``number`` was sent a help SMS after ``since`` (never a loop of them)."""
    row = db.execute(
        "SELECT 1 FROM alert WHERE purpose = ? AND to_number = ? AND created_at > ?",
        [str(Purpose.HELP), number, to_iso(since)],
    ).fetchone()
    return row is not None


def latest_change(db: Database) -> int:
    """The newest ``alert_history`` id: moves whenever any alert changes status."""
    return int(db.execute("SELECT max(id) FROM alert_history").fetchone()[0] or 0)


def open_incident_counts(db: Database) -> dict[str, int]:
    """``counts`` over the alerts of incidents still open: what needs attention now (a closed
    incident's unanswered calls are history, in `mim-console outbox`)."""
    result = dict.fromkeys(STATUS_GROUPS, 0)
    for status, n in db.execute(
        "SELECT a.status, COUNT(*) FROM alert a JOIN incident i ON i.id = a.incident_id "
        "WHERE i.status != 'closed' GROUP BY a.status"
    ).fetchall():
        if status_group(status) in result:
            result[status_group(status)] += n
    return result
