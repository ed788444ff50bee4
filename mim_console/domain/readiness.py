"""The readiness check: what preparation is missing before a major incident can be run well.

"It is too late to begin planning when a MIM case is triggered." Each failing finding names the
thing to fix and the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mim_console.domain.people import Party, Person, SpecialistGroup


@dataclass(frozen=True)
class Finding:
    check: str  # criteria | party_seat | mobile | verified | rotation_gap | group_size | bridge
    #             | templates | duty_rotation
    ok: bool
    subject: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class ReadinessInput:
    parties: Sequence[Party]
    groups: Sequence[SpecialistGroup]
    people: Mapping[int, Person]
    duty_rotation_exists: bool
    # rotation name -> human-readable gap descriptions in the next 30 days
    rotation_gaps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    party_rotations: Mapping[int, str] = field(default_factory=dict)  # party id -> rotation name
    bridge_configured: bool = False
    criteria: str = ""
    template_problems: Sequence[str] = ()
    verify_within_days: int = 90


def check(
    data: ReadinessInput, now: datetime, valid_mobile: Callable[[str], str | None]
) -> list[Finding]:
    """All findings, passing ones included; ``valid_mobile`` returns a reason or None."""
    findings: list[Finding] = []
    add = findings.append

    if data.criteria.strip():
        add(Finding("criteria", True, "declaration criteria", "written down"))
    else:
        add(
            Finding(
                "criteria",
                False,
                "declaration criteria",
                "the criteria for declaring a major incident are not written down",
                "set `declare_criteria` in the config file (`mim-console config path`)",
            )
        )

    def active(person_id: int) -> Person | None:
        person = data.people.get(person_id)
        return person if person is not None and person.active else None

    mrt_ids: set[int] = set()
    for party in data.parties:
        reps = [p for p in (active(i) for i in party.representatives) if p is not None]
        mrt_ids.update(p.id for p in reps)
        with_authority = [p for p in reps if p.decision_authority]
        if party.id in data.party_rotations:
            # The seat follows a rotation: its gaps are checked below.
            add(Finding("party_seat", True, party.name, "seat held by a rotation"))
            continue
        if not with_authority:
            add(
                Finding(
                    "party_seat",
                    False,
                    party.name,
                    f'party "{party.name}" has no active representative with decision authority',
                    f'`mim-console party set-reps "{party.name}" PERSON…` with someone who has '
                    "decision authority (`mim-console person edit PERSON --authority`)",
                )
            )
        elif len(reps) < 2:
            add(
                Finding(
                    "party_seat",
                    False,
                    party.name,
                    f'party "{party.name}" has no deputy',
                    f'`mim-console party set-reps "{party.name}" PRIMARY DEPUTY…`',
                )
            )
        else:
            add(Finding("party_seat", True, party.name, f"{len(reps)} representatives"))

    specialist_ids: set[int] = set()
    for group in data.groups:
        members = [p for p in (active(i) for i in group.members) if p is not None]
        specialist_ids.update(p.id for p in members)
        if len(members) < 2:
            add(
                Finding(
                    "group_size",
                    False,
                    group.name,
                    f'specialist group "{group.name}" has {len(members)} active member(s); '
                    "it needs at least two",
                    f'`mim-console group set-members "{group.name}" PERSON PERSON…`',
                )
            )
        else:
            add(Finding("group_size", True, group.name, f"{len(members)} active members"))

    stale_before = now - timedelta(days=data.verify_within_days)
    for person_id in sorted(mrt_ids | specialist_ids, key=lambda i: data.people[i].name.casefold()):
        person = data.people[person_id]
        reason = valid_mobile(person.mobile)
        if reason:
            add(
                Finding(
                    "mobile",
                    False,
                    person.name,
                    f"{person.name}: mobile {reason}",
                    f"`mim-console person edit {person.id} --mobile NUMBER`",
                )
            )
        if person.verified_at is None or person.verified_at < stale_before:
            when = "never" if person.verified_at is None else person.verified_at.date().isoformat()
            add(
                Finding(
                    "verified",
                    False,
                    person.name,
                    f"{person.name}: contact not verified in the last "
                    f"{data.verify_within_days} days (last: {when})",
                    f"`mim-console verify {person.id}` sends a test SMS; a reply verifies",
                )
            )

    if data.duty_rotation_exists:
        add(Finding("duty_rotation", True, "duty managers", "a duty rotation exists"))
    else:
        add(
            Finding(
                "duty_rotation",
                False,
                "duty managers",
                "there is no duty-manager rotation",
                "`mim-console rota create …` with role duty_manager",
            )
        )
    for name, gaps in sorted(data.rotation_gaps.items()):
        if gaps:
            add(
                Finding(
                    "rotation_gap",
                    False,
                    name,
                    f'rotation "{name}" has no active person on duty: '
                    + "; ".join(gaps[:3])
                    + (f" (and {len(gaps) - 3} more)" if len(gaps) > 3 else ""),
                    f'add an override (`mim-console rota override add "{name}" …`) or '
                    "reactivate the member",
                )
            )
        else:
            add(Finding("rotation_gap", True, name, "no gap in the next 30 days"))

    if data.bridge_configured:
        add(Finding("bridge", True, "conference bridge", "configured"))
    else:
        add(
            Finding(
                "bridge",
                False,
                "conference bridge",
                "no conference bridge is configured",
                "set [bridge] number, pin and url in the config file",
            )
        )
    if data.template_problems:
        for problem in data.template_problems:
            add(Finding("templates", False, "templates", problem, "`mim-console comms templates`"))
    else:
        add(Finding("templates", True, "templates", "all templates valid"))
    return findings


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]
