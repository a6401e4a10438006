"""The floor under star-ca's CPU per request: what a bare aiohttp HTTPS server spends to answer
one small POST over a kept-alive connection, on this machine, in this run.

Run: .venv/bin/python bench/bench_http_floor.py [--requests 4000] [--connections 8]

The server is a subprocess running aiohttp with the same TLS setup star-ca uses (ECDSA P-256
certificate, ssl.create_default_context) and one handler that reads the body and answers a
200-byte JSON document with a Replay-Nonce header, nothing else: no JWS, no database, no ACME.
Its user+system CPU over the requests divided by their number is the cost of HTTP + TLS + the
event loop per request, which any Python ACME server on aiohttp pays once per request; star-ca's
dns-01 flow is 7 requests (newOrder, authorization, challenge, finalize, order, certificate,
plus the authorization read after the challenge), so 7x this figure is the part of star-ca's
CPU per flow that no change inside star-ca removes.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from bench_ca import cpu_seconds, machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DOC = {"status": "valid", "expires": "2026-12-09T00:00:00Z", "identifiers": [
    {"type": "dns", "value": "b0123456789ab.bench.test"}],
    "authorizations": ["https://127.0.0.1:14000/acme/authz/" + "x" * 22],
    "finalize": "https://127.0.0.1:14000/acme/order/" + "y" * 22 + "/finalize"}


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def serve(port: int, cert: str, key: str) -> None:
    """The server subprocess: one route, the same shape of answer star-ca gives."""
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=json.dumps(DOC, separators=(",", ":")).encode(),
                            content_type="application/json",
                            headers={"Replay-Nonce": os.urandom(16).hex()})

    app = web.Application()
    app.router.add_post("/x", handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=ctx, access_log=None,
                print=None)


async def drive(port: int, cert: Path, requests: int, connections: int, pid: int) -> float:
    ctx = ssl.create_default_context(cafile=str(cert))
    conn = aiohttp.TCPConnector(limit=connections, ssl=ctx)
    body = b'{"protected":"' + b"p" * 300 + b'","payload":"","signature":"' + b"s" * 86 + b'"}'
    async with aiohttp.ClientSession(connector=conn) as session:
        async def one() -> None:
            async with session.post(f"https://127.0.0.1:{port}/x", data=body,
                                    headers={"Content-Type": "application/jose+json"}) as r:
                await r.read()

        await asyncio.gather(*(one() for _ in range(connections * 4)))  # handshakes, warm-up
        cpu0 = cpu_seconds(pid)
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                await one()

        await asyncio.gather(*(worker() for _ in range(connections)))
        return cpu_seconds(pid) - cpu0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--serve", nargs=3, metavar=("PORT", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0
    print(f"machine: {machine()}; Python {sys.version.split()[0]}; aiohttp {aiohttp.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        port = 20000 + os.getpid() % 20000
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(cert),
                                 str(key)])
        try:
            deadline = time.monotonic() + 30
            while True:  # the server is up once it accepts a connection
                try:
                    with socket.create_connection(("127.0.0.1", port), 0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.05)  # polling a port with a deadline, not synchronisation
            cpu = asyncio.run(drive(port, cert, args.requests, args.connections, proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    per = cpu / args.requests * 1e3
    print(f"bare aiohttp HTTPS POST, {args.connections} kept-alive connections: "
          f"{args.requests} requests, server CPU {cpu:.2f} s = {per:.3f} ms per request; "
          f"x7 requests per dns-01 flow = {7 * per:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
