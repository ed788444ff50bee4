"""Twilio error codes in plain words, and whether trying again can ever help.

The duty manager sees ``reason``; the dispatcher reads ``permanent`` (never retry) and
``account_wide`` (the problem is our configuration, not this recipient: every alert will fail the
same way until someone fixes the settings, so pausing beats burning through the queue).
Pure data: no I/O, safe to import anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TwilioError:
    code: int | None
    reason: str
    permanent: bool
    account_wide: bool = False


def _p(reason: str, account_wide: bool = False) -> tuple[str, bool, bool]:
    return (reason, True, account_wide)


def _t(reason: str) -> tuple[str, bool, bool]:
    return (reason, False, False)


_KNOWN: dict[int, tuple[str, bool, bool]] = {
    # Account, credentials and sender configuration: fix the settings, then resend.
    20003: _p("Twilio rejected the credentials (check TWILIO_ACCOUNT_SID and the token)", True),
    20005: _p("the Twilio account is suspended or closed", True),
    20008: _p("test credentials cannot do this: use live credentials", True),
    20404: _p("Twilio does not know this resource (wrong account SID or message SID?)"),
    20429: _t("Twilio is rate-limiting requests (too many at once)"),
    20500: _t("Twilio had an internal error"),
    20503: _t("Twilio is temporarily unavailable"),
    21212: _p("the sending number (MIM_TWILIO_FROM) is not a valid phone number", True),
    21606: _p("the sending number cannot send SMS to this destination", True),
    21659: _p("the sending number is not a Twilio number on this account", True),
    21660: _p("the sending number does not belong to this Twilio account", True),
    21701: _p("the Messaging Service (MIM_TWILIO_FROM) does not exist", True),
    21703: _p("the Messaging Service has no phone numbers to send from", True),
    21704: _p("the Messaging Service has no senders for this destination", True),
    21210: _p("the calling number is not verified for this account", True),
    21214: _p("the calling number (MIM_TWILIO_FROM) cannot place calls", True),
    # Refused for this destination only (geo permissions, a trial account's verified list):
    # the settings need fixing, but other recipients still get through, so sending goes on.
    21215: _p("the account is not allowed to call this destination (check geo permissions)"),
    21219: _p("trial accounts can only call verified numbers"),
    21608: _p("trial accounts can only text verified numbers"),
    # The recipient's number: fix the contact, never retry.
    21211: _p("the phone number is not valid"),
    21201: _p("no phone number was given"),
    21213: _p("no sending number was given (set MIM_TWILIO_FROM)", True),
    21216: _p("this number cannot be called (blocked or premium destination)"),
    21217: _p("the phone number is not valid"),
    21401: _p("the phone number is not valid"),
    21407: _p("this country is not supported for SMS"),
    21408: _p("SMS to this region is not enabled on the account (Twilio geo permissions)"),
    21421: _p("the phone number is not valid"),
    21604: _p("no phone number was given"),
    21602: _p("the message text is empty"),
    21603: _p("no sending number was given (set MIM_TWILIO_FROM)", True),
    21610: _p("the recipient has unsubscribed (they replied STOP); they must text START"),
    21612: _p("the sending number cannot reach this number by SMS"),
    21614: _p("the number is not a mobile phone and cannot receive SMS"),
    21617: _p("the message is longer than 1600 characters"),
    21205: _p("the call had no instructions (TwiML) to play"),
    13520: _p("the spoken text is too long for a call"),
    # The incident's own bridge (a Twilio conference): retry, it may have room again soon.
    16020: _t("the bridge is full (250 people is Twilio's limit per conference)"),
    16021: _t("too many calls at once on the Twilio account (its concurrency limit)"),
    # Delivery outcomes reported on a message after it was accepted.
    30001: _t("Twilio's queue overflowed; the message was not sent"),
    30002: _p("the Twilio account is suspended", True),
    30003: _p("the phone is switched off or unreachable"),
    30004: _p("the message was blocked (the recipient or their operator blocks it)"),
    30005: _p("the number does not exist or is no longer in service"),
    30006: _p("the number is a landline or cannot receive SMS"),
    30007: _p("the operator filtered the message as spam"),
    30008: _p("delivery failed for an unknown reason at the operator"),
    30009: _t("part of a long message went missing"),
    30010: _p("the message price exceeded the maximum price"),
    30036: _p("not delivered within its validity period ([twilio] validity_s): dropped by Twilio"),
    21624: _p("the validity period is outside Twilio's 1..36000 s ([twilio] validity_s)", True),
    30034: _p("US A2P 10DLC: the sending number is not registered", True),
}


def describe(code: int | None, fallback: str = "") -> TwilioError:
    """Plain reason for a Twilio error code; unknown codes keep Twilio's own words if any."""
    if code is not None and code in _KNOWN:
        reason, permanent, account_wide = _KNOWN[code]
        return TwilioError(code, reason, permanent, account_wide)
    text = " ".join(fallback.split())
    if code is not None and 30000 <= code < 31000:
        return TwilioError(code, text or f"delivery failed (Twilio error {code})", True)
    return TwilioError(code, text or f"Twilio error {code}", True)


def describe_http(
    status: int, code: int | None, fallback: str = "", *, on_account: bool = False
) -> TwilioError:
    """Classify a refused API request: 429 and 5xx are worth retrying, other 4xx are not.

    ``on_account``: a create or the account's message log, where a 20404 means the account
    itself is not found (on a status fetch, only the message or call asked about).
    """
    info = _describe_http(status, code, fallback)
    if code == 20404 and on_account:
        return TwilioError(
            code, "Twilio does not know this account (check TWILIO_ACCOUNT_SID)", True, True
        )
    return info


def _describe_http(status: int, code: int | None, fallback: str = "") -> TwilioError:
    if status == 429 or status >= 500:
        known = describe(code) if code in _KNOWN else None
        if known is not None and not known.permanent:
            return known
        if status == 429:
            return TwilioError(code, "Twilio is rate-limiting requests (too many at once)", False)
        return TwilioError(code, f"Twilio is having trouble (HTTP {status})", False)
    if status in (401, 403) and (code is None or code in (401, 403, 20003)):
        return describe(20003)
    if code is None or code == status:
        text = " ".join(fallback.split())
        return TwilioError(code, text or f"Twilio refused the request (HTTP {status})", True)
    return describe(code, fallback)


# Codes about the account or its credentials as a whole: every Twilio channel stops, not only
# the one that was refused (a sender-number code stops only that channel).
_WHOLE_ACCOUNT = frozenset({20003, 20005, 20008, 20404, 30002})

# Codes that say the number itself is wrong: a call to it cannot succeed either.
_NO_SUCH_NUMBER = frozenset({21201, 21211, 21217, 21401, 21421, 21604, 30005})


def account_wide_codes() -> frozenset[int]:
    """Every code that stops sending (for reading the outbox's last errors)."""
    return frozenset(c for c, (_, _, wide) in _KNOWN.items() if wide) | _WHOLE_ACCOUNT


def whole_account(code: int | None) -> bool:
    """Whether a refusal with ``code`` stops every channel of the account."""
    return code is None or code in _WHOLE_ACCOUNT


def headline(code: int | None) -> str:
    """A refusal in a few words, for the banner and the first line of `dispatch`."""
    tail = f" ({code})" if code is not None else ""
    if code in (20005, 30002):
        return f"Twilio has suspended the account{tail}"
    if whole_account(code):
        return f"Twilio refuses our credentials{tail}"
    return f"Twilio refuses our sending number{tail}"


def refusal_words(code: int | None, fallback: str = "") -> str:
    """Why an alert was refused, in plain words with its code: ``the phone number is not valid
    (21211)``."""
    reason = describe(code, fallback).reason
    return f"{reason} ({code})" if code is not None else reason


def number_cannot_take_calls(code: int | None) -> bool:
    """Whether an alert refused with ``code`` says the number does not exist at all (so the
    escalation's voice call is pointless: the deputy is next)."""
    return code in _NO_SUCH_NUMBER
