"""Response builders shared by all handlers."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from star_ca.problems import AcmeError


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> web.Response:
    # Compact: the json module's C encoder serves only indent=None, and every answer is
    # encoded once per request.
    return web.Response(body=json.dumps(doc, separators=(",", ":")).encode(), status=status,
                        content_type=content_type, headers=headers)


def problem_response(err: AcmeError) -> web.Response:
    return json_response(err.to_json(), err.status, err.headers,
                         content_type="application/problem+json")
