"""The one source of "now": timezone-aware UTC, replaceable in tests and snapshots."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Stored form of an instant: UTC, ISO 8601, second precision or better."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry its time zone")
    return moment.astimezone(UTC).isoformat()


def from_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)
