"""HTML for people: the index with feed autodiscovery and one page per article.

Templates escape by default (Jinja2 autoescape), so a `<script>` in a headline is text.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from feedd import urls
from feedd.article import Article
from feedd.config import Settings
from feedd.feeds import summary_text

CSS = """
:root{--fg:#1d1d1f;--muted:#5f6368;--bg:#fdfdfc;--rule:#e3e3e0;--link:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e6;--muted:#a0a4a8;--bg:#17181a;--rule:#303236;--link:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:42rem;padding:1.25rem 1rem 3rem;background:var(--bg);color:var(--fg);
font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Nastaliq Urdu",sans-serif;
overflow-wrap:break-word}
a{color:var(--link)}
header.site{font-weight:600;padding-bottom:.75rem;border-bottom:1px solid var(--rule);margin-bottom:1.5rem}
header.site a{color:var(--fg);text-decoration:none}
h1{font-size:1.75rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.25rem;line-height:1.3;margin:0 0 .25rem}
h2 a{text-decoration:none}h2 a:hover{text-decoration:underline}
article+article{border-top:1px solid var(--rule);padding-top:1rem;margin-top:1.25rem}
.meta{color:var(--muted);font-size:.9rem;margin:0 0 .75rem}
.lede{color:var(--muted);margin-top:0}
footer{margin-top:3rem;padding-top:.75rem;border-top:1px solid var(--rule);color:var(--muted);font-size:.9rem}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()

# Nothing but the inline stylesheet above may load or run: no scripts, frames, forms or fonts.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("feedd", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["human_date"] = lambda when: when.strftime("%-d %B %Y, %H:%M %Z").strip()

# Scripts whose language is unambiguous enough to name; others are marked `lang=""` (unknown)
# rather than claimed to be in the site's language.
_LANGUAGE_BY_SCRIPT = {
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "CJK": "zh",
    "HEBREW": "he",
}
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
    if main == "ARABIC":
        letters = set(text)
        lang = "ur" if letters & _URDU_LETTERS else "fa" if letters & _PERSIAN_LETTERS else "ar"
        return Direction(lang, "rtl")
    if main == "HEBREW":
        return Direction("he", "rtl")
    if main == "LATIN":
        return Direction(site_language, "ltr")
    return Direction(_LANGUAGE_BY_SCRIPT.get(main, ""), "ltr")


def _links(settings: Settings) -> dict[str, str]:
    """Links relative to the site's root path, so the pages work under any host name."""
    root = urlsplit(settings.site_url).path.rstrip("/")

    def link(path: str) -> str:
        return root + quote(path, safe="/")

    return {
        "home": link(urls.INDEX),
        "atom": link(urls.ATOM),
        "rss": link(urls.RSS),
        "json": link(urls.JSON),
    }


def _common(settings: Settings) -> dict[str, object]:
    return {
        "settings": settings,
        "links": _links(settings),
        "css": Markup(CSS),  # noqa: S704 (our own constant stylesheet)
        "csp": CONTENT_SECURITY_POLICY,
        "site_dir": direction(settings.title, settings.language).dir,
    }


def index_page(articles: Sequence[Article], settings: Settings) -> bytes:
    root = urlsplit(settings.site_url).path.rstrip("/")
    items = [
        {
            "article": article,
            "href": root + quote(urls.article_path(article.path), safe="/"),
            "summary": summary_text(article),
            **direction(article.title, settings.language)._asdict(),
        }
        for article in articles
    ]
    template = _ENVIRONMENT.get_template("index.html")
    return template.render(items=items, **_common(settings)).encode()


def article_page(article: Article, settings: Settings) -> bytes:
    guess = direction(article.title + " " + article.summary[:200], settings.language)
    template = _ENVIRONMENT.get_template("article.html")
    return template.render(
        article=article, lang=guess.lang, dir=guess.dir, **_common(settings)
    ).encode()
