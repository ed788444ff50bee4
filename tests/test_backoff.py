"""Backoff arithmetic: growth, cap, jitter bounds, Retry-After floor, giving up by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mim_console.domain.backoff import BackoffPolicy

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_grows_exponentially_until_the_cap() -> None:
    policy = BackoffPolicy(base_s=1, factor=2, cap_s=10)
    assert [policy.delay(n, rand=1.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_keeps_at_least_half() -> None:
    policy = BackoffPolicy(base_s=4)
    assert policy.delay(1, rand=0.0) == 2.0
    assert policy.delay(1, rand=0.5) == 3.0


def test_retry_after_is_a_floor() -> None:
    policy = BackoffPolicy(base_s=1)
    assert policy.delay(1, rand=0.0, retry_after=7.5) == 7.5
    assert policy.delay(8, rand=1.0, retry_after=1.0) == 60.0  # backoff already longer


def test_gives_up_past_the_maximum_age() -> None:
    policy = BackoffPolicy(base_s=60, cap_s=60, max_age_min=2)
    assert policy.next_attempt(created_at=T0, now=T0, attempt=1, rand=1.0) == T0 + timedelta(
        seconds=60
    )
    late = T0 + timedelta(seconds=90)
    assert policy.next_attempt(created_at=T0, now=late, attempt=2, rand=1.0) is None


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert BackoffPolicy(cap_s=30).delay(10_000, rand=0.3) <= 30


@given(
    attempt=st.integers(1, 200),
    rand=st.floats(0, 1),
    retry_after=st.none() | st.floats(0, 3600),
    base=st.floats(0.01, 10),
    cap=st.floats(0.1, 120),
)
def test_delay_bounds(
    attempt: int, rand: float, retry_after: float | None, base: float, cap: float
) -> None:
    policy = BackoffPolicy(base_s=base, cap_s=cap, max_age_min=30)
    wait = policy.delay(attempt, rand, retry_after)
    assert wait >= policy.min_s
    if retry_after:
        assert wait >= min(retry_after, 1800)
    else:
        assert wait <= max(cap, policy.min_s)


@given(attempt=st.integers(1, 50), rand=st.floats(0, 1), elapsed=st.floats(0, 4000))
def test_next_attempt_never_past_max_age(attempt: int, rand: float, elapsed: float) -> None:
    policy = BackoffPolicy(max_age_min=30)
    now = T0 + timedelta(seconds=elapsed)
    when = policy.next_attempt(created_at=T0, now=now, attempt=attempt, rand=rand)
    if when is not None:
        assert now < when <= T0 + timedelta(minutes=30)
