"""The readiness check over the real directory, rotations, templates and settings.

One function, ``readiness(context)``, used by `mim-console readiness` and the Duty screen: it
gathers a ``ReadinessInput`` in one read and returns every finding (``domain/readiness.py``
decides what passes). Template problems are found here because they need the stored texts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mim_console.config import Settings
from mim_console.data import comms as comms_repo
from mim_console.data import verification
from mim_console.domain import templates
from mim_console.domain.phones import PhoneError, normalize_phone
from mim_console.domain.readiness import Finding, Problem, ReadinessInput, check
from mim_console.errors import UserError
from mim_console.services import duty
from mim_console.services.context import Context
from mim_console.services.modem import modem_findings
from mim_console.services.outbox_view import account_refusal

# Templates a recipient answers: they must say how (the reply code, or the reply help).
_ANSWERABLE = ("alert_sms", "recall")


@dataclass(frozen=True)
class Readiness:
    at: datetime
    findings: tuple[Finding, ...]

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def ready(self) -> bool:
        return not self.failing

    def unverified(self) -> list[int]:
        """People whose contact check is due (the Duty screen offers to send them one)."""
        return [f.person_id for f in self.failing if f.check == "verified" and f.person_id]

    def summary(self, hint: str = "", items: int = 2) -> str:
        """One line for the Duty screen: the count, ``hint`` (how to see all), the first items."""
        failing = self.failing
        tail = f" ({hint})" if hint else ""
        if not failing:
            return f"✔ Ready: every readiness check passes{tail}"
        first = " · ".join(f.message for f in failing[:items])
        more = f" · and {len(failing) - items} more" if len(failing) > items else ""
        return f"⚠ Not ready, {len(failing)} to fix{tail}: {first}{more}"


def _edit(name: str) -> str:
    return (
        f"`mim-console comms template edit-file {name}` to correct it, or "
        f"`mim-console comms template reset {name}` for the built-in text"
    )


def template_problems(texts: Mapping[str, str], settings: Settings) -> list[Problem]:
    """What would make a page or a contact check go out wrong, from the effective texts."""
    problems: list[Problem] = []
    usable: dict[str, list[str]] = {}
    for name in templates.NAMES:
        text = texts.get(name, templates.SPECS[name].default)
        try:
            templates.validate(name, text)
        except UserError as exc:
            problems.append(
                Problem(
                    f"{exc}; the built-in text is sent instead until it is fixed", _edit(name), name
                )
            )
            text = templates.SPECS[name].default
        usable[name] = templates.placeholders_in(name, text)
    for name in _ANSWERABLE:
        if not {"reply_help", "reply_code"} & set(usable[name]):
            problems.append(
                Problem(
                    f"template {name} does not say how to answer (no {{reply_help}} or "
                    "{reply_code}): a reply cannot name its incident when several are open",
                    _edit(name),
                    name,
                )
            )
    if "reply_help" not in usable["test"]:
        problems.append(
            Problem(
                "template test (the contact check) leaves out {reply_help}, which carries the "
                "check's code: someone on an active incident could not answer it",
                _edit("test"),
                "test",
            )
        )
    users = sorted(name for name, used in usable.items() if "organisation" in used)
    if users and not settings.organisation.strip():
        problems.append(
            Problem(
                f"organisation is not set, so {{organisation}} is blank in {', '.join(users)}",
                'set organisation = "…" in the config file (`mim-console config path` prints '
                "where)",
                "organisation",
            )
        )
    return problems


def mobile_checker(region: str) -> Callable[[str], str | None]:
    """``valid_mobile`` for ``domain.readiness.check``: a reason, or None for a good mobile."""

    def valid(number: str) -> str | None:
        try:
            normalize_phone(number, region, mobile=True)
        except PhoneError as exc:
            reason = str(exc)
            return reason.removeprefix("phone ")
        return None

    return valid


def _checked_settings(settings: Settings) -> None:
    """The settings the check reads, refused in plain words if the config file has them wrong
    (the file is read without a schema: ``verify_within_days = "90"`` must not crash)."""
    days = settings.verify_within_days
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise UserError(
            f"verify_within_days in the config file must be a whole number of days (1 or more), "
            f"not {days!r}"
        )
    for key in ("declare_criteria", "organisation"):
        value = getattr(settings, key)
        if not isinstance(value, str):
            raise UserError(f'{key} in the config file must be text in quotes ("…"), not {value!r}')


def gather(context: Context, now: datetime, board: duty.DutyBoard | None = None) -> ReadinessInput:
    """Everything the check needs, read from the store and the settings (``board``: the duty
    board at ``now`` if the caller has it already)."""
    settings = context.settings
    _checked_settings(settings)
    store = context.store
    board = board or duty.load_board(store, now)
    directory = context.directory()
    rotation_members = sorted({m for r in board.rotations for m in r.members})
    with store.read() as db:
        parties = directory.parties()
        groups = directory.groups()
        # Only the people who can be alerted: a big directory holds many more.
        wanted = {i for party in parties for i in party.representatives}
        wanted.update(i for group in groups for i in group.members)
        wanted.update(rotation_members)
        people = directory.people_by_ids(wanted)
        texts = comms_repo.custom_templates(db)
        undelivered = verification.failed_checks(db)
    return ReadinessInput(
        parties=parties,
        groups=groups,
        people=people,
        duty_rotation_exists=duty.has_duty_rotation(board),
        rotation_gaps=duty.rotation_gap_lines(board),
        party_rotations=duty.party_rotation_names(board),
        seat_rotation_members={
            r.party_id: tuple(r.members) for r in board.rotations if r.party_id is not None
        },
        bridge_configured=settings.bridge.configured,
        criteria=settings.declare_criteria,
        template_problems=template_problems(texts, settings),
        verify_within_days=settings.verify_within_days,
        rotation_members=rotation_members,
        failed_checks=undelivered,
    )


def readiness(
    context: Context, now: datetime | None = None, board: duty.DutyBoard | None = None
) -> Readiness:
    """Every finding, passing ones included, at ``now`` (default: the context's clock)."""
    from mim_console.services import integrity

    at = now or context.clock()
    board = board or duty.load_board(context.store, at)
    data = gather(context, at, board)
    found = check(data, at, mobile_checker(context.settings.default_region))
    found.extend(modem_findings(context, at))
    found.extend(_replication(context, at))
    found.extend(_twilio_refusal(context))
    found += integrity.findings(context, board)  # the hash chain; stored rows ignored
    return Readiness(at, tuple(found))


def _twilio_refusal(context: Context) -> list[Finding]:
    """Twilio refusing our account (credentials, sending number), as the waiting alerts'
    last errors say: an item only while it holds alerts (the dispatcher re-checks by itself)."""
    refused = account_refusal(context)
    if refused is None:
        return []
    head, reason, waiting = refused
    return [
        Finding(
            "twilio",
            False,
            "Twilio account",
            f"{head}: {waiting} alert(s) kept, none sent ({reason})",
            "fix TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or MIM_TWILIO_FROM where the dispatcher "
            "reads them (the environment or the config file); it re-checks every 30 s and sends "
            "the kept alerts by itself",
        )
    ]


def _replication(context: Context, now: datetime) -> list[Finding]:
    """Two sites (docs/sites.md): judged from the database alone (the replicator's beat), so
    every console, whatever its config file, sees the same."""
    from mim_console.services.sites import replication_finding

    found = replication_finding(context, now)
    return [] if found is None else [Finding("replica", found[0], "replication", *found[1:])]
