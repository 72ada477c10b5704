"""WebSub pings, against a real hub listening on loopback that records what it receives."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from feedd.publish.websub import HubNotifier, changed_feeds
from feedd.render.site import ATOM, HTML, JSON_FEED, Site, SourceFeed, make_resource


@dataclass
class Hub:
    """A hub that records each publish ping; it refuses the first `failures` with a 503."""

    failures: int = 0
    status: int = 503  # of the refusals
    pings: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    user_agents: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.user_agents.add(request.headers.get("User-Agent", ""))
        if self.refused < self.failures:
            self.refused += 1
            return web.Response(status=self.status)
        self.pings.append({key: str(value) for key, value in form.items()})
        return web.Response(status=204)

    def topics(self) -> list[str]:
        return sorted(ping["hub.url"] for ping in self.pings)


async def start_hub(hub: Hub) -> TestServer:
    app = web.Application()
    app.router.add_post("/hub", hub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_burst_becomes_one_ping_per_feed() -> None:
    hub = Hub()
    server = await start_hub(hub)
    notifier = HubNotifier([str(server.make_url("/hub"))], coalesce=0.2)
    notifier.start()
    try:
        for i in range(50):  # a burst: the same two feeds change over and over
            notifier.announce(["http://feeds.test/feed.atom", "http://feeds.test/feed.json"])
            if i % 10 == 0:
                await asyncio.sleep(0)
        await until(lambda: len(hub.pings) >= 2)
        await asyncio.sleep(0.4)  # past another coalescing window: nothing more may come
        assert hub.pings == [
            {"hub.mode": "publish", "hub.url": "http://feeds.test/feed.atom"},
            {"hub.mode": "publish", "hub.url": "http://feeds.test/feed.json"},
        ]
        assert all(agent.startswith("feedd/") for agent in hub.user_agents)
        assert notifier.sent == 2 and notifier.failed == 0
    finally:
        await notifier.close()
        await server.close()


async def test_a_failing_hub_is_retried_with_what_changed_meanwhile() -> None:
    hub = Hub(failures=2)
    server = await start_hub(hub)
    notifier = HubNotifier([str(server.make_url("/hub"))], coalesce=0.01, backoff=(0.05, 0.1))
    notifier.start()
    try:
        notifier.announce(["http://feeds.test/feed.atom"])
        await until(lambda: hub.refused == 1)
        notifier.announce(["http://feeds.test/feed.rss"])  # while the hub is down
        await until(lambda: len(hub.pings) == 2)
        assert hub.topics() == ["http://feeds.test/feed.atom", "http://feeds.test/feed.rss"]
        assert notifier.failed == 2 and notifier.sent == 2
    finally:
        await notifier.close()
        await server.close()


async def test_a_dead_hub_does_not_hold_up_a_live_one(caplog: pytest.LogCaptureFixture) -> None:
    live = Hub()
    server = await start_hub(live)
    dead = f"http://127.0.0.1:{closed_port()}/hub"
    notifier = HubNotifier(
        [dead, str(server.make_url("/hub"))], coalesce=0.01, backoff=(0.05,), timeout=2
    )
    notifier.start()
    try:
        notifier.announce(["http://feeds.test/feed.atom"])
        await until(lambda: live.pings and notifier.failed >= 2)
        assert live.topics() == ["http://feeds.test/feed.atom"]
        assert f"hub {dead} did not take the update of http://feeds.test/feed.atom" in caplog.text
    finally:
        await notifier.close()
        await server.close()


def test_only_feeds_whose_content_changed_are_announced() -> None:
    def site(atom: bytes, index: bytes, tass: tuple[str, ...] = ()) -> Site:
        resources = {
            "/feed.atom": make_resource(atom, ATOM, None),
            "/feed.json": make_resource(b"{}", JSON_FEED, None),
            "/": make_resource(index, HTML, None),
        }
        sources = {"TASS": SourceFeed("TASS", tass)} if tass else {}  # type: ignore[arg-type]
        return Site.create(resources, articles=1, rejected=0, updated=None, sources=sources)

    first = site(b"<feed/>", b"<html>", ("e1",))
    tass = {"/sources/TASS.atom", "/sources/TASS.rss", "/sources/TASS.json"}
    assert changed_feeds(None, first) == {"/feed.atom", "/feed.json"} | tass
    assert changed_feeds(first, site(b"<feed/>", b"<html>!", ("e1",))) == set()
    assert changed_feeds(first, site(b"<feed>!</feed>", b"<html>", ("e1",))) == {"/feed.atom"}
    assert changed_feeds(first, site(b"<feed/>", b"<html>", ("e2", "e1"))) == tass


async def test_a_feed_the_hub_refuses_for_good_is_not_retried() -> None:
    hub = Hub(failures=1, status=400)
    server = await start_hub(hub)
    notifier = HubNotifier([str(server.make_url("/hub"))], coalesce=0.01, backoff=(60.0,))
    notifier.start()
    try:
        notifier.announce(["http://feeds.test/unknown.atom"])
        await until(lambda: hub.refused == 1)
        notifier.announce(["http://feeds.test/feed.atom"])  # not held up by a 60 s backoff
        await until(lambda: hub.topics() == ["http://feeds.test/feed.atom"])
        assert notifier.failed == 1
    finally:
        await notifier.close()
        await server.close()
