"""`mim-console readiness` and `mim-console verify`: what preparation is missing; contact checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.text import Text

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import confirm, console, emit_json, literal, print_table, say, warn
from mim_console.domain.readiness import LABELS, Finding
from mim_console.errors import UserError
from mim_console.services import timezone
from mim_console.services.context import Context

COMPACT_AFTER = 5


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check,
        "ok": finding.ok,
        "subject": finding.subject,
        "message": finding.message,
        "fix": finding.fix,
        "person_id": finding.person_id,
    }


def _grouped(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.check, []).append(finding)
    return out


@main.command()
@json_option
@pass_context
def readiness(ctx: Context, as_json: bool) -> None:
    """Is the organisation prepared? Lists what fails and how to fix it (exit 1 if anything
    fails): criteria, MRT seats and deputies, specialist groups, mobiles, verified contacts,
    rotation cover, the bridge and the templates."""
    from mim_console.services.readiness import readiness as check

    result = check(ctx)
    failing = result.failing
    if as_json:
        emit_json(
            {
                "ready": result.ready,
                "at": result.at,
                "failing": len(failing),
                "passing": len(result.findings) - len(failing),
                "findings": [finding_json(f) for f in result.findings],
            }
        )
    else:
        out = console()
        if failing:
            out.print(
                Text(f"Not ready: {len(failing)} item(s) to fix", style="bold red"),
            )
            for check_name, items in _grouped(failing).items():
                out.print(Text(f"\n{LABELS.get(check_name, check_name)}", style="bold"))
                compact = len(items) > COMPACT_AFTER  # one line each, so the list stays readable
                for item in items:
                    line = Text("  ✖ ", style="red") + literal(item.message)
                    if item.fix and compact:
                        line += Text(" · fix: ") + literal(item.fix)
                    out.print(line, soft_wrap=True)
                    if item.fix and not compact:
                        out.print(Text("    fix: ") + literal(item.fix), soft_wrap=True)
                if check_name == "verified" and len(items) > 1:
                    out.print(
                        Text("    or check everyone at once: `mim-console verify --all`"),
                        soft_wrap=True,
                    )
            out.print()
        else:
            out.print(Text("Ready: every check passes", style="bold green"))
        passing = [f for f in result.findings if f.ok]
        for check_name, items in _grouped(passing).items():
            label = LABELS.get(check_name, check_name)
            if len(items) == 1:
                words = f"{label}: {items[0].message}"
            else:
                names = ", ".join(f.subject for f in items[:4])
                more = f", and {len(items) - 4} more" if len(items) > 4 else ""
                words = f"{label}: {len(items)} fine ({names}{more})"
            out.print(Text("  ✔ ", style="green") + literal(words), soft_wrap=True)
    if failing:
        click.get_current_context().exit(1)


@main.command()
@click.option("--person", "persons", multiple=True, help="A person: id, name or email (repeat).")
@click.option("--group", "groups", multiple=True, help="Every member of a specialist group.")
@click.option("--party", "parties", multiple=True, help="A party's representatives (and rota).")
@click.option("--all", "everyone", is_flag=True, help="Every active person.")
@click.option("--status", is_flag=True, help="List the checks of the last --days instead.")
@click.option("--days", type=click.IntRange(1, 3660), default=30, show_default=True)
@click.option("--yes", is_flag=True, help="Send to several people without asking.")
@click.option(
    "--with-numbers",
    is_flag=True,
    help="Also name the numbers alerts come from, to save as 'MIM alerts' (see contact-card).",
)
@json_option
@pass_context
def verify(
    ctx: Context,
    persons: tuple[str, ...],
    groups: tuple[str, ...],
    parties: tuple[str, ...],
    everyone: bool,
    status: bool,
    days: int,
    yes: bool,
    with_numbers: bool,
    as_json: bool,
) -> None:
    """Send a contact check (a test SMS with its own code); a reply marks the person verified.

    The reply may be the code ("OK 4821") or, from someone on no active incident, any text. The
    SMS goes out through the outbox when the dispatcher runs (the console or `mim-console
    dispatch`). --status lists recent checks and their answers.
    """
    from mim_console.services.verification import VerificationService

    service = VerificationService(ctx)
    if status:
        if persons or groups or parties or everyone:
            raise click.UsageError("--status lists checks: give no --person/--group/--party/--all")
        _status(service.recent(days), as_json)
        return
    plan = service.plan(persons, groups, parties, everyone=everyone)
    for name, reason in plan.skipped:
        warn(f"{name}: {reason}")
    if not plan.people:
        raise UserError("nobody to check: every person named was left out (see above)")
    if len(plan.people) > 1 and not yes:
        confirm(
            f"Send a test SMS to {len(plan.people)} people?",
            "nothing sent (--yes sends without asking)",
        )
    sent = service.send(plan.people, with_numbers=with_numbers)
    if as_json:
        emit_json(
            {
                "queued": [
                    {
                        "person_id": s.person_id,
                        "name": s.name,
                        "to": s.to_number,
                        "code": s.code,
                        "alert_id": s.alert_id,
                    }
                    for s in sent
                ],
                "skipped": [{"name": n, "reason": r} for n, r in plan.skipped],
            }
        )
    else:
        print_table(
            f"Contact checks queued: {len(sent)}",
            ["person", "mobile", "code"],
            [(s.name, s.to_number, s.code) for s in sent],
        )
        say("A reply marks each person verified: `mim-console verify --status` shows answers.")
    missing = ctx.settings.twilio.missing()
    if missing:
        warn(
            "queued, but Twilio is not configured (missing "
            + ", ".join(missing)
            + "): nothing is sent until it is"
        )
    else:
        warn("sent when the dispatcher runs: the console, or `mim-console dispatch`")


def _status(records: Sequence[Any], as_json: bool) -> None:
    if as_json:
        emit_json(
            [
                {
                    "person_id": r.person_id,
                    "name": r.person_name,
                    "to": r.to_number,
                    "code": r.code,
                    "requested_at": r.requested_at,
                    "alert_id": r.alert_id,
                    "alert_status": r.alert_status,
                    "answered_at": r.answered_at,
                    "answer": r.answer,
                }
                for r in records
            ]
        )
        return
    if not records:
        say("no contact checks in that time")
        return
    print_table(
        f"Contact checks, newest first ({timezone.times_label()})",
        ["sent", "person", "code", "SMS", "answered", "reply"],
        [
            (
                timezone.shown(r.requested_at, "%m-%d %H:%M"),
                r.person_name,
                r.code,
                r.alert_status or "",
                timezone.shown(r.answered_at, "%m-%d %H:%M", none="not yet"),
                r.answer or "",
            )
            for r in records
        ],
    )
