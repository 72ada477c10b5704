"""`feedd serve --publish DIR` behind a real nginx running deploy/nginx.conf: while articles
change, nginx only ever sends whole documents, answers conditional requests with 304, and
ends up serving exactly what feedd serves."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.etree
import pytest
from helpers import PROJECT, article, running_daemon, wait_for

from feedd.parse.article import entry_id

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (.ci/run installs it)"
)
CONF = PROJECT / "deploy" / "nginx.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    def __init__(self, port: int) -> None:
        self.port = port

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[Nginx, Path]]:
    """deploy/nginx.conf with only its address, folder and feedd's port changed."""
    public = tmp_path / "public"
    public.mkdir()
    port = free_port()
    server = CONF.read_text()
    server = server.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
        "listen [::]:80;", ""
    )
    server = server.replace("root /srv/feedd/public;", f"root {public};")
    temp = tmp_path / "nginx"
    temp.mkdir()
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
pid {temp}/nginx.pid;
error_log {temp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {server}
}}
"""
    (temp / "nginx.conf").write_text(main)
    assert NGINX is not None
    process = subprocess.Popen(
        [NGINX, "-p", str(temp), "-c", str(temp / "nginx.conf")], stderr=subprocess.PIPE
    )
    server_ = Nginx(port)
    try:
        wait_for(lambda: _answers(server_) or (process.poll() is not None and _failed(process)))
        yield server_, public
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def _answers(nginx: Nginx) -> bool:
    try:
        nginx.get("/healthz")
    except OSError:
        return False
    return True


def _failed(process: subprocess.Popen[bytes]) -> bool:
    assert process.stderr is not None
    raise AssertionError(f"nginx exited: {process.stderr.read().decode()}")


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    for n in range(24):
        month = ("2020-12", "2021-01")[n % 2]
        path = folder / f"{month}/a{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            article(f"Story {n}", day=f"{month}-{1 + n:02}", source=("TASS", "Wire")[n % 3 == 0])
        )
    return folder


def check_whole(path: str, headers: dict[str, str], body: bytes) -> None:
    """A 200 from nginx must be a whole document of the right type."""
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    kind = headers["content-type"]
    if path.endswith(".json"):
        assert kind == "application/feed+json"
        json.loads(body)
    elif path.endswith((".atom", ".rss")):
        assert (
            kind
            == ("application/atom+xml" if path.endswith(".atom") else "application/rss+xml")
            + "; charset=utf-8"
        )
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    else:
        assert kind == "text/html; charset=utf-8"
        assert body.rstrip().endswith(b"</html>"), path


def test_nginx_serves_the_published_copy_whole_while_articles_change(
    seeds: Path, nginx: tuple[Nginx, Path]
) -> None:
    server, public = nginx
    base = f"http://127.0.0.1:{server.port}/"
    with running_daemon(
        seeds, "--max-entries", "4", "--publish", str(public), "--base-url", base
    ) as daemon:
        wait_for(
            lambda: server.get("/feed.atom")[2] == daemon.get("/feed.atom").body,
            what="the first copy",
        )
        failures: list[str] = []
        reads = [0]
        stop = threading.Event()

        def reader() -> None:
            paths = [
                "/feed.atom",
                "/feed.rss",
                "/feed.json",
                "/",
                "/archive/2020-12.atom",
                "/sources/TASS.json",
            ]
            while not stop.is_set():
                for path in paths:
                    for headers in ({}, {"Accept-Encoding": "gzip"}):
                        status, got, body = server.get(path, headers)
                        if status == 200:
                            try:
                                check_whole(path + ("index.html" if path == "/" else ""), got, body)
                            except (AssertionError, ValueError, OSError) as error:
                                failures.append(f"{path}: {error!r}")
                        elif status != 404:  # an archive page may come and go
                            failures.append(f"{path}: {status}")
                        reads[0] += 1

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for n in range(40):  # new, edited and deleted articles, month by month
                path = seeds / "2021-01" / f"new{n % 10}.txt"
                page = f"/articles/2021-01/new{n % 10}.html"
                if n % 7 == 6 and path.exists():
                    path.unlink()
                    wait_for(lambda p=page: daemon.get(p).status == 404, what="a deletion")
                else:
                    path.write_text(
                        article(f"New {n}", "x" * (n * 50), day=f"2021-01-{1 + n % 28:02}")
                    )
                    title = f"New {n}".encode()
                    wait_for(lambda p=page, t=title: t in daemon.get(p).body, what="an edit")
        finally:
            wait_for(
                lambda: server.get("/feed.atom")[2] == daemon.get("/feed.atom").body,
                what="nginx in step",
            )
            stop.set()
            thread.join(30)
        assert not failures, failures[:5]
        assert reads[0] > 100

        # In step: every document nginx has is (soon) what feedd serves.
        paths = ("/feed.atom", "/feed.rss", "/feed.json", "/feeds.opml", "/sources/TASS.atom", "/")
        wait_for(lambda: all(server.get(p)[2] == daemon.get(p).body for p in paths), what="in step")

        # Conditional requests, as feed readers send them.
        headers = server.get("/feed.atom", {"Accept-Encoding": "gzip"})[1]
        assert headers["content-encoding"] == "gzip" and "Accept-Encoding" in headers["vary"]
        assert headers["cache-control"] == "public, max-age=60"
        assert headers["access-control-allow-origin"] == "*"
        assert (
            server.get("/feed.atom", {"If-None-Match": headers["etag"], "Accept-Encoding": "gzip"})[
                0
            ]
            == 304
        )
        assert server.get("/feed.atom", {"If-Modified-Since": headers["last-modified"]})[0] == 304
        page_headers = server.get("/")[1]
        assert (
            page_headers["content-security-policy"]
            == daemon.get("/").headers["content-security-policy"]
        )
        assert server.get("/.feedd-manifest")[0] == 404
        assert server.get("/archive/.feedd-manifest")[0] == 404

        # A reader following the archive links through nginx gets every article once, once
        # the last update is copied (a late event for the last edit may still be on its way:
        # a walk during an update may see pages from either side of it, as RFC 5005 allows).
        every = sorted(entry_id(p.relative_to(seeds).as_posix()) for p in seeds.rglob("*.txt"))

        def walk_is_whole() -> bool:
            try:
                return sorted(collect(server, "/feed.atom")) == every
            except AssertionError:  # a page gone mid-walk
                return False

        wait_for(walk_is_whole, what="a whole walk")
        assert sorted(collect(server, "/feed.atom")) == every
        assert sorted(collect(server, "/feed.json")) == every
        # Stopped as systemd stops it, feedd leaves no temporary file behind.
        assert daemon.stop() == 0
        assert not list(public.rglob(".feedd-*.tmp"))


def collect(server: Nginx, start: str) -> list[str]:
    ids: list[str] = []
    path: str | None = start
    while path is not None:
        status, headers, body = server.get(path)
        assert status == 200, path
        if path.startswith("/archive/"):
            assert headers["cache-control"] == "public, max-age=60"
        if path.endswith(".json"):
            document = json.loads(body)
            ids += [item["id"] for item in document["items"]]
            path = unquote(urlsplit(document["next_url"]).path) if "next_url" in document else None
            continue
        ids += [entry.id for entry in feedparser.parse(body).entries]
        root = lxml.etree.fromstring(body)
        older = [
            e.get("href")
            for e in root.iter("{http://www.w3.org/2005/Atom}link")
            if e.get("rel") == "prev-archive"
        ]
        path = unquote(urlsplit(older[0]).path) if older else None
    return ids


def test_the_shipped_nginx_conf_says_what_feedd_says(tmp_path: Path) -> None:
    """The CSP in deploy/nginx.conf is the one feedd sends (its stylesheet hash changes with
    the stylesheet), and nginx accepts the file."""
    from feedd.render.pages import CONTENT_SECURITY_POLICY

    assert f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'" in CONF.read_text()
