"""Approval by proxy: an approver who has not joined the incident is refused unless the duty
manager confirms "approving without joining", and the timeline says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mim_console.data.store import Store
from mim_console.errors import UserError
from mim_console.services.comms import CommsService, NotJoined
from mim_console.services.context import Context
from mim_console.services.incidents import IncidentService
from tests.test_comms import events, run, seed


def test_approver_who_has_not_joined_is_refused_then_recorded_as_such(
    context: Context,
) -> None:
    seed(context.store, approver_joined=False)
    svc = CommsService(context)
    d = svc.draft("MI-2026-007", "stakeholder_update", "Payments down; next update 10:00")
    assert svc.approver_joined("MI-2026-007", "stakeholder_update", d.version, "Alice Ops") == (
        "Alice Ops",
        False,
    )
    with pytest.raises(NotJoined, match="Alice Ops has not joined MI-2026-007"):
        svc.approve("MI-2026-007", "stakeholder_update", d.version, "Alice Ops")
    assert svc.version("MI-2026-007", "stakeholder_update", d.version).approved_by is None
    assert events(context.store, "comms_approved") == []
    # The other refusals come first: the question is only asked of someone who may approve.
    with pytest.raises(UserError, match="no decision authority"):
        svc.approver_joined("MI-2026-007", "stakeholder_update", d.version, "Carol Ops")
    done = svc.approve(
        "MI-2026-007", "stakeholder_update", d.version, "Alice Ops", without_joining=True
    )
    assert done.approved_by_name == "Alice Ops"
    [event] = events(context.store, "comms_approved")
    assert event["text"].endswith("approved by Alice Ops without joining the incident")
    assert '"joined": false' in event["data"]
    text = [e.text for e in IncidentService(context).timeline("MI-2026-007")]
    assert "stakeholder update version 1 approved by Alice Ops without joining the incident" in text


def test_an_approver_who_joined_needs_no_question(context: Context) -> None:
    seed(context.store)
    svc = CommsService(context)
    d = svc.draft("MI-2026-007", "stakeholder_update", "Payments down; next update 10:00")
    assert svc.approver_joined("MI-2026-007", "stakeholder_update", 1, "Alice Ops")[1] is True
    svc.approve("MI-2026-007", "stakeholder_update", d.version, "Alice Ops")
    [event] = events(context.store, "comms_approved")
    assert event["text"] == "stakeholder update version 1 approved by Alice Ops"


def test_cli_approve_needs_without_joining(db_path: Path) -> None:
    store = Store(db_path)
    seed(store, approver_joined=False)
    store.close()
    assert run(db_path, "comms", "draft", "MI-2026-007").exit_code == 0
    refused = run(db_path, "comms", "approve", "MI-2026-007", "1", "--by", "Alice Ops")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "Alice Ops has not joined MI-2026-007" in refused.output
    assert "--without-joining" in refused.output
    done = run(
        db_path, "comms", "approve", "MI-2026-007", "1", "--by", "Alice Ops", "--without-joining"
    )
    assert done.exit_code == 0 and "approved by Alice Ops" in done.output
    timeline = json.loads(run(db_path, "timeline", "MI-2026-007", "--json").output)
    texts = [e["text"] for e in timeline]
    assert "stakeholder update version 1 approved by Alice Ops without joining the incident" in (
        texts
    )
