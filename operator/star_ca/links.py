"""Every URL star-ca hands out, built in one place.

The paths are fixed; the scheme and authority (``base``) come from ``--base-url`` or, like
Pebble, from the Host header of the request that created the object, and an order keeps the
base it was created under (``Order.base_url``) so that the URLs it names, and the account URL
CAA ``accounturi`` is compared with (RFC 8657), stay the ones its client was given. The web
front end, issuance and the renewal scheduler all build URLs here instead of each knowing the
layout.
"""
from __future__ import annotations

from dataclasses import dataclass

DIRECTORY = "/directory"
NEW_NONCE = "/acme/new-nonce"
NEW_ACCOUNT = "/acme/new-account"
NEW_ORDER = "/acme/new-order"
REVOKE_CERT = "/acme/revoke-cert"
KEY_CHANGE = "/acme/key-change"
ACCOUNT = "/acme/acct/"
ORDER = "/acme/order/"
AUTHZ = "/acme/authz/"
CHALLENGE = "/acme/chall/"
CERT = "/acme/cert/"
STAR_CERT = "/acme/star/"
RENEWAL_INFO = "/acme/renewal-info"  # + "/{certID}" (RFC 9773 §4)


@dataclass(frozen=True)
class Links:
    """The URLs of the objects under one base (``https://host:port``, no trailing slash)."""

    base: str

    def directory(self) -> str:
        return self.base + DIRECTORY

    def account(self, account_id: str) -> str:
        return f"{self.base}{ACCOUNT}{account_id}"

    def account_orders(self, account_id: str) -> str:
        return f"{self.base}{ACCOUNT}{account_id}/orders"

    def order(self, order_id: str) -> str:
        return f"{self.base}{ORDER}{order_id}"

    def finalize(self, order_id: str) -> str:
        return f"{self.base}{ORDER}{order_id}/finalize"

    def authz(self, authz_id: str) -> str:
        return f"{self.base}{AUTHZ}{authz_id}"

    def challenge(self, chall_id: str) -> str:
        return f"{self.base}{CHALLENGE}{chall_id}"

    def cert(self, cert_id: str) -> str:
        return f"{self.base}{CERT}{cert_id}"

    def star_cert(self, token: str) -> str:
        return f"{self.base}{STAR_CERT}{token}"

    def account_id(self, url: object) -> str | None:
        """The account id in an account URL under this base (a JWS ``kid``), else None."""
        prefix = self.base + ACCOUNT
        if not isinstance(url, str) or not url.startswith(prefix) or len(url) == len(prefix):
            return None
        return url[len(prefix):]


def order_account_url(base_url: str, account_id: str) -> str:
    """The account URL an order's client was given: what CAA ``accounturi`` must name."""
    return Links(base_url).account(account_id)
