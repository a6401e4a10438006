"""``star-ca serve`` plus a request counter, for benchmarks that report CA requests per renewal.

Run exactly as ``python -m star_ca serve ...`` (same flags, same code, same defaults); the only
additions are one aiohttp middleware that counts every request by (method, endpoint kind) and
the unauthenticated route ``GET /bench/request-counts`` that returns the counts as JSON
(``[[method, kind, count], ...]``). star-ca itself keeps no access log (``access_log=None``),
so this is the CA's own view of what a client asked of it, nonce fetches and retries included.
"""
from __future__ import annotations

import collections
import sys
from typing import Any

from aiohttp import web

import star_ca.server
from star_ca.__main__ import main
from star_ca.wfe import urls

COUNTS_PATH = "/bench/request-counts"
_counts: collections.Counter[tuple[str, str]] = collections.Counter()
_make_app = star_ca.server.make_app


def endpoint_kind(path: str) -> str:
    """``/acme/order/abc/finalize`` -> ``order/finalize``; ``/acme/new-order`` -> ``new-order``."""
    if not path.startswith("/acme/"):
        return path.strip("/") or "/"
    parts = path[len("/acme/"):].split("/")
    return parts[0] + ("/" + parts[2] if len(parts) > 2 else "")


@web.middleware
async def _count(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path != COUNTS_PATH:
        _counts[(request.method, endpoint_kind(request.path))] += 1
    return await handler(request)


async def _report(request: web.Request) -> web.Response:
    return web.json_response([[m, k, n] for (m, k), n in sorted(_counts.items())])


def make_app(services: Any) -> web.Application:
    app = _make_app(services)
    app.middlewares.insert(0, _count)  # outermost: problem responses are counted too
    app.router.add_get(COUNTS_PATH, _report)
    return app


assert urls.NEW_ORDER.startswith("/acme/")  # endpoint_kind's assumption about star-ca's URLs
star_ca.server.make_app = make_app

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
