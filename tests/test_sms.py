"""SMS encoding and segments against a reference built straight from the GSM 03.38 tables."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mim_console.domain.sms import Encoding, analyse, suggestion, to_gsm7

# GSM 03.38 default alphabet by code, 0x00..0x7F; 0x1B is the escape to the extension table.
REF_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
REF_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESC = 0x1B


def ref_septets(text: str) -> list[list[int]] | None:
    """Each character as its septet codes, or None if the text is not GSM-7."""
    ext = {ch: code for code, ch in REF_EXTENSION.items()}
    out = []
    for ch in text:
        if ch in ext:
            out.append([ESC, ext[ch]])
        elif ch != "\x1b" and ch in REF_BASIC:
            out.append([REF_BASIC.index(ch)])
        else:
            return None
    return out


def ref_segments(groups: list[list[int]], single: int, per: int) -> int:
    flat = sum(len(g) for g in groups)
    if flat == 0:
        return 0
    if flat <= single:
        return 1
    segments: list[list[int]] = [[]]
    for group in groups:
        if len(segments[-1]) + len(group) > per:
            segments.append([])
        segments[-1].extend(group)
    assert all(len(s) <= per for s in segments)
    return len(segments)


def reference(text: str) -> tuple[str, int, int]:
    groups = ref_septets(text)
    if groups is not None:
        return "GSM-7", sum(len(g) for g in groups), ref_segments(groups, 160, 153)
    data = text.encode("utf-16-be")
    units = [data[i : i + 2] for i in range(0, len(data), 2)]
    # Group a surrogate pair as one unsplittable item.
    items: list[list[int]] = []
    i = 0
    while i < len(units):
        code = int.from_bytes(units[i], "big")
        if 0xD800 <= code <= 0xDBFF:
            items.append([code, int.from_bytes(units[i + 1], "big")])
            i += 2
        else:
            items.append([code])
            i += 1
    return "UCS-2", len(units), ref_segments(items, 70, 67)


GSM_CHARS = [c for c in REF_BASIC if c != "\x1b"] + list(REF_EXTENSION.values())
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700)
ext_heavy = st.text(alphabet=st.sampled_from(list("ab{}[]€^|~\\ ")), max_size=700)
any_text = st.text(max_size=400)
mixed = st.text(alphabet=st.sampled_from(GSM_CHARS + ["😀", "–", "’", "日", "🇫", "\u00a0"]))


def check(text: str) -> None:
    info = analyse(text)
    encoding, units, segments = reference(text)
    assert (info.encoding.value, info.units, info.segments) == (encoding, units, segments)
    assert info.characters == len(text)
    assert (info.encoding is Encoding.GSM7) == (not info.offenders)


@settings(max_examples=300)
@given(gsm_text)
def test_gsm7_text_agrees_with_reference(text: str) -> None:
    check(text)


@settings(max_examples=300)
@given(ext_heavy)
def test_extension_characters_cost_two_and_never_split(text: str) -> None:
    check(text)


@given(any_text)
def test_any_unicode_agrees_with_reference(text: str) -> None:
    check(text)


@settings(max_examples=300)
@given(mixed)
def test_mixed_text_agrees_with_reference(text: str) -> None:
    check(text)


@given(any_text)
def test_suggestions_only_offer_gsm7(text: str) -> None:
    for offender in analyse(text).offenders:
        if offender.replacement:
            assert reference(offender.replacement)[0] == "GSM-7"
    info = analyse(text)
    if info.fixable:
        assert analyse(to_gsm7(text)).encoding is Encoding.GSM7


def test_boundaries() -> None:
    assert analyse("").segments == 0
    assert analyse("a" * 160).segments == 1
    assert analyse("a" * 161).segments == 2
    assert analyse("a" * 306).segments == 2
    assert analyse("a" * 307).segments == 3
    assert analyse("€" * 80).segments == 1  # 160 septets
    assert analyse("€" * 81).segments == 2
    # 152 plain + one 2-septet character: the pair moves whole to segment 2.
    assert analyse("a" * 152 + "€" + "a" * 10).segments == 2
    assert analyse("a" * 152 + "€" * 77).segments == 3
    assert analyse("ä" * 70 + "日").segments == 2
    assert analyse("日" * 70).segments == 1
    assert analyse("😀" * 35).segments == 1  # 70 units
    assert analyse("😀" * 36).segments == 2
    # 66 units then an emoji: the surrogate pair is not split, it opens segment 3.
    assert analyse("日" * 66 + "😀" + "日" * 67).segments == 3


def test_offenders_named_with_replacements() -> None:
    info = analyse("It’s down — “really”… 🔥\u00a0ok á")
    advice = {o.char: o.replacement for o in info.offenders}
    assert advice == {
        "’": "'",
        "—": "-",
        "“": '"',
        "”": '"',
        "…": "...",
        "🔥": "",
        "\u00a0": " ",
        "á": "a",
    }
    assert info.offenders[0].positions == (2,)
    assert to_gsm7("It’s down — “really”… 🔥\u00a0ok á") == 'It\'s down - "really"...  ok a'
    assert suggestion("日") is None
    assert analyse("日").fixable is False


def test_typography_only_keeps_emoji_and_letters() -> None:
    assert to_gsm7("“á” 🔥", typography_only=True) == '"á" 🔥'
