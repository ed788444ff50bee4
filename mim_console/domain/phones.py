"""Phone numbers in, E.164 out, with a reason a duty manager can act on when a number is bad.

Pure: no I/O. National-format numbers ("040 123 4567") are read in the configured default region;
numbers starting with ``+`` or ``00`` carry their own country code. Numbers stored in the
directory are always E.164 (``+358401234567``), because that is what Twilio dials and what
inbound replies are matched against.
"""

from __future__ import annotations

from mim_console.errors import UserError

# phonenumbers (0.03-0.04 s to import) is imported by the functions that parse, not here: the
# console's start imports this module through the directory without parsing any number.

MAX_PHONE_CHARS = 40  # longer than any real number with spaces and an extension

# The alert path sends SMS to the mobile: a number that certainly cannot take one is refused.
# FIXED_LINE_OR_MOBILE (NANP, some others) and UNKNOWN types are accepted: the plan cannot tell.
_NOT_MOBILE = {  # PhoneNumberType attribute -> words
    "FIXED_LINE": "a fixed line",
    "TOLL_FREE": "a toll-free number",
    "PREMIUM_RATE": "a premium-rate number",
    "SHARED_COST": "a shared-cost number",
    "UAN": "a universal access number",
    "VOICEMAIL": "a voicemail access number",
    "PAGER": "a pager number",
}


class PhoneError(UserError):
    """A phone number that cannot be used; the message quotes it and says why."""


def _quoted(text: str) -> str:
    shown = text if len(text) <= MAX_PHONE_CHARS else text[:MAX_PHONE_CHARS] + "…"
    return f'phone "{shown}"'


def normalize_phone(text: str, region: str = "FI", *, mobile: bool = False) -> str:
    """The number as E.164, or ``PhoneError`` saying what is wrong with it.

    Remembered results (also under their E.164 form) spare an import from parsing every number
    twice: once reading the file, once storing the row.
    """
    key = (text, region, mobile)
    found = _SEEN.get(key)
    if found is not None:
        return found
    e164 = _normalize(text, region, mobile)
    if len(_SEEN) > _SEEN_MAX:
        _SEEN.clear()
    _SEEN[key] = _SEEN[(e164, region, mobile)] = e164
    return e164


_SEEN: dict[tuple[str, str, bool], str] = {}
_SEEN_MAX = 50_000


def _normalize(text: str, region: str, mobile: bool) -> str:
    """The number as E.164, or ``PhoneError`` saying what is wrong with it.

    ``region`` (ISO 3166 alpha-2) is used for numbers written without a country code.
    ``mobile=True`` also refuses numbers that cannot receive an SMS (fixed lines and the like).
    """
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

    raw = original = text.strip()
    if not raw:
        raise PhoneError("phone is empty")
    if len(raw) > MAX_PHONE_CHARS:
        raise PhoneError(f"{_quoted(raw)} is too long ({len(raw)} characters)")
    if raw.startswith("00"):
        raw = "+" + raw[2:]  # international prefix written the European way
    region = (region or "").upper()
    has_country = raw.startswith("+")
    if not has_country and phonenumbers.country_code_for_region(region) == 0:
        raise PhoneError(
            f"{_quoted(original)} has no country code and the default region {region or '(none)'} "
            "is unknown; write it as +<country code> <number> or set default_region"
        )
    try:
        number = phonenumbers.parse(raw, None if has_country else region)
    except NumberParseException as exc:
        reasons = {
            NumberParseException.INVALID_COUNTRY_CODE: "has an unknown country code",
            NumberParseException.NOT_A_NUMBER: "is not a phone number",
            NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
            NumberParseException.TOO_SHORT_NSN: "is too short",
            NumberParseException.TOO_LONG: "is too long",
        }
        raise PhoneError(
            f"{_quoted(original)} {reasons.get(exc.error_type, 'cannot be read')}"
        ) from None
    number_region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if number_region == "ZZ":
        raise PhoneError(f"{_quoted(original)} has an unknown country code +{number.country_code}")
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_SHORT:
        raise PhoneError(f"{_quoted(original)} is too short")
    if possible in (ValidationResult.TOO_LONG,):
        raise PhoneError(f"{_quoted(original)} is too long")
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise PhoneError(f"{_quoted(original)} has an unknown country code +{number.country_code}")
    if (
        possible != ValidationResult.IS_POSSIBLE
        and possible != ValidationResult.IS_POSSIBLE_LOCAL_ONLY
    ):
        raise PhoneError(f"{_quoted(original)} has the wrong number of digits")
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or number_region
        raise PhoneError(f"{_quoted(original)} is not a valid number for region {where}")
    if mobile:
        not_mobile = {getattr(PhoneNumberType, name): words for name, words in _NOT_MOBILE.items()}
        kind = not_mobile.get(phonenumbers.number_type(number))
        if kind is not None:
            raise PhoneError(
                f"{_quoted(original)} is not a mobile number ({kind}): SMS cannot reach it"
            )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """E.164 in international format with spaces, for people to read (``+358 40 123 4567``)."""
    import phonenumbers
    from phonenumbers import NumberParseException

    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
