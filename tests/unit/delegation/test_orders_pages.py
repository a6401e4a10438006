"""The account's ``orders`` list a page at a time (RFC 8555 §7.1.2.1): the real app over
HTTPS with a FakeCluster and a page of 2, pending and finalized Order1s together."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from requests.utils import parse_header_links

from star_ca.wfe.nonces import NonceStore
from star_operator.delegation import config
from star_operator.delegation.order_routes import orders_page
from tests.integration.delegation.ndc_client import Ndc
from tests.unit.delegation import served
from tests.unit.delegation.test_rfc9115_interop import MAC, csr_b64, dno_cluster, future

PAGE = 2


def next_link(answer: Any) -> str | None:
    links = parse_header_links(answer.headers.get("Link", ""))
    return next((link["url"] for link in links if link.get("rel") == "next"), None)


@pytest.fixture
def ndc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ndc]:
    real = served.Services

    def small_pages(cfg: config.Config, nonces: NonceStore, cluster: Any) -> Any:
        return real(dataclasses.replace(cfg, orders_page_size=PAGE), nonces, cluster)
    monkeypatch.setattr(served, "Services", small_pages)
    cluster = dno_cluster()
    with served.serve(cluster, tmp_path) as base:
        client = Ndc(base + "/directory", (tmp_path / "tls.crt").read_text())
        assert client.register("ndc-key", MAC).status == 201
        client.base = base  # type: ignore[attr-defined]
        yield client


def new_order(ndc: Any) -> str:
    answer = ndc.post(ndc.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "abc.ido.example"}],
        "auto-renewal": {"end-date": future(120), "lifetime": 345600,
                         "allow-certificate-get": True},
        "delegation": ndc.base + "/acme/delegation/gm0wfLYHBen"})
    assert answer.status == 201
    return str(answer.headers["Location"])


def all_pages(ndc: Ndc, url: str) -> list[list[str]]:
    pages = []
    while url:
        answer = ndc.post(url)
        assert answer.status == 200, answer.body
        assert set(answer.body) == {"orders"}
        pages.append(answer.body["orders"])
        assert len(pages) < 10, "the next links do not end"
        url = next_link(answer)  # type: ignore[assignment]
    return pages


def test_five_orders_come_in_pages_of_two_linked_by_rel_next(ndc: Any) -> None:
    made = [new_order(ndc) for _ in range(5)]
    assert ndc.post(made[0] + "/finalize", {"csr": csr_b64()}).status == 200  # a StarOrder now
    orders_url = ndc.post(ndc.kid).body["orders"]
    first = ndc.post(orders_url)
    assert 'rel="index"' in first.headers["Link"]  # the directory link stays
    assert next_link(first) is not None and next_link(first).startswith(orders_url + "?")
    pages = all_pages(ndc, orders_url)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [u for p in pages for u in p] == sorted(made)


def test_one_page_has_no_next_link_and_an_order_made_between_pages_is_seen_once(
        ndc: Any) -> None:
    made = [new_order(ndc) for _ in range(2)]
    orders_url = ndc.post(ndc.kid).body["orders"]
    only = ndc.post(orders_url)
    assert only.body["orders"] == sorted(made) and next_link(only) is None
    made.append(new_order(ndc))
    first = ndc.post(orders_url)
    later = new_order(ndc)  # between the pages
    rest = all_pages(ndc, next_link(first))
    seen = first.body["orders"] + [u for p in rest for u in p]
    assert len(seen) == len(set(seen))
    assert set(made) <= set(seen)
    assert (later in seen) == (later > first.body["orders"][-1])


def test_a_cursor_that_is_not_an_order_url_is_malformed(ndc: Any) -> None:
    orders_url = ndc.post(ndc.kid).body["orders"]
    answer = ndc.post(orders_url + "?after=somewhere")
    assert (answer.status, answer.problem_type) == (400, "malformed")


def test_pages_are_cut_after_the_cursor() -> None:
    urls = ["u/c", "u/a", "u/b", "u/a"]
    assert orders_page(urls, None, 2) == (["u/a", "u/b"], True)
    assert orders_page(urls, "u/b", 2) == (["u/c"], False)
    assert orders_page(urls, "u/c", 2) == ([], False)
    assert orders_page([], None, 2) == ([], False)


def test_the_page_size_flag() -> None:
    cert = Path(__file__)
    base = ["--namespace", "n", "--tls-cert", str(cert), "--tls-key", str(cert)]
    assert config.parse(base, env={}).orders_page_size == 20
    assert config.parse(base, env={"STAR_DELEGATION_ORDERS_PAGE_SIZE": "3"}) \
        .orders_page_size == 3
    for bad in ("0", "x"):
        with pytest.raises(config.UsageError, match="--orders-page-size"):
            config.parse(base + ["--orders-page-size", bad], env={})
