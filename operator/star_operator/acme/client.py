"""`AcmeClient`: the DNO's side of RFC 8555 + RFC 8739 (STAR) against one CA.

The operator holds one account key per CA; this class turns it into accounts, (STAR) orders,
dns-01 validations, finalization, downloads, STAR fetches, cancellation and revocation. The
CDN (RFC 9115's NDC) uses the same class against the DNO's front end: an account with External
Account Binding, its `delegations`, and Order1 under one of them. Message
bodies come from `acme.messages` where they fit (newAccount, newOrder identifiers, finalize,
revocation) and key authorizations from `acme.challenges.DNS01`; STAR fields are plain JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

import aiohttp
import josepy as jose
from acme import challenges, messages
from cryptography import x509
from requests.utils import parse_header_links

from star_operator.timeutil import format_time

from . import ari, eab
from .ari import RenewalInfo
from .errors import ERROR_PREFIX, AcmeError, AcmeProblem, AcmeProtocolError
from .headers import parse_retry_after
from .http import PEM_CHAIN_CONTENT_TYPE, HttpResponse
from .models import Authorization, AutoRenewal, Delegation, Directory, Order, StarFetch
from .polling import poll_until
from .star_fetch import fetch_star_certificate as _fetch_unauthenticated
from .star_fetch import parse_star_response
from .tls import ssl_context
from .transport import JwsTransport

if TYPE_CHECKING:
    from star_operator.dns01 import ChallengeSolver

log = logging.getLogger(__name__)

ORDER_FINAL = frozenset({"valid", "invalid", "canceled"})
AUTHZ_PENDING = frozenset({"pending"})


class AcmeClient:
    """Async ACME client for one account key and one directory.

    Use as `async with AcmeClient(...) as client:` or call `await client.close()`. A session
    passed in is borrowed (not closed); otherwise one is opened on first use. `poll_timeout`
    bounds every wait for an authorization or order to settle.
    """

    def __init__(
        self,
        directory_url: str,
        account_key: jose.JWK,
        *,
        ca_bundle: str | os.PathLike[str] | None = None,
        session: aiohttp.ClientSession | None = None,
        poll_timeout: float = 300.0,
        max_nonce_retries: int = 5,
    ) -> None:
        self.directory_url = directory_url
        self.account_key = account_key
        self.poll_timeout = poll_timeout
        self._ssl = ssl_context(ca_bundle)
        self._session = session
        self._owns_session = session is None
        self._max_nonce_retries = max_nonce_retries
        self._transport: JwsTransport | None = None
        self._kid: str | None = None

    async def __aenter__(self) -> "AcmeClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client opened it (the account URL is kept)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._transport = None

    @property
    def transport(self) -> JwsTransport:
        """The signing transport, created (with its session) on first use inside the loop."""
        if self._transport is None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._transport = JwsTransport(
                self._session,
                self._ssl,
                self.directory_url,
                self.account_key,
                max_nonce_retries=self._max_nonce_retries,
            )
            self._transport.kid = self._kid
        return self._transport

    @property
    def account_url(self) -> str | None:
        """The account URL (`kid`) once `register()` succeeded or it was set from storage."""
        return self._kid

    @account_url.setter
    def account_url(self, value: str | None) -> None:
        """Reuse a stored account URL without a round-trip to newAccount."""
        self._kid = value
        if self._transport is not None:
            self._transport.kid = value

    async def directory(self) -> Directory:
        """The CA's directory, including `star` (RFC 8739 meta) when the CA supports STAR."""
        return await self.transport.directory()

    # --- accounts -------------------------------------------------------------------------

    async def register(
        self,
        contact: Sequence[str] = (),
        only_existing: bool = False,
        *,
        binding: eab.EabCredentials | None = None,
    ) -> str:
        """Create the account for this key, or find it (`onlyReturnExisting`); return its URL.

        With `only_existing=True` a key with no account raises `AcmeProblem`
        `accountDoesNotExist` instead of creating one. `binding` adds the External Account
        Binding (RFC 8555 §7.3.4) a server with `meta.externalAccountRequired` (such as a DNO's
        RFC 9115 front end) insists on; a server that already knows the key finds the account.
        """
        directory = await self.directory()
        reg = messages.NewRegistration(
            contact=tuple(contact),
            terms_of_service_agreed=True,
            only_return_existing=only_existing,
            external_account_binding=eab.binding(self.account_key, binding,
                                                 directory.new_account) if binding else None,
        )
        resp = await self.transport.post(directory.new_account, reg, use_jwk=True)
        if not resp.location:
            raise AcmeProtocolError(f"{directory.new_account} returned no account Location")
        self.account_url = resp.location
        return resp.location

    async def account(self) -> dict[str, object]:
        """POST-as-GET the account object (status, orders, and an NDC's `delegations`)."""
        if not self._kid:
            raise AcmeError("reading the account needs a registered account")
        return (await self.transport.post_json(self._kid))[1]

    async def delegation_urls(self) -> list[str]:
        """The NDC account's delegations (RFC 9115 §2.3.1.1): the URLs its IdO granted it.

        A server whose account object has no `delegations` is no RFC 9115 front end; that is a
        protocol error naming the account, not an empty list (which means "none granted").
        """
        url = (await self.account()).get("delegations")
        if not isinstance(url, str):
            raise AcmeProtocolError(f"account {self._kid} has no delegations URL "
                                    "(is the directory an RFC 9115 delegation front end?)")
        _, doc = await self.transport.post_json(url)
        return [str(u) for u in doc.get("delegations", [])]

    async def get_delegation(self, url: str) -> Delegation:
        """POST-as-GET one delegation object: its CSR template and cname-map."""
        return Delegation.from_json(url, (await self.transport.post_json(url))[1])

    # --- orders ---------------------------------------------------------------------------

    async def new_order(
        self,
        names: Sequence[str],
        auto_renewal: AutoRenewal | None = None,
        *,
        profile: str | None = None,
        replaces: str | None = None,
        not_after: datetime | None = None,
        delegation: str | None = None,
    ) -> Order:
        """Place an order for DNS `names`; a STAR order when `auto_renewal` is given.

        `delegation` (RFC 9115 §2.3.1) makes this an NDC's Order1 at the DNO's front end, under
        that delegation: with `auto_renewal` a STAR Order1, without it the ordinary variant of
        RFC 9115 §2.3.3 (one certificate, fetched from the order's `certificate`, so the
        order carries `allow-certificate-get: true`).

        Refuses a STAR order up front if the directory does not advertise `auto-renewal`,
        since a non-STAR CA would silently issue one ordinary certificate instead. `profile`
        names an ACME profile (`meta.profiles`); `replaces` is the ARI CertID of the
        certificate this order succeeds (RFC 9773 §5); `not_after` asks for an earlier end of
        validity (RFC 8555 §7.4; many CAs refuse it with `malformed`).
        """
        directory = await self.directory()
        if auto_renewal is not None and directory.star is None:
            raise AcmeError(
                f"CA at {self.directory_url} does not support STAR (no meta.auto-renewal)"
            )
        identifiers = tuple(
            messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name) for name in names
        )
        payload = json.loads(messages.NewOrder(identifiers=identifiers).json_dumps())
        if auto_renewal is not None:
            payload["auto-renewal"] = auto_renewal.to_json()
        if profile:
            payload["profile"] = profile
        if replaces:
            payload["replaces"] = replaces
        if not_after is not None:
            payload["notAfter"] = format_time(not_after)
        if delegation:
            payload["delegation"] = delegation
            if auto_renewal is None:  # RFC 9115 §2.3.3: the NDC fetches it, never the DNO
                payload["allow-certificate-get"] = True
        resp, doc = await self.transport.post_json(directory.new_order, payload)
        if not resp.location:
            raise AcmeProtocolError(f"{directory.new_order} returned no order Location")
        return Order.from_json(resp.location, doc)

    async def _fetch_order(self, url: str) -> tuple[Order, HttpResponse]:
        resp, doc = await self.transport.post_json(url)
        return Order.from_json(url, doc), resp

    async def get_order(self, url: str) -> Order:
        """POST-as-GET the order (e.g. to read the STAR order's current status)."""
        return (await self._fetch_order(url))[0]

    async def wait_order(self, url: str, statuses: frozenset[str] = ORDER_FINAL) -> Order:
        """Poll the order until its status is in `statuses`, honouring `Retry-After`."""
        return await poll_until(
            lambda: self._fetch_order(url),
            lambda order: order.status in statuses,
            timeout=self.poll_timeout,
            what=f"order {url}",
        )

    async def list_orders(self) -> list[str]:
        """The account's orders list (RFC 8555 §7.1.2.1): order URLs, following `next` links.

        Used to find an order whose newOrder answer was lost (crash before it was recorded).
        """
        if not self._kid:
            raise AcmeError("list_orders needs a registered account")
        _, account = await self.transport.post_json(self._kid)
        url = account.get("orders") if isinstance(account, dict) else None
        if not isinstance(url, str):
            raise AcmeProtocolError(f"account {self._kid} has no orders URL")
        found: list[str] = []
        for _ in range(100):  # a bound on pages, not on orders
            resp, doc = await self.transport.post_json(url)
            found += [str(u) for u in (doc or {}).get("orders", [])]
            url = _next_link(resp.headers.get("Link", ""))
            if not url:
                break
        return found

    # --- authorizations -------------------------------------------------------------------

    async def _fetch_authz(self, url: str) -> tuple[Authorization, HttpResponse]:
        resp, doc = await self.transport.post_json(url)
        return Authorization.from_json(url, doc), resp

    async def get_authorization(self, url: str) -> Authorization:
        """POST-as-GET one authorization."""
        return (await self._fetch_authz(url))[0]

    def dns01_value(self, token: str) -> str:
        """The TXT value for a dns-01 token: b64url(SHA-256(token '.' thumbprint)), via `acme`."""
        return _dns01(token).validation(self.account_key)

    async def solve_authorizations(self, order: Order, solver: "ChallengeSolver") -> None:
        """Answer every pending authorization of `order` with dns-01 through `solver`.

        All records are presented first, then all challenges answered, then all authorizations
        polled concurrently, so several names cost one DNS propagation wait. Records are always
        cleaned up; already valid (reused) authorizations are skipped. A failed validation
        raises the challenge's `AcmeProblem` (a `compound` problem with one subproblem per name
        when several fail).
        """
        authzs = [await self.get_authorization(url) for url in order.authorizations]
        for authz in authzs:
            if authz.status not in ("pending", "valid"):
                raise _authz_problem(authz)
        todo = [_dns01_challenge(a) for a in authzs if a.status == "pending"]
        presented: list[tuple[str, str]] = []
        try:
            for authz, token, _ in todo:
                value = self.dns01_value(token)
                await solver.present(authz.domain, value)
                presented.append((authz.domain, value))
            for _, token, url in todo:
                # The response object serialises to `{}` (RFC 8555 §7.5.1).
                await self.transport.post(url, _dns01(token).response(self.account_key))
            results = await asyncio.gather(*(self._wait_authz(a.url) for a, _, _ in todo))
        finally:
            await _cleanup(solver, presented)
        _raise_failures(order, results)

    async def _wait_authz(self, url: str) -> Authorization:
        return await poll_until(
            lambda: self._fetch_authz(url),
            lambda authz: authz.status not in AUTHZ_PENDING,
            timeout=self.poll_timeout,
            what=f"authorization {url}",
        )

    # --- issuance -------------------------------------------------------------------------

    async def finalize(self, order: Order, csr_der: bytes, *, wait: bool = True) -> Order:
        """Send the CSR and poll until the order is `valid` (first STAR certificate issued).

        Raises the order's `error` as `AcmeProblem` if it turns `invalid`. With `wait=False`
        the order is returned as the finalize call left it (for a post-dated `start-date`, whose
        first certificate is issued only then; poll later with `wait_order`).
        """
        csr = x509.load_der_x509_csr(csr_der)
        _, doc = await self.transport.post_json(
            order.finalize, messages.CertificateRequest(csr=csr)
        )
        if not wait:
            return Order.from_json(order.url, doc)
        final = await self.wait_order(order.url)
        if final.status != "valid":
            if final.error is not None:
                raise final.error
            raise AcmeError(f"order {order.url} ended {final.status} after finalize")
        return final

    async def download_certificate(self, url: str) -> str:
        """POST-as-GET a `certificate` URL; the PEM chain (leaf first)."""
        resp = await self.transport.post(url, None, accept=PEM_CHAIN_CONTENT_TYPE)
        return resp.body.decode("ascii")

    async def fetch_star_certificate(self, url: str, *, authenticated: bool = False) -> StarFetch:
        """Fetch the current STAR certificate: plain GET, or POST-as-GET with `authenticated`."""
        if not authenticated:
            return await _fetch_unauthenticated(
                self.transport.session, url, ssl_context=self._ssl
            )
        resp = await self.transport.post(url, None, accept=PEM_CHAIN_CONTENT_TYPE)
        return parse_star_response(resp)

    async def renewal_info(self, cert: x509.Certificate) -> RenewalInfo | None:
        """The CA's suggested renewal window for `cert` (RFC 9773), `None` without ARI.

        An unauthenticated GET; `Retry-After` says when the window is worth asking for again.
        """
        directory = await self.directory()
        if not directory.renewal_info:
            return None
        url = f"{directory.renewal_info.rstrip('/')}/{ari.cert_id(cert)}"
        resp = await self.transport.get(url)
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), resp.received_at)
        return RenewalInfo.from_json(url, resp.json(), retry_after)

    # --- termination ----------------------------------------------------------------------

    async def cancel_order(self, order_url: str) -> Order:
        """Stop a STAR order's renewals (RFC 8739 §3.1.2): POST `{"status":"canceled"}`.

        Also how an NDC ends its Order1 at the DNO's front end (RFC 9115 §2.3.4)."""
        _, doc = await self.transport.post_json(order_url, {"status": "canceled"})
        return Order.from_json(order_url, doc)

    async def revoke(
        self, cert_pem: str, reason: int = 0, *, cert_key: jose.JWK | None = None
    ) -> None:
        """Revoke the leaf of `cert_pem` (ordinary certificates; STAR ones are canceled instead).

        Signed with the account key, or with the certificate's own key (`cert_key`, sent as
        `jwk`) when the account is unavailable.
        """
        directory = await self.directory()
        if not directory.revoke_cert:
            raise AcmeProtocolError(f"CA at {self.directory_url} has no revokeCert endpoint")
        leaf = x509.load_pem_x509_certificates(cert_pem.encode())[0]
        body = messages.Revocation(certificate=leaf, reason=reason)
        await self.transport.post(
            directory.revoke_cert, body, use_jwk=cert_key is not None, key=cert_key
        )


def _next_link(header: str) -> str | None:
    """The `rel="next"` target of a Link header (RFC 8288), as order lists page with it."""
    for link in parse_header_links(header) if header else ():
        if link.get("rel") == "next" and link.get("url"):
            return link["url"]
    return None


def _dns01(token: str) -> challenges.DNS01:
    """The `acme` dns-01 challenge object for a base64url token (computes key authorizations)."""
    return challenges.DNS01(token=jose.decode_b64jose(token))


def _dns01_challenge(authz: Authorization) -> tuple[Authorization, str, str]:
    """The authorization with its dns-01 token and challenge URL; checked before any DNS change."""
    chall = authz.challenge("dns-01")
    if chall is None or not chall.token or not chall.url:
        raise AcmeError(f"{authz.domain}: CA offered no dns-01 challenge ({authz.url})")
    return authz, chall.token, chall.url


def _raise_failures(order: Order, results: Sequence[Authorization]) -> None:
    """Raise the failed authorizations' problems: one as is, several as `compound`."""
    failures = [_authz_problem(a) for a in results if a.status != "valid"]
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise AcmeProblem(
            ERROR_PREFIX + "compound",
            f"{len(failures)} authorizations failed",
            subproblems=tuple(failures),
            url=order.url,
        )


def _authz_problem(authz: Authorization) -> AcmeProblem:
    """The reason an authorization is not valid, tagged with its identifier."""
    errors = [c.error for c in authz.challenges if c.error is not None]
    base = errors[0] if errors else None
    return AcmeProblem(
        base.type if base else ERROR_PREFIX + "unauthorized",
        base.detail if base else f"authorization is {authz.status}",
        base.status if base else None,
        identifier=authz.identifier,
        subproblems=base.subproblems if base else (),
        url=authz.url,
    )


async def _cleanup(solver: "ChallengeSolver", presented: Sequence[tuple[str, str]]) -> None:
    """Remove every presented record; a cleanup failure is logged, never masks the outcome."""
    for domain, value in presented:
        try:
            await solver.cleanup(domain, value)
        except Exception:  # noqa: BLE001 - a leftover TXT record must not hide the real result
            log.warning("dns-01 cleanup failed for %s", domain, exc_info=True)
