"""The readiness check: what preparation is missing before a major incident can be run well.

"It is too late to begin planning when a MIM case is triggered." Each failing finding names the
thing to fix and the command (or config key) that fixes it; every command named here exists, with
the arguments shown. Pure: the caller gathers the input (``services/readiness.py``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "modem": "GSM modem",
    "timeline": "Timeline hash chain",
    "stored_rows": "Stored rows the console ignores",
    "twilio": "Twilio account",
}

CONFIG_FILE = "the config file (`mim-console config path` prints where)"


def _q(text: str) -> str:
    """A name as one shell word, so a fix can be pasted as typed."""
    return shlex.quote(text)


def check(
    data: ReadinessInput, now: datetime, valid_mobile: Callable[[str], str | None]
) -> list[Finding]:
    """All findings, passing ones included; ``valid_mobile`` returns a reason or None.

    One small rule per kind of finding, in the order the lists show them."""
    return [
        *criteria_findings(data),
        *party_seat_findings(data),
        *group_findings(data),
        *contact_findings(data, now, valid_mobile),
        *duty_rotation_findings(data),
        *rotation_gap_findings(data),
        *bridge_findings(data),
        *template_findings(data),
    ]


def _active(data: ReadinessInput, person_id: int) -> Person | None:
    person = data.people.get(person_id)
    return person if person is not None and person.active else None


def _active_people(data: ReadinessInput, ids: Iterable[int]) -> list[Person]:
    return [p for p in (_active(data, i) for i in ids) if p is not None]


def criteria_findings(data: ReadinessInput) -> list[Finding]:
    if data.criteria.strip():
        return [Finding("criteria", True, "declaration criteria", "written down")]
    return [
        Finding(
            "criteria",
            False,
            "declaration criteria",
            "the criteria for declaring a major incident are not written down",
            f'set declare_criteria = "…" in {CONFIG_FILE}',
        )
    ]


def party_seat_findings(data: ReadinessInput) -> list[Finding]:
    if not data.parties:
        return [
            Finding(
                "party_seat",
                False,
                "parties",
                "no party has an MRT seat: nobody would be alerted as the response team",
                "`mim-console party add NAME`, then `mim-console party set-reps NAME PERSON…`",
            )
        ]
    findings = []
    for party in data.parties:
        rotation = data.party_rotations.get(party.id)
        if rotation is not None:
            findings.append(_rotation_seat(data, party, rotation))
        else:
            findings.append(_fixed_seat(data, party))
    return findings


def _rotation_seat(data: ReadinessInput, party: Party, rotation: str) -> Finding:
    """The seat follows a rotation: its members are the representatives (gaps: elsewhere)."""
    members = _active_people(data, dict.fromkeys(data.seat_rotation_members.get(party.id, ())))
    holding = f'rotation "{rotation}" holding party "{party.name}"\'s seat'
    if not any(p.decision_authority for p in members):
        return Finding(
            "party_seat",
            False,
            party.name,
            f"{holding} has no active member with decision authority",
            f"`mim-console person edit PERSON --authority` for a member, or "
            f"`mim-console rota members {_q(rotation)} PERSON…` with someone who has "
            "decision authority",
        )
    if len(members) < 2:
        return Finding(
            "party_seat",
            False,
            party.name,
            f"{holding} has no deputy (one active member)",
            f"`mim-console rota members {_q(rotation)} PERSON PERSON…`",
        )
    return Finding(
        "party_seat", True, party.name, f'rotation "{rotation}", {len(members)} active members'
    )


def _fixed_seat(data: ReadinessInput, party: Party) -> Finding:
    reps = _active_people(data, party.representatives)
    if not any(p.decision_authority for p in reps):
        return Finding(
            "party_seat",
            False,
            party.name,
            f'party "{party.name}" has no active representative with decision authority',
            f"`mim-console person edit PERSON --authority` for a representative, or "
            f"`mim-console party set-reps {_q(party.name)} PERSON…` with someone who has "
            "decision authority",
        )
    if len(reps) < 2:
        return Finding(
            "party_seat",
            False,
            party.name,
            f'party "{party.name}" has no deputy',
            f"`mim-console party set-reps {_q(party.name)} PRIMARY DEPUTY…`",
        )
    return Finding("party_seat", True, party.name, f"{len(reps)} representatives")


def group_findings(data: ReadinessInput) -> list[Finding]:
    if not data.groups:
        return [
            Finding(
                "group_size",
                False,
                "specialist groups",
                "no specialist group is defined: nobody would be alerted to fix the service",
                "`mim-console group add NAME --category CATEGORY`, then "
                "`mim-console group set-members NAME PERSON PERSON…`",
            )
        ]
    findings = []
    for group in data.groups:
        members = _active_people(data, group.members)
        if len(members) < 2:
            findings.append(
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
            findings.append(
                Finding("group_size", True, group.name, f"{len(members)} active members")
            )
    return findings


def alerted_people(data: ReadinessInput) -> set[int]:
    """Who a declaration could alert: active party representatives, specialist group members
    and rotation members (the duty managers', the seats')."""
    ids = {p.id for party in data.parties for p in _active_people(data, party.representatives)}
    ids.update(p.id for group in data.groups for p in _active_people(data, group.members))
    ids.update(p.id for p in _active_people(data, data.rotation_members))
    return ids


def contact_findings(
    data: ReadinessInput, now: datetime, valid_mobile: Callable[[str], str | None]
) -> list[Finding]:
    """A valid mobile and a recent contact check for everyone who could be alerted."""
    alerted = alerted_people(data)
    findings: list[Finding] = []
    for person_id in sorted(alerted, key=lambda i: (data.people[i].name.casefold(), i)):
        person = data.people[person_id]
        reason = valid_mobile(person.mobile)
        if reason:
            findings.append(
                Finding(
                    "mobile",
                    False,
                    person.name,
                    f"{person.name}: mobile {reason}",
                    f"`mim-console person edit {person.id} --mobile NUMBER`",
                    person.id,
                )
            )
        stale = _unverified(data, person, now)
        if stale is not None:
            findings.append(stale)
    if alerted and not any(f.check == "mobile" for f in findings):
        findings.append(Finding("mobile", True, "mobile numbers", f"all {len(alerted)} valid"))
    if alerted and not any(f.check == "verified" for f in findings):
        findings.append(
            Finding(
                "verified",
                True,
                "verified contacts",
                f"all {len(alerted)} verified in the last {data.verify_within_days} days",
            )
        )
    return findings


def _unverified(data: ReadinessInput, person: Person, now: datetime) -> Finding | None:
    stale_before = now - timedelta(days=data.verify_within_days)
    if person.verified_at is not None and person.verified_at >= stale_before:
        return None
    when = "never" if person.verified_at is None else person.verified_at.date().isoformat()
    message = (
        f"{person.name}: contact not verified in the last "
        f"{data.verify_within_days} days (last: {when})"
    )
    fix = f"`mim-console verify --person {person.id}` (a test SMS; a reply verifies)"
    undelivered = data.failed_checks.get(person.id)
    if undelivered:
        message += f"; the last contact check did not arrive: {undelivered}"
        fix = (
            f"check the number (`mim-console person edit {person.id} --mobile NUMBER`), "
            f"then `mim-console verify --person {person.id}`"
        )
    return Finding("verified", False, person.name, message, fix, person.id)


def duty_rotation_findings(data: ReadinessInput) -> list[Finding]:
    if data.duty_rotation_exists:
        return [Finding("duty_rotation", True, "duty managers", "a duty rotation exists")]
    return [
        Finding(
            "duty_rotation",
            False,
            "duty managers",
            "there is no duty-manager rotation",
            "`mim-console rota create NAME --tz ZONE --member PERSON --member PERSON…` "
            "(without --party it is the duty managers' rotation)",
        )
    ]


def rotation_gap_findings(data: ReadinessInput) -> list[Finding]:
    findings = []
    for name, gaps in sorted(data.rotation_gaps.items()):
        if not gaps:
            findings.append(Finding("rotation_gap", True, name, "no gap in the next 30 days"))
            continue
        findings.append(
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
    return findings


def bridge_findings(data: ReadinessInput) -> list[Finding]:
    if data.bridge_configured:
        return [Finding("bridge", True, "conference bridge", "configured")]
    return [
        Finding(
            "bridge",
            False,
            "conference bridge",
            "no conference bridge is configured",
            f"set number (and pin, url) under [bridge] in {CONFIG_FILE}",
        )
    ]


def template_findings(data: ReadinessInput) -> list[Finding]:
    if not data.template_problems:
        return [Finding("templates", True, "templates", "all templates valid")]
    return [
        Finding("templates", False, problem.subject, problem.message, problem.fix)
        for problem in data.template_problems
    ]


def failures(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]
