"""The language and direction of a text, guessed from its letters: for `lang` and `dir` in
the pages, and the per-entry language of the feeds where it is not the site's."""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from feedd.parse.article import Article

# Scripts whose language is unambiguous enough to name; others are marked `lang="und"`
# (undetermined, BCP 47) rather than claimed to be in the site's language. Not `lang=""`:
# Chromium lets `:lang()` of the parent match through it.
_LANGUAGE_BY_SCRIPT = {
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CJK": "zh",
    "HEBREW": "he",
    "GREEK": "el",
    "THAI": "th",
    "GEORGIAN": "ka",
    "ARMENIAN": "hy",
}
# The script each site language is written in, when it is not Latin: text in that script is
# taken to be in the site's language.
_SCRIPT_OF_LANGUAGE = {
    **{lang: "ARABIC" for lang in ("ar", "fa", "ur", "ps", "sd", "ug", "ckb")},
    **{lang: "HEBREW" for lang in ("he", "yi")},
    **{lang: "CYRILLIC" for lang in ("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "mn", "tg")},
    **{lang: "CJK" for lang in ("zh", "ja")},
    "ko": "HANGUL",
    "el": "GREEK",
    "th": "THAI",
    "ka": "GEORGIAN",
    "hy": "ARMENIAN",
}
_RIGHT_TO_LEFT = frozenset(
    ["ARABIC", "HEBREW", "SYRIAC", "THAANA", "NKO", "SAMARITAN", "MANDAIC", "ADLAM"]
)
_URDU_LETTERS = frozenset("ٹڈڑںےۓھ")
_PERSIAN_LETTERS = frozenset("پچژگ")


class Direction(NamedTuple):
    lang: str
    dir: str


def direction(text: str, site_language: str) -> Direction:
    """A guess at the language and direction of `text` from its letters, for `lang`/`dir`."""
    scripts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
            scripts[script] = scripts.get(script, 0) + 1
    if not scripts:
        return Direction(site_language, "ltr")
    main = max(scripts, key=lambda s: scripts[s])
    if main == "CJK" and ("HIRAGANA" in scripts or "KATAKANA" in scripts):
        main = "HIRAGANA"
    dir = "rtl" if main in _RIGHT_TO_LEFT else "ltr"
    site_script = _script_of(site_language)
    if main == site_script or (main == "HIRAGANA" and site_script == "CJK"):
        return Direction(site_language, dir)
    if main == "ARABIC":
        letters = set(text)
        lang = "ur" if letters & _URDU_LETTERS else "fa" if letters & _PERSIAN_LETTERS else "ar"
        return Direction(lang, dir)
    return Direction(_LANGUAGE_BY_SCRIPT.get(main, "und"), dir)


def _script_of(language: str) -> str:
    return _SCRIPT_OF_LANGUAGE.get(language.split("-")[0].lower(), "LATIN")


def of_article(article: Article, site_language: str) -> Direction:
    """The guess for an article, from its headline and the start of its text."""
    return direction(article.title + " " + article.summary[:200], site_language)


def writing_direction(language: str) -> str:
    """The direction `language` is written in: `rtl` or `ltr`."""
    return "rtl" if _script_of(language) in _RIGHT_TO_LEFT else "ltr"
