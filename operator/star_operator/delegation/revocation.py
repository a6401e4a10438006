"""revokeCert (RFC 8555 §7.6) as RFC 9115 §2.3.6/§7.3 want it at the front end.

Which order a certificate belongs to: a StarOrder the front end made (its NDC annotations)
whose CSR carries the certificate's public key; an ordinary one (§2.3.3) only if its Secret
holds exactly this certificate (so only what the CA issued for it is revoked).

- a STAR certificate: 403 ``autoRenewalRevocationNotSupported`` (RFC 8739 §3.3: STAR
  certificates are not revoked, the NDC cancels Order1 instead);
- an ordinary certificate: revoked at the upstream CA with the DNO's account. The front end
  holds no upstream account, so it asks the operator, which does: ``spec.canceled`` on the
  StarOrder with the NDC's reason in the ``revocation-reason`` annotation (the operator's
  cancellation of an ordinary StarOrder revokes its certificate), then waits for the operator to
  record the revocation (``status.series.revoked``) and answers 200; 503 with Retry-After if
  it has not within :data:`WAIT`, a retry then finds it revoked (``alreadyRevoked``) or waits
  again;
- anything else: 403 ``unauthorized`` (not issued to this account, or for a request signed
  with a key, not that certificate's key); a request that is not a revocation 400 ``malformed``.

Who may ask: the account that ordered it (``kid``), or the holder of the certificate's key
(``jwk``, RFC 8555 §7.6's second way, which star-ca allows too): the NDC generated that key,
so it is the same party; nothing in RFC 9115 takes that way away.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from typing import Any

import josepy as jose
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_ca.problems import AcmeError
from star_ca.wfe.accounts import thumbprint
from star_ca.wfe.certs import cert_key_thumbprint
from star_operator import conditions
from star_operator import constants as c
from star_operator.delegation import urls
from star_operator.delegation.request import verify_request
from star_operator.series.revocation import REASONS

#: How long a revokeCert waits for the operator to revoke at the CA before answering 503.
WAIT = 30.0
POLL = 0.25


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def parse_request(payload: dict[str, Any]) -> tuple[x509.Certificate, bytes, int]:
    """(certificate, its DER, reason) or 400 ``malformed`` / ``badRevocationReason``."""
    try:
        der = jose.decode_b64jose(payload["certificate"])
        cert = x509.load_der_x509_certificate(der)
    except Exception:  # missing, non-string, non-base64 or non-DER: all the same to the client
        raise AcmeError("malformed", "certificate must be a base64url DER certificate") from None
    reason = payload.get("reason", 0)
    if isinstance(reason, bool) or reason not in REASONS:
        raise AcmeError("badRevocationReason", f"reason {reason!r} is not allowed")
    return cert, der, reason


def key_matches(star_order: dict[str, Any], cert: x509.Certificate) -> bool:
    """Whether the StarOrder's CSR (the NDC's key) is the certificate's key."""
    pem = (star_order.get("spec") or {}).get("csr") or ""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError:
        return False
    return _spki(csr.public_key()) == _spki(cert.public_key())


def is_star(star_order: dict[str, Any]) -> bool:
    return (star_order.get("spec") or {}).get("star") is not False


def revoked(star_order: dict[str, Any], serial: str) -> bool:
    done = ((star_order.get("status") or {}).get("series") or {}).get("revoked")
    return done is True or (isinstance(done, list) and serial in done)


def front_end_orders(star_orders: Sequence[dict[str, Any]], account_url: str | None
                     ) -> list[dict[str, Any]]:
    """The StarOrders the front end made (of one account, if ``account_url``)."""
    out = []
    for so in star_orders:
        ann = (so.get("metadata") or {}).get("annotations") or {}
        if not ann.get(c.NDC_ORDER_ANNOTATION) or not ann.get(c.NDC_ACCOUNT_ANNOTATION):
            continue
        if account_url is None or ann[c.NDC_ACCOUNT_ANNOTATION] == account_url:
            out.append(so)
    return out


async def _leaf_der(request: web.Request, star_order: dict[str, Any]) -> bytes | None:
    secret = await urls.svc(request).cluster.secret(star_order["spec"]["secretName"])
    data = ((secret or {}).get("data") or {}).get(c.TLS_CRT)
    if not data:
        return None
    leaf = x509.load_pem_x509_certificate(base64.b64decode(data))
    return leaf.public_bytes(serialization.Encoding.DER)


async def _wait_revoked(request: web.Request, name: str, serial: str) -> None:
    cluster = urls.svc(request).cluster
    deadline = time.monotonic() + WAIT
    while True:
        current = await cluster.star_order(name)
        if current is None:  # deleted meanwhile: its finalizer revokes it too
            return
        if revoked(current, serial):
            return
        if time.monotonic() >= deadline:
            ready = conditions.get_condition((current.get("status") or {}).get("conditions"),
                                             conditions.READY) or {}
            raise AcmeError("serverInternal", "the revocation at the CA is under way, not yet "
                            f"confirmed ({ready.get('reason', 'no answer yet')}: "
                            f"{ready.get('message', '')}); retry", status=503,
                            headers={"Retry-After": "1"})
        await asyncio.sleep(POLL)


async def revoke_cert(request: web.Request) -> web.Response:
    v = await verify_request(request, "any")
    cert, der, reason = parse_request(v.json())
    cluster = urls.svc(request).cluster
    if v.account is not None:
        account_url: str | None = urls.account_url(urls.base_url(request), v.account.id)
        names = [d["metadata"]["name"] for d in v.account.delegations]
    else:
        if thumbprint(v.verified.key) != cert_key_thumbprint(cert):
            raise AcmeError("unauthorized", "the jwk is not the certificate's key")
        account_url = None
        names = [d["metadata"]["name"] for d in await cluster.delegations()]
    candidates = [so for name in names
                  for so in front_end_orders(await cluster.star_orders(name), account_url)
                  if key_matches(so, cert)]
    ordinary = [so for so in candidates if not is_star(so)]
    for so in ordinary:
        if await _leaf_der(request, so) != der:
            continue
        serial = format(cert.serial_number, "x")
        if revoked(so, serial):
            raise AcmeError("alreadyRevoked", "certificate is already revoked")
        name = so["metadata"]["name"]
        await cluster.patch_star_order(name, {
            "metadata": {"annotations": {c.REVOCATION_REASON_ANNOTATION: str(reason)}},
            "spec": {"canceled": True}})
        await _wait_revoked(request, name, serial)
        return web.Response(status=200)
    if any(is_star(so) for so in candidates):
        raise AcmeError("autoRenewalRevocationNotSupported", "STAR certificates are not "
                        "revoked; cancel the order (POST {\"status\": \"canceled\"} to it)")
    raise AcmeError("unauthorized", "this certificate was not issued for an order of this "
                                    "account" if account_url else "this certificate was not "
                                    "issued through this front end")

