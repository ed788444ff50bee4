"""The readiness check on crafted directories: each gap is flagged, a prepared one passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mim_console.domain.people import Party, Person, SpecialistGroup
from mim_console.domain.readiness import Problem, ReadinessInput, check, failures

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FRESH = NOW - timedelta(days=10)


def _person(pid: int, name: str, *, authority: bool = True, **kw: object) -> Person:
    return Person(
        id=pid,
        name=name,
        mobile=f"+1202555010{pid}",
        decision_authority=authority,
        verified_at=FRESH,
        **kw,  # type: ignore[arg-type]
    )


def _valid(number: str) -> str | None:
    return None if number.startswith("+1202555") else f'"{number}" is not a valid number'


def prepared() -> ReadinessInput:
    people = {i: _person(i, n) for i, n in enumerate(["Ann", "Bo", "Cy", "Di", "Ed", "Fay"], 1)}
    return ReadinessInput(
        parties=[Party(1, "IT", representatives=(1, 2)), Party(2, "Legal", representatives=(3, 4))],
        groups=[SpecialistGroup(1, "Network", ("network",), members=(5, 6))],
        people=people,
        duty_rotation_exists=True,
        rotation_gaps={"Duty managers": []},
        bridge_configured=True,
        criteria="Customer-facing outage over 30 min",
    )


def test_a_prepared_organisation_passes() -> None:
    findings = check(prepared(), NOW, _valid)
    assert failures(findings) == []
    assert {f.check for f in findings} >= {"criteria", "party_seat", "group_size", "bridge"}


def test_each_gap_is_flagged_with_a_fix() -> None:
    data = prepared()
    people = dict(data.people)
    people[2] = replace(people[2], active=False)  # IT loses its deputy
    people[3] = replace(people[3], decision_authority=False)
    people[4] = replace(people[4], decision_authority=False)  # Legal: nobody may decide
    people[6] = replace(people[6], mobile="+3584")  # bad mobile
    people[5] = replace(people[5], verified_at=NOW - timedelta(days=91))  # stale
    crafted = replace(
        data,
        people=people,
        groups=[SpecialistGroup(1, "Network", ("network",), members=(5,))],
        rotation_gaps={"Duty managers": ["2026-03-09 09:00 to 2026-03-16 09:00"]},
        bridge_configured=False,
        criteria="",
        template_problems=[
            Problem('template "alert_sms": unknown placeholder {titel}', "fix it", "alert_sms")
        ],
    )
    bad = failures(check(crafted, NOW, _valid))
    by_check = {(f.check, f.subject) for f in bad}
    assert ("party_seat", "IT") in by_check
    assert ("party_seat", "Legal") in by_check
    assert ("group_size", "Network") in by_check
    assert ("verified", "Ed") in by_check
    assert ("rotation_gap", "Duty managers") in by_check
    assert ("criteria", "declaration criteria") in by_check
    assert ("bridge", "conference bridge") in by_check
    assert ("templates", "alert_sms") in by_check
    assert all(f.fix for f in bad), "every failure says how to fix it"
    it = next(f for f in bad if f.subject == "IT")
    assert "deputy" in it.message
    legal = next(f for f in bad if f.subject == "Legal")
    assert "decision authority" in legal.message
    # Fay is in no group or party any more, so her bad mobile is not the MRT's problem.
    assert not any(f.check == "mobile" for f in bad)


def test_bad_mobile_of_a_specialist_is_flagged() -> None:
    data = prepared()
    people = dict(data.people)
    people[6] = replace(people[6], mobile="+3584")
    bad = failures(check(replace(data, people=people), NOW, _valid))
    assert [(f.check, f.subject) for f in bad] == [("mobile", "Fay")]
    assert '"+3584"' in bad[0].message


def test_missing_duty_rotation_and_never_verified() -> None:
    data = prepared()
    people = {k: replace(v, verified_at=None) for k, v in data.people.items()}
    bad = failures(check(replace(data, people=people, duty_rotation_exists=False), NOW, _valid))
    assert ("duty_rotation", "duty managers") in {(f.check, f.subject) for f in bad}
    never = [f for f in bad if f.check == "verified"]
    assert len(never) == 6 and all("last: never" in f.message for f in never)


def test_a_seat_held_by_a_rotation_needs_authority_and_a_deputy() -> None:
    data = replace(prepared(), party_rotations={1: "IT seat"})
    one = replace(data, seat_rotation_members={1: (1,)})
    [bad] = failures(check(one, NOW, _valid))
    assert (bad.check, bad.subject) == ("party_seat", "IT") and "no deputy" in bad.message
    assert "rota members 'IT seat'" in bad.fix
    people = dict(data.people)
    people[3] = replace(people[3], decision_authority=False)
    people[4] = replace(people[4], decision_authority=False)
    nobody = replace(data, people=people, seat_rotation_members={1: (3, 4)})
    [bad] = [f for f in failures(check(nobody, NOW, _valid)) if f.subject == "IT"]
    assert "decision authority" in bad.message and bad.subject == "IT"
    fine = replace(data, seat_rotation_members={1: (1, 2, 2)})
    assert failures(check(fine, NOW, _valid)) == []
