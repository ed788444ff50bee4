"""The readiness check: what preparation is missing before a major incident can be run well.

"It is too late to begin planning when a MIM case is triggered." Each failing finding names the
thing to fix and the command (or config key) that fixes it; every command named here exists, with
the arguments shown. Pure: the caller gathers the input (``services/readiness.py``).
"""

from __future__ import annotations

import shlex
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
    person_id: int | None = None  # the person a mobile or verification finding is about


@dataclass(frozen=True)
class Problem:
    """A configuration problem found by the caller (templates), with its fix."""

    message: str
    fix: str
    subject: str = "templates"


@dataclass(frozen=True)
class ReadinessInput:
    parties: Sequence[Party]
    groups: Sequence[SpecialistGroup]
    people: Mapping[int, Person]
    duty_rotation_exists: bool
    # rotation name -> human-readable gap descriptions in the next 30 days
    rotation_gaps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    party_rotations: Mapping[int, str] = field(default_factory=dict)  # party id -> rotation name
    # person id -> why their latest contact check SMS failed (only when it failed)
    failed_checks: Mapping[int, str] = field(default_factory=dict)
    # party id -> the members of the rotation holding its seat, in order
    seat_rotation_members: Mapping[int, Sequence[int]] = field(default_factory=dict)
    bridge_configured: bool = False
    criteria: str = ""
    template_problems: Sequence[Problem] = ()
    verify_within_days: int = 90
    # People on the duty-manager rotation and on party seat rotations: alerted like the MRT, so
    # their mobiles and verification are checked too.
    rotation_members: Sequence[int] = ()


# How each kind of check is headed in lists (CLI and console).
LABELS = {
    "criteria": "Declaration criteria",
    "party_seat": "MRT seats",
    "group_size": "Specialist groups",
    "mobile": "Mobile numbers",
    "verified": "Verified contacts",
    "duty_rotation": "Duty rotation",
    "rotation_gap": "Rotation cover, next 30 days",
    "bridge": "Conference bridge",
    "templates": "Templates",
}

CONFIG_FILE = "the config file (`mim-console config path` prints where)"


def _q(text: str) -> str:
    """A name as one shell word, so a fix can be pasted as typed."""
    return shlex.quote(text)


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
                f'set declare_criteria = "…" in {CONFIG_FILE}',
            )
        )

    def active(person_id: int) -> Person | None:
        person = data.people.get(person_id)
        return person if person is not None and person.active else None

    mrt_ids: set[int] = set()
    if not data.parties:
        add(
            Finding(
                "party_seat",
                False,
                "parties",
                "no party has an MRT seat: nobody would be alerted as the response team",
                "`mim-console party add NAME`, then `mim-console party set-reps NAME PERSON…`",
            )
        )
    for party in data.parties:
        reps = [p for p in (active(i) for i in party.representatives) if p is not None]
        mrt_ids.update(p.id for p in reps)
        with_authority = [p for p in reps if p.decision_authority]
        rotation = data.party_rotations.get(party.id)
        if rotation is not None:
            # The seat follows a rotation: its members are the representatives (gaps below).
            members = [
                p
                for p in (
                    active(i) for i in dict.fromkeys(data.seat_rotation_members.get(party.id, ()))
                )
                if p is not None
            ]
            if not any(p.decision_authority for p in members):
                add(
                    Finding(
                        "party_seat",
                        False,
                        party.name,
                        f'rotation "{rotation}" holding party "{party.name}"\'s seat has no '
                        "active member with decision authority",
                        f"`mim-console person edit PERSON --authority` for a member, or "
                        f"`mim-console rota members {_q(rotation)} PERSON…` with someone who has "
                        "decision authority",
                    )
                )
            elif len(members) < 2:
                add(
                    Finding(
                        "party_seat",
                        False,
                        party.name,
                        f'rotation "{rotation}" holding party "{party.name}"\'s seat has no '
                        "deputy (one active member)",
                        f"`mim-console rota members {_q(rotation)} PERSON PERSON…`",
                    )
                )
            else:
                add(
                    Finding(
                        "party_seat",
                        True,
                        party.name,
                        f'rotation "{rotation}", {len(members)} active members',
                    )
                )
            continue
        if not with_authority:
            add(
                Finding(
                    "party_seat",
                    False,
                    party.name,
                    f'party "{party.name}" has no active representative with decision authority',
                    f"`mim-console person edit PERSON --authority` for a representative, or "
                    f"`mim-console party set-reps {_q(party.name)} PERSON…` with someone who has "
                    "decision authority",
                )
            )
        elif len(reps) < 2:
            add(
                Finding(
                    "party_seat",
                    False,
                    party.name,
                    f'party "{party.name}" has no deputy',
                    f"`mim-console party set-reps {_q(party.name)} PRIMARY DEPUTY…`",
                )
            )
        else:
            add(Finding("party_seat", True, party.name, f"{len(reps)} representatives"))

    specialist_ids: set[int] = set()
    if not data.groups:
        add(
            Finding(
                "group_size",
                False,
                "specialist groups",
                "no specialist group is defined: nobody would be alerted to fix the service",
                "`mim-console group add NAME --category CATEGORY`, then "
                "`mim-console group set-members NAME PERSON PERSON…`",
            )
        )
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
                    f"`mim-console group set-members {_q(group.name)} PERSON PERSON…` "
                    "(or reactivate a member: `mim-console person edit PERSON --active`)",
                )
            )
        else:
            add(Finding("group_size", True, group.name, f"{len(members)} active members"))

    stale_before = now - timedelta(days=data.verify_within_days)
    rotation_ids = {i for i in data.rotation_members if active(i) is not None}
    alerted_ids = mrt_ids | specialist_ids | rotation_ids
    for person_id in sorted(alerted_ids, key=lambda i: (data.people[i].name.casefold(), i)):
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
                    person.id,
                )
            )
        if person.verified_at is None or person.verified_at < stale_before:
            when = "never" if person.verified_at is None else person.verified_at.date().isoformat()
            undelivered = data.failed_checks.get(person.id)
            message = (
                f"{person.name}: contact not verified in the last "
                f"{data.verify_within_days} days (last: {when})"
            )
            fix = f"`mim-console verify --person {person.id}` (a test SMS; a reply verifies)"
            if undelivered:
                message += f"; the last contact check did not arrive: {undelivered}"
                fix = (
                    f"check the number (`mim-console person edit {person.id} --mobile NUMBER`), "
                    f"then `mim-console verify --person {person.id}`"
                )
            add(Finding("verified", False, person.name, message, fix, person.id))

    bad_mobiles = sum(1 for f in findings if f.check == "mobile")
    unverified = sum(1 for f in findings if f.check == "verified")
    if alerted_ids and not bad_mobiles:
        add(Finding("mobile", True, "mobile numbers", f"all {len(alerted_ids)} valid"))
    if alerted_ids and not unverified:
        add(
            Finding(
                "verified",
                True,
                "verified contacts",
                f"all {len(alerted_ids)} verified in the last {data.verify_within_days} days",
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
                "`mim-console rota create NAME --tz ZONE --member PERSON --member PERSON…` "
                "(without --party it is the duty managers' rotation)",
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
                    f"cover it: `mim-console rota override add {_q(name)} PERSON --from START "
                    f"--to END`, or reactivate the member (`mim-console person edit PERSON "
                    f"--active`); `mim-console rota gaps {_q(name)}` lists the gaps",
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
                f"set number (and pin, url) under [bridge] in {CONFIG_FILE}",
            )
        )
    if data.template_problems:
        for problem in data.template_problems:
            add(Finding("templates", False, problem.subject, problem.message, problem.fix))
    else:
        add(Finding("templates", True, "templates", "all templates valid"))
    return findings


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]
