"""The end of an incident: service restored, close (everyone stood down, unsent alerts
withdrawn, the all-clear queued, a backup taken), the lessons and the problem case.

Close path: one transaction withdraws the alerts still queued (nobody is asked to join after
the all-clear), stands every participant down, queues the all-clear SMS if asked and records
the problem reference; the backup runs after the commit and never stops the close.
"""

from __future__ import annotations

from typing import Any

from mim_console.data import incidents as repo
from mim_console.data import outbox
from mim_console.data.outbox import enqueue
from mim_console.domain.alerts import Purpose
from mim_console.domain.incident import Incident, IncidentStatus, State
from mim_console.errors import UserError
from mim_console.services.escalation import Escalation


class Closing(Escalation):
    def restore(self, ref: str) -> Incident:
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            if inc.status is IncidentStatus.RESTORED:
                raise UserError(f"{inc.code} was already restored at {inc.restored_at}")
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="restored",
                text="service restored: business as usual",
            )
            return repo.update_incident(db, inc.id, status=IncidentStatus.RESTORED, restored_at=now)

    def close(
        self,
        ref: str,
        *,
        problem_ref: str | None = None,
        owner: str | None = None,
        summary: str | None = None,
        all_clear: bool = False,
        went_well: str | None = None,
        to_improve: str | None = None,
    ) -> Incident:
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = self._open(db, ref)
            parts = repo.participants(db, inc.id)
            people = self.directory.people_by_ids([p.person_id for p in parts])
            withdrawn = outbox.withdraw_unsent(
                db, inc.id, now, "withdrawn: the incident was closed before it could be sent"
            )
            for p in parts:
                if p.state is State.STOOD_DOWN:
                    continue
                person = people[p.person_id]
                self._move(
                    db, inc, p, person, State.STOOD_DOWN, now, via="close", actor=self.ctx.actor
                )
                if all_clear:
                    enqueue(db, [self._sms(db, inc, person, "stand_down", Purpose.STAND_DOWN)], now)
            changes: dict[str, Any] = {"status": IncidentStatus.CLOSED, "closed_at": now}
            if inc.restored_at is None:
                changes["restored_at"] = now
            for key, value in (
                ("problem_ref", problem_ref),
                ("problem_owner", owner),
                ("problem_summary", summary),
                ("went_well", went_well),
                ("to_improve", to_improve),
            ):
                if value is not None:
                    changes[key] = value.strip()
            closed = repo.update_incident(db, inc.id, **changes)
            text = "closed; everyone stood down" + (" (all-clear SMS sent)" if all_clear else "")
            if withdrawn:
                text += f"; {withdrawn} unsent alert(s) withdrawn"
            if closed.problem_ref:
                text += f"; problem case {closed.problem_ref}"
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="closed",
                text=text,
                data={
                    "problem_ref": closed.problem_ref,
                    "problem_owner": closed.problem_owner,
                    "all_clear": all_clear,
                    "withdrawn": withdrawn,
                },
            )
        from mim_console.services.backups import backup_after_close

        _, warning = backup_after_close(self.ctx, closed.code, now)  # never stops the close
        if warning:
            self.warnings.append(warning)
        return closed

    def lessons(self, ref: str, *, went_well: str | None, to_improve: str | None) -> Incident:
        """The duty manager's own words for the report; allowed after close too."""
        now = self.ctx.clock()
        with self.store.write() as db:
            inc = repo.find_incident(db, ref)
            changes = {
                k: v.strip()
                for k, v in (("went_well", went_well), ("to_improve", to_improve))
                if v is not None
            }
            if not changes:
                raise UserError("give --went-well and/or --to-improve")
            repo.append_event(
                db,
                incident_id=inc.id,
                at=now,
                actor=self.ctx.actor,
                kind="lessons",
                text="lessons learnt updated",
                data=changes,
            )
            return repo.update_incident(db, inc.id, **changes)

    def problem_case(self, ref: str) -> dict[str, Any]:
        """The Problem Management case as JSON for an ITSM tool (stable shape, docs/cli.md)."""
        with self.store.read() as db:
            inc = repo.find_incident(db, ref)
        return {
            "schema": "mim-console/problem-case/1",
            "problem_ref": inc.problem_ref,
            "owner": inc.problem_owner,
            "summary": inc.problem_summary,
            "incident": {
                "code": inc.code,
                "title": inc.title,
                "description": inc.description,
                "severity": inc.severity,
                "categories": list(inc.categories),
                "exercise": inc.exercise,
                "declared_at": inc.declared_at.isoformat(),
                "restored_at": inc.restored_at.isoformat() if inc.restored_at else None,
                "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
            },
        }
