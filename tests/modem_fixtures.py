"""Gammu's dummy driver as the modem: a folder for its phone, a debug log to count sends in.

The dummy driver runs the whole Gammu API without hardware: ``SendSMS`` succeeds and is written
to the debug log ("Recipient number "+…""), ``AddSMS`` into folder 1 puts a message in the inbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gammu

_RECIPIENT = re.compile(r'^Recipient number "([^"]*)"', re.MULTILINE)


@dataclass(frozen=True)
class DummyModem:
    gammurc: Path
    device: Path
    logfile: Path

    def log_text(self) -> str:
        return (
            self.logfile.read_text(encoding="utf-8", errors="replace")
            if self.logfile.exists()
            else ""
        )

    def recipients(self) -> list[str]:
        """Every SMS part submitted, in order: one entry per part (from Gammu's own log)."""
        return _RECIPIENT.findall(self.log_text())

    def receive(self, number: str, text: str) -> None:
        """A text from ``number`` arrives in the modem's inbox (multi-part when long)."""
        machine = gammu.StateMachine()
        machine.ReadConfig(Filename=str(self.gammurc))
        config = machine.GetConfig(0)
        config["DebugFile"] = None  # this side's own connection must not touch the send log
        machine.SetConfig(0, config)
        machine.Init()
        stamp = datetime.now(UTC).replace(microsecond=0)  # the network's time stamp
        try:
            parts = gammu.EncodeSMS(
                {
                    "Class": -1,
                    "Unicode": not text.isascii(),
                    "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": text}],
                }
            )
            for part in parts:
                part.update(
                    {
                        "Folder": 1,
                        "Number": number,
                        "SMSC": {"Location": 1},
                        "State": "UnRead",
                        "DateTime": stamp,
                    }
                )
                machine.AddSMS(part)
        finally:
            machine.Terminate()

    def inbox_files(self) -> list[Path]:
        return sorted((self.device / "sms" / "1").glob("*"))


def dummy_modem(folder: Path, *, section: int = 0) -> DummyModem:
    folder.mkdir(parents=True, exist_ok=True)
    device = folder / "phone"
    device.mkdir(exist_ok=True)
    logfile = folder / "gammu.log"
    name = "gammu" if section == 0 else f"gammu{section}"
    gammurc = folder / "gammurc"
    gammurc.write_text(
        f"[{name}]\nmodel = dummy\nconnection = none\ndevice = {device}\n"
        f"logfile = {logfile}\nlogformat = textall\n",
        encoding="utf-8",
    )
    return DummyModem(gammurc=gammurc, device=device, logfile=logfile)
