"""TwiML for voice alerts, built with the SDK's ``VoiceResponse`` (it escapes the XML for us).

Pure text building (the SDK's TwiML module does no I/O): the incident service renders a voice
alert's body with it before queueing, and the keypress receiver answers keypresses with it.

The alert is read twice (people pick up mid-sentence), then the call asks for a keypress if a
public callback URL exists, or tells the person to answer the SMS if not: an answered call alone
never counts as an acknowledgement.
"""

from __future__ import annotations

import re

from twilio.twiml.voice_response import VoiceResponse

MAX_TWIML = 4000  # Twilio refuses a ``Twiml`` parameter longer than this
LANGUAGE = "en-GB"
PROMPT = "Press 1 if you are joining. Press 2 if you are unable."
NO_CALLBACK = "Please reply to the text message: 1 if you are joining, 2 if you are unable."
NO_KEY = "No key was pressed. " + NO_CALLBACK
JOINED = "Thank you. You are recorded as joining. Goodbye."
UNABLE = "Thank you. You are recorded as unable to join. Goodbye."
RETRY = "Sorry, that key is not an option."

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def speakable(text: str) -> str:
    """Text fit for speech and for XML 1.0: control characters out, whitespace collapsed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def alert_twiml(text: str, callback_url: str | None = None) -> str:
    """The TwiML of a voice alert; the alert text is shortened if the whole would not fit."""
    spoken = speakable(text) or "A major incident needs you."
    twiml = _render(spoken, callback_url)
    if len(twiml) <= MAX_TWIML:
        return twiml
    # Longest prefix that fits (escaping makes the size non-linear, so search for it).
    low, high = 0, len(spoken)
    while low < high:
        middle = (low + high + 1) // 2
        if len(_render(spoken[:middle].rstrip() + "…", callback_url)) <= MAX_TWIML:
            low = middle
        else:
            high = middle - 1
    return _render(spoken[:low].rstrip() + "…", callback_url)


def _render(spoken: str, callback_url: str | None) -> str:
    response = VoiceResponse()
    if callback_url:
        gather = response.gather(
            num_digits=1,
            action=callback_url,
            method="POST",
            timeout=8,
            action_on_empty_result=False,
        )
        gather.say(spoken, language=LANGUAGE)
        gather.pause(length=1)
        gather.say(spoken, language=LANGUAGE)
        gather.pause(length=1)
        gather.say(PROMPT, language=LANGUAGE)
        response.say(NO_KEY, language=LANGUAGE)
    else:
        response.say(spoken, language=LANGUAGE)
        response.pause(length=1)
        response.say(spoken, language=LANGUAGE)
        response.pause(length=1)
        response.say(NO_CALLBACK, language=LANGUAGE)
    return str(response)


def keypress_twiml(digit: str, callback_url: str | None = None) -> str:
    """The answer to a keypress: a confirmation, or one more try for any other key."""
    response = VoiceResponse()
    if digit == "1":
        response.say(JOINED, language=LANGUAGE)
    elif digit == "2":
        response.say(UNABLE, language=LANGUAGE)
    elif callback_url:
        gather = response.gather(num_digits=1, action=callback_url, method="POST", timeout=8)
        gather.say(RETRY + " " + PROMPT, language=LANGUAGE)
        response.say(NO_KEY, language=LANGUAGE)
    else:
        response.say(NO_CALLBACK, language=LANGUAGE)
    return str(response)
