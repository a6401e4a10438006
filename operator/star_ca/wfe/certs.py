"""Certificate download, the STAR ``star-certificate`` URL (RFC 8739 §3.3-3.4, §4.3) and
revokeCert (RFC 8555 §7.6; STAR certificates answer autoRenewalRevocationNotSupported)."""
from __future__ import annotations

import math
import time
from email.utils import formatdate

import josepy as jose
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from star_ca.db import CertRow, Order
from star_ca.problems import PREFIX, AcmeError
from star_ca.star.autorenewal import parse_rfc3339
from star_ca.star.cache import StarAnswer
from star_ca.star.scheduler import params_of
from star_ca.star.window import window
from star_ca.wfe import urls
from star_ca.wfe.accounts import thumbprint
from star_ca.wfe.request import require_account, verify_request

PEM_CHAIN = "application/pem-certificate-chain"
REASONS = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10}


def _pem_response(chain_pem: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=chain_pem.encode(), headers={"Content-Type": PEM_CHAIN,
                                                          **(headers or {})})


async def certificate(request: web.Request) -> web.Response:
    v = await verify_request(request)
    acc = require_account(v)
    if not v.post_as_get:
        raise AcmeError("malformed", "certificates are fetched with POST-as-GET")
    cert = await urls.svc(request).store.cert(request.match_info["id"])
    if cert is None:
        raise AcmeError("malformed", "no such certificate", status=404)
    if cert.account_id != acc.id:
        raise AcmeError("unauthorized", "this certificate belongs to another account")
    return _pem_response(cert.chain_pem)


async def _star_order(request: web.Request) -> Order:
    """The order behind a star-certificate URL, after the access rule of the method used."""
    store = urls.svc(request).store
    order = await store.order_by_star_token(request.match_info["token"])
    if request.method == "POST":
        v = await verify_request(request)
        if not v.post_as_get:
            raise AcmeError("malformed", "star-certificate is fetched with POST-as-GET")
        if order is not None and order.account_id != require_account(v).id:
            raise AcmeError("unauthorized", "this order belongs to another account")
    if order is None:
        raise AcmeError("malformed", "no such star-certificate", status=404)
    if request.method != "POST" and not (order.auto_renewal or {}).get("allow-certificate-get"):
        raise AcmeError("unauthorized", "unauthenticated GET was not negotiated for this "
                                        "order; use POST-as-GET")
    return order


def _series_end(request: web.Request, order: Order, now: float) -> None:
    if order.status == "canceled":
        raise AcmeError("autoRenewalCanceled", "the STAR order was canceled")
    if order.status == "invalid":
        err = order.error or {}
        short = str(err.get("type", PREFIX + "autoRenewalCanceled"))[len(PREFIX):]
        raise AcmeError(short, f"the STAR series stopped: {err.get('detail', '')}", status=403,
                        subproblems=err.get("subproblems"))
    end = parse_rfc3339((order.auto_renewal or {})["end-date"], "end-date")
    if now >= end:
        raise AcmeError("autoRenewalExpired", "the STAR order's end-date has passed")


async def _fresh_until(request: web.Request, order: Order, cert: CertRow) -> float:
    """When the next certificate is published (its notBefore), or when this one expires if it
    is the last: the end of RFC 8739 §4.3's max-age."""
    series = await urls.svc(request).store.series(order.id)
    nxt = window(params_of(series), cert.seq + 1) if series else None
    return nxt.not_before if nxt is not None else cert.not_after


def _star_response(answer: StarAnswer, now: float) -> web.Response:
    max_age = max(0, math.floor(answer.fresh_until - now))
    return web.Response(body=answer.body, headers={
        **answer.headers, "Cache-Control": f"public, max-age={max_age}"})


async def star_certificate(request: web.Request) -> web.Response:
    cache = urls.svc(request).star_cache
    token = request.match_info["token"]
    unauthenticated = request.method != "POST"
    if unauthenticated:  # only GETs that passed the checks below are ever cached
        hit = cache.get(token, time.time())
        if hit is not None:
            return _star_response(hit, time.time())
    order = await _star_order(request)
    now = time.time()
    _series_end(request, order, now)
    cert = await urls.svc(request).store.published_cert(order.id, now)
    if cert is None:
        raise AcmeError("malformed", "the first certificate is not published yet (start-date "
                                     "in the future)", status=404, headers={"Retry-After": "1"})
    until = await _fresh_until(request, order, cert)
    end = parse_rfc3339((order.auto_renewal or {})["end-date"], "end-date")
    answer = StarAnswer(cert.chain_pem.encode(), {
        "Content-Type": PEM_CHAIN,
        "Cert-Not-Before": formatdate(cert.not_before, usegmt=True),
        "Cert-Not-After": formatdate(cert.not_after, usegmt=True),
    }, fresh_until=until, valid_until=min(until, end))
    if unauthenticated:
        cache.put(token, answer, now)
    return _star_response(answer, now)


def _leaf_der(chain_pem: str) -> bytes:
    return x509.load_pem_x509_certificate(chain_pem.encode()).public_bytes(
        serialization.Encoding.DER)


def cert_key_thumbprint(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return thumbprint(jose.JWKEC(key=key))
    if isinstance(key, rsa.RSAPublicKey):
        return thumbprint(jose.JWKRSA(key=key))
    return None


async def revoke_cert(request: web.Request) -> web.Response:
    v = await verify_request(request, "any")
    payload = v.json()
    s = urls.svc(request)
    try:
        der = jose.decode_b64jose(payload["certificate"])
        cert = x509.load_der_x509_certificate(der)
    except Exception:  # missing, non-string, non-base64 or non-DER: all the same to the client
        raise AcmeError("malformed", "certificate must be a base64url DER certificate") from None
    row = await s.store.cert_by_serial(format(cert.serial_number, "x"))
    if row is None or _leaf_der(row.chain_pem) != der:
        raise AcmeError("malformed", "this CA did not issue that certificate", status=404)
    if v.account is not None:
        if v.account.id != row.account_id:
            raise AcmeError("unauthorized", "the account did not order this certificate")
    elif thumbprint(v.key) != cert_key_thumbprint(cert):
        raise AcmeError("unauthorized", "the jwk is not the certificate's key")
    order = await s.store.order(row.order_id)
    if order is not None and order.auto_renewal is not None:
        raise AcmeError("autoRenewalRevocationNotSupported",
                        "STAR certificates are not revoked; cancel the order instead")
    reason = payload.get("reason", 0)
    if isinstance(reason, bool) or reason not in REASONS:
        raise AcmeError("badRevocationReason", f"reason {reason!r} is not allowed")
    if row.revoked_reason is not None:
        raise AcmeError("alreadyRevoked", "certificate is already revoked")
    await s.store.set_revoked(row.id, reason)
    return web.Response(status=200)
