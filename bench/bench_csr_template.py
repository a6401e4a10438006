"""How fast the DNO side can check CSRs and the CDN side can make them.

Run: .venv/bin/python bench/bench_csr_template.py
Prints, per key type, the time to generate a key + conforming CSR and to check a CSR against a
template. Checking is what a DNO does for every order; generation is dominated by key generation.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from star_operator.csr_template import (
    DomainPolicy, check_csr, generate_key_and_csr, load_template)

TEMPLATE = load_template({
    "keyTypes": [
        {"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp256r1",
         "SignatureType": "ecdsa-with-SHA256"},
        {"PublicKeyType": "id-ecPublicKey", "namedCurve": "secp384r1",
         "SignatureType": "ecdsa-with-SHA384"},
        {"PublicKeyType": "rsaEncryption", "PublicKeyLength": 2048,
         "SignatureType": "sha256WithRSAEncryption"},
    ],
    "subject": {"commonName": "**"},
    "extensions": {"subjectAltName": {"DNS": ["**", "*", "*"]},
                   "keyUsage": ["digitalSignature"], "extendedKeyUsage": ["serverAuth"]},
})
POLICY = DomainPolicy(["cdn.star.test"])
NAMES = ["www.cdn.star.test", "img.cdn.star.test", "*.api.cdn.star.test"]


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def report(label: str, samples: list[float]) -> None:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{label:<38} n={len(samples):<5} median={statistics.median(samples) * 1e3:8.3f} ms"
          f"  p99={p99 * 1e3:8.3f} ms  rate={1 / statistics.mean(samples):9.1f}/s")


def main() -> None:
    for key_type, rounds in (("ecdsa-p256", 300), ("ecdsa-p384", 200), ("rsa-2048", 30)):
        report(f"generate key + CSR ({key_type})",
               timed(lambda kt=key_type: generate_key_and_csr(TEMPLATE, POLICY, NAMES, kt), rounds))
        request = generate_key_and_csr(TEMPLATE, POLICY, NAMES, key_type)
        assert check_csr(request.csr, TEMPLATE, POLICY) == []
        report(f"check CSR against template ({key_type})",
               timed(lambda r=request: check_csr(r.csr, TEMPLATE, POLICY), 2000))


if __name__ == "__main__":
    main()
