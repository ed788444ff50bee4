"""Two sites, in the database: which site writes, its beat, and the fenced take-over.

The replicating process beats (``beat``) into the one ``site`` row every second; the row is
replicated with everything else, so a standby reads how far behind it is, and whose copy it
follows, from its own copy. ``take_over`` is the write that makes another site the writer:
one transaction that records who took over, from which position, and marks every alert that
may have left the old site for a lookup at the provider before any resend.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import lease as lease_mod
from mim_console.data.incidents import append_event
from mim_console.data.store import Store

#: The replicating process's lease (beside the dispatcher's: see data/replica.py).
REPLICA_LEASE = "replica"
#: How long after a take-over new alerts are looked up before sending (see the migration).
RECONCILE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class SiteInfo:
    name: str
    holder: str
    replica_url: str
    beat_at: datetime
    since: datetime
    reconcile_until: datetime | None


def current(db: Database) -> SiteInfo | None:
    if not db["site"].exists():
        return None  # a copy of an older schema
    row = db.execute(
        "SELECT name, holder, replica_url, beat_at, since, reconcile_until FROM site WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return SiteInfo(
        name=row[0],
        holder=row[1],
        replica_url=row[2],
        beat_at=from_iso(row[3]),
        since=from_iso(row[4]),
        reconcile_until=from_iso(row[5]) if row[5] else None,
    )


def beat(store: Store, site: str, holder: str, url: str, now: datetime) -> None:
    """The replicating process is alive at ``site``: one small write a second."""
    with store.write() as db:
        db.execute(
            "INSERT INTO site (id, name, holder, replica_url, beat_at, since) "
            "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "since = CASE WHEN site.name = excluded.name THEN site.since ELSE excluded.since END, "
            "name = excluded.name, holder = excluded.holder, "
            "replica_url = excluded.replica_url, beat_at = excluded.beat_at",
            [site, holder, url, to_iso(now), to_iso(now)],
        )


@dataclass(frozen=True)
class LastSigns:
    """The newest signs of life of the old site in this copy: its dispatcher's lease and its
    replicator's lease and beat."""

    dispatcher: lease_mod.LeaseInfo | None
    replicator: lease_mod.LeaseInfo | None
    site: SiteInfo | None

    def fresh_until(self, margin: timedelta) -> datetime | None:
        """Until when the old site may still be alive: the latest lease expiry (a heartbeat
        plus its TTL) or beat, plus ``margin``; None when this copy shows no sign at all."""
        moments = [
            info.expires_at for info in (self.dispatcher, self.replicator) if info is not None
        ]
        if self.site is not None:
            moments.append(self.site.beat_at)
        return max(moments) + margin if moments else None


def last_signs(db: Database) -> LastSigns:
    return LastSigns(
        dispatcher=lease_mod.current(db, lease_mod.DISPATCHER),
        replicator=lease_mod.current(db, REPLICA_LEASE),
        site=current(db),
    )


@dataclass(frozen=True)
class TakeoverRecord:
    site: str
    old_site: str
    actor: str
    at: datetime
    position: str
    forced: bool
    reason: str
    marked: int  # alerts marked for a lookup before any resend
    in_doubt: int  # of which were claimed without a SID at the old site


def take_over(
    db: Database,
    *,
    site: str,
    holder: str,
    actor: str,
    url: str,
    now: datetime,
    position: str,
    forced: bool,
    reason: str,
) -> TakeoverRecord:
    """Inside ``store.write()``: make ``site`` the writer.

    The old site's leases are removed (its processes are gone or fenced off by the human
    decision), so this site's dispatcher starts at once and reconciles on start. Every alert
    without a SID that is not finished is marked uncertain: in the old site's last,
    unreplicated moment it may have been claimed and sent, and this copy cannot tell. The
    dispatcher looks each one up by recipient, text and time before it sends anything.
    """
    old = current(db)
    in_doubt = int(
        db.execute(
            "SELECT COUNT(*) FROM alert WHERE status = 'sending' AND provider_sid IS NULL"
        ).fetchone()[0]
    )
    marked = db.execute(
        "UPDATE alert SET uncertain = 1 WHERE provider_sid IS NULL "
        "AND status IN ('queued', 'sending')"
    ).rowcount
    db.execute("DELETE FROM lease WHERE name IN (?, ?)", [lease_mod.DISPATCHER, REPLICA_LEASE])
    until = now + RECONCILE_WINDOW
    db.execute(
        "INSERT INTO site (id, name, holder, replica_url, beat_at, since, reconcile_until) "
        "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
        "holder = excluded.holder, replica_url = excluded.replica_url, "
        "beat_at = excluded.beat_at, since = excluded.since, "
        "reconcile_until = excluded.reconcile_until",
        [site, holder, url, to_iso(now), to_iso(now), to_iso(until)],
    )
    old_name = old.name if old is not None else ""
    record = TakeoverRecord(
        site=site,
        old_site=old_name,
        actor=actor,
        at=now,
        position=position,
        forced=forced,
        reason=reason,
        marked=marked,
        in_doubt=in_doubt,
    )
    text = (
        f"Taken over at site {site} from {old_name or 'the old site'} by {actor} "
        f"(replica {position}; {marked} unsent alert(s) looked up before any resend)"
    )
    if forced:
        text += f"; forced while the old site's lease looked fresh: {reason}"
    data = {
        "site": site,
        "old_site": old_name,
        "position": position,
        "forced": forced,
        "reason": reason,
        "marked": marked,
        "in_doubt": in_doubt,
        "url": url,
        "old_beat_at": to_iso(old.beat_at) if old is not None else None,
    }
    active = [int(r[0]) for r in db.execute("SELECT id FROM incident WHERE status = 'active'")]
    for incident_id in [None, *active]:  # links of each timeline's hash chain, like any event
        append_event(
            db,
            incident_id=incident_id,
            at=now,
            actor=actor,
            kind="takeover",
            text=text,
            data=data,
        )
    return record


def lookback_from(db: Database, created_at: datetime) -> datetime | None:
    """For an alert queued in the window after a take-over: from when the provider's log must
    be searched for the same message sent by the old site (its last replicated beat), however
    long the take-over came after the loss. None outside the window."""
    site = current(db)
    if site is None or site.reconcile_until is None or created_at >= site.reconcile_until:
        return None
    row = db.execute(
        "SELECT data FROM event WHERE kind = 'takeover' AND incident_id IS NULL "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        old = json.loads(row[0]).get("old_beat_at") if row else None
        if old:
            return from_iso(old)
    return site.since - RECONCILE_WINDOW
