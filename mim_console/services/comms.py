"""Communications the MRT owns: templates, drafts with approval, publication, update rhythm.

Every step is one transaction (``store.write()``) with its timeline event, so a draft is never
approved or published without the timeline saying so. Stakeholder SMS and chat posts are outbox
rows (purpose ``stakeholder``) sent by the dispatcher like any alert: a chat tool that is down
delays its post, never anything else. Stakeholder lists are the only recipients of a
stakeholder broadcast: the response team is never on the path, and response-team alerts
(``services/incidents.py``) never read the stakeholder lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from mim_console.data import comms as repo
from mim_console.data import incidents as incidents_repo
from mim_console.data.files import write_file
from mim_console.domain import templates
from mim_console.domain.comms import (
    CHAT_KINDS,
    ChatWebhook,
    Draft,
    DraftState,
    Publication,
    StakeholderList,
    TemplateInfo,
    diff,
    kind_label,
)
from mim_console.domain.incident import Incident, IncidentStatus
from mim_console.domain.text import webhook_url_problem
from mim_console.errors import UserError
from mim_console.services.context import Context
from mim_console.services.publishing import Publishing, check_kind
from mim_console.services.publishing import local_time as local_time

TEMPLATE_SUFFIX = ".txt"


class NotJoined(UserError):
    """An approver who has not joined the incident, without "approving without joining"."""


def _approval(
    db: Database, incident_ref: str, kind: str, version: int, person_ref: str
) -> tuple[Incident, Draft, dict[str, Any], bool]:
    """The incident, the version and the approver, refused in words unless the approver may
    approve it; and whether they joined the incident (on standby since counts: they took part)."""
    inc = incidents_repo.find_incident(db, incident_ref)
    current = repo.find_draft(db, inc.id, kind, version)
    person = repo.find_person(db, person_ref)
    name = str(person["name"])
    if not person["decision_authority"]:
        raise UserError(
            f"{name} has no decision authority: a {kind_label(kind)} must be approved "
            "by an MRT member with decision authority"
        )
    if not person["active"]:
        raise UserError(f"{name} is inactive and cannot approve")
    if not repo.is_mrt_member(db, int(person["id"])):
        raise UserError(
            f"{name} is not on any party's MRT seat: only MRT members approve communications"
        )
    if current.state is DraftState.PUBLISHED:
        raise UserError(
            f"{kind_label(kind)} version {version} is already published and cannot "
            "change; save a correction as a new version"
        )
    if current.state is DraftState.APPROVED:
        raise UserError(
            f"{kind_label(kind)} version {version} was already approved by "
            f"{current.approved_by_name}"
        )
    p = incidents_repo.participant_for(db, inc.id, int(person["id"]))
    return inc, current, person, p is not None and p.joined_at is not None


@dataclass(frozen=True)
class DueUpdate:
    """An incident whose next stakeholder update is due (or overdue) for the duty manager."""

    incident: Incident
    due_at: datetime
    overdue_min: float


class CommsService(Publishing):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- templates ----------------------------------------------------------------------

    def templates(self) -> list[TemplateInfo]:
        with self.store.read() as db:
            return repo.list_templates(db)

    def template_text(self, name: str) -> str:
        with self.store.read() as db:
            return repo.template_text(db, name)

    def save_template(self, name: str, body: str) -> None:
        """Refused with the reason if a placeholder is unknown or a brace is malformed."""
        templates.validate(name, body)
        now = self.ctx.clock()
        with self.store.write() as db:
            repo.save_template(db, name, body, now)
            incidents_repo.append_event(
                db,
                incident_id=None,
                at=now,
                actor=self.ctx.actor,
                kind="template_saved",
                text=f"template {name} saved",
                data={"template": name},
            )

    def reset_template(self, name: str) -> bool:
        with self.store.write() as db:
            return repo.reset_template(db, name)

    def export_templates(self, folder: Path) -> list[Path]:
        """Every template as ``<name>.txt`` (the organisation's text, else the default)."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for info in self.templates():
            path = folder / f"{info.name}{TEMPLATE_SUFFIX}"
            write_file(path, info.text.encode("utf-8"), mode=0o644)  # never through a link
            written.append(path)
        return written

    def import_templates(self, source: Path) -> list[str]:
        """Import ``<name>.txt`` files (a folder or one file): all valid, or nothing changes."""
        if source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix == TEMPLATE_SUFFIX)
            if not files:
                raise UserError(f"{source}: no {TEMPLATE_SUFFIX} template files found")
        elif source.is_file():
            files = [source]
        else:
            raise UserError(f"{source}: no such file or folder")
        loaded: dict[str, str] = {}
        problems = []
        for path in files:
            name = path.stem
            if name not in templates.SPECS:
                problems.append(
                    f"{path.name}: not a template name (use one of {', '.join(templates.NAMES)})"
                )
                continue
            try:
                body = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                problems.append(f"{path.name}: not UTF-8 text (byte {exc.start})")
                continue
            except OSError as exc:
                problems.append(f"{path.name}: cannot read ({exc.strerror})")
                continue
            # Editors add a final newline; one-line templates do not mean it.
            if templates.SPECS[name].channel != "text":
                body = body.rstrip("\n")
            try:
                templates.validate(name, body)
            except UserError as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            loaded[name] = body
        if problems:
            raise UserError("nothing imported:\n" + "\n".join(problems))
        now = self.ctx.clock()
        with self.store.write() as db:
            for name, body in loaded.items():
                repo.save_template(db, name, body, now)
            incidents_repo.append_event(
                db,
                incident_id=None,
                at=now,
                actor=self.ctx.actor,
                kind="template_saved",
                text=f"templates imported: {', '.join(loaded)}",
                data={"templates": list(loaded)},
            )
        return list(loaded)

    # --- rendering ----------------------------------------------------------------------

    def values(self, inc: Incident, db: Database | None = None) -> dict[str, object]:
        bridge = self.ctx.settings.bridge
        spokesperson = ""
        if inc.spokesperson_id is not None and db is not None:
            spokesperson = repo.person_name(db, inc.spokesperson_id) or ""
        return {
            "incident_code": inc.code,
            "reply_code": inc.reply_code,
            "title": inc.title,
            "severity": inc.severity,
            "bridge": templates.bridge_text(bridge.number, bridge.pin, bridge.url),
            "next_update": local_time(inc.next_update_at) or "to be announced",
            "status": _status_words(inc.status),
            "organisation": self.ctx.settings.organisation,
            "update_time": local_time(self.ctx.clock()),
            "spokesperson": spokesperson or "the major incident response team",
            "exercise": inc.exercise,
        }

    def render(self, name: str, inc: Incident) -> str:
        with self.store.read() as db:
            return templates.render(name, repo.template_text(db, name), self.values(inc, db))

    # --- drafts -------------------------------------------------------------------------

    def draft(self, incident_ref: str, kind: str, text: str | None = None) -> Draft:
        """Save a new version: ``text``, or (None) the template filled in for this incident."""
        check_kind(kind)
        if text is not None and not text.strip():
            raise UserError(f"the {kind_label(kind)} text is empty: nothing saved")
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            if text is None:
                text = templates.render(kind, repo.template_text(db, kind), self.values(inc, db))
            elif inc.exercise and not text.startswith(templates.EXERCISE_PREFIX):
                text = f"{templates.EXERCISE_PREFIX}: {text}"
            saved = repo.insert_draft(db, inc.id, kind, text, self.ctx.actor, now)
            incidents_repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="comms_draft",
                text=f"{kind_label(kind)} version {saved.version} saved",
                data={"draft_id": saved.id, "kind": kind, "version": saved.version},
            )
            return saved

    def versions(self, incident_ref: str, kind: str | None = None) -> list[Draft]:
        if kind is not None:
            check_kind(kind)
        with self.store.read() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            return repo.drafts(db, inc.id, kind)

    def version(self, incident_ref: str, kind: str, version: int | None = None) -> Draft:
        """One version; None = the latest."""
        check_kind(kind)
        with self.store.read() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            if version is None:
                found = repo.drafts(db, inc.id, kind)
                if not found:
                    raise UserError(f"{inc.code} has no {kind_label(kind)} yet")
                return found[-1]
            return repo.find_draft(db, inc.id, kind, version)

    def diff(self, incident_ref: str, kind: str, old: int, new: int) -> str:
        return diff(self.version(incident_ref, kind, old), self.version(incident_ref, kind, new))

    def approver_joined(
        self, incident_ref: str, kind: str, version: int, person_ref: str
    ) -> tuple[str, bool]:
        """The approver's name and whether they joined the incident, after the same refusals
        as ``approve`` (the screen asks about approving without joining); nothing is written."""
        check_kind(kind)
        with self.store.read() as db:
            _, _, person, joined = _approval(db, incident_ref, kind, version, person_ref)
            return str(person["name"]), joined

    def approve(
        self,
        incident_ref: str,
        kind: str,
        version: int,
        person_ref: str,
        *,
        without_joining: bool = False,
    ) -> Draft:
        """Approval by an MRT member with decision authority; recorded with who and when. An
        approver who has not joined the incident is refused unless ``without_joining`` (the
        duty manager confirmed "approving without joining"), and the timeline says so."""
        check_kind(kind)
        now = self.ctx.clock()
        with self.store.write() as db:
            inc, current, person, joined = _approval(db, incident_ref, kind, version, person_ref)
            name = str(person["name"])
            if not joined and not without_joining:
                raise NotJoined(
                    f"{name} has not joined {inc.code}: approving without joining needs a "
                    "confirmation (--without-joining)"
                )
            approved = repo.set_approved(db, current.id, int(person["id"]), now)
            incidents_repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="comms_approved",
                person_id=int(person["id"]),
                text=f"{kind_label(kind)} version {version} approved by {name}"
                + ("" if joined else " without joining the incident"),
                data={"draft_id": current.id, "kind": kind, "version": version, "joined": joined},
            )
            return approved

    def publications(self, incident_ref: str) -> list[Publication]:
        with self.store.read() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            return repo.publications(db, inc.id)

    # --- update rhythm ------------------------------------------------------------------

    def set_next_update(self, incident_ref: str, minutes: float) -> Incident:
        """The MRT's promise: the next stakeholder update is due ``minutes`` from now."""
        if not 0 < minutes <= 24 * 60:
            raise UserError(f"--in {minutes:g}: give minutes between 1 and 1440")
        now = self.ctx.clock()
        due = now + timedelta(minutes=minutes)
        with self.store.write() as db:
            inc = incidents_repo.find_incident(db, incident_ref)
            if inc.status is IncidentStatus.CLOSED:
                raise UserError(f"{inc.code} is closed: no further updates are due")
            updated = incidents_repo.update_incident(db, inc.id, next_update_at=due)
            incidents_repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="next_update_set",
                text=f"next stakeholder update due {local_time(due)}",
                data={"next_update_at": due.isoformat()},
            )
            return updated

    def due(self, now: datetime | None = None) -> list[DueUpdate]:
        """Open incidents whose stakeholder update is due: for the duty manager's reminder."""
        moment = now or self.ctx.clock()
        with self.store.read() as db:
            found = []
            for inc in incidents_repo.list_incidents(db):
                if inc.next_update_at is not None and inc.next_update_at <= moment:
                    overdue = (moment - inc.next_update_at).total_seconds() / 60
                    found.append(DueUpdate(inc, inc.next_update_at, overdue))
            return found

    # --- stakeholder lists and webhooks --------------------------------------------------

    def lists(self) -> list[StakeholderList]:
        with self.store.read() as db:
            return repo.stakeholder_lists(db)

    def add_to_list(self, list_name: str, who: str, label: str = "") -> str:
        """Add a person (id, email or name) or a plain phone number; creates the list."""
        with self.store.write() as db:
            chosen = repo.ensure_list(db, list_name)
            number = self._number(who)
            if number is not None:
                added = repo.add_member(db, chosen.name, number=number, label=label)
                shown = f"{label} {number}".strip()
            else:
                person = repo.find_person(db, who)
                added = repo.add_member(db, chosen.name, person_id=int(person["id"]))
                shown = str(person["name"])
            return f"{shown} {'added to' if added else 'is already on'} {chosen.name}"

    def remove_from_list(self, list_name: str, who: str) -> bool:
        with self.store.write() as db:
            number = self._number(who)
            if number is not None:
                return repo.remove_member(db, list_name, number=number)
            person = repo.find_person(db, who)
            return repo.remove_member(db, list_name, person_id=int(person["id"]))

    def delete_list(self, list_name: str) -> None:
        with self.store.write() as db:
            repo.delete_list(db, list_name)

    def _number(self, text: str) -> str | None:
        """E.164 for something that looks like a phone number, else None (a person ref)."""
        stripped = text.strip()
        digits = [c for c in stripped if c.isdigit()]
        if any(c.isalpha() for c in stripped):
            return None
        if not stripped.startswith("+") and not (stripped.startswith("0") and len(digits) >= 5):
            return None
        import phonenumbers  # here: the console's start imports this module, not phonenumbers

        try:
            parsed = phonenumbers.parse(stripped, self.ctx.settings.default_region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise UserError(
                f'phone "{stripped}" is not a valid number: give it in international form, '
                "e.g. +358 40 123 4567"
            )
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))

    def webhooks(self) -> list[ChatWebhook]:
        with self.store.read() as db:
            return repo.webhooks(db)

    def add_webhook(self, name: str, kind: str, url: str) -> None:
        clean = name.strip()
        if not clean:
            raise UserError("a chat webhook needs a name")
        if kind not in CHAT_KINDS:
            raise UserError(f'unknown chat kind "{kind}": use {", ".join(CHAT_KINDS)}')
        if webhook_url_problem(url):  # https:// only (http:// to loopback, for tests)
            raise UserError(f'webhook URL for "{clean}" must start with https://')
        with self.store.write() as db:
            repo.save_webhook(db, clean, kind, url)

    def remove_webhook(self, name: str) -> bool:
        with self.store.write() as db:
            return repo.delete_webhook(db, name)


def render_message(
    db: Database, name: str, values: Mapping[str, object], *, exercise: bool | None = None
) -> str:
    """A message in the organisation's words (its edited template, else the default).

    For the incident service inside its own transaction. A stored template that no longer
    validates falls back to the default: a template problem must never stop a page going out.
    """
    try:
        return templates.render(name, repo.template_text(db, name), values, exercise=exercise)
    except UserError:
        return templates.render(name, None, values, exercise=exercise)


def _status_words(status: IncidentStatus) -> str:
    return {
        IncidentStatus.ACTIVE: "under investigation",
        IncidentStatus.RESTORED: "service restored",
        IncidentStatus.CLOSED: "closed",
    }.get(status, str(status))
