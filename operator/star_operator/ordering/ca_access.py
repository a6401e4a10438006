"""How to reach an order's ACME account without its CsrTemplate, so deletion can still cancel.

A StarOrder records, when its STAR order is placed, the directory URL and the Secrets (account
key, CA bundle) it was placed with (``status.caAccess``). If the DNO deletes the CsrTemplate
first, the finalizer cancels with these: cancelling only takes a delegation back, so it needs
none of the template's policy. Without this the StarOrder could only go by force-delete, which
leaves the CA issuing until the end-date with nothing in the cluster fetching.

Trust: like ``orderURL``, this lives in the status subresource, which only the operator may
write (the chart grants ``starorders/status`` to its ServiceAccount alone); whoever can write a
StarOrder's status can already redirect its cancellation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from star_operator import acme
from star_operator.ordering import accounts
from star_operator.ordering.templates import SecretRef, TemplatePolicy


def record(policy: TemplatePolicy) -> dict[str, Any]:
    """The ``status.caAccess`` value for an order placed under ``policy``."""
    def ref(r: SecretRef | None) -> dict[str, str] | None:
        return None if r is None else {"namespace": r.namespace, "name": r.name, "key": r.key}
    return {"directoryURL": policy.directory_url,
            "accountKeySecretRef": ref(policy.account_key_ref),
            "caBundleSecretRef": ref(policy.ca_bundle_ref)}


def _ref(raw: Mapping[str, str]) -> SecretRef:
    return SecretRef(namespace=raw["namespace"], name=raw["name"], key=raw["key"])


async def client_from(recorded: Mapping[str, Any]) -> acme.AcmeClient:
    """An AcmeClient for the recorded account (it must exist: ``onlyReturnExisting``);
    raises :class:`accounts.CaSettingsError` naming a missing or unusable Secret."""
    key_pem = await accounts.read_secret_value(
        _ref(recorded["accountKeySecretRef"]), role="account key (status.caAccess)")
    assert key_pem is not None
    ca_pem = (await accounts.read_ca_bundle(_ref(recorded["caBundleSecretRef"]),
                                            "CA bundle (status.caAccess)")
              if recorded.get("caBundleSecretRef") else None)
    client = accounts.new_client(recorded["directoryURL"], key_pem, ca_pem)
    await client.register(only_existing=True)
    return client
