"""Storage for communications: edited templates, draft versions, stakeholder lists, webhooks.

Every function takes the ``Database`` of an open ``store.read()`` / ``store.write()`` and returns
domain dataclasses. The rules that must hold whatever the caller does are in the schema: a saved
version's text never changes and a published version never changes at all (triggers).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from mim_console.clock import from_iso, to_iso
from mim_console.data import directory
from mim_console.domain import templates
from mim_console.domain.comms import (
    ChatWebhook,
    Draft,
    Publication,
    StakeholderList,
    StakeholderMember,
    TemplateInfo,
)
from mim_console.errors import NotFound, UserError


def _rows(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in db.query(sql, params)]


def _dt(value: Any) -> datetime | None:
    return from_iso(value) if value else None


# --- templates ----------------------------------------------------------------------------


def custom_template(db: Database, name: str) -> str | None:
    """The organisation's edited text for ``name``, if it saved one."""
    rows = _rows(db, "SELECT body FROM template WHERE name = ?", [name])
    return str(rows[0]["body"]) if rows else None


def template_text(db: Database, name: str) -> str:
    """The organisation's text for ``name``, or the default."""
    templates.spec(name)
    custom = custom_template(db, name)
    return custom if custom is not None else templates.SPECS[name].default


def custom_templates(db: Database) -> dict[str, str]:
    return {str(r["name"]): str(r["body"]) for r in _rows(db, "SELECT name, body FROM template")}


def list_templates(db: Database) -> list[TemplateInfo]:
    stored = {str(r["name"]): r for r in _rows(db, "SELECT * FROM template")}
    out = []
    for name, spec in templates.SPECS.items():
        row = stored.get(name)
        out.append(
            TemplateInfo(
                name=name,
                label=spec.label,
                channel=spec.channel,
                customised=row is not None,
                text=str(row["body"]) if row else spec.default,
                updated_at=_dt(row["updated_at"]) if row else None,
            )
        )
    return out


def save_template(db: Database, name: str, body: str, now: datetime) -> None:
    """Validate, then store; the default text itself is stored as "no customisation"."""
    templates.validate(name, body)
    if body == templates.SPECS[name].default:
        db.execute("DELETE FROM template WHERE name = ?", [name])
        return
    db.execute(
        "INSERT INTO template (name, body, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        [name, body, to_iso(now)],
    )


def reset_template(db: Database, name: str) -> bool:
    templates.spec(name)
    return db.execute("DELETE FROM template WHERE name = ?", [name]).rowcount > 0


# --- people (only what communications needs) -----------------------------------------------


def find_person(db: Database, ref: str) -> dict[str, Any]:
    """A person by the directory's one rule (``directory.find_person``: id, ``#id``, ext_id,
    email, name or a unique part of it), as a row."""
    try:
        person = directory.find_person(db, ref)
    except NotFound as exc:
        raise NotFound(f'no person "{ref.strip()}": give their id, email or name') from exc
    return _rows(db, "SELECT * FROM person WHERE id = ?", [person.id])[0]


def person_name(db: Database, person_id: int) -> str | None:
    rows = _rows(db, "SELECT name FROM person WHERE id = ?", [person_id])
    return str(rows[0]["name"]) if rows else None


def is_mrt_member(db: Database, person_id: int) -> bool:
    """On some party's MRT seat (primary or deputy)."""
    rows = _rows(db, "SELECT 1 FROM party_member WHERE person_id = ? LIMIT 1", [person_id])
    return bool(rows)


# --- drafts -------------------------------------------------------------------------------

_DRAFT_SELECT = (
    "SELECT d.*, p.name AS approved_by_name FROM comms_draft d "
    "LEFT JOIN person p ON p.id = d.approved_by "
)


def _draft(row: Mapping[str, Any]) -> Draft:
    return Draft(
        id=int(row["id"]),
        incident_id=int(row["incident_id"]),
        kind=str(row["kind"]),
        version=int(row["version"]),
        text=str(row["text"]),
        created_at=from_iso(str(row["created_at"])),
        created_by=str(row["created_by"] or ""),
        approved_by=row["approved_by"],
        approved_by_name=str(row.get("approved_by_name") or ""),
        approved_at=_dt(row["approved_at"]),
        published_at=_dt(row["published_at"]),
        channel=row["channel"],
        published_by=row["published_by"],
    )


def insert_draft(
    db: Database, incident_id: int, kind: str, text: str, by: str, now: datetime
) -> Draft:
    """The next version number for this incident and kind; earlier versions stay as they are."""
    row = db.execute(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM comms_draft WHERE incident_id = ? AND kind = ?",
        [incident_id, kind],
    ).fetchone()
    cursor = db.execute(
        "INSERT INTO comms_draft (incident_id, kind, version, text, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [incident_id, kind, int(row[0]), text, to_iso(now), by],
    )
    return draft_by_id(db, int(cursor.lastrowid or 0))


def draft_by_id(db: Database, draft_id: int) -> Draft:
    rows = _rows(db, _DRAFT_SELECT + "WHERE d.id = ?", [draft_id])
    if not rows:
        raise NotFound(f"no draft with id {draft_id}")
    return _draft(rows[0])


def drafts(db: Database, incident_id: int, kind: str | None = None) -> list[Draft]:
    sql = _DRAFT_SELECT + "WHERE d.incident_id = ?"
    params: list[Any] = [incident_id]
    if kind:
        sql += " AND d.kind = ?"
        params.append(kind)
    return [_draft(r) for r in _rows(db, sql + " ORDER BY d.kind, d.version", params)]


def find_draft(db: Database, incident_id: int, kind: str, version: int) -> Draft:
    rows = _rows(
        db,
        _DRAFT_SELECT + "WHERE d.incident_id = ? AND d.kind = ? AND d.version = ?",
        [incident_id, kind, version],
    )
    if not rows:
        raise NotFound(f"no {kind.replace('_', ' ')} version {version} for this incident")
    return _draft(rows[0])


def set_approved(db: Database, draft_id: int, person_id: int, now: datetime) -> Draft:
    _guarded(
        db,
        "UPDATE comms_draft SET approved_by = ?, approved_at = ? WHERE id = ?",
        [person_id, to_iso(now), draft_id],
    )
    return draft_by_id(db, draft_id)


def set_published(
    db: Database,
    draft_id: int,
    *,
    channel: str,
    target: str,
    by: str,
    now: datetime,
    queued: int,
) -> Publication:
    """Record one publication; the draft's own columns keep the first one."""
    current = draft_by_id(db, draft_id)
    if current.published_at is None:
        _guarded(
            db,
            "UPDATE comms_draft SET published_at = ?, channel = ?, published_by = ? WHERE id = ?",
            [to_iso(now), channel, by, draft_id],
        )
    cursor = db.execute(
        "INSERT INTO comms_publication (draft_id, channel, target, at, by, queued) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [draft_id, channel, target, to_iso(now), by, queued],
    )
    return Publication(int(cursor.lastrowid or 0), draft_id, channel, target, now, by, queued)


def publications(db: Database, incident_id: int) -> list[Publication]:
    rows = _rows(
        db,
        "SELECT p.* FROM comms_publication p JOIN comms_draft d ON d.id = p.draft_id "
        "WHERE d.incident_id = ? ORDER BY p.at, p.id",
        [incident_id],
    )
    return [
        Publication(
            int(r["id"]),
            int(r["draft_id"]),
            str(r["channel"]),
            str(r["target"]),
            from_iso(str(r["at"])),
            str(r["by"]),
            int(r["queued"]),
        )
        for r in rows
    ]


def _guarded(db: Database, sql: str, params: list[Any]) -> None:
    """Run an update the schema may refuse, turning the trigger's refusal into plain words."""
    try:
        db.execute(sql, params)
    except sqlite3.IntegrityError as exc:
        raise UserError(str(exc)) from exc


# --- stakeholder lists --------------------------------------------------------------------


def _list_row(db: Database, name: str) -> dict[str, Any]:
    rows = _rows(db, "SELECT * FROM stakeholder_list WHERE name = ? COLLATE NOCASE", [name])
    if not rows:
        raise NotFound(f'no stakeholder list "{name}": `mim-console comms lists` shows them')
    return rows[0]


def create_list(db: Database, name: str, description: str = "") -> StakeholderList:
    clean = " ".join(name.split())
    if not clean:
        raise UserError("a stakeholder list needs a name")
    if _rows(db, "SELECT 1 FROM stakeholder_list WHERE name = ? COLLATE NOCASE", [clean]):
        raise UserError(f'a stakeholder list "{clean}" already exists')
    db.execute(
        "INSERT INTO stakeholder_list (name, description) VALUES (?, ?)", [clean, description]
    )
    return stakeholder_list(db, clean)


def ensure_list(db: Database, name: str) -> StakeholderList:
    clean = " ".join(name.split())
    if _rows(db, "SELECT 1 FROM stakeholder_list WHERE name = ? COLLATE NOCASE", [clean]):
        return stakeholder_list(db, clean)
    return create_list(db, clean)


def delete_list(db: Database, name: str) -> None:
    row = _list_row(db, name)
    db.execute("DELETE FROM stakeholder_list WHERE id = ?", [row["id"]])


def _members(db: Database, list_id: int) -> tuple[StakeholderMember, ...]:
    rows = _rows(
        db,
        "SELECT m.id, m.list_id, m.person_id, COALESCE(p.mobile, m.number) AS number, "
        "CASE WHEN p.id IS NULL THEN m.label ELSE p.name END AS label, p.active AS active "
        "FROM stakeholder_member m LEFT JOIN person p ON p.id = m.person_id "
        "WHERE m.list_id = ? ORDER BY label COLLATE NOCASE, m.id",
        [list_id],
    )
    return tuple(
        StakeholderMember(
            int(r["id"]), int(r["list_id"]), str(r["number"]), str(r["label"]), r["person_id"]
        )
        for r in rows
        if r["active"] is None or r["active"]
    )


def stakeholder_list(db: Database, name: str) -> StakeholderList:
    row = _list_row(db, name)
    return StakeholderList(
        int(row["id"]), str(row["name"]), str(row["description"]), _members(db, int(row["id"]))
    )


def stakeholder_lists(db: Database) -> list[StakeholderList]:
    rows = _rows(db, "SELECT * FROM stakeholder_list ORDER BY name COLLATE NOCASE")
    return [
        StakeholderList(
            int(r["id"]), str(r["name"]), str(r["description"]), _members(db, int(r["id"]))
        )
        for r in rows
    ]


def add_member(
    db: Database,
    list_name: str,
    *,
    person_id: int | None = None,
    number: str | None = None,
    label: str = "",
) -> bool:
    """Add a person or a plain E.164 number; False if already on the list."""
    row = _list_row(db, list_name)
    if (person_id is None) == (number is None):
        raise ValueError("give exactly one of person_id and number")
    cursor = db.execute(
        "INSERT OR IGNORE INTO stakeholder_member (list_id, person_id, number, label) "
        "VALUES (?, ?, ?, ?)",
        [row["id"], person_id, number, label],
    )
    return cursor.rowcount > 0


def remove_member(
    db: Database, list_name: str, *, person_id: int | None = None, number: str | None = None
) -> bool:
    row = _list_row(db, list_name)
    if person_id is not None:
        sql, key = "person_id = ?", person_id
    else:
        sql, key = "number = ?", number  # type: ignore[assignment]
    cursor = db.execute(
        f"DELETE FROM stakeholder_member WHERE list_id = ? AND {sql}", [row["id"], key]
    )
    return cursor.rowcount > 0


# --- chat webhooks ------------------------------------------------------------------------


def save_webhook(db: Database, name: str, kind: str, url: str) -> None:
    db.execute(
        "INSERT INTO chat_webhook (name, kind, url) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, url = excluded.url",
        [name, kind, url],
    )


def webhooks(db: Database) -> list[ChatWebhook]:
    rows = _rows(db, "SELECT * FROM chat_webhook ORDER BY name COLLATE NOCASE")
    return [ChatWebhook(str(r["name"]), str(r["kind"]), str(r["url"])) for r in rows]


def webhook(db: Database, name: str) -> ChatWebhook:
    rows = _rows(db, "SELECT * FROM chat_webhook WHERE name = ? COLLATE NOCASE", [name])
    if not rows:
        raise NotFound(f'no chat webhook "{name}": `mim-console comms webhooks` shows them')
    r = rows[0]
    return ChatWebhook(str(r["name"]), str(r["kind"]), str(r["url"]))


def webhook_url(db: Database, name: str) -> str | None:
    """The URL of webhook ``name`` (any case) at this moment, or None if it was removed."""
    rows = _rows(db, "SELECT url FROM chat_webhook WHERE name = ? COLLATE NOCASE", [name])
    return str(rows[0]["url"]) if rows else None


def delete_webhook(db: Database, name: str) -> bool:
    return db.execute("DELETE FROM chat_webhook WHERE name = ? COLLATE NOCASE", [name]).rowcount > 0
