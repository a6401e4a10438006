"""A small synchronous ACME client for the CA's tests: real JWS via acme.jws / josepy, real
HTTPS verified against the CA's root. It also builds deliberately broken requests."""
from __future__ import annotations

import hashlib
import http.server
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import josepy as jose
import dns.message
import dns.query
import dns.rdatatype
import requests
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

JOSE = "application/jose+json"


def ec_key() -> jose.JWKEC:
    return jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def make_csr(names: list[str], key: Any = None) -> tuple[bytes, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER), key


def weak_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


def dns01_value(token: str, key: jose.JWK) -> str:
    key_auth = f"{token}.{jose.encode_b64jose(key.thumbprint())}"
    return jose.encode_b64jose(hashlib.sha256(key_auth.encode()).digest())


def wait(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Http01Responder:
    """Answers /.well-known/acme-challenge/<token> on loopback for the CA's http-01 checks."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                token = self.path.rsplit("/", 1)[-1]
                body = tokens.get(token)
                self.send_response(200 if body else 404)
                self.end_headers()
                if body:
                    self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DnsGate:
    """A UDP DNS forwarder in front of the real BIND that can hold back (never answer) the
    queries of chosen types. With CAA held, a CA finalizing an order is frozen inside its CAA
    lookup, i.e. right after it committed the order as ``processing``; ``held`` is set when
    such a query arrives, so a test knows exactly when to ``kill -9`` the CA."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.hold: set[str] = set()
        self.held = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)  # so close() is noticed; not a synchronisation sleep
        self.port = self.sock.getsockname()[1]
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(data)
                rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
                if rdtype in self.hold:
                    self.held.set()
                    continue
                answer = dns.query.udp(query, self.upstream[0], port=self.upstream[1], timeout=5)
                self.sock.sendto(answer.to_wire(), addr)
            except Exception:  # noqa: BLE001 - a broken query just goes unanswered
                continue

    def close(self) -> None:
        self._closed.set()
        self.thread.join(5)
        self.sock.close()


class Client:
    def __init__(self, directory_url: str, root_pem: str, key: jose.JWK | None = None) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.verify = root_pem
        self.directory_url = directory_url
        self.directory = self.http.get(directory_url, timeout=10).json()
        self.key = key or ec_key()
        self.kid: str | None = None

    # --------------------------------------------------------------- JWS
    def nonce(self) -> str:
        return self.http.head(self.directory["newNonce"], timeout=10).headers["Replay-Nonce"]

    def jws(self, url: str, payload: Any, *, key: jose.JWK | None = None, kid: Any = "default",
            nonce: str | None = None, alg: jose.JWASignature | None = None) -> dict[str, Any]:
        """A flattened JWS; ``payload=None`` is POST-as-GET; ``kid=None`` embeds the jwk."""
        key = key or self.key
        kid = self.kid if kid == "default" else kid
        body = b"" if payload is None else json.dumps(payload).encode()
        alg = alg or (jose.RS256 if isinstance(key, jose.JWKRSA) else jose.ES256)
        signed = acme_jws.JWS.sign(body, key=key, alg=alg,
                                   nonce=jose.decode_b64jose(nonce or self.nonce()), url=url,
                                   kid=kid)
        return signed.to_partial_json() | {}

    def post(self, url: str, payload: Any = None, **kw: Any) -> requests.Response:
        return self.post_raw(url, json.dumps(self.jws(url, payload, **kw)))

    def post_raw(self, url: str, body: bytes | str, content_type: str = JOSE) -> requests.Response:
        return self.http.post(url, data=body, headers={"Content-Type": content_type}, timeout=30)

    # ------------------------------------------------------------ ACME flow
    def register(self, **payload: Any) -> requests.Response:
        r = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True, **payload},
                      kid=None)
        if r.status_code in (200, 201):
            self.kid = r.headers["Location"]
        return r

    def new_order(self, names: list[str], auto_renewal: dict[str, Any] | None = None,
                  **extra: Any) -> requests.Response:
        payload: dict[str, Any] = {"identifiers": [{"type": "dns", "value": n} for n in names],
                                   **extra}
        if auto_renewal is not None:
            payload["auto-renewal"] = auto_renewal
        return self.post(self.directory["newOrder"], payload)

    def get(self, url: str) -> dict[str, Any]:
        r = self.post(url)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def authorize(self, order: dict[str, Any], kind: str,
                  present: Callable[[str, str, str], None]) -> None:
        """Answer one ``kind`` challenge per authorization and wait until all are valid.
        ``present(domain, token, value)`` gets the keyAuth (http-01) or TXT value (dns-01)."""
        thumb = jose.encode_b64jose(self.key.thumbprint())
        urls = []
        for authz_url in order["authorizations"]:
            authz = self.get(authz_url)
            ch = next(c for c in authz["challenges"] if c["type"] == kind)
            value = (dns01_value(ch["token"], self.key) if kind == "dns-01"
                     else f"{ch['token']}.{thumb}")
            present(authz["identifier"]["value"], ch["token"], value)
            r = self.post(ch["url"], {})
            assert r.status_code == 200, r.text
            urls.append(authz_url)
        for authz_url in urls:
            status = wait(lambda u=authz_url: (s := self.get(u)["status"]) != "pending" and s,
                          what=f"authorization {authz_url}")
            assert status == "valid", self.get(authz_url)

    def ready_order(self, names: list[str], kind: str, present: Callable[[str, str, str], None],
                    auto_renewal: dict[str, Any] | None = None,
                    **extra: Any) -> tuple[str, dict[str, Any]]:
        """A new order with every authorization answered, once it is ready:
        (order URL, the newOrder answer)."""
        r = self.new_order(names, auto_renewal, **extra)
        assert r.status_code == 201, r.text
        order_url = r.headers["Location"]
        self.authorize(r.json(), kind, present)
        wait(lambda: self.get(order_url)["status"] == "ready", what="order ready")
        return order_url, dict(r.json())

    def finalize(self, order_url: str, csr_der: bytes) -> requests.Response:
        order = self.get(order_url)
        return self.post(order["finalize"], {"csr": jose.encode_b64jose(csr_der)})


def unique(prefix: str, zone: str = "star.test") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.{zone}"


def raw_sign(payload: bytes, key: jose.JWK, alg: jose.JWASignature, *, include_jwk: bool,
             **headers: Any) -> str:
    """josepy's generic signer with ACME headers, for requests acme.jws would refuse to make
    (jwk and kid together, MAC algorithms). Returns the flattened JSON text."""
    signed = super(acme_jws.JWS, acme_jws.JWS).sign(  # type: ignore[misc]
        payload, key=key, alg=alg, include_jwk=include_jwk,
        protect=frozenset(["alg", *headers, *(["jwk"] if include_jwk else [])]), **headers)
    return str(signed.json_dumps())
