"""The roll call's rules: legal moves only, quorum, escalation timing, codes, recipients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mim_console.config import EscalationSettings
from mim_console.domain.incident import (
    TRANSITIONS,
    ActionKind,
    IllegalTransition,
    Participant,
    Role,
    State,
    choose_deputy,
    escalation_actions,
    move,
    next_incident_code,
    on_standby,
    quorum,
    reply_code,
    select_recipients,
)
from mim_console.domain.report import Move, format_duration, response_figures

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = {
    "duty_manager": EscalationSettings(5, 5),
    "mrt": EscalationSettings(5, 5),
    "specialist": EscalationSettings(3, 4),
}


def part(
    pid: int, person: int, role: Role = Role.MRT, party: int | None = 1, **kw: object
) -> Participant:
    base = dict(
        id=pid,
        incident_id=1,
        person_id=person,
        role=role,
        state=State.ALERTED,
        state_changed_at=T0,
        party_id=party if role is Role.MRT else None,
        group_id=9 if role is Role.SPECIALIST else None,
        alerted_at=T0,
    )
    base.update(kw)
    return Participant(**base)  # type: ignore[arg-type]


def test_happy_path_through_standby_and_back() -> None:
    p = part(1, 10)
    p = move(p, State.JOINED, T0 + timedelta(minutes=2))
    assert p.joined_at == T0 + timedelta(minutes=2)
    p = move(p, State.STANDBY, T0 + timedelta(minutes=10))
    assert p.standby_since == T0 + timedelta(minutes=10)
    p = move(p, State.RECALLED, T0 + timedelta(minutes=30))
    assert p.standby_since is None and p.alerted_at == T0 + timedelta(minutes=30)
    p = move(p, State.JOINED, T0 + timedelta(minutes=33))
    assert p.state is State.JOINED
    p = move(p, State.STOOD_DOWN, T0 + timedelta(hours=2))
    assert p.state is State.STOOD_DOWN


@pytest.mark.parametrize(
    ("start", "target", "words"),
    [
        (State.ALERTED, State.STANDBY, "only someone who joined can be released"),
        (State.JOINED, State.RECALLED, "only someone on standby can be recalled"),
        (State.STANDBY, State.JOINED, "recall them first"),
        (State.STOOD_DOWN, State.JOINED, "nothing (stood down)"),
    ],
)
def test_illegal_moves_say_why(start: State, target: State, words: str) -> None:
    p = part(1, 10, state=start)
    with pytest.raises(IllegalTransition) as err:
        move(p, target, T0, who="Eve in MI-2026-001")
    assert "Eve in MI-2026-001" in str(err.value)
    assert words in str(err.value)


@given(st.lists(st.sampled_from(list(State)), max_size=40))
def test_random_sequences_never_reach_an_illegal_state(targets: list[State]) -> None:
    p = part(1, 10)
    now = T0
    for target in targets:
        now += timedelta(seconds=30)
        before = p.state
        try:
            p = move(p, target, now)
        except IllegalTransition:
            assert target not in TRANSITIONS[before]
            assert p.state is before
            continue
        assert target in TRANSITIONS[before]
        assert p.state is target and p.state_changed_at == now
        if target is State.STANDBY:
            assert before is State.JOINED and p.standby_since == now
        if p.state is not State.STANDBY:
            assert p.standby_since is None or p.state is State.STOOD_DOWN
    # stood down is final
    if p.state is State.STOOD_DOWN:
        assert not TRANSITIONS[p.state]


def test_every_state_can_be_stood_down_but_stood_down_is_final() -> None:
    for s in State:
        assert (State.STOOD_DOWN in TRANSITIONS[s]) == (s is not State.STOOD_DOWN)


def test_quorum_needs_a_joined_representative_with_authority_per_party() -> None:
    parts = [
        part(1, 10, party=1, state=State.JOINED),  # no authority
        part(2, 11, party=1, state=State.ALERTED),
        part(3, 20, party=2, state=State.JOINED),
        part(4, 30, role=Role.SPECIALIST, state=State.JOINED),
    ]
    q = quorum(parts, authority={11, 20})
    assert q.parties == {1: False, 2: True}
    assert not q.reached and q.missing == [1]
    parts[1] = move(parts[1], State.JOINED, T0)
    assert quorum(parts, authority={11, 20}).reached
    # someone on standby does not count
    parts[2] = move(parts[2], State.STANDBY, T0)
    assert quorum(parts, authority={11, 20}).parties[2] is False


def test_no_parties_is_no_quorum() -> None:
    assert not quorum([part(1, 30, role=Role.SPECIALIST)], authority={30}).reached


@given(
    st.lists(st.tuples(st.integers(1, 3), st.sampled_from(list(State)), st.booleans()), max_size=12)
)
def test_quorum_definition_property(rows: list[tuple[int, State, bool]]) -> None:
    parts = [part(i, 100 + i, party=party, state=s) for i, (party, s, _) in enumerate(rows)]
    authority = {100 + i for i, (_, _, a) in enumerate(rows) if a}
    q = quorum(parts, authority)
    for party in {r[0] for r in rows}:
        expected = any(p == party and s is State.JOINED and a for p, s, a in rows)
        assert q.parties[party] is expected
    assert q.reached == (bool(rows) and all(q.parties.values()))


def test_escalation_voice_then_deputy() -> None:
    p = part(1, 10)
    assert escalation_actions([p], POLICY, T0 + timedelta(minutes=4, seconds=59)) == []
    [a] = escalation_actions([p], POLICY, T0 + timedelta(minutes=5))
    assert a.kind is ActionKind.VOICE and a.participant_id == 1
    called = move(p, State.ESCALATED, T0 + timedelta(minutes=5))
    from dataclasses import replace

    called = replace(called, escalation_step=1)
    assert escalation_actions([called], POLICY, T0 + timedelta(minutes=9)) == []
    [b] = escalation_actions([called], POLICY, T0 + timedelta(minutes=10))
    assert b.kind is ActionKind.DEPUTY
    done = replace(move(called, State.UNREACHABLE, T0), escalation_step=2)
    assert escalation_actions([done], POLICY, T0 + timedelta(hours=3)) == []


def test_policy_is_per_role_and_unable_needs_deputy_at_once() -> None:
    spec = part(1, 10, role=Role.SPECIALIST)
    assert escalation_actions([spec], POLICY, T0 + timedelta(minutes=3))[0].kind is ActionKind.VOICE
    unable = part(2, 11, state=State.UNABLE)
    [a] = escalation_actions([unable], POLICY, T0)
    assert a.kind is ActionKind.DEPUTY and "unable" in a.reason
    joined = part(3, 12, state=State.JOINED)
    assert escalation_actions([joined], POLICY, T0 + timedelta(hours=1)) == []


def test_choose_deputy_skips_inactive_and_people_already_paged() -> None:
    order = (1, 2, 3, 4)
    assert choose_deputy(order, 1, active={1, 2, 3, 4}, taken={1}) == 2
    assert choose_deputy(order, 1, active={1, 3, 4}, taken={1, 3}) == 4
    assert choose_deputy(order, 3, active={1, 2, 3, 4}, taken={3, 4}) == 1  # wraps
    assert choose_deputy(order, 1, active={1}, taken={1}) is None
    assert choose_deputy((), 1, active={1}, taken=set()) is None


def test_incident_codes_count_per_year() -> None:
    assert next_incident_code(2026, []) == "MI-2026-001"
    assert next_incident_code(2026, ["MI-2026-007", "MI-2025-099", "junk"]) == "MI-2026-008"
    assert next_incident_code(2027, ["MI-2026-007"]) == "MI-2027-001"
    assert next_incident_code(2026, ["MI-2026-999"]) == "MI-2026-1000"


@given(st.integers(0, 10_000), st.sets(st.text(min_size=2, max_size=2), max_size=50))
def test_reply_codes_are_short_unambiguous_and_free(seed: int, taken: set[str]) -> None:
    code = reply_code(seed, taken)
    assert code.upper() not in {t.upper() for t in taken}
    assert len(code) == 2
    assert not set(code) & set("IO01")


def test_recipients_dedupe_and_skip_inactive() -> None:
    chosen = select_recipients(
        duty_manager=1,
        party_seats=[(10, 2), (11, 1), (12, None), (13, 5)],
        groups=[(20, (3, 2, 4))],
        active={1, 2, 3, 4},
    )
    assert [(r.person_id, r.role) for r in chosen] == [
        (1, Role.DUTY_MANAGER),
        (2, Role.MRT),
        (3, Role.SPECIALIST),
        (4, Role.SPECIALIST),
    ]
    assert chosen[1].party_id == 10 and chosen[2].group_id == 20


def test_on_standby_longest_first() -> None:
    a = part(1, 10, state=State.STANDBY, standby_since=T0 + timedelta(minutes=5))
    b = part(2, 11, state=State.STANDBY, standby_since=T0)
    c = part(3, 12, state=State.JOINED)
    assert [p.id for p in on_standby([a, b, c])] == [2, 1]


def test_response_figures_replay() -> None:
    parts = [
        part(1, 10, party=1),
        part(2, 20, party=2),
        part(3, 30, role=Role.SPECIALIST),
    ]
    m = timedelta(minutes=1)
    moves = [Move(T0, p.id, State.ALERTED) for p in parts] + [
        Move(T0 + 2 * m, 3, State.JOINED),
        Move(T0 + 3 * m, 1, State.JOINED),
        Move(T0 + 5 * m, 2, State.FAILED),
        Move(T0 + 7 * m, 2, State.UNABLE),
        Move(T0 + 9 * m, 2, State.JOINED),
        Move(T0 + 20 * m, 3, State.STANDBY),
        Move(T0 + 30 * m, 3, State.RECALLED),
    ]
    f = response_figures(T0, parts, moves, authority={10, 20}, alert_times=[T0 + 5 * 1e-3 * m])
    assert f.first_join_after == 2 * m
    assert f.party_quorum_after == {1: 3 * m, 2: 9 * m}
    assert f.quorum_after == 9 * m
    assert f.counts == {
        "alerted": 3,
        "joined": 3,
        "unable": 1,
        "escalated": 0,
        "unreachable": 0,
        "failed": 1,
        "standby": 1,
    }
    [period] = f.standby_periods
    assert (period.start, period.end) == (T0 + 20 * m, T0 + 30 * m)
    assert [(pt.at, pt.joined) for pt in f.curve["group:9"]] == [
        (T0, 0),
        (T0 + 2 * m, 1),
        (T0 + 20 * m, 0),
    ]


def test_format_duration() -> None:
    assert format_duration(None) == "-"
    assert format_duration(timedelta(seconds=42)) == "42 s"
    assert format_duration(timedelta(minutes=4, seconds=5)) == "4 min 05 s"
    assert format_duration(timedelta(hours=1, minutes=2)) == "1 h 02 min"


@given(
    st.lists(st.tuples(st.integers(1, 2), st.booleans()), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(list(State)), st.integers(0, 600))),
)
def test_figures_agree_with_a_replay(
    seats: list[tuple[int, bool]], attempts: list[tuple[int, State, int]]
) -> None:
    """Legal move sequences only (as the service makes them); the figures must agree."""
    parts = [part(i, 100 + i, party=party) for i, (party, _) in enumerate(seats)]
    authority = {100 + i for i, (_, a) in enumerate(seats) if a}
    current = {p.id: p for p in parts}
    moves = [Move(T0, p.id, State.ALERTED) for p in parts]
    now = T0
    for index, target, seconds in attempts:
        if index >= len(parts):
            continue
        now += timedelta(seconds=seconds)
        try:
            current[index] = move(current[index], target, now)
        except IllegalTransition:
            continue
        moves.append(Move(now, index, target))
    f = response_figures(T0, parts, moves, authority)
    joined_now = sum(1 for p in current.values() if p.state is State.JOINED)
    assert sum(points[-1].joined for points in f.curve.values()) == joined_now
    for points in f.curve.values():
        assert all(pt.joined >= 0 for pt in points)
        assert [pt.at for pt in points] == sorted(pt.at for pt in points)
    assert f.counts["alerted"] == len(parts)
    assert f.counts["joined"] <= len(parts)
    assert len(f.standby_periods) == sum(1 for m in moves if m.state is State.STANDBY)
    if f.quorum_after is not None:
        assert all(
            after is not None and after <= f.quorum_after for after in f.party_quorum_after.values()
        )
    final = quorum(current.values(), authority)
    if final.reached:
        assert f.quorum_at is not None
