"""Bytes to clean text: decoding, line endings, and characters XML cannot carry."""

from __future__ import annotations

import codecs
import re

# C0 controls but tab and newline, DEL, C1 controls, surrogates, U+FFFE/U+FFFF: a single one of
# these makes lxml (and so feedgen) refuse a whole feed, so they go before anything else sees the text.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# Signatures of formats that are certainly not articles, whatever their file name says.
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF (WebP, WAV, AVI) file",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
}
# Bytes that text rarely has: C0 controls but whitespace, and DEL. Not bytes 0x80-0xFF: UTF-8
# uses every one of them (the bytes of "不", "名" or "🍁" are not control characters).
_NON_TEXT_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_SAMPLE = 8192
_MAX_NON_TEXT_SHARE = 0.08


_ANY_MAGIC = tuple(_MAGIC)


def binary_reason(raw: bytes) -> str | None:
    """Why `raw` is not text, or None when it may be."""
    if raw.startswith(_ANY_MAGIC):  # one call for all: this runs for every file of a scan
        kind = next(kind for magic, kind in _MAGIC.items() if raw.startswith(magic))
        return f"binary file ({kind})"
    if b"\x00" in raw:
        return "binary file (contains NUL bytes)"
    sample = raw[:_SAMPLE]
    if sample:
        non_text = len(sample) - len(sample.translate(None, _NON_TEXT_BYTES))
        if non_text / len(sample) > _MAX_NON_TEXT_SHARE:
            return "binary file (mostly control characters)"
    return None


class NotText(ValueError):
    """The bytes are not text; the message says what they are."""


def text_of(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """`decode(raw)`, or `NotText` with `binary_reason(raw)`, in fewer passes over the bytes (a
    cold start does this for every file): bytes without a control character cannot be binary
    by `binary_reason`'s measure (its bytes are among them), nor need `clean` for controls."""
    if not raw.startswith(_ANY_MAGIC) and len(raw.translate(None, _CONTROL_BYTES)) == len(raw):
        return decode(raw, controls=False)
    reason = binary_reason(raw)
    if reason:
        raise NotText(reason)
    return decode(raw)


def decode(raw: bytes, *, controls: bool = True) -> tuple[str, tuple[str, ...]]:
    """Decode an article's bytes to clean text with `\\n` line endings, and any warnings.

    UTF-8 (a BOM dropped); only the bytes that are not valid UTF-8 are read as Windows-1252, so
    the text is kept rather than lost, and a file mixing both keeps its UTF-8 intact.
    `controls=False`: the caller knows `raw` has no control bytes.
    """
    warnings: tuple[str, ...] = ()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        text = raw.decode("utf-8", errors=_CP1252_FALLBACK)
        warnings = (f"not valid UTF-8 (at byte {error.start}); read as Windows-1252",)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not warnings and not _may_need_cleaning(raw, controls):
        return text, warnings
    return clean(text), warnings


# The bytes of what `clean` removes, in valid UTF-8: C0 controls but tab, newline and carriage
# return (read as a newline), DEL; C1 controls are \xc2\x80-\xc2\x9f, and U+FFFE/U+FFFF
# \xef\xbf\xbe/\xbf (surrogates cannot be valid UTF-8).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _may_need_cleaning(utf8: bytes, controls: bool = True) -> bool:
    """A check in C of the bytes, for nearly every file, so that `clean`'s expression (a good
    part of a whole parse) runs only where it may find something. Text with U+0080-U+00BF
    (a no-break space, ©, °) merely takes the slow way."""
    if controls and len(utf8.translate(None, _CONTROL_BYTES)) != len(utf8):
        return True
    return not utf8.isascii() and (b"\xc2" in utf8 or b"\xef\xbf" in utf8)


def _as_cp1252(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes UTF-8 refused, read as Windows-1252 (undefined ones: U+FFFD)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


_CP1252_FALLBACK = "feedd.cp1252"
codecs.register_error(_CP1252_FALLBACK, _as_cp1252)


def clean(text: str) -> str:
    """Remove every character that XML 1.0 forbids or that no reader wants to see."""
    return _FORBIDDEN.sub("", text)
