"""How long message text costs: SMS analysis and rendering, per message.

Why: the declare screen re-renders the alert and its segment count on every keystroke, and a
fan-out to hundreds of people renders one text per person. Run: ``python bench/sms_text.py``.
"""

from __future__ import annotations

import platform
import random
import string
import time

from mim_console.domain import sms, templates

VALUES = {
    "incident_code": "MI-2026-007",
    "reply_code": "K7",
    "severity": "SEV1",
    "bridge": templates.bridge_text("+358 9 1234 5678", "4242"),
}


def per_call_us(fn: object, items: list[str], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def main() -> None:
    rng = random.Random(7)
    gsm = [
        "".join(rng.choice(string.ascii_letters + " .,") for _ in range(rng.randint(100, 480)))
        for _ in range(5000)
    ]
    ucs = [t[:60] + "’ — 😀" + t[60:200] for t in gsm]
    short_titles = [t[:40] for t in gsm]
    long_titles = gsm  # 100-480 characters: the title-shortening path
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(f"analyse, GSM-7 100-480 chars:   {per_call_us(sms.analyse, gsm):7.1f} us")
    print(f"analyse, UCS-2 ~200 chars:      {per_call_us(sms.analyse, ucs):7.1f} us")

    def alert(title: str) -> str:
        return templates.render("alert_sms", None, {**VALUES, "title": title})

    print(f"render alert, 40-char title:    {per_call_us(alert, short_titles):7.1f} us")
    print(f"render alert, title shortened:  {per_call_us(alert, long_titles[:1000]):7.1f} us")


if __name__ == "__main__":
    main()
