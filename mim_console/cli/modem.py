"""`mim-console modem check` and `mim-console contact-card`: the GSM modem route's tools."""

from __future__ import annotations

from pathlib import Path

import click

from mim_console.cli.base import json_option, main, pass_context
from mim_console.cli.output import emit_json, say
from mim_console.errors import UserError
from mim_console.services.context import Context


@main.group()
def modem() -> None:
    """The local GSM modem (Gammu): the SMS route that needs no internet."""


@modem.command("check")
@click.option("--to", "to", metavar="NUMBER", help="Also send a test SMS to NUMBER.")
@json_option
@pass_context
def modem_check(ctx: Context, to: str | None, as_json: bool) -> None:
    """Open the modem: identity, network registration, signal, SIM lock, inbox; exit 1 when it
    cannot send. With --to, a test SMS too."""
    from mim_console.services.modem import check_modem

    result = check_modem(ctx, to)
    health = result.health
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "gammurc": result.gammurc,
                "section": result.section,
                "error": health.error,
                "problems": list(health.problems),
                "manufacturer": health.manufacturer,
                "model": health.model,
                "imei": health.imei,
                "network": health.network_state or None,
                "network_name": health.network_name or None,
                "signal_percent": health.signal_percent,
                "sim_lock": health.security,
                "inbox_used": health.inbox_used,
                "inbox_size": health.inbox_size,
                "test_to": result.test_to,
                "test_sent": result.test_sid is not None,
                "test_error": result.test_error,
            }
        )
    else:
        say(f"gammurc: {result.gammurc} (section {result.section})")
        if health.error is not None:
            say(f"✖ {health.error}")
        else:
            say(f"modem: {health.identity}")
            say(f"network: {health.network}")
            signal = "unknown" if health.signal_percent is None else f"{health.signal_percent}%"
            say(f"signal: {signal}")
            say(f"SIM: {'needs ' + health.security if health.security else 'unlocked'}")
            if health.inbox_size:
                say(f"inbox: {health.inbox_used} of {health.inbox_size} used")
            for problem in health.problems:
                say(f"✖ {problem}")
        if result.test_to is not None:
            if result.test_error is None:
                say(f"test SMS handed to the modem for {result.test_to}")
            else:
                say(f"✖ test SMS to {result.test_to}: {result.test_error}")
        if result.ok:
            say("the modem can send")
    if not result.ok:
        raise SystemExit(1)


@main.command("contact-card")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the card to FILE.vcf (whole or not at all) instead of printing it.",
)
@pass_context
def contact_card_cmd(ctx: Context, output: Path | None) -> None:
    """A vCard "MIM alerts" with every number alerts may come from (Twilio, the modem): save
    it on each phone and let it through Do Not Disturb (README: "Alerts through Do Not
    Disturb")."""
    from mim_console.services.modem import contact_card, write_contact_card

    if output is None:
        click.echo(contact_card(ctx.settings, ctx.clock()), nl=False)
        return
    if output.suffix.lower() not in (".vcf", ".vcard"):
        raise UserError(f"{output}: name the card FILE.vcf (phones open .vcf files)")
    count = write_contact_card(ctx.settings, output, ctx.clock())
    say(f"contact card written: {output} ({count} number{'s' if count != 1 else ''})")
