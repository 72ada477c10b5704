"""Bytes to clean text: decoding, line endings, XML-forbidden characters, binary detection."""

# ruff: noqa: RUF001  (Cyrillic, Chinese and Urdu text is what these tests are about)

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedd.parse.text import NotText, binary_reason, clean, decode, text_of

# The complement of XML 1.0's `Char` production.
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
CP1252_WARNING = "not valid UTF-8"


@pytest.mark.parametrize(
    ("raw", "text", "warns"),
    [
        pytest.param(b"plain", "plain", False, id="ascii"),
        pytest.param(b"", "", False, id="empty"),
        pytest.param(b"\xef\xbb\xbfhello", "hello", False, id="bom-dropped"),
        pytest.param(b"\xef\xbb\xbf", "", False, id="bom-only"),
        pytest.param(b"a\xef\xbb\xbfb", "a\ufeffb", False, id="bom-mid-text-kept"),
        pytest.param(b"a\r\nb\r\n", "a\nb\n", False, id="crlf"),
        pytest.param(b"a\rb\r", "a\nb\n", False, id="cr"),
        pytest.param(b"a\r\rb", "a\n\nb", False, id="cr-cr"),
        pytest.param(b"a\n\r\nb\r", "a\n\nb\n", False, id="mixed-endings"),
        pytest.param("café ру 中 🍁".encode(), "café ру 中 🍁", False, id="utf8"),
        pytest.param(b"caf\xe9", "café", True, id="cp1252-e-acute"),
        pytest.param(b"\x93quoted\x94", "\u201cquoted\u201d", True, id="cp1252-smart-quotes"),
        pytest.param(
            b"\x96 \x85 \x80", "\u2013 \u2026 \u20ac", True, id="cp1252-dash-ellipsis-euro"
        ),
        pytest.param(b"\xef\xbb\xbfcaf\xe9\r\n", "café\n", True, id="bom-then-cp1252-crlf"),
        pytest.param(
            "— naïve ".encode() + b"caf\xe9", "— naïve café", True, id="mixed-utf8-and-cp1252"
        ),
        pytest.param(b"x\x81y", "x\ufffdy", True, id="cp1252-undefined-byte"),
        pytest.param(b"\xed\xa0\x80", "í\xa0€", True, id="encoded-surrogate-is-not-utf8"),
        pytest.param(b"a\x01\x08\x0b\x0c\x0e\x1b\x1fb", "ab", False, id="c0-controls-removed"),
        pytest.param(b"a\tb\nc", "a\tb\nc", False, id="tab-newline-kept"),
        pytest.param(b"a\x7fb", "ab", False, id="del-removed"),
        pytest.param("a\ufffe\uffffb".encode(), "ab", False, id="nonchars-removed"),
        pytest.param("a\x85\x9fb".encode(), "ab", False, id="c1-removed"),
    ],
)
def test_decode(raw: bytes, text: str, warns: bool) -> None:
    decoded, warnings = decode(raw)
    assert decoded == text
    if warns:
        assert len(warnings) == 1
        assert CP1252_WARNING in warnings[0]
    else:
        assert warnings == ()


def test_decode_warning_names_the_first_bad_byte() -> None:
    _, warnings = decode(b"ok caf\xe9 \x93")
    assert warnings == ("not valid UTF-8 (at byte 6); read as Windows-1252",)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        pytest.param("a\x00b", "ab", id="nul"),
        pytest.param("a\x0bb\x0cc", "abc", id="vt-ff"),
        pytest.param("a\x7fb", "ab", id="del"),
        pytest.param("a\ud800b\udfffc", "abc", id="lone-surrogates"),
        pytest.param("a\ufffeb\uffffc", "abc", id="u-fffe-ffff"),
        pytest.param("a\tb\nc", "a\tb\nc", id="tab-newline-kept"),
        pytest.param("\ufffd\ufeff€", "\ufffd\ufeff€", id="allowed-specials-kept"),
        pytest.param("<script>&amp;", "<script>&amp;", id="markup-verbatim"),
    ],
)
def test_clean(text: str, cleaned: str) -> None:
    assert clean(text) == cleaned


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"x" * 100, "PNG", id="png"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"x" * 100, "JPEG", id="jpeg"),
        pytest.param(b"GIF89a" + b"x" * 100, "GIF", id="gif"),
        pytest.param(b"%PDF-1.7\n", "PDF", id="pdf"),
        pytest.param(b"PK\x03\x04rest", "ZIP", id="zip"),
        pytest.param(b"\x1f\x8b\x08\x00", "gzip", id="gzip"),
        pytest.param(b"\x7fELF\x02\x01", "executable", id="elf"),
        pytest.param(b"date 2021-01-02 X\nTitle\x00\n", "NUL", id="nul-byte"),
        pytest.param(bytes(range(1, 9)) * 20, "control", id="mostly-controls"),
        pytest.param(b"text " + b"\x1b\x01" * 10, "control", id="many-controls"),
    ],
)
def test_binary_reason(raw: bytes, fragment: str) -> None:
    reason = binary_reason(raw)
    assert reason is not None
    assert fragment in reason


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"date 2021-01-02 X\nTitle\n", id="ascii"),
        pytest.param(b"a\x1bb" + b"x" * 100, id="one-stray-control"),
        pytest.param(b"caf\xe9 \x93q\x94 \x96 \x85", id="cp1252"),
        pytest.param("反名提十 不名".encode(), id="chinese"),
        pytest.param("Привет, сэр, я здесь. Съезд".encode(), id="cyrillic"),
        pytest.param("ہمیں پاکستان سے محبت ہے".encode(), id="urdu"),
        pytest.param("🍁🍁🍁 🐍🔥".encode(), id="emoji"),
        pytest.param(b"\xef\xbb\xbfbom", id="bom"),
        pytest.param(b"a\r\nb\rc\td\x0c", id="whitespace-controls"),
    ],
)
def test_text_is_not_binary(raw: bytes) -> None:
    assert binary_reason(raw) is None


@given(st.text())
def test_clean_leaves_nothing_xml_forbids(text: str) -> None:
    assert not XML_FORBIDDEN.search(clean(text))


@given(st.binary())
def test_decode_any_bytes_to_xml_text(raw: bytes) -> None:
    text, warnings = decode(raw)
    assert not XML_FORBIDDEN.search(text)
    assert "\r" not in text
    assert len(warnings) <= 1


@given(st.text(st.characters(codec="utf-8")))
def test_decode_of_utf8_cleans_as_clean_does(text: str) -> None:
    """Decoding skips `clean` when a check of the bytes finds nothing to remove: the check must
    never miss a character `clean` would remove."""
    expected = clean(text.replace("\r\n", "\n").replace("\r", "\n"))
    assert decode(text.encode()) == (expected, ())


_PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufffe\uffff\ufeff")
)


@given(_PLAIN_TEXT)
def test_decode_round_trips_clean_utf8(text: str) -> None:
    assert decode(text.encode()) == (text, ())
    assert decode(b"\xef\xbb\xbf" + text.encode()) == (text, ())


_MOSTLY_TEXT = st.lists(
    st.binary(max_size=6)
    | st.sampled_from([b"\x00", b"\x0c", b"\x1b", b"\x7f", b"\xc2\x85", b"\xef\xbf\xbe", b"\r"])
    | st.sampled_from([b"%PDF", b"GIF8", b"\xef\xbb\xbf"])
    | st.text(max_size=20).map(str.encode),
    max_size=30,
).map(b"".join)


@settings(max_examples=400)
@given(_MOSTLY_TEXT | st.binary() | _MOSTLY_TEXT.map(lambda raw: raw * 400))
def test_text_of_says_what_binary_reason_and_decode_say(raw: bytes) -> None:
    """The one-pass check never tells text from binary, or cleans, otherwise than the two."""
    reason = binary_reason(raw)
    if reason is None:
        assert text_of(raw) == decode(raw)
    else:
        with pytest.raises(NotText, match=re.escape(reason)):
            text_of(raw)
