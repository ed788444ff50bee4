"""Long variants run only when asked for (`pytest -m slow`), so the default run stays fast."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def slow_only_when_asked(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("slow") is None:
        return
    if "slow" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("slow variant: run with `pytest -m slow`")
