"""DNS lookups for the VA through dnspython, sent straight to one configured server
(``host:port``; default: the first nameserver of the system configuration).

Queries go directly to that server rather than through a stub resolver so the VA sees the
actual response code: it must tell "no records" (NOERROR/NXDOMAIN) from "this server is not
authoritative here" (REFUSED, see va.caa) from a failure (timeout, SERVFAIL). CNAMEs are
followed (up to 8 hops) as RFC 8555 §8.4 and RFC 8659 §3 require. This client keeps no answer:
a DNO that changes a TXT record must see the CA act on it at the next check. CAA answers carry
their TTL (``Answer.ttl``) so that va.caa can keep them as long as the DNO allows, and no longer.

Speed (the scheduler re-checks CAA for every STAR renewal, climbing to the zone apex): UDP
sockets are pooled (creating an asyncio datagram endpoint per query cost more CPU than the rest
of a renewal), each socket carries one query at a time, with a fresh random ID, stray answers
ignored, and a socket that saw a timeout or error is closed rather than reused; at most
MAX_IN_FLIGHT queries are on the wire at once (a renewal batch of hundreds would otherwise
open hundreds of sockets and flood the server). Identical
queries *in flight at the same moment* share one exchange (single flight): the parents that
thousands of names under one zone climb through are asked once per batch instead of once per
name. This client never keeps an answer after it arrived.
"""
from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import cast

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.ttl
from dns.rdtypes.ANY.CAA import CAA

MAX_CNAME_HOPS = 8


class DnsLookupError(Exception):
    """The lookup itself failed (timeout, SERVFAIL, ...): not the same as "no records"."""


class DnsRefused(DnsLookupError):
    """The server refused the query (typically: a name outside the zones it serves)."""


@dataclass(frozen=True)
class Answer:
    records: list[object]
    ttl: int  # seconds: the smallest TTL of the CNAMEs, the answer, or the negative TTL


def _system_nameserver() -> str:
    try:
        return str(dns.resolver.Resolver().nameservers[0])
    except (dns.resolver.NoResolverConfiguration, IndexError):
        return "127.0.0.1"


MAX_IN_FLIGHT = 128  # queries on the wire at once; more only queue up in BIND and sockets
MAX_IDLE_SOCKETS = MAX_IN_FLIGHT
_Key = tuple[dns.name.Name, dns.rdatatype.RdataType]


class DnsClient:
    def __init__(self, server: tuple[str, int] | None, timeout: float = 5.0) -> None:
        self.host, self.port = server if server is not None else (_system_nameserver(), 53)
        self.timeout = timeout
        self._idle: list[dns.asyncbackend.DatagramSocket] = []
        self._inflight: dict[_Key, asyncio.Future[dns.message.Message]] = {}
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def _socket(self) -> dns.asyncbackend.DatagramSocket:
        if self._idle:
            return self._idle.pop()
        backend = dns.asyncbackend.get_default_backend()
        sock: dns.asyncbackend.DatagramSocket = await backend.make_socket(
            dns.inet.af_for_address(self.host), socket.SOCK_DGRAM)
        return sock

    async def _exchange(self, query: dns.message.Message) -> dns.message.Message:
        """One query over a pooled UDP socket (TCP when truncated)."""
        async with self._slots:
            return await self._exchange_on_socket(query)

    async def _exchange_on_socket(self, query: dns.message.Message) -> dns.message.Message:
        sock = await self._socket()
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, self.host, port=self.port, timeout=self.timeout, udp_sock=sock,
                ignore_unexpected=True)
        except BaseException:
            await sock.close()
            raise
        if len(self._idle) < MAX_IDLE_SOCKETS:
            self._idle.append(sock)
        else:
            await sock.close()
        return response

    async def _single_flight(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
                             ) -> dns.message.Message:
        key = (qname, rdtype)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dns.message.Message] = \
            asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response = await self._exchange(dns.message.make_query(qname, rdtype))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without sharers
            raise
        else:
            future.set_result(response)
            return response
        finally:
            del self._inflight[key]

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for sock in idle:
            await sock.close()

    async def _ask(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
                   ) -> dns.message.Message:
        try:
            response = await self._single_flight(qname, rdtype)
        except dns.exception.Timeout:
            raise DnsLookupError(f"timeout asking {self.host}:{self.port} for "
                                 f"{rdtype.name} {qname}") from None
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsLookupError(f"{rdtype.name} {qname}: {exc}") from None
        rcode = response.rcode()
        if rcode == dns.rcode.REFUSED:
            raise DnsRefused(f"{self.host}:{self.port} refused {rdtype.name} {qname}")
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsLookupError(f"{rdtype.name} {qname}: {dns.rcode.to_text(rcode)}")
        return response

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> Answer:
        """Rdatas at ``name`` after CNAMEs (empty for NXDOMAIN / no data), with their TTL."""
        qname = dns.name.from_text(name)
        ttl = dns.ttl.MAX_TTL
        for _ in range(MAX_CNAME_HOPS):
            response = await self._ask(qname, rdtype)
            try:
                # the answer to a query parses to a QueryMessage, which has resolve_chaining
                chain = cast(dns.message.QueryMessage, response).resolve_chaining()
            except dns.exception.DNSException as exc:
                raise DnsLookupError(f"{rdtype.name} {name}: {exc}") from None
            if chain.answer is None and chain.minimum_ttl == dns.ttl.MAX_TTL:
                ttl = 0  # a negative answer without an SOA says nothing about its lifetime
            ttl = min(ttl, chain.minimum_ttl)
            if chain.answer is not None:
                return Answer(list(chain.answer), ttl)
            if chain.canonical_name == qname or response.rcode() == dns.rcode.NXDOMAIN:
                return Answer([], ttl)
            qname = chain.canonical_name  # CNAME to a name this response did not answer
        raise DnsLookupError(f"{rdtype.name} {name}: CNAME chain longer than {MAX_CNAME_HOPS}")

    async def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined, as RFC 8555 §8.4 compares them."""
        rdatas = (await self._query(name, dns.rdatatype.TXT)).records
        return [b"".join(r.strings).decode(errors="replace") for r in rdatas]  # type: ignore[attr-defined]

    async def caa(self, name: str) -> tuple[list[CAA], int]:
        """The CAA records at ``name`` and how many seconds the answer may be kept (RFC 2308
        negative TTL for "none"; 0 when the server gave no SOA to bound it)."""
        answer = await self._query(name, dns.rdatatype.CAA)
        return [r for r in answer.records if isinstance(r, CAA)], answer.ttl

    async def addresses(self, name: str) -> list[str]:
        out: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            answer = await self._query(name, rdtype)
            out += [r.address for r in answer.records]  # type: ignore[attr-defined]
        return out
