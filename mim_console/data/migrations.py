"""The schema, as versioned sqlite-utils migrations.

Rules: a migration that has shipped is never edited; change the schema by appending a new one.
Every instant is stored as UTC ISO 8601 text (``mim_console.clock.to_iso``).
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("mim_console")

SCHEMA_V1 = """
CREATE TABLE party (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE person (
    id INTEGER PRIMARY KEY,
    ext_id TEXT UNIQUE,                    -- stable key from the organisation (CSV `id` column)
    name TEXT NOT NULL,
    mobile TEXT NOT NULL,                  -- E.164
    phone2 TEXT,                           -- E.164, optional
    email TEXT UNIQUE COLLATE NOCASE,
    title TEXT NOT NULL DEFAULT '',
    party_id INTEGER REFERENCES party(id) ON DELETE SET NULL,
    decision_authority INTEGER NOT NULL DEFAULT 0 CHECK (decision_authority IN (0, 1)),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    notes TEXT NOT NULL DEFAULT '',
    verified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX person_mobile ON person(mobile);
CREATE INDEX person_name ON person(name COLLATE NOCASE);

-- A party's MRT seat: ordered representatives, position 0 = primary, the rest deputies.
CREATE TABLE party_member (
    party_id INTEGER NOT NULL REFERENCES party(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (party_id, person_id)
);

CREATE TABLE specialist_group (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    categories TEXT NOT NULL DEFAULT '[]',  -- JSON list of services / incident categories
    description TEXT NOT NULL DEFAULT ''
);

-- Ordered members = call order.
CREATE TABLE group_member (
    group_id INTEGER NOT NULL REFERENCES specialist_group(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (group_id, person_id)
);

CREATE TABLE rotation (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('duty_manager', 'party')),
    party_id INTEGER REFERENCES party(id) ON DELETE CASCADE,
    shift_unit TEXT NOT NULL CHECK (shift_unit IN ('hours', 'days', 'weeks')),
    shift_length INTEGER NOT NULL CHECK (shift_length > 0),
    handoff_time TEXT NOT NULL,            -- local wall clock, HH:MM
    handoff_weekday INTEGER,               -- 0 = Monday, weekly shifts only
    timezone TEXT NOT NULL,                -- IANA
    start_date TEXT NOT NULL,              -- local date, YYYY-MM-DD
    CHECK ((role = 'party') = (party_id IS NOT NULL))
);
-- One duty-manager rotation, and at most one rotation per party seat.
CREATE UNIQUE INDEX rotation_one_duty_manager ON rotation(role) WHERE role = 'duty_manager';
CREATE UNIQUE INDEX rotation_one_per_party ON rotation(party_id) WHERE party_id IS NOT NULL;

CREATE TABLE rotation_member (
    rotation_id INTEGER NOT NULL REFERENCES rotation(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (rotation_id, position)
);

CREATE TABLE rotation_override (
    id INTEGER PRIMARY KEY,
    rotation_id INTEGER NOT NULL REFERENCES rotation(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    source_uid TEXT,                        -- iCalendar UID when imported
    CHECK (ends_at > starts_at)
);
CREATE INDEX rotation_override_range ON rotation_override(rotation_id, starts_at, ends_at);
-- Re-importing a feed updates its overrides instead of adding them twice.
CREATE UNIQUE INDEX rotation_override_source ON rotation_override(rotation_id, source_uid);

CREATE TABLE incident (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,              -- MI-2026-007
    reply_code TEXT NOT NULL,               -- short code a reply may name: "1 K7"
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL,
    categories TEXT NOT NULL DEFAULT '[]',
    exercise INTEGER NOT NULL DEFAULT 0 CHECK (exercise IN (0, 1)),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'restored', 'closed')),
    declared_at TEXT NOT NULL,
    declared_by TEXT NOT NULL DEFAULT '',
    restored_at TEXT,
    closed_at TEXT,
    problem_ref TEXT,
    problem_owner TEXT,
    problem_summary TEXT,
    spokesperson_id INTEGER REFERENCES person(id),
    next_status_at TEXT,                    -- when the spokesperson said the next status comes
    next_update_at TEXT,                    -- when the next stakeholder update is due
    went_well TEXT NOT NULL DEFAULT '',
    to_improve TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_status ON incident(status);

CREATE TABLE participant (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES person(id),
    role TEXT NOT NULL CHECK (role IN ('duty_manager', 'mrt', 'specialist')),
    party_id INTEGER REFERENCES party(id),
    group_id INTEGER REFERENCES specialist_group(id),
    state TEXT NOT NULL,
    deputy_for INTEGER REFERENCES participant(id),
    alerted_at TEXT,
    joined_at TEXT,
    standby_since TEXT,
    state_changed_at TEXT NOT NULL,
    escalation_step INTEGER NOT NULL DEFAULT 0,
    UNIQUE (incident_id, person_id)
);
CREATE INDEX participant_incident ON participant(incident_id, state);

-- The outbox: committed before any request leaves.
CREATE TABLE alert (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incident(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES person(id),
    to_number TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'voice', 'chat')),
    purpose TEXT NOT NULL,                  -- alert | escalation | recall | standby | stand_down
                                            -- | test | stakeholder | help
    body TEXT NOT NULL,                     -- SMS text, TwiML, or chat payload
    status TEXT NOT NULL DEFAULT 'queued',  -- queued | sending | accepted | <provider status>
                                            -- | failed
    provider_sid TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    claimed_by TEXT,                        -- lease holder that claimed it (diagnostics)
    uncertain INTEGER NOT NULL DEFAULT 0,   -- a try may have reached the provider: look first
    sent_at TEXT,
    next_poll_at TEXT,                      -- next delivery-status poll while in flight
    final_at TEXT,
    last_error_code INTEGER,
    last_error TEXT
);
CREATE INDEX alert_due ON alert(status, next_attempt_at);
CREATE INDEX alert_incident ON alert(incident_id);
CREATE INDEX alert_person ON alert(person_id, incident_id);  -- what a replier was alerted for
CREATE INDEX alert_poll ON alert(next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE inbound (
    id INTEGER PRIMARY KEY,
    provider_sid TEXT NOT NULL UNIQUE,
    from_number TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    person_id INTEGER REFERENCES person(id),
    incident_id INTEGER REFERENCES incident(id),
    meaning TEXT NOT NULL DEFAULT 'unprocessed',
    processed_at TEXT
);
CREATE INDEX inbound_received ON inbound(received_at);

-- The timeline: append-only, enforced below.
CREATE TABLE event (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incident(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    person_id INTEGER REFERENCES person(id),
    text TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX event_incident ON event(incident_id, at);
CREATE INDEX event_person ON event(incident_id, person_id, kind);  -- "was this reply applied?"
CREATE TRIGGER event_no_update BEFORE UPDATE ON event
BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: events cannot be changed'); END;
CREATE TRIGGER event_no_delete BEFORE DELETE ON event
BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: events cannot be deleted'); END;

CREATE TABLE template (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE comms_draft (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    kind TEXT NOT NULL CHECK (kind IN ('stakeholder_update', 'press_release')),
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    approved_by INTEGER REFERENCES person(id),
    approved_at TEXT,
    published_at TEXT,
    channel TEXT,
    published_by TEXT,
    UNIQUE (incident_id, kind, version)
);
-- A saved version never changes its text; once published nothing changes (a correction is a
-- new version).
CREATE TRIGGER comms_draft_text_fixed BEFORE UPDATE OF text, incident_id, kind, version
ON comms_draft
BEGIN SELECT RAISE(ABORT, 'a saved draft version cannot be changed: save a new version'); END;
CREATE TRIGGER comms_draft_published_fixed BEFORE UPDATE ON comms_draft
WHEN OLD.published_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a published text cannot be changed: save a correction'); END;

-- Every channel a draft version went out on (the first is also on comms_draft).
CREATE TABLE comms_publication (
    id INTEGER PRIMARY KEY,
    draft_id INTEGER NOT NULL REFERENCES comms_draft(id),
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'chat', 'manual')),
    target TEXT NOT NULL DEFAULT '',        -- stakeholder list, webhook name, or where by hand
    at TEXT NOT NULL,
    by TEXT NOT NULL DEFAULT '',
    queued INTEGER NOT NULL DEFAULT 0      -- outbox rows queued
);

-- Stakeholders: kept apart from the response team (they get updates, never alerts).
CREATE TABLE stakeholder_list (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE stakeholder_member (
    id INTEGER PRIMARY KEY,
    list_id INTEGER NOT NULL REFERENCES stakeholder_list(id) ON DELETE CASCADE,
    person_id INTEGER REFERENCES person(id) ON DELETE CASCADE,
    number TEXT,                            -- E.164, for someone not in the directory
    label TEXT NOT NULL DEFAULT '',
    CHECK ((person_id IS NULL) <> (number IS NULL)),
    UNIQUE (list_id, person_id),
    UNIQUE (list_id, number)
);

-- Chat incoming webhooks (Slack, Microsoft Teams, Mattermost) for approved updates.
CREATE TABLE chat_webhook (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('slack', 'teams', 'mattermost')),
    url TEXT NOT NULL
);

-- Exactly one dispatcher per database: whoever holds an unexpired lease sends.
CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The outbox's audit trail: every alert status, from queued to its end, append-only. Written
-- by triggers, so no code path can change an alert without a trace. Who: the dispatcher that
-- claimed the alert ("outbox" when it was queued); when: SQLite's clock, UTC.
CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    incident_id INTEGER,
    person_id INTEGER,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    error_code INTEGER
);
CREATE INDEX alert_history_alert ON alert_history(alert_id, id);
CREATE TRIGGER alert_history_queued AFTER INSERT ON alert
BEGIN
    INSERT INTO alert_history (alert_id, incident_id, person_id, at, actor, new_status)
    VALUES (NEW.id, NEW.incident_id, NEW.person_id,
            strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), 'outbox', NEW.status);
END;
CREATE TRIGGER alert_history_moved AFTER UPDATE OF status ON alert
WHEN NEW.status IS NOT OLD.status
BEGIN
    INSERT INTO alert_history (alert_id, incident_id, person_id, at, actor, old_status,
                               new_status, error_code)
    VALUES (NEW.id, NEW.incident_id, NEW.person_id,
            strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), COALESCE(NEW.claimed_by, 'outbox'),
            OLD.status, NEW.status, NEW.last_error_code);
END;
CREATE TRIGGER alert_history_no_update BEFORE UPDATE ON alert_history
BEGIN SELECT RAISE(ABORT, 'the alert history is append-only: it cannot be changed'); END;
CREATE TRIGGER alert_history_no_delete BEFORE DELETE ON alert_history
BEGIN SELECT RAISE(ABORT, 'the alert history is append-only: it cannot be deleted'); END;
"""


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    for statement in _split(SCHEMA_V1):
        db.execute(statement)


@migrations(name="0002_alert_route")
def alert_route(db: Database) -> None:
    """Which route carried each alert (twilio | modem; NULL until one took it), and the GSM
    modem's last health, written by the dispatcher that has the modem open (docs/routes.md)."""
    db.execute("ALTER TABLE alert ADD COLUMN route TEXT")
    db.execute(
        "CREATE TABLE modem_status ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " holder TEXT NOT NULL,"
        " checked_at TEXT NOT NULL,"
        " ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
        " summary TEXT NOT NULL,"
        " per_minute REAL"
        ")"
    )


def _split(script: str) -> list[str]:
    """Split a schema script into statements (trigger bodies keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def known_names() -> list[str]:
    return [m.name for m in migrations._migrations]


SCHEMA_SITES = """
-- Which site writes this database (two sites: docs/sites.md). One row, kept by the process
-- that replicates: its beat is what a standby measures its lag by.
CREATE TABLE site (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    holder TEXT NOT NULL,
    replica_url TEXT NOT NULL DEFAULT '',
    beat_at TEXT NOT NULL,
    since TEXT NOT NULL,
    reconcile_until TEXT            -- set by a take-over: see the trigger below
);

-- After a take-over, an alert this site queues may repeat one the old site sent in its last,
-- unreplicated second (an escalation due then, a help answer): until reconcile_until it is
-- marked uncertain, so the dispatcher looks it up at the provider before sending it.
CREATE TRIGGER alert_uncertain_after_takeover AFTER INSERT ON alert
WHEN NEW.provider_sid IS NULL
 AND NEW.created_at < (SELECT reconcile_until FROM site WHERE id = 1)
BEGIN
    UPDATE alert SET uncertain = 1 WHERE id = NEW.id;
END;

-- Organisation settings, shared by every console on every site (the config file keeps
-- secrets and per-machine choices). value is JSON.
CREATE TABLE setting (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
"""


@migrations(name="0003_sites")
def sites(db: Database) -> None:
    for statement in _split(SCHEMA_SITES):
        db.execute(statement)


@migrations(name="0004_bridge")
def bridge(db: Database) -> None:
    """Bridge calls (alert channel ``bridge``) and who is on each incident's bridge."""
    _rebuild_with(
        db,
        "alert",
        "CHECK (channel IN ('sms', 'voice', 'chat'))",
        "CHECK (channel IN ('sms', 'voice', 'chat', 'bridge'))",
    )
    for statement in _split(BRIDGE_PRESENCE):
        db.execute(statement)


BRIDGE_PRESENCE = """
-- Who is on the incident's Twilio bridge, per participant, as the last poll saw it. Joins and
-- leaves are also timeline events (kind 'bridge'); this row is the current view.
CREATE TABLE bridge_presence (
    participant_id INTEGER PRIMARY KEY REFERENCES participant(id) ON DELETE CASCADE,
    incident_id INTEGER NOT NULL REFERENCES incident(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('connected', 'left', 'voicemail')),
    since TEXT NOT NULL,                    -- when this state began
    muted INTEGER NOT NULL DEFAULT 0 CHECK (muted IN (0, 1)),
    call_sid TEXT,                          -- the call on the bridge (or the one voicemail took)
    connected_s REAL NOT NULL DEFAULT 0,    -- seconds on the bridge before the current stay
    joins INTEGER NOT NULL DEFAULT 0,
    first_at TEXT                           -- the first time on the bridge
);
CREATE INDEX bridge_presence_incident ON bridge_presence(incident_id, state);
"""


def _rebuild_with(db: Database, table: str, old: str, new: str) -> None:
    """Change a constraint of ``table`` the way SQLite allows: a new table from its own
    CREATE statement with ``old`` replaced by ``new``, the rows copied, its indexes and
    triggers made again. Whatever columns earlier migrations added are kept."""
    conn = db.conn
    sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()[0]
    if old not in sql:
        raise RuntimeError(f"migration: {table} has no {old!r} to change")
    extras = [
        row[0]
        for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name",
            [table],
        )
    ]
    staged = f"{table}_rebuilt"
    created = sql.replace(old, new).replace(f"CREATE TABLE {table}", f"CREATE TABLE {staged}", 1)
    conn.execute(created)
    conn.execute(f"INSERT INTO {staged} SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {staged} RENAME TO {table}")
    for statement in extras:
        conn.execute(statement)


TAMPER_EVIDENT = """
-- INSERT OR REPLACE deletes the row it replaces without firing a DELETE trigger: refuse any
-- insert that names an id already used, on the timeline and on the alert history.
CREATE TRIGGER event_no_replace BEFORE INSERT ON event
WHEN EXISTS (SELECT 1 FROM event WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: an event cannot be replaced'); END;
CREATE TRIGGER alert_history_no_replace BEFORE INSERT ON alert_history
WHEN EXISTS (SELECT 1 FROM alert_history WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the alert history is append-only: it cannot be replaced'); END;
-- What the timeline refers to stays, even from a connection with foreign keys off.
CREATE TRIGGER incident_keeps_timeline BEFORE DELETE ON incident
WHEN EXISTS (SELECT 1 FROM event WHERE incident_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'an incident with a timeline cannot be deleted'); END;
CREATE TRIGGER participant_keeps_timeline BEFORE DELETE ON participant
WHEN EXISTS (SELECT 1 FROM event WHERE incident_id = OLD.incident_id
             AND (person_id = OLD.person_id OR json_extract(data, '$.participant') = OLD.id))
BEGIN SELECT RAISE(ABORT, 'a participant named in the timeline cannot be deleted'); END;
CREATE TRIGGER alert_keeps_history BEFORE DELETE ON alert
WHEN EXISTS (SELECT 1 FROM alert_history WHERE alert_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'an alert with a history cannot be deleted'); END;
"""


@migrations(name="0005_tamper_evident_timeline")
def tamper_evident(db: Database) -> None:
    """Triggers that hold from any connection, and the timeline's hash chain
    (``data/timeline.py``) over the events already there."""
    from mim_console.data.timeline import backfill

    db.execute("ALTER TABLE event ADD COLUMN prev_hash TEXT")
    db.execute("ALTER TABLE event ADD COLUMN hash TEXT")
    db.execute("DROP TRIGGER event_no_update")  # once, to hash what is there
    backfill(db)
    db.execute(
        "CREATE TRIGGER event_no_update BEFORE UPDATE ON event\n"
        "BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: events cannot be changed'); END"
    )
    for statement in _split(TAMPER_EVIDENT):
        db.execute(statement)
