"""Step 5 of an order, shared by the first certificate and every emulated renewal: whatever the
order still needs from its current CA state (dns-01 for pending authorizations, finalize, or
waiting out ``processing``), so a resumed attempt picks up exactly where the CA is."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from star_operator import acme, metrics
from star_operator.ordering import accounts
from star_operator.ordering.templates import TemplatePolicy


async def progress_order(client: acme.AcmeClient, policy: TemplatePolicy,
                         material: accounts.CaMaterial, order: acme.Order,
                         csr: x509.CertificateSigningRequest) -> acme.Order:
    """Bring ``order`` to a final state (or raise the CA's or the DNS server's error)."""
    if order.status == "pending":
        with metrics.time_acme("dns-01"):
            await client.solve_authorizations(order, accounts.solver_for(policy, material))
        order = await client.get_order(order.url)
    if order.status == "ready":
        with metrics.time_acme("finalize"):
            order = await client.finalize(order, csr.public_bytes(serialization.Encoding.DER))
    elif order.status == "processing":
        order = await client.wait_order(order.url)
    return order
