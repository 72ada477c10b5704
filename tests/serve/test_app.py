"""The HTTP server against a real Site, on a real socket on 127.0.0.1 (aiohttp's test server)."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import feedparser
import pytest
from aiohttp.test_utils import TestClient

from feedd.config import load_settings
from feedd.parse.article import parse
from feedd.render.site import http_date
from feedd.render.whole import render_site
from feedd.serve.app import ServerState, accepts_gzip, create_app, etag_matches

MTIME = datetime(2021, 1, 5, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def state() -> ServerState:
    settings = load_settings(environ={}, overrides={"title": "Test <site>"})
    articles = {
        path: parse(path, text.encode(), mtime=MTIME, tz=ZoneInfo("UTC"))
        for path, text in {
            "a.txt": " date 2021-01-02 Wire\nAlpha <script>alert(1)</script>\n\nBody.\n",
            "sub/b c.txt": " date 2021-01-03 Wire\nBravo\n\nBody.\n",
        }.items()
    }
    return ServerState(settings, render_site(articles, 1, settings))


@pytest.fixture
async def client(aiohttp_client, state: ServerState) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(state))  # type: ignore[no-any-return]


async def test_documents_have_the_right_types_and_headers(client: TestClient) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/feed.atom": "application/atom+xml; charset=utf-8",
        "/feed.rss": "application/rss+xml; charset=utf-8",
        "/feed.json": "application/feed+json",
        "/articles/sub/b%20c.html": "text/html; charset=utf-8",
    }
    for path, content_type in expected.items():
        response = await client.get(path, headers={"Accept-Encoding": "identity"})
        assert response.status == 200, path
        assert response.headers["Content-Type"] == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.headers["Cache-Control"] == "public, max-age=60"
        assert response.headers["ETag"].startswith('"')
        assert response.headers["Last-Modified"] == "Tue, 05 Jan 2021 12:00:00 GMT"
        assert ("Content-Security-Policy" in response.headers) == content_type.startswith(
            "text/html"
        )
    csp = (await client.get("/")).headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp


async def test_header_names_are_sent_in_their_usual_form(client: TestClient) -> None:
    """Case-insensitive by the spec, yet some clients look them up by their usual spelling."""
    plain = await client.get("/feed.atom", headers={"Accept-Encoding": "identity"})
    packed = await client.get("/feed.atom", headers={"Accept-Encoding": "gzip"})
    cached = await client.get(
        "/feed.atom",
        headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["ETag"]},
    )
    assert cached.status == 304
    usual = {b"ETag", b"Last-Modified", b"Cache-Control", b"Content-Type", b"Vary"}
    for response in (plain, packed, cached):
        names = {name for name, _ in response.raw_headers}
        assert usual - {b"Content-Type", b"Last-Modified"} <= names, names
        assert not {b"Etag", b"Last-modified", b"Cache-control"} & names, names
    assert usual <= {name for name, _ in plain.raw_headers}


async def test_served_feeds_parse(client: TestClient) -> None:
    for path in ("/feed.atom", "/feed.rss"):
        parsed = feedparser.parse(await (await client.get(path)).read())
        assert not parsed.bozo
        assert {e.title for e in parsed.entries} == {"Alpha <script>alert(1)</script>", "Bravo"}
    items = json.loads(await (await client.get("/feed.json")).read())["items"]
    assert [item["title"] for item in items] == ["Bravo", "Alpha <script>alert(1)</script>"]


async def test_gzip_is_precomputed_with_its_own_etag(client: TestClient) -> None:
    plain = await client.get("/feed.atom", headers={"Accept-Encoding": "identity"})
    zipped = await client.get(
        "/feed.atom", headers={"Accept-Encoding": "br, gzip;q=0.5"}, auto_decompress=False
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == await plain.read()
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    refused = await client.get(
        "/feed.atom", headers={"Accept-Encoding": "gzip;q=0, *"}, auto_decompress=False
    )
    assert "Content-Encoding" not in refused.headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.1", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *;q=1", False),
        ("*;q=0", False),
        ("identity", False),
        ("br", False),
        ("", False),
        ("gzip;q=junk", False),
    ],
)
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


async def test_conditional_get(client: TestClient) -> None:
    first = await client.get("/feed.atom", headers={"Accept-Encoding": "identity"})
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    later = http_date(datetime(2021, 1, 6, tzinfo=UTC))
    earlier = http_date(datetime(2021, 1, 4, tzinfo=UTC))
    cases = [
        ({"If-None-Match": etag}, 304),
        ({"If-None-Match": f"W/{etag}"}, 304),
        ({"If-None-Match": f'"other", {etag}'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Modified-Since": last_modified}, 304),
        ({"If-Modified-Since": later}, 304),
        ({"If-Modified-Since": earlier}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        # If-None-Match decides whenever it is present (RFC 9110 13.2.2).
        ({"If-None-Match": '"other"', "If-Modified-Since": later}, 200),
    ]
    for headers, status in cases:
        response = await client.get(
            "/feed.atom", headers={"Accept-Encoding": "identity", **headers}
        )
        assert response.status == status, headers
        if status == 304:
            assert await response.read() == b""
            assert response.headers["ETag"] == etag
            assert response.headers["Cache-Control"] == "public, max-age=60"
            assert response.headers["Vary"] == "Accept-Encoding"
    zipped = await client.get(
        "/feed.atom", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}
    )
    assert zipped.status == 200, "the gzip variant has its own validator"


def test_etag_comparison_is_weak() -> None:
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches('"a"', 'W/"a"')
    assert not etag_matches('"ab"', '"a"')


async def test_head_and_methods(client: TestClient) -> None:
    get = await client.get("/feed.rss", headers={"Accept-Encoding": "identity"})
    head = await client.head("/feed.rss", headers={"Accept-Encoding": "identity"})
    assert head.status == 200
    assert await head.read() == b""
    assert head.headers["Content-Length"] == str(len(await get.read()))
    assert head.headers["ETag"] == get.headers["ETag"]
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"):
        for path in ("/feed.rss", "/healthz", "/nowhere"):
            response = await client.request(method, path)
            assert response.status == 405, (method, path)
            assert response.headers["Allow"] == "GET, HEAD"


async def test_unknown_paths_and_traversal_never_reach_the_disk(client: TestClient) -> None:
    attempts = [
        "/nowhere",
        "/articles/",
        "/articles/a.txt",
        "/../../../../etc/passwd",
        "/articles/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/%252e%252e/etc/passwd",
        "/..%5c..%5cetc%5cpasswd",
        "/articles/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/%c0%ae%c0%ae/etc/passwd",
        "/etc/passwd%00.html",
        "//etc/passwd",
        "/articles/sub/../../feedd/__init__.py",
    ]
    for path in attempts:
        # Sent byte for byte: an HTTP client library would normalise the dots away.
        status, body = await raw_request(client, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert 400 <= status < 500, (path, status)
        assert b"root:" not in body and b"__version__" not in body, path


async def test_a_document_is_found_however_its_path_is_encoded(client: TestClient) -> None:
    # The server looks documents up by the path as decoded; %2F and %25 decode too.
    page = await (await client.get("/articles/sub/b%20c.html")).read()
    for path in (
        "/articles/sub%2Fb%20c.html",
        "/articles/sub%2fb%20c.htm%6C",
        "/%61rticles/sub/b%20c.html",
    ):
        status, body = await raw_request(client, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status == 200, path
        assert body.endswith(page), path
    feed = await (await client.get("/feed.atom")).read()
    status, body = await raw_request(client, b"GET /feed%2Eatom HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200 and body.endswith(feed)


async def test_healthz_and_metrics(client: TestClient) -> None:
    health = await (await client.get("/healthz")).json()
    assert health == {
        "status": "ok",
        "articles": 2,
        "rejected": 1,
        "updated": "2021-01-05T12:00:00+00:00",
        "checked": True,
    }
    await client.get("/nowhere")
    metrics = await (await client.get("/metrics")).text()
    assert "feedd_articles 2\n" in metrics
    assert "feedd_rejected_files 1\n" in metrics
    assert 'feedd_http_requests_total{status="404"} 1\n' in metrics
    assert 'feedd_update_latency_seconds_bucket{le="+Inf"} 0\n' in metrics


async def test_before_the_first_site_everything_says_starting(aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    state = ServerState(load_settings(environ={}))
    client = await aiohttp_client(create_app(state))
    assert (await client.get("/healthz")).status == 503
    response = await client.get("/feed.atom")
    assert response.status == 503 and response.headers["Retry-After"] == "1"


async def test_a_swapped_site_is_served_whole(client: TestClient, state: ServerState) -> None:
    settings = state.settings
    assert state.site is not None
    before = (await client.get("/feed.atom")).headers["ETag"]
    state.site = render_site({}, 0, settings)
    response = await client.get("/feed.atom")
    assert response.headers["ETag"] != before
    assert feedparser.parse(await response.read()).entries == []
    assert (await client.get("/articles/a.html")).status == 404


async def test_oversized_requests_get_a_4xx(client: TestClient) -> None:
    for request in (
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: y\r\n" % i for i in range(200))
        + b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03junk\r\n\r\n",
    ):
        status, _ = await raw_request(client, request)
        assert 400 <= status < 500, (request[:40], status)


async def raw_request(client: TestClient, request: bytes) -> tuple[int, bytes]:
    """Send `request` as it is and read the response until the server closes or 10 s pass."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        body = await asyncio.wait_for(reader.readexactly(length), 10)
        return int(head.split()[1]), body
    finally:
        writer.close()
        await writer.wait_closed()


def test_http_date_is_rfc_9110() -> None:
    when = datetime(2021, 1, 2, 16, 0, 0, 123, tzinfo=ZoneInfo("Asia/Karachi")) + timedelta(0)
    assert http_date(when) == "Sat, 02 Jan 2021 11:00:00 GMT"
