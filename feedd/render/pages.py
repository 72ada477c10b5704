"""HTML for people: the index with feed autodiscovery and one page per article.

Templates escape by default (Jinja2 autoescape), so a `<script>` in a headline is text.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from feedd import urls
from feedd.config import Settings
from feedd.parse.article import Article
from feedd.render.feeds import summary_text
from feedd.render.language import direction, of_article, writing_direction
from feedd.render.site import HTML, Resource, make_resource

if TYPE_CHECKING:
    from feedd.library.entries import Entry

CSS = """
:root{--fg:#1d1d1f;--muted:#5f6368;--bg:#fdfdfc;--rule:#e3e3e0;--link:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e6;--muted:#a0a4a8;--bg:#17181a;--rule:#303236;--link:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:42rem;padding:1.25rem 1rem 3rem;background:var(--bg);color:var(--fg);
font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;overflow-wrap:break-word}
:lang(ur){font-family:"Noto Nastaliq Urdu","Jameel Noori Nastaleeq","Urdu Typesetting",system-ui,sans-serif;line-height:2.3}
:is(h1,h2):lang(ur){line-height:2}
:where([lang]:not(:lang(ur))){font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;line-height:1.6}
a{color:var(--link)}
header.site{padding-bottom:.75rem;border-bottom:1px solid var(--rule);margin-bottom:1.5rem}
header.site>a{font-weight:600;color:var(--fg);text-decoration:none}
header.site h1{margin:0}header.site p{margin:0;color:var(--muted)}
h1{font-size:1.75rem;line-height:1.25;margin:0 0 .5rem}
h2{font-size:1.25rem;line-height:1.3;margin:0 0 .25rem}
h2 a{text-decoration:none}h2 a:hover{text-decoration:underline}
article+article{border-top:1px solid var(--rule);padding-top:1rem;margin-top:1.25rem}
.meta{color:var(--muted);margin:0 0 .75rem}
.meta,.meta *{font:.9rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
footer{margin-top:3rem;padding-top:.75rem;border-top:1px solid var(--rule);color:var(--muted);font-size:.9rem}
footer p{margin:.25rem 0}.sources{margin-top:2rem;padding-top:1rem;border-top:1px solid var(--rule)}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()

# Nothing but the inline stylesheet above may load or run: no scripts, frames, forms or fonts.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("feedd.render", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["human_date"] = lambda when: when.strftime("%-d %B %Y, %H:%M %Z").strip()


def href(page: str, target: str) -> str:
    """The link from the page at URL path `page` to the URL path `target`, relative, so the
    site works under any host and path prefix, and from the folder `feedd build` writes."""
    up = page.count("/") - 1
    # quote() encodes ":" too, so "a:b.html" never reads as a URL scheme.
    return ("../" * up + quote(target.lstrip("/"), safe="/")) or "./"


class SourceLinks(NamedTuple):
    name: str
    atom: str
    rss: str
    json: str


def source_links(page: str, source: str) -> SourceLinks:
    """Links from the page at `page` to the feeds of `source`."""
    atom, rss, json = (href(page, urls.source_path(source, s)) for s in urls.FEED_SUFFIXES)
    return SourceLinks(source, atom, rss, json)


def _common(settings: Settings, page: str) -> dict[str, object]:
    return {
        "settings": settings,
        "links": {
            "home": href(page, urls.INDEX),
            "atom": href(page, urls.ATOM),
            "rss": href(page, urls.RSS),
            "json": href(page, urls.JSON),
            "opml": href(page, urls.OPML),
        },
        "source_feeds": None,
        "css": Markup(CSS),  # noqa: S704 (our own constant stylesheet)
        "csp": CONTENT_SECURITY_POLICY,
        "site_dir": writing_direction(settings.language),
    }


def index_page(articles: Sequence[Article], settings: Settings) -> bytes:
    """The home page: feed autodiscovery, and the `articles` given, in that order."""
    return index_document([index_item(article, settings) for article in articles], settings)


def index_item(article: Article, settings: Settings) -> Markup:
    """The front page's entry for `article`: rendered once, reused while the article is unchanged."""
    template = _ENVIRONMENT.get_template("_item.html")
    return Markup(  # noqa: S704 (rendered by an autoescaping template)
        template.render(
            article=article,
            href=href(urls.INDEX, urls.article_path(article.path)),
            summary=summary_text(article),
            **direction(article.title, settings.language)._asdict(),
        )
    )


def index_document(
    items: Sequence[Markup], settings: Settings, sources: Sequence[str] = ()
) -> bytes:
    """The home page with `items` (from `index_item`) and the feeds of each of `sources`."""
    template = _ENVIRONMENT.get_template("index.html")
    return template.render(
        items=items,
        sources=[source_links(urls.INDEX, source) for source in sources],
        **_common(settings, urls.INDEX),
    ).encode()


def article_page(article: Article, settings: Settings) -> bytes:
    """The page at `urls.article_path(article.path)`."""
    guess = of_article(article, settings.language)
    template = _ENVIRONMENT.get_template("article.html")
    page = urls.article_path(article.path)
    common = _common(settings, page)
    if article.source:
        common["source_feeds"] = source_links(page, article.source)
    return template.render(article=article, lang=guess.lang, dir=guess.dir, **common).encode()


def article_resource(article: Article, settings: Settings) -> Resource:
    """The page of `article`, ready to send."""
    return make_resource(article_page(article, settings), HTML, article.updated)


class PageRenderer:
    """Builds an article's page from its entry, reading the article with `load` (None: gone)."""

    def __init__(self, settings: Settings, load: Callable[[Entry], Article | None]) -> None:
        self.settings = settings
        self._load = load

    def __call__(self, entry: Entry) -> Resource | None:
        article = self._load(entry)
        if article is None:
            return None
        return article_resource(article, self.settings)
