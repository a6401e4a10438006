"""API answers whose body is not JSON (a proxy's HTML error page) become typed ApiErrors.

A real aiohttp server on loopback stands in for a proxy in front of the API server; the
operator's own :class:`k8s.KubeClient` talks to it through its real request path.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from star_operator import k8s
from star_operator.handlers.transient import retried_later

BAD_GATEWAY = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
               "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
               "</body>\r\n</html>\r\n")
UNAVAILABLE = "<html><body><h1>503 Service Unavailable</h1>No server is available.</body></html>"
NOT_FOUND = "<!DOCTYPE html><html><body><p>404 page not found</p></body></html>"
PORTAL = "<html><body>Please log in to continue</body></html>"


@dataclass
class Page:
    status: int
    text: str
    content_type: str = "text/html"


#: path → what the "proxy" answers there.
PAGES = {
    "/502": Page(502, BAD_GATEWAY),
    "/503": Page(503, UNAVAILABLE),
    "/404": Page(404, NOT_FOUND),
    "/429": Page(429, "Too many requests, slow down", "text/plain"),
    "/200-html": Page(200, PORTAL),
    "/status-404": Page(404, '{"kind":"Status","status":"Failure","reason":"NotFound",'
                            '"message":"secrets \\"s\\" not found","code":404}',
                        "application/json"),
    "/ok": Page(200, '{"kind":"Secret"}', "application/json"),
    "/long-500": Page(500, "x" * 10_000, "text/plain"),
}


async def serve(request: web.Request) -> web.Response:
    page = PAGES[request.path]
    return web.Response(status=page.status, text=page.text, content_type=page.content_type)


@pytest.fixture
async def client() -> AsyncIterator[k8s.KubeClient]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    kube = k8s.KubeClient(kopf.ConnectionInfo(server=str(server.make_url("/"))))
    try:
        yield kube
    finally:
        await kube.close()
        await server.close()


@pytest.mark.parametrize("path,cls,status,reason,start", [
    ("/502", k8s.ServerError, 502, "Bad Gateway", "<html> <head><title>502 Bad Gateway"),
    ("/503", k8s.ServerError, 503, "Service Unavailable", "<html><body><h1>503 Service"),
    ("/404", k8s.NotFound, 404, "Not Found", "<!DOCTYPE html><html><body><p>404 page"),
    ("/429", k8s.TooManyRequests, 429, "Too Many Requests", "Too many requests, slow down"),
])
async def test_an_html_error_page_is_a_typed_api_error(client: k8s.KubeClient, path: str,
                                                       cls: type, status: int, reason: str,
                                                       start: str) -> None:
    with pytest.raises(k8s.ApiError) as err:
        await client.request("GET", path)
    exc = err.value
    assert type(exc) is cls
    assert (exc.status, exc.reason, exc.body) == (status, reason, None)
    assert exc.message.startswith(start) and "\n" not in exc.message
    assert str(exc).startswith(f"{status} {reason}: ")
    assert isinstance(exc, k8s.TRANSIENT_ERRORS)


async def test_a_long_body_is_quoted_only_in_part(client: k8s.KubeClient) -> None:
    with pytest.raises(k8s.ServerError) as err:
        await client.request("PUT", "/long-500", body={"a": 1})
    assert len(err.value.message) <= k8s.BODY_EXCERPT + 3
    assert err.value.reason == "Internal Server Error"


async def test_a_success_without_json_is_a_clear_error(client: k8s.KubeClient) -> None:
    with pytest.raises(k8s.InvalidResponse) as err:
        await client.request("GET", "/200-html")
    assert err.value.status == 200
    assert "expected JSON" in err.value.message and "text/html" in err.value.message
    assert "Please log in" in err.value.message
    assert isinstance(err.value, k8s.TRANSIENT_ERRORS)


async def test_a_kubernetes_status_still_gives_its_own_reason(client: k8s.KubeClient) -> None:
    with pytest.raises(k8s.NotFound) as err:
        await client.request("GET", "/status-404")
    assert err.value.reason == "NotFound"
    assert err.value.message == 'secrets "s" not found'
    assert err.value.body["code"] == 404
    assert await client.request("GET", "/ok") == {"kind": "Secret"}


@pytest.mark.parametrize("path", ["/502", "/503", "/429", "/200-html"])
async def test_the_retry_machinery_retries_them_later(client: k8s.KubeClient,
                                                      path: str) -> None:
    with pytest.raises(kopf.TemporaryError) as err:
        with retried_later(7):
            await client.request("GET", path)
    assert err.value.delay == 7
    assert isinstance(err.value.__cause__, k8s.ApiError)
    assert not isinstance(err.value.__cause__, ValueError)  # no JSON decode error leaks


def test_decode_answer_without_a_server() -> None:
    with pytest.raises(k8s.ServerError) as err:
        k8s.decode_answer(502, "Bad Gateway", "<html>\n  <b>down</b>\n</html>")
    assert err.value.message == "<html> <b>down</b> </html>"
    with pytest.raises(k8s.ApiError) as plain:
        k8s.decode_answer(403, "Forbidden", "[1, 2]")  # JSON, but no Status
    assert type(plain.value) is k8s.ApiError and plain.value.reason == "Forbidden"
    assert k8s.decode_answer(200, "OK", "") is None
