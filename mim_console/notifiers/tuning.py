"""The dispatcher's numbers: concurrency, lease, polling and retry timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from mim_console.domain.backoff import BackoffPolicy


@dataclass(frozen=True)
class DispatcherConfig:
    max_in_flight: int = 20
    start_per_turn: int = 8  # new requests started per loop turn (ramp-up, see Outgoing.fill)
    lease_ttl_s: float = 5.0
    heartbeat_s: float = 1.0
    idle_poll_s: float = 0.02  # look for alerts committed by other processes this often
    tick_s: float = 1.0  # on_tick cadence (escalation timers)
    request_timeout_s: float = 20.0
    status_poll_s: float = 2.0  # first delivery-status poll after acceptance
    status_poll_max_s: float = 30.0  # polls slow down with age up to this interval
    status_poll_for_min: float = 120.0  # then stop polling an alert that never finishes
    max_polls_in_flight: int = 4
    inbound_poll_s: float = 3.0
    inbound_lookback_min: float = 60.0  # first inbound poll of an empty database
    reconcile_margin_s: float = 120.0  # clock skew allowance when looking up sent messages
    refusal_recheck_s: float = 30.0  # Twilio refuses our account: try one alert this often
    drain_s: float = 10.0  # on stop, wait this long for requests already sent
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    # After an outage, alerts that waited for it go out at once (notifiers/outage.py); while it
    # lasts, one waiting alert is tried this often to notice the provider answering again.
    recover_at_once: bool = True
    outage_probe_s: float = 1.0
