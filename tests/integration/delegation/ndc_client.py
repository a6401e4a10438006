"""A deliberately thin RFC 9115 NDC for the front end's tests: every request is built here
from josepy/acme primitives and every answer is returned raw (status, headers, JSON), so the
tests check the front end's messages field by field rather than through a client that might
paper over a deviation."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from typing import Any

import josepy as jose
import requests
from acme import jws as acme_jws
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec

from tests.waiting import wait_for

JOSE = "application/jose+json"


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any
    text: str

    @property
    def problem_type(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("type"), str):
            return self.body["type"].removeprefix("urn:ietf:params:acme:error:")
        return None


def ec_jwk() -> jose.JWK:
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Ndc:
    """One NDC account key talking to one front end; ``kid`` once registered."""

    directory_url: str
    ca_pem: str
    key: jose.JWK = field(default_factory=ec_jwk)
    kid: str | None = None
    nonce: str | None = None

    def __post_init__(self) -> None:
        self._ca_file = self._write_ca()
        self.directory = self.get(self.directory_url).body

    def _write_ca(self) -> str:
        handle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
        handle.write(self.ca_pem)
        handle.close()
        return handle.name

    def _answer(self, resp: requests.Response) -> Answer:
        if resp.headers.get("Replay-Nonce"):
            self.nonce = resp.headers["Replay-Nonce"]
        try:
            body = resp.json()
        except ValueError:
            body = None
        return Answer(resp.status_code, resp.headers, body, resp.text)

    def get(self, url: str) -> Answer:
        return self._answer(requests.get(url, verify=self._ca_file, timeout=10))

    def fresh_nonce(self) -> str:
        resp = requests.head(self.directory["newNonce"], verify=self._ca_file, timeout=10)
        return resp.headers["Replay-Nonce"]

    def signed(self, url: str, payload: Any, *, nonce: str | None = None,
               use_jwk: bool | None = None) -> dict[str, Any]:
        """The flattened JWS the NDC sends; ``payload`` None means POST-as-GET."""
        raw = b"" if payload is None else json.dumps(payload).encode()
        nonce = nonce or self.nonce or self.fresh_nonce()
        self.nonce = None
        kid = None if (use_jwk if use_jwk is not None else self.kid is None) else self.kid
        jws = acme_jws.JWS.sign(raw, key=self.key, alg=jose.ES256,
                                nonce=jose.decode_b64jose(nonce), url=url, kid=kid)
        return jws.to_partial_json()

    def post_raw(self, url: str, body: Any, content_type: str = JOSE) -> Answer:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self._answer(requests.post(url, data=data, verify=self._ca_file, timeout=10,
                                          headers={"Content-Type": content_type}))

    def post(self, url: str, payload: Any = None, **kwargs: Any) -> Answer:
        return self.post_raw(url, self.signed(url, payload, **kwargs))

    def key_change_body(self, new_key: jose.JWK, *, inner_url: str | None = None,
                        inner_nonce: str | None = None, old_key: jose.JWK | None = None,
                        account: str | None = None) -> dict[str, Any]:
        """RFC 8555 §7.3.5's inner JWS, signed by ``new_key`` (each member overridable, so a
        test can break exactly one rule): the outer ``post`` signs it with the current key."""
        url = self.directory["keyChange"]
        payload = {"account": account or self.kid,
                   "oldKey": (old_key or self.key).public_key().to_partial_json()}
        inner = acme_jws.JWS.sign(json.dumps(payload).encode(), key=new_key, alg=jose.ES256,
                                  nonce=None if inner_nonce is None
                                  else jose.decode_b64jose(inner_nonce),
                                  url=inner_url or url)
        return inner.to_partial_json()

    def change_key(self, new_key: jose.JWK) -> Answer:
        """A well-formed keyChange; on 200 the NDC signs with ``new_key`` from now on."""
        answer = self.post(self.directory["keyChange"], self.key_change_body(new_key))
        if answer.status == 200:
            self.key = new_key
        return answer

    def eab(self, key_id: str, mac_b64url: str, key: jose.JWK | None = None) -> dict[str, Any]:
        """RFC 8555 §7.3.4 binding, made by certbot's acme library (as H2's client does)."""
        return messages.ExternalAccountBinding.from_data(
            (key or self.key).public_key(), key_id, mac_b64url, self.directory)

    def register(self, key_id: str, mac_b64url: str, **extra: Any) -> Answer:
        answer = self.post(self.directory["newAccount"], {
            "termsOfServiceAgreed": True, "contact": ["mailto:cdn@example.net"],
            "externalAccountBinding": self.eab(key_id, mac_b64url), **extra}, use_jwk=True)
        if answer.status in (200, 201):
            self.kid = answer.headers["Location"]
        return answer


def wait_valid(ndc: Ndc, order_url: str) -> dict[str, Any]:
    """Order1 once valid (polled, as an NDC does); processing → valid only."""
    def valid() -> dict[str, Any] | None:
        body = ndc.post(order_url).body
        assert body["status"] in ("processing", "valid"), body
        return body if body["status"] == "valid" else None
    return wait_for(valid, 90, f"{order_url} valid")
