"""Config numbers finite and bounded (issue 14, item 2): refused by the config check with the
key and the bound, at start, before anything runs on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mim_console.cli import main
from mim_console.config import BOUNDS, load_settings
from mim_console.errors import UserError


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("backup_every_hours = inf\n", "backup_every_hours must be a number of hours"),
        ("backup_every_hours = nan\n", "at most 8760, not nan"),
        ("backup_every_hours = 1e308\n", "at most 8760, not 1e+308"),
        (
            "[escalation.mrt]\nvoice_after_min = 1e300\n",
            "voice_after_min in the config file must be 0..10080 minutes",
        ),
        ("[escalation.duty_manager]\ndeputy_after_min = 10081\n", "deputy_after_min"),
        ("max_in_flight = 100000000000\n", "max_in_flight in the config file must be 1..1000"),
        ("max_in_flight = 0\n", "max_in_flight in the config file must be 1..1000"),
        ("retry_max_age_min = 1e300\n", "retry_max_age_min in the config file must be 0..10080"),
        ("verify_within_days = 9223372036854775807\n", "verify_within_days"),
        ("backup_keep = 1000000000\n", "backup_keep must be a whole number, 1 or more and at most"),
    ],
)
def test_numbers_past_their_bound_are_refused_at_start(
    tmp_path: Path, text: str, said: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load_settings(config, environ={})
    assert said in str(caught.value) and "config.toml" in str(caught.value)
    # as the report ran it: `dispatch` (and every other command) stops before doing anything
    result = CliRunner().invoke(
        main, ["--config", str(config), "--db", str(tmp_path / "m.db"), "dispatch"]
    )
    assert result.exit_code == 1 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.db").exists()


def test_bounds_are_accepted_at_their_edges(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "backup_every_hours = 8760\nmax_in_flight = 1000\n"
        "[escalation.mrt]\nvoice_after_min = 0\ndeputy_after_min = 10080\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    assert (
        settings.backup_every is not None and settings.escalation["mrt"].deputy_after_min == 10080
    )
    assert all(low < high for low, high, _ in BOUNDS.values())
