"""The framework's floor: the smallest aiohttp app answering one path from bytes in memory.

    python tests/bench/floor_server.py SPEC.json [--asyncio]

Run by bench_serving.py. It runs on uvloop, as feedd does where uvloop is installed, or on
asyncio's own loop with `--asyncio` (what uvloop buys). SPEC names the path, and for the
identity and gzip variants the body file, the headers of the 200 and the headers of the 304
(copied from what feedd sent). It answers 304 when If-None-Match equals the variant's ETag,
gzip when Accept-Encoding mentions it: no parsing, no routing table, no state. Logs
"listening on http://127.0.0.1:PORT/" on stderr.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from aiohttp import web


class Variant:
    def __init__(self, spec: dict[str, object]) -> None:
        self.body = Path(str(spec["body"])).read_bytes()
        self.headers = dict(spec["headers"])  # type: ignore[call-overload]
        self.not_modified = dict(spec["not_modified"])  # type: ignore[call-overload]
        self.etag = next(v for k, v in self.headers.items() if k.lower() == "etag")


async def serve(spec: dict[str, object]) -> None:
    identity = Variant(spec["identity"])  # type: ignore[arg-type]
    gzipped = Variant(spec["gzip"])  # type: ignore[arg-type]

    async def handle(request: web.Request) -> web.Response:
        variant = gzipped if "gzip" in request.headers.get("Accept-Encoding", "") else identity
        if request.headers.get("If-None-Match") == variant.etag:
            return web.Response(status=304, headers=variant.not_modified)
        return web.Response(body=variant.body, headers=variant.headers)

    app = web.Application()
    app.router.add_get(str(spec["path"]), handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on http://127.0.0.1:{port}/", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    if "--asyncio" in sys.argv[2:]:
        asyncio.run(serve(spec))
    else:
        import uvloop

        uvloop.run(serve(spec))
