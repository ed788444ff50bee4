"""Phone numbers masked in log lines.

Logs end up in terminals, screenshots and support tickets; a roll call of mobile numbers must
not. The database keeps full numbers (it needs them); a log line keeps the country code and the
last two digits (``+358*******03``), enough to tell two numbers apart while debugging. The
filter rewrites the record itself (message, arguments and any traceback text), so every handler
sees the masked text, including pytest's caplog and Textual's log.
"""

from __future__ import annotations

import logging
import re

# "+" and 7-15 digits, possibly grouped by single spaces or hyphens (E.164 as sent to Twilio,
# or as people type it); or a bare run of 8-15 digits not glued to letters (a SID, a code).
_PHONE = re.compile(r"\+\d(?:[ -]?\d){6,14}(?!\d)|(?<![\w.:+-])\d{8,15}(?![\w.:])")


def mask_phone(text: str) -> str:
    """``+358400000003`` -> ``+358*******03``: country code and last two digits kept."""
    digits = re.sub(r"\D", "", text)
    lead = "+" if text.startswith("+") else ""
    if len(digits) < 6:
        return lead + "*" * len(digits)
    return f"{lead}{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def mask_phones(text: str) -> str:
    """Every phone-number-like run in ``text`` masked."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class MaskPhones(logging.Filter):
    """Masks phone numbers in the record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the handler's to report
            return True
        record.msg = mask_phones(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        return True


_FILTER = MaskPhones()


def masked_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records have their phone numbers masked."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
