"""Signed ACME requests (RFC 8555 §6): JWS via `acme.jws`, a nonce pool, badNonce retries.

Every POST is a flattened JWS built by `acme.jws.JWS.sign` (never by hand) with `alg`, `nonce`,
`url` and exactly one of `jwk` (newAccount, certificate-key revocation) or `kid`. Nonces are
harvested from every response's `Replay-Nonce`, so newNonce is only hit when the pool is empty;
a `badNonce` answer is retried with the fresh nonce it carries (RFC 8555 §6.5), a bounded number
of times, because a CA may reject valid nonces (Pebble rejects 5% on purpose).
"""

from __future__ import annotations

import collections
import json
import logging
import ssl
from typing import Any, Mapping

import aiohttp
import josepy as jose
from acme import jws

from .errors import AcmeError, AcmeProtocolError, problem_from_body
from .http import HttpResponse, send
from .models import Directory

log = logging.getLogger(__name__)

JOSE_CONTENT_TYPE = "application/jose+json"
BAD_NONCE = "badNonce"

_EC_ALGS = {"secp256r1": jose.ES256, "secp384r1": jose.ES384, "secp521r1": jose.ES512}


def alg_for_key(key: jose.JWK) -> jose.JWASignature:
    """The JWS algorithm RFC 8555 servers accept for this key: ES256/384/512 by curve, or RS256."""
    if isinstance(key, jose.JWKEC):
        curve = key.key.curve.name
        if curve not in _EC_ALGS:
            raise ValueError(f"unsupported EC curve for an ACME account key: {curve}")
        return _EC_ALGS[curve]
    if isinstance(key, jose.JWKRSA):
        return jose.RS256
    raise ValueError(f"unsupported ACME account key type: {type(key).__name__}")


def encode_payload(payload: Mapping[str, Any] | jose.JSONDeSerializable | None) -> bytes:
    """JWS payload bytes: `b""` for POST-as-GET, else compact JSON of a dict or acme message."""
    if payload is None:
        return b""
    if isinstance(payload, jose.JSONDeSerializable):
        return payload.json_dumps().encode()
    return json.dumps(payload, separators=(",", ":")).encode()


class NoncePool:
    """Unused `Replay-Nonce` values, newest last. Each nonce is handed out at most once."""

    def __init__(self, limit: int = 32) -> None:
        self._nonces: collections.deque[str] = collections.deque(maxlen=limit)

    def __len__(self) -> int:
        return len(self._nonces)

    def harvest(self, resp: HttpResponse) -> None:
        """Keep the nonce a response carries (every ACME response should have one)."""
        nonce = resp.headers.get("Replay-Nonce")
        if nonce:
            self._nonces.append(nonce.strip())

    def pop(self) -> str | None:
        """The most recent nonce (least likely to have expired), or `None` if empty."""
        return self._nonces.pop() if self._nonces else None


class JwsTransport:
    """Signs and sends ACME requests for one account key against one directory."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ssl_context: ssl.SSLContext,
        directory_url: str,
        key: jose.JWK,
        *,
        max_nonce_retries: int = 5,
    ) -> None:
        self.session = session
        self.ssl_context = ssl_context
        self.directory_url = directory_url
        self.key = key
        self.alg = alg_for_key(key)
        self.kid: str | None = None
        self.nonces = NoncePool()
        self.max_nonce_retries = max_nonce_retries
        self._directory: Directory | None = None

    async def get(self, url: str, *, accept: str | None = None) -> HttpResponse:
        """Unauthenticated GET (directory, STAR certificate); raises the problem on error."""
        headers = {"Accept": accept} if accept else None
        resp = await send(self.session, "GET", url, ssl_context=self.ssl_context, headers=headers)
        self.nonces.harvest(resp)
        resp.raise_for_problem()
        return resp

    async def directory(self) -> Directory:
        """The directory, fetched once per transport."""
        if self._directory is None:
            resp = await self.get(self.directory_url)
            doc = resp.json()
            if not isinstance(doc, Mapping):
                raise AcmeProtocolError(f"{self.directory_url} is not an ACME directory")
            self._directory = Directory.from_json(doc)
        return self._directory

    async def _new_nonce(self) -> str:
        directory = await self.directory()
        resp = await send(self.session, "HEAD", directory.new_nonce, ssl_context=self.ssl_context)
        if not resp.ok:
            raise problem_from_body(resp.status, resp.body, directory.new_nonce)
        nonce = resp.headers.get("Replay-Nonce")
        if not nonce:
            raise AcmeProtocolError(f"{directory.new_nonce} returned no Replay-Nonce header")
        return nonce.strip()

    async def _nonce(self) -> str:
        return self.nonces.pop() or await self._new_nonce()

    def _sign(self, url: str, body: bytes, nonce: str, use_jwk: bool, key: jose.JWK) -> bytes:
        kid = None if use_jwk else self.kid
        if kid is None and not use_jwk:
            raise AcmeError("no ACME account yet: call register() before signed requests")
        signed = jws.JWS.sign(
            body,
            key=key,
            alg=self.alg if key is self.key else alg_for_key(key),
            nonce=jose.decode_b64jose(nonce),
            url=url,
            kid=kid,
        )
        return signed.json_dumps().encode()

    async def post(
        self,
        url: str,
        payload: Mapping[str, Any] | jose.JSONDeSerializable | None = None,
        *,
        use_jwk: bool = False,
        key: jose.JWK | None = None,
        accept: str | None = None,
    ) -> HttpResponse:
        """Signed POST (`payload=None` is POST-as-GET). Raises `AcmeProblem` on an error answer.

        `use_jwk` embeds the public key instead of `kid` (newAccount, revocation by certificate
        key, which also passes that `key`). `badNonce` is retried transparently.
        """
        body = encode_payload(payload)
        headers = {"Content-Type": JOSE_CONTENT_TYPE}
        if accept:
            headers["Accept"] = accept
        attempt = 0
        while True:
            data = self._sign(url, body, await self._nonce(), use_jwk, key or self.key)
            resp = await send(
                self.session, "POST", url, ssl_context=self.ssl_context, headers=headers, data=data
            )
            self.nonces.harvest(resp)
            if resp.ok:
                return resp
            problem = resp.problem()
            if problem.short_type == BAD_NONCE and attempt < self.max_nonce_retries:
                attempt += 1
                log.debug("badNonce from %s, retry %d/%d", url, attempt, self.max_nonce_retries)
                continue
            raise problem

    async def post_json(
        self, url: str, payload: Mapping[str, Any] | jose.JSONDeSerializable | None = None
    ) -> tuple[HttpResponse, dict[str, Any]]:
        """`post()` and decode a JSON object body."""
        resp = await self.post(url, payload)
        doc = resp.json()
        if not isinstance(doc, dict):
            raise AcmeProtocolError(f"{url} returned JSON that is not an object")
        return resp, doc

