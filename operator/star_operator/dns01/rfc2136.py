"""dns-01 over RFC 2136 dynamic update, signed with TSIG (RFC 8945), through dnspython.

All traffic goes to one configured server (the zone's primary, as for certbot's and
cert-manager's rfc2136 solvers) over TCP: it answers the CNAME and SOA look-ups, takes the
update, and is polled until it serves the new TXT value. TCP makes a server that is down fail at
once (connection refused) instead of after a UDP timeout, and avoids truncation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import socket
import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from star_operator.dns01.base import Dns01Error, DnsFailure
from star_operator.dns01.names import (
    challenge_name,
    normalize_algorithm,
    txt_rdata,
    txt_values,
)

log = logging.getLogger(__name__)

MAX_CNAME_HOPS = 8
DEFAULT_TTL = 60


# Update answers other than NOERROR: (reason, message template).
_UPDATE_RCODE_ERRORS: dict[dns.rcode.Rcode, tuple[DnsFailure, str]] = {
    dns.rcode.REFUSED: (
        DnsFailure.UPDATE_REFUSED,
        "DNS server {where} REFUSED the {what} signed with TSIG key {key!r}: the key is not "
        "allowed to update that name, or the server does not accept updates for the zone",
    ),
    dns.rcode.NOTAUTH: (
        DnsFailure.UPDATE_REFUSED,
        "DNS server {where} answered NOTAUTH to the {what} signed with TSIG key {key!r}: the "
        "key was not accepted or the server is not authoritative for zone {zone}",
    ),
    dns.rcode.NOTZONE: (
        DnsFailure.NOT_AUTHORITATIVE,
        "DNS server {where} answered NOTZONE: {name} is not in zone {zone}",
    ),
}

# Exchange failures, most specific first: (exception types, reason, message template).
_ExcTypes = type[BaseException] | tuple[type[BaseException], ...]
_EXCHANGE_ERRORS: tuple[tuple[_ExcTypes, DnsFailure, str], ...] = (
    (
        dns.tsig.PeerBadKey,
        DnsFailure.UPDATE_REFUSED,
        "DNS server {where} does not know TSIG key {key!r} (BADKEY) for the {what}; "
        "check the key name and algorithm ({alg})",
    ),
    (
        dns.tsig.PeerBadSignature,
        DnsFailure.UPDATE_REFUSED,
        "DNS server {where} rejected the signature made with TSIG key {key!r} (BADSIG) for the "
        "{what}; the secret or algorithm ({alg}) does not match the server's",
    ),
    (
        dns.tsig.PeerBadTime,
        DnsFailure.UPDATE_REFUSED,
        "DNS server {where} rejected TSIG key {key!r} for the {what} (BADTIME): the clocks "
        "differ by more than the allowed fudge",
    ),
    (
        (dns.tsig.PeerError, dns.tsig.BadSignature),
        DnsFailure.UPDATE_REFUSED,
        "TSIG failure with key {key!r} at DNS server {where} for the {what}: {exc_type}: {exc}",
    ),
    (
        dns.exception.Timeout,
        DnsFailure.SERVER_UNREACHABLE,
        "no answer from DNS server {where} within {timeout:.3g}s for the {what}",
    ),
    (
        (OSError, EOFError),
        DnsFailure.SERVER_UNREACHABLE,
        "cannot reach DNS server {where} for the {what}: {exc}",
    ),
    (
        dns.exception.DNSException,
        DnsFailure.UPDATE_FAILED,
        "bad answer from DNS server {where} for the {what}: {exc_type}: {exc}",
    ),
)


@dataclass(frozen=True)
class _Target:
    """Where a challenge value lives: the record name after CNAMEs, and the zone holding it."""

    name: dns.name.Name
    zone: dns.name.Name


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


class Rfc2136Solver:
    """Publishes ``_acme-challenge`` TXT records by TSIG-signed RFC 2136 updates.

    ``server`` is an IP address or host name of the authoritative primary, ``port`` its DNS port.
    ``zone`` fixes the zone to update; when None (or when a CNAME leads outside it) the zone is
    found from the server's SOA answers. ``timeout`` bounds each ``present``/``cleanup`` call as a
    whole; ``query_timeout`` bounds each single exchange with the server.
    """

    def __init__(
        self,
        server: str,
        port: int,
        tsig_key_name: str,
        tsig_secret: str,
        tsig_algorithm: str = "hmac-sha256",
        zone: str | None = None,
        timeout: float = 30.0,
        *,
        ttl: int = DEFAULT_TTL,
        query_timeout: float = 5.0,
        poll_interval: float = 0.2,
    ) -> None:
        if not server:
            raise Dns01Error(
                "no DNS server configured for RFC 2136", reason=DnsFailure.SETTINGS_INVALID
            )
        if not tsig_key_name:
            raise Dns01Error(
                "no TSIG key name configured for RFC 2136", reason=DnsFailure.SETTINGS_INVALID
            )
        try:
            # whitespace (a trailing newline from a Secret file, BIND's split lines) is not data
            secret = base64.b64decode("".join(tsig_secret.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Dns01Error(
                f"TSIG secret for key {tsig_key_name!r} is not valid base64: {exc}",
                reason=DnsFailure.SETTINGS_INVALID,
            ) from exc
        if not secret:
            raise Dns01Error(
                f"TSIG secret for key {tsig_key_name!r} is empty",
                reason=DnsFailure.SETTINGS_INVALID,
            )
        self.server = server
        self.port = int(port)
        self.tsig_key_name = tsig_key_name
        self.tsig_algorithm = tsig_algorithm
        try:
            self._key = dns.tsig.Key(tsig_key_name, secret, normalize_algorithm(tsig_algorithm))
        except dns.exception.DNSException as exc:
            raise Dns01Error(
                f"invalid TSIG key name {tsig_key_name!r}: {exc}",
                reason=DnsFailure.SETTINGS_INVALID,
            ) from exc
        try:
            self.zone = dns.name.from_text(zone) if zone else None
        except dns.exception.DNSException as exc:
            raise Dns01Error(
                f"invalid zone {zone!r}: {exc}", reason=DnsFailure.SETTINGS_INVALID
            ) from exc
        self.timeout = timeout
        self.ttl = ttl
        self.query_timeout = query_timeout
        self.poll_interval = poll_interval
        self._address: str | None = None
        self._targets: dict[tuple[str, str], _Target] = {}

    def __repr__(self) -> str:
        return (
            f"Rfc2136Solver(server={self.server!r}, port={self.port}, "
            f"tsig_key_name={self.tsig_key_name!r}, zone={self.zone})"
        )

    @property
    def _where(self) -> str:
        return f"{self.server}:{self.port}"

    # ------------------------------------------------------------------ public API

    async def present(self, domain: str, value: str) -> None:
        """Add ``value`` at the challenge name for ``domain``; return once the server serves it."""
        deadline = _Deadline(self.timeout)
        rdata = txt_rdata(value)
        target = await self._target(domain, deadline)
        update = self._new_update(target.zone)
        update.add(target.name, self.ttl, rdata)
        await self._send_update(update, target, "add", deadline)
        self._targets[(self._key_of(domain), value)] = target
        log.info("dns-01 TXT for %s published at %s (zone %s)", domain, target.name, target.zone)
        await self._wait_visible(target.name, value, deadline)

    async def cleanup(self, domain: str, value: str) -> None:
        """Remove exactly ``value`` from the challenge TXT RRset of ``domain`` (others stay)."""
        deadline = _Deadline(self.timeout)
        rdata = txt_rdata(value)
        target = self._targets.pop((self._key_of(domain), value), None)
        if target is None:
            target = await self._target(domain, deadline)
        update = self._new_update(target.zone)
        update.delete(target.name, rdata)
        await self._send_update(update, target, "delete", deadline)
        log.info("dns-01 TXT for %s removed from %s", domain, target.name)

    # ------------------------------------------------------------------ other records
    # The same server, key and error reasons serve the DNO's other records (cname-map, CAA:
    # star_operator.zone_records), so they are not a second RFC 2136 client.

    async def rrset(self, name: str, rdtype: str) -> list[str]:
        """The values (rdata text) the server serves authoritatively at ``name`` ([]: none)."""
        deadline = _Deadline(self.timeout)
        qname, kind = dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
        response = await self._lookup(qname, kind, deadline)
        if response is None:
            raise Dns01Error(f"DNS server {self._where} refused to answer for {qname} "
                             "(REFUSED): it is not authoritative for that name",
                             reason=DnsFailure.NOT_AUTHORITATIVE)
        found = response.get_rrset(response.answer, qname, dns.rdataclass.IN, kind)
        return sorted(r.to_text() for r in found) if found is not None else []

    async def replace_rrset(self, name: str, rdtype: str, values: list[str], *,
                            ttl: int | None = None) -> None:
        """Make ``values`` the whole ``rdtype`` RRset at ``name`` in one update (atomic at the
        server); an empty list deletes the RRset."""
        deadline = _Deadline(self.timeout)
        qname = dns.name.from_text(name)
        target = _Target(qname, await self._zone_of(qname, deadline))
        update = self._new_update(target.zone)
        if values:
            update.replace(qname, ttl or self.ttl, rdtype, *values)
        else:
            update.delete(qname, rdtype)
        await self._send_update(update, target, "replace", deadline, rdtype)

    async def delete_values(self, name: str, rdtype: str, values: list[str]) -> None:
        """Remove exactly ``values`` from the ``rdtype`` RRset at ``name`` (others stay)."""
        deadline = _Deadline(self.timeout)
        qname = dns.name.from_text(name)
        target = _Target(qname, await self._zone_of(qname, deadline))
        update = self._new_update(target.zone)
        for value in values:
            update.delete(qname, dns.rdata.from_text(dns.rdataclass.IN, rdtype, value))
        await self._send_update(update, target, "delete", deadline, rdtype)

    async def _zone_of(self, name: dns.name.Name, deadline: _Deadline) -> dns.name.Name:
        if self.zone is not None and name.is_subdomain(self.zone):
            return self.zone
        return await self._find_zone(name, deadline)

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _key_of(domain: str) -> str:
        return challenge_name(domain).to_text().lower()

    async def _target(self, domain: str, deadline: _Deadline) -> _Target:
        name = await self._follow_cnames(challenge_name(domain), deadline)
        return _Target(name, await self._zone_of(name, deadline))

    async def _follow_cnames(self, name: dns.name.Name, deadline: _Deadline) -> dns.name.Name:
        """Follow CNAMEs at the challenge name (delegated challenge names) on the server."""
        seen = [name]
        for _ in range(MAX_CNAME_HOPS):
            response = await self._lookup(name, dns.rdatatype.CNAME, deadline)
            if response is None:
                if self.zone is not None and name.is_subdomain(self.zone):
                    return name  # server refuses queries but was told the zone: just update
                raise Dns01Error(
                    f"DNS server {self._where} refused to answer for {name} (REFUSED): "
                    f"it is not authoritative for that name",
                    reason=DnsFailure.NOT_AUTHORITATIVE,
                )
            rrset = response.get_rrset(
                response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME
            )
            if rrset is None:
                return name
            name = rrset[0].target
            if name in seen:
                raise Dns01Error(
                    f"CNAME loop at {seen[0]}: {' -> '.join(map(str, seen + [name]))}",
                    reason=DnsFailure.UPDATE_FAILED,
                )
            seen.append(name)
            log.debug("dns-01 challenge name %s delegated by CNAME to %s", seen[-2], name)
        raise Dns01Error(
            f"more than {MAX_CNAME_HOPS} CNAMEs from {seen[0]}: {' -> '.join(map(str, seen))}",
            reason=DnsFailure.UPDATE_FAILED,
        )

    async def _find_zone(self, name: dns.name.Name, deadline: _Deadline) -> dns.name.Name:
        """The zone holding ``name``: SOA queries walking up from ``name`` on the server."""
        candidate = name
        while True:
            response = await self._lookup(candidate, dns.rdatatype.SOA, deadline)
            if response is None:
                raise Dns01Error(
                    f"DNS server {self._where} is not authoritative for {name} (REFUSED to "
                    f"answer SOA {candidate}); configure the zone's primary server",
                    reason=DnsFailure.NOT_AUTHORITATIVE,
                )
            zone = _zone_from_response(response, candidate)
            if zone is not None:
                return zone
            if any(r.rdtype == dns.rdatatype.NS for r in response.authority):
                raise Dns01Error(
                    f"{name} is delegated away from DNS server {self._where} (referral "
                    f"at {candidate}); configure the primary of the delegated zone",
                    reason=DnsFailure.NOT_AUTHORITATIVE,
                )
            if candidate == dns.name.root or len(candidate) <= 1:
                break
            candidate = candidate.parent()
        raise Dns01Error(
            f"could not find the zone of {name} on DNS server {self._where}",
            reason=DnsFailure.NOT_AUTHORITATIVE,
        )

    async def _wait_visible(self, name: dns.name.Name, value: str, deadline: _Deadline) -> None:
        """Poll the server until its authoritative TXT answer at ``name`` contains ``value``."""
        interval = self.poll_interval
        last = "no answer yet"
        while True:
            response = await self._query(name, dns.rdatatype.TXT, deadline)
            rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.TXT)
            authoritative = bool(response.flags & dns.flags.AA)
            if rrset is not None and authoritative and value in txt_values(rrset):
                return
            last = (
                f"{dns.rcode.to_text(response.rcode())}, "
                f"{'authoritative' if authoritative else 'not authoritative'}, "
                f"values {sorted(txt_values(rrset)) if rrset is not None else []}"
            )
            remaining = deadline.remaining()
            if remaining <= 0:
                raise Dns01Error(
                    f"TXT {value!r} at {name} was not served by {self._where} within "
                    f"{deadline.seconds:g}s (last answer: {last})",
                    reason=DnsFailure.UPDATE_FAILED,
                )
            # poll pacing with a deadline; the update itself has already been acknowledged
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, 2.0)

    # ------------------------------------------------------------------ transport

    def _new_update(self, zone: dns.name.Name) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(zone, keyring=self._key)

    async def _send_update(
        self,
        update: dns.update.UpdateMessage,
        target: _Target,
        action: str,
        deadline: _Deadline,
        rdtype: str = "TXT",
    ) -> None:
        what = f"update ({action} {rdtype} {target.name} in zone {target.zone})"
        response = await self._exchange(update, what, deadline)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        reason, template = _UPDATE_RCODE_ERRORS.get(
            rcode, (DnsFailure.UPDATE_FAILED, "DNS server {where} answered {rcode} to the {what}")
        )
        raise Dns01Error(
            template.format(
                where=self._where, key=self.tsig_key_name, what=what, zone=target.zone,
                name=target.name, rcode=dns.rcode.to_text(rcode),
            ),
            reason=reason,
        )

    async def _lookup(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, deadline: _Deadline
    ) -> dns.message.Message | None:
        """A query whose answer must be NOERROR or NXDOMAIN; None when the server REFUSED it."""
        response = await self._query(name, rdtype, deadline)
        rcode = response.rcode()
        if rcode == dns.rcode.REFUSED:
            return None
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise Dns01Error(
                f"DNS server {self._where} answered {dns.rcode.to_text(rcode)} "
                f"for {name} {dns.rdatatype.to_text(rdtype)}",
                reason=DnsFailure.UPDATE_FAILED,
            )
        return response

    async def _query(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, deadline: _Deadline
    ) -> dns.message.Message:
        request = dns.message.make_query(name, rdtype)
        request.flags &= ~dns.flags.RD  # ask the authoritative data only
        what = f"query {name} {dns.rdatatype.to_text(rdtype)}"
        return await self._exchange(request, what, deadline)

    async def _exchange(
        self, message: dns.message.Message, what: str, deadline: _Deadline
    ) -> dns.message.Message:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise Dns01Error(
                f"gave up on {what} at DNS server {self._where}: the {deadline.seconds:g}s "
                f"deadline has passed",
                reason=DnsFailure.SERVER_UNREACHABLE,
            )
        timeout = min(self.query_timeout, remaining)
        address = await self._resolve_server(timeout)
        try:
            return await dns.asyncquery.tcp(message, address, timeout=timeout, port=self.port)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            for types, reason, template in _EXCHANGE_ERRORS:
                if isinstance(exc, types):
                    raise Dns01Error(
                        template.format(
                            where=self._where, key=self.tsig_key_name, what=what,
                            alg=self.tsig_algorithm, timeout=timeout, exc=exc,
                            exc_type=type(exc).__name__,
                        ),
                        reason=reason,
                    ) from exc
            raise  # pragma: no cover - the last table row matches every DNSException

    async def _resolve_server(self, timeout: float) -> str:
        """The server's IP address (a host name is looked up once through the system resolver)."""
        if self._address is not None:
            return self._address
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in self.server else socket.AF_INET, self.server)
            self._address = self.server
            return self._address
        except OSError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(self.server, self.port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise Dns01Error(
                f"cannot resolve DNS server name {self.server!r}: {exc or 'timed out'}",
                reason=DnsFailure.SERVER_UNREACHABLE,
            ) from exc
        self._address = str(infos[0][4][0])
        return self._address


def _zone_from_response(
    response: dns.message.Message, qname: dns.name.Name
) -> dns.name.Name | None:
    """The zone an authoritative SOA response reveals: an SOA at ``qname`` in the answer, or the
    zone's SOA in the authority section of an authoritative NODATA / NXDOMAIN answer."""
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == qname:
            return rrset.name
    if response.flags & dns.flags.AA:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name):
                return rrset.name
    return None
