"""A local stand-in for the part of Twilio's REST API the console uses, on 127.0.0.1.

Why: tests, benchmarks and ``mim-console demo`` need a Twilio that answers over real HTTP, keeps
state (status progression, inbound replies) and can misbehave on purpose (429s, 500s, timeouts,
dropped connections, refused connections, permanent error codes) — none of which the real
service or the stateless Prism mock offers.

Serves, under ``/2010-04-01/Accounts/{AccountSid}/``: ``Messages.json`` (POST create, GET list
with ``To``, ``From``, ``DateSent``/``DateSent<``/``DateSent>``, ``PageSize``, ``PageToken``),
``Messages/{Sid}.json`` (GET), ``Calls.json`` (POST, GET with ``To``, ``From``, ``Status``,
``StartTime``…), ``Calls/{Sid}.json`` (GET, POST new TwiML), ``Conferences.json`` (GET by
``FriendlyName`` and ``Status``), ``Conferences/{Sid}.json``, ``Participants.json`` and
``Participants/{CallSid or label}.json`` (GET, POST ``Muted``/``Hold``, DELETE): a call whose
TwiML dials a ``<Conference>`` puts its simulated callee on it (``bridge``), calls leave a
calls-per-second queue (Twilio's default 1). HTTP basic auth, form-encoded bodies, Twilio-shaped
JSON and Twilio-shaped errors. Controls are plain methods on :class:`StandIn` (thread-safe) and a
JSON endpoint under ``/_standin/`` for tests in another process. Its "now" is the real clock plus
an offset that :meth:`StandIn.advance` moves, so tests can skip ahead without sleeping.

Modules: ``app`` (server, routes, controls), ``state`` (records, rules, clock, request log),
``messages``, ``calls``, ``listing`` (fetch and paged lists), ``faults`` (fault injection),
``responders`` (scripted and simulated replies), ``bridge`` and ``conference_api``
(conferences, their participants, voicemail boxes), ``control`` (the JSON control endpoint),
``threaded`` (a stand-in on its own thread). It depends on nothing else of the console, so the
demo can ship it and the console cannot come to depend on it.

Run standalone: ``python -m mim_console.standin --port 8099 --latency-ms 150``.
"""

from mim_console.standin.app import StandIn
from mim_console.standin.faults import Fault
from mim_console.standin.messages import segments
from mim_console.standin.state import (
    API_PREFIX,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_SENDER,
    KeypressAttempt,
    LoggedRequest,
    Record,
    Timing,
    rfc2822,
)
from mim_console.standin.threaded import ThreadedStandIn

__all__ = [
    "API_PREFIX",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_SENDER",
    "Fault",
    "KeypressAttempt",
    "LoggedRequest",
    "Record",
    "StandIn",
    "ThreadedStandIn",
    "Timing",
    "rfc2822",
    "segments",
]
