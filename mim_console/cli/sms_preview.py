"""`mim-console sms-preview`: what a text costs as SMS, and what forces UCS-2."""

from __future__ import annotations

import sys
from typing import Any

import click

from mim_console.cli.base import json_option, main
from mim_console.cli.output import emit_json, say
from mim_console.domain import sms


def _info_json(info: sms.SmsInfo) -> dict[str, Any]:
    return {
        "encoding": info.encoding.value,
        "characters": info.characters,
        "units": info.units,
        "segments": info.segments,
        "per_segment": info.per_segment,
        "remaining": info.remaining,
        "offenders": [
            {
                "char": o.char,
                "name": o.name,
                "positions": list(o.positions),
                "replacement": o.replacement,
            }
            for o in info.offenders
        ],
    }


def say_sms(text: str) -> None:
    """One line of SMS cost, then each character forcing UCS-2 with its advice."""
    info = sms.analyse(text)
    unit = "septets" if info.encoding is sms.Encoding.GSM7 else "UTF-16 units"
    say(
        f"{info.encoding.value}: {info.characters} characters, {info.units} {unit}, "
        f"{info.segments} segment{'s' if info.segments != 1 else ''} "
        f"({info.remaining} left in the last; {info.per_segment} per segment)"
    )
    for o in info.offenders:
        at = ", ".join(str(p + 1) for p in o.positions[:5])
        more = "…" if len(o.positions) > 5 else ""
        say(f"  {o.char!r} {o.name} at {at}{more}: {o.advice}")
    if info.offenders and info.fixable:
        say(f"  with the replacements: {sms.analyse(sms.to_gsm7(text)).segments} segment(s)")


@main.command("sms-preview")
@click.argument("text")
@json_option
def sms_preview(text: str, as_json: bool) -> None:
    """Encoding, counts and segments of TEXT (`-` reads stdin), and what forces UCS-2."""
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    if as_json:
        info = sms.analyse(text)
        emit_json({**_info_json(info), "suggested": sms.to_gsm7(text)})
        return
    say_sms(text)
