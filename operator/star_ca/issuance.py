"""The second half of finalize: CAA check, signing, and the order's move out of ``processing``.

Shared by the finalize handler and by start-up recovery. Finalize accepts a CSR only after
checking it completely, then commits ``processing`` together with the CSR (Store.begin_processing)
and calls ``complete_order``. If the CA dies in between (during the CAA lookups, or before the
certificate commit), the order would otherwise stay ``processing`` forever, and RFC 8555 §7.1.6
only lets ``processing`` go to ``valid`` or ``invalid``.

Recovery finishes the issuance rather than failing it. The server accepted the finalize
request (RFC 8555 §7.4: "the server will begin the issuance process"); the client is polling
the order and has nothing to resubmit (finalize of a non-ready order is ``orderNotReady``), so
failing it would force a whole new order and new validations on the client for the server's
crash. Re-running is safe: CAA is looked up again now (so issuance still follows the current
DNS), the authorizations must still be valid, and the certificate and the order update commit
in one transaction, so at most one certificate is ever recorded for the order. When the CSR is
missing (a database from before it was kept) or issuance is no longer possible (authorization
expired, STAR end-date passed), the order becomes ``invalid`` with an error that says why.
"""
from __future__ import annotations

import logging
import secrets
import time

from cryptography import x509

from star_ca.ca.csr import CsrError, check_csr
from star_ca.db import Authz, CertRow, Order
from star_ca.lifecycle import authz_status, new_id
from star_ca.problems import AcmeError, combine, problem
from star_ca.services import Services
from star_ca.links import order_account_url

log = logging.getLogger(__name__)
CERT_VALIDITY = 90 * 86400


def validation_methods(authzs: list[Authz]) -> dict[str, str]:
    """Order identifier -> method its authorization was validated with (for CAA)."""
    return {("*." if a.wildcard else "") + a.identifier: a.method or "dns-01" for a in authzs}


async def _fail(s: Services, order: Order, err: AcmeError) -> AcmeError:
    order.status, order.error = "invalid", err.to_json()
    await s.store.save_order(order)
    return err


async def plain_validity(s: Services, order: Order) -> int:
    """Validity of an ordinary certificate: its order's profile's, or 90 days without
    profiles. A profile dropped from the configuration since the order was placed fails the
    order rather than silently giving it another lifetime."""
    if order.profile is None:
        return CERT_VALIDITY
    validity = s.config.profiles.validity(order.profile)
    if validity is None:
        raise await _fail(s, order, AcmeError("invalidProfile", f"profile {order.profile!r} is no "
                                        "longer offered by this CA; place a new order"))
    return validity


async def complete_order(s: Services, order: Order, authzs: list[Authz],
                         csr: x509.CertificateSigningRequest, csr_der: bytes) -> Order:
    """Issue for an order in ``processing`` (``authzs``: its authorizations): ``valid`` with
    its (first) certificate, or ``invalid`` with the reason, which is also raised as
    AcmeError."""
    methods = validation_methods(authzs)
    subproblems = await s.caa.subproblems(
        methods, account_uri=order_account_url(order.base_url, order.account_id))
    now = time.time()
    if subproblems:
        raise await _fail(s, order,
                          combine(subproblems, "CAA forbids issuance for some identifiers"))
    if order.auto_renewal is not None:
        first = s.scheduler.first_certificate(order, csr, csr_der, methods, now)
        if first is None:
            raise await _fail(s, order, AcmeError("malformed",
                                            "auto-renewal end-date passed before finalize"))
        cert, series = first
        order.status, order.star_token, order.cert_id = \
            "valid", secrets.token_urlsafe(32), cert.id
        await s.store.finish_order(order, cert, series)
        s.scheduler.wake()
    else:
        issued = s.issuer.issue(csr.public_key(), order.identifiers, now,
                                now + await plain_validity(s, order))
        cert = CertRow(new_id(), issued.serial, order.id, order.account_id, 0,
                       issued.chain_pem, issued.not_before, issued.not_after, None)
        order.status, order.cert_id = "valid", cert.id
        await s.store.finish_order(order, cert, None)
    return order


async def _recover_one(s: Services, order: Order, csr_der: bytes | None) -> None:
    if csr_der is None:
        await _fail(s, order, AcmeError("serverInternal", "the CA restarted while issuing this "
                                  "order and cannot resume it; place a new order"))
        return
    now = time.time()
    authzs = await s.store.authzs_of(order.id)
    stale = [a.identifier for a in authzs if authz_status(a, now) != "valid"]
    if stale:
        await _fail(s, order, AcmeError("unauthorized", "the CA restarted while issuing this order "
                                  "and its authorizations are no longer valid: "
                                  + ", ".join(stale)))
        return
    try:
        csr = check_csr(csr_der, order.identifiers)
    except CsrError as exc:  # it passed at finalize; only a changed policy can get here
        await _fail(s, order, AcmeError("badCSR", str(exc)))
        return
    try:
        await complete_order(s, order, authzs, csr, csr_der)
    except AcmeError:
        pass  # the order is invalid with that error; the client sees it when polling
    log.info("recovered order %s stuck in processing: now %s", order.id, order.status)


async def recover_processing(s: Services, started_before: float = float("inf")) -> None:
    """Finish every order left in ``processing`` whose finalize began before
    ``started_before`` (see the module docstring). Never raises: an order that cannot be
    finished is made ``invalid`` with serverInternal."""
    for order, csr_der in await s.store.claim_processing(started_before, time.time()):
        try:
            await _recover_one(s, order, csr_der)
        except Exception:  # a bug here must not keep the CA from serving
            log.exception("recovery of order %s failed", order.id)
            order.status = "invalid"
            order.error = problem("serverInternal", "issuance failed after a CA restart")
            await s.store.save_order(order)
