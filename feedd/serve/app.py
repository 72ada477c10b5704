"""The HTTP face: answers every request from the current `Site`'s prebuilt bytes.

Nothing here reads a file or renders anything; a new `Site` is swapped in by one assignment to
`ServerState.site`, so a request sees either the old site or the new one, never a mix.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from aiohttp import hdrs, web
from multidict import CIMultiDict

from feedd import urls
from feedd.config import Settings
from feedd.render.pages import CONTENT_SECURITY_POLICY
from feedd.render.site import ATOM, HTML, JSON_FEED, RSS, Site
from feedd.serve.listener import handler_args
from feedd.serve.metrics import Metrics
from feedd.serve.ondemand import Lookup

_ALLOWED = "GET, HEAD"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Server": "feedd",
}
_HTML_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY + "; frame-ancestors 'none'"}
# Web-based readers fetch feeds from the browser; the feeds are public anyway.
_FEED_HEADERS = {"Access-Control-Allow-Origin": "*"}
# Bodies larger than this are sent in slices of _SLICE_BYTES (see _send_in_slices); a typical
# feed still goes in one write.
_WHOLE_BYTES = 256 * 1024
_SLICE_BYTES = 64 * 1024


class Finder(Protocol):
    """Finds a document `site` does not hold ready (`ondemand.Documents`)."""

    async def find(self, site: Site, path: str) -> Lookup: ...


@dataclass
class ServerState:
    """What the server answers from, swapped by the daemon: `site` is None until the first
    scan is rendered; `settings` change on SIGHUP. `documents` builds what `site` does not
    hold ready (none: a site rendered whole, every document built). `stalled` says whether
    what renders new sites has stopped answering (None: nothing to ask)."""

    settings: Settings
    site: Site | None = None
    documents: Finder | None = None
    metrics: Metrics = field(default_factory=Metrics)
    stalled: Callable[[], bool] | None = None


STATE = web.AppKey("state", ServerState)


def create_app(state: ServerState) -> web.Application:
    """The application, with the request-size and idle bounds of `listener.handler_args`
    (sizes and `keepalive_timeout` are read once: changing them takes a restart)."""

    def count(status: int) -> None:
        state.metrics.requests[status] += 1

    app = web.Application(handler_args=handler_args(state.settings, count))
    app[STATE] = state
    # `state` bound once rather than looked up through the request at every request.
    serve = functools.partial(document, state)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/metrics", metrics),
            # The documents by name first: a plain route is a dictionary lookup, the catch-all a
            # regular expression, and feed readers ask for these paths far more than any other.
            *(web.route("*", path, serve) for path in (urls.INDEX, urls.ATOM, urls.RSS, urls.JSON)),
            web.route("*", "/{path:.*}", serve),
        ]
    )
    return app


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    site = state.site
    if site is None:
        body = {
            "status": "starting",
            "articles": 0,
            "rejected": 0,
            "updated": None,
            "checked": False,
        }
        status = 503
    else:
        updated = site.updated.astimezone(UTC).isoformat() if site.updated else None
        # Stalled: the site served is the last good one, but changes to the folder no longer
        # reach it.
        stalled = state.stalled is not None and state.stalled()
        body = {
            "status": "stalled" if stalled else "ok",
            "articles": site.articles,
            "rejected": site.rejected,
            "updated": updated,
            "checked": site.checked,
        }
        status = 503 if stalled else 200
    return _count(state, _dynamic(json.dumps(body), "application/json", status))


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    site = state.site
    text = state.metrics.render(
        articles=site.articles if site else 0, rejected=site.rejected if site else 0
    )
    return _count(state, _dynamic(text, "text/plain; version=0.0.4; charset=utf-8", 200))


async def document(state: ServerState, request: web.Request) -> web.StreamResponse:
    """A document of the site: a 200 or a 304, with the gzip variant when the client accepts
    it; feeds carry a Link header to the WebSub hubs when there are any.

    Every feed reader's poll takes this path, so it does per request only what depends on the
    request: it takes the path as the router already decoded it, and the headers of each
    answer built once (`_prepare`), as multidicts aiohttp copies as they are (from a dict, it
    would fold the case of every name again, at every request)."""
    method = request.method
    if method != hdrs.METH_GET and method != hdrs.METH_HEAD:
        return _count(state, _error(405, "method not allowed", {"Allow": _ALLOWED}))
    site = state.site
    if site is None:
        return _count(state, _error(503, "starting, try again shortly", {"Retry-After": "1"}))
    # The router has decoded the path already, all but %2F and %25 (`path_safe`): only with
    # those is it decoded again, into what `request.path` is.
    path = request.rel_url.path_safe
    if "%" in path:
        path = request.path
    settings = state.settings
    resource = site.resources.get(path)
    if resource is None and state.documents is not None:
        lookup = await state.documents.find(site, path)
        if isinstance(lookup, str):  # UNAVAILABLE: a file it needs cannot be read just now
            retry = {"Retry-After": str(max(1, settings.cache_max_age))}
            return _count(state, _error(503, "temporarily unavailable", retry))
        resource = lookup
    if resource is None:
        return _count(state, _error(404, "not found"))
    if path.startswith(urls.ARCHIVE):
        settled = _settled_month(site, path)
        max_age = settings.archive_max_age if settled else settings.cache_max_age
        links = None
    else:
        max_age = settings.cache_max_age
        links = _links(settings, path) if settings.hubs else None
    headers = request.headers
    gzipped = accepts_gzip(headers.get(hdrs.ACCEPT_ENCODING, ""))
    variant = _prepare(
        resource.etag,
        resource.gzip_etag,
        resource.content_type,
        resource.http_last_modified,
        max_age,
        links,
    )[gzipped]
    # RFC 9110 section 13.2.2: If-None-Match decides when present (what feed readers send
    # back is nearly always the very ETag); only without it is If-Modified-Since considered.
    if_none_match = headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is not None:
        fresh = if_none_match == variant.etag or etag_matches(if_none_match, variant.etag)
    else:
        since = headers.get(hdrs.IF_MODIFIED_SINCE)
        fresh = since is not None and unmodified_since(since, resource.last_modified)
    if fresh:
        state.metrics.requests[304] += 1
        return web.Response(status=304, headers=variant.not_modified)
    state.metrics.requests[200] += 1
    body = resource.gzipped if gzipped else resource.body
    response = web.Response(body=body, headers=variant.full)
    if len(body) > _WHOLE_BYTES and method == hdrs.METH_GET:
        return await _send_in_slices(request, response, body)
    return response


async def _send_in_slices(
    request: web.Request, response: web.Response, body: bytes
) -> web.StreamResponse:
    """Send a large body a slice at a time, each once the one before has drained.

    Handed over whole, a body the kernel cannot take at once is copied into the connection's
    buffer (Python 3.11's transports copy), and a client that stops reading holds that copy
    until `send_timeout`: a 2 MiB feed times a thousand such clients. In slices, each holds at
    most a few slices."""
    stream = web.StreamResponse(headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    view = memoryview(body)
    try:
        for start in range(0, len(body), _SLICE_BYTES):
            await stream.write(view[start : start + _SLICE_BYTES])
        await stream.write_eof()
    except ConnectionError:
        pass  # the client went away, or was reset for not reading: nothing to answer
    return stream


@dataclass(frozen=True, slots=True)
class _Variant:
    """The identity or the gzip variant of a document: its ETag, and the headers of its 200 and
    of its 304, as multidicts that `web.Response` copies without parsing them again."""

    etag: str
    full: CIMultiDict[str]
    not_modified: CIMultiDict[str]


# Header names are sent as they are written here. aiohttp's constant is "Etag": the same by
# the spec, but some clients look names up by their usual spelling.
_ETAG = "ETag"


@functools.lru_cache(maxsize=4096)
def _prepare(
    etag: str,
    gzip_etag: str,
    content_type: str,
    last_modified: str | None,
    max_age: int,
    links: str | None,
) -> tuple[_Variant, _Variant]:
    """The identity and gzip variants' headers (200 and 304), built once per document version
    rather than merged and formatted at every request."""
    variants = []
    for tag, encoding in ((etag, None), (gzip_etag, "gzip")):
        not_modified = {
            _ETAG: tag,
            hdrs.CACHE_CONTROL: f"public, max-age={max_age}",
            hdrs.VARY: hdrs.ACCEPT_ENCODING,
            **_SECURITY_HEADERS,
            **(_HTML_HEADERS if content_type == HTML else _FEED_HEADERS),
        }
        if links is not None and content_type in _FEED_TYPES:
            not_modified[hdrs.LINK] = links
        full = {**not_modified, hdrs.CONTENT_TYPE: content_type}
        if last_modified is not None:
            full[hdrs.LAST_MODIFIED] = last_modified
        if encoding:
            full[hdrs.CONTENT_ENCODING] = encoding
        variants.append(_Variant(tag, CIMultiDict(full), CIMultiDict(not_modified)))
    return variants[0], variants[1]


_FEED_TYPES = frozenset({ATOM, RSS, JSON_FEED})


def _settled_month(site: Site, path: str) -> bool:
    """Whether the archive page at `path` is of a month before the newest archived one: only
    those change no more as the main feeds hand articles over (`2021-01-2.atom`: 2021-01)."""
    newest = site.newest_archive
    month = path[len(urls.ARCHIVE) :][:7]
    return newest is not None and month < newest[:7]


@functools.lru_cache(maxsize=1024)
def _links(settings: Settings, path: str) -> str:
    """WebSub discovery (section 4): the hubs and the topic's own URL, in a Link header."""
    hubs = [f'<{hub}>; rel="hub"' for hub in settings.hubs]
    return ", ".join([*hubs, f'<{urls.absolute(settings, path)}>; rel="self"'])


def unmodified_since(if_modified_since: str, last_modified: datetime | None) -> bool:
    """Whether a document last modified at `last_modified` is unchanged since an
    If-Modified-Since date (ignored when it cannot be read)."""
    if last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def etag_matches(header: str, etag: str) -> bool:
    if header == etag:  # what feed readers send back, nearly always
        return True
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


@functools.lru_cache(maxsize=256)
def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value admits gzip (a `q=0` refuses it)."""
    star = False
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding == "*":
            star = quality > 0
        else:
            return quality > 0
    return star


def _dynamic(text: str, content_type: str, status: int) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        headers={
            hdrs.CONTENT_TYPE: content_type,
            hdrs.CACHE_CONTROL: "no-store",
            **_SECURITY_HEADERS,
        },
    )


def _error(status: int, message: str, extra: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=message + "\n",
        status=status,
        headers={
            hdrs.CONTENT_TYPE: "text/plain; charset=utf-8",
            **_SECURITY_HEADERS,
            **(extra or {}),
        },
    )


def _count(state: ServerState, response: web.Response) -> web.Response:
    state.metrics.requests[response.status] += 1
    return response
