"""What goes between `feedd serve`'s two processes: a site as what changed since the last."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from feedd.render.site import ATOM, HTML, Site, make_resource
from feedd.serve import channel
from feedd.serve.channel import Counts, NewSite

WHEN = datetime(2021, 1, 2, tzinfo=UTC)


def _site(resources: dict[str, bytes], articles: int, **extra: object) -> Site:
    made = {
        path: make_resource(body, HTML if path == "/" else ATOM, WHEN)
        for path, body in resources.items()
    }
    return Site.create(made, articles=articles, rejected=0, updated=WHEN, **extra)  # type: ignore[arg-type]


async def _through_the_channel(message: NewSite) -> NewSite:
    """`message` sent and received over a socket pair, as the processes do."""
    ours, theirs = socket.socketpair()
    _, writer = await asyncio.open_unix_connection(sock=ours)
    reader, other = await asyncio.open_unix_connection(sock=theirs, limit=channel.READ_LIMIT)
    channel.send(writer, message)
    taken = await channel.receive(reader)
    writer.close()
    assert await channel.receive(reader) is None, "a closed channel ends the reader"
    other.close()
    assert isinstance(taken, NewSite)
    return taken


async def test_a_site_arrives_whole_then_as_what_changed() -> None:
    sent: dict[str, object] = {}
    first = _site({"/": b"<p>index</p>", "/feed.atom": b"<feed/>", "/old.atom": b"<old/>"}, 2)
    counts = Counts(2, 0, True, None)
    message = await _through_the_channel(NewSite.of(first, sent, counts))  # type: ignore[arg-type]
    served = message.after(None)
    assert dict(served.resources) == dict(first.resources)
    assert (served.articles, served.updated, served.checked) == (2, WHEN, True)
    assert message.counts == counts

    # The next site keeps the index as it was, changes a feed, drops one, adds one.
    second = Site.create(
        {
            "/": first.resources["/"],
            "/feed.atom": make_resource(b"<feed>2</feed>", ATOM, WHEN),
            "/new.atom": make_resource(b"<new/>", ATOM, WHEN),
        },
        articles=3,
        rejected=1,
        updated=WHEN,
        checked=False,
        newest_archive="2020-12",
    )
    message = await _through_the_channel(NewSite.of(second, sent, None))  # type: ignore[arg-type]
    assert set(message.resources) == {"/feed.atom", "/new.atom"}, "unchanged documents stay"
    assert message.gone == ("/old.atom",)
    now = message.after(served)
    assert dict(now.resources) == dict(second.resources)
    assert (now.articles, now.rejected, now.checked) == (3, 1, False)
    assert now.newest_archive == "2020-12"
    assert dict(served.resources) == dict(first.resources), "the site served stays as it was"


async def test_a_request_on_a_new_site_does_not_join_an_ask_made_for_the_old_one() -> None:
    """Pages built on demand are asked for by path; one asked for before a new site came may
    be answered as it was then, so a request on the new site asks again."""
    ours, theirs = socket.socketpair()
    _, writer = await asyncio.open_unix_connection(sock=ours)
    reader, other = await asyncio.open_unix_connection(sock=theirs, limit=channel.READ_LIMIT)
    documents = channel.RemoteDocuments(writer)
    old, new = _site({"/": b"old"}, 1), _site({"/": b"new"}, 2)
    page = "/articles/a.html"
    on_old = asyncio.ensure_future(documents.find(old, page))
    same_site = asyncio.ensure_future(documents.find(old, page))
    first = await channel.receive(reader)
    on_new = asyncio.ensure_future(documents.find(new, page))
    # (Joined to the old ask, it would send nothing.)
    second = await asyncio.wait_for(channel.receive(reader), 10)
    assert isinstance(first, channel.Find) and isinstance(second, channel.Find)
    assert (first.path, second.path) == (page, page) and first.ask != second.ask
    before, after = make_resource(b"before", HTML, WHEN), make_resource(b"after", HTML, WHEN)
    documents.answered(channel.Answer(first.ask, before))
    documents.answered(channel.Answer(second.ask, after))
    assert await on_old is before and await same_site is before, "one ask per site and path"
    assert await on_new is after
    writer.close()
    other.close()
