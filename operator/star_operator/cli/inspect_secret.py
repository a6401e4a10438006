"""``kubectl star inspect secret NAME``: the Secret's certificate chain decoded, whether its key
matches the leaf, and the operator's and cert-manager's annotations."""
from __future__ import annotations

import argparse
import base64
import binascii
import datetime
from typing import Any

from star_operator import constants as c
from star_operator import timeutil

from . import certinfo, render
from .errors import OK, CliError
from .kube import Kube
from .resources import SECRET, add_target, resolve

NAME = "inspect"
ANNOTATION_PREFIXES = (f"{c.GROUP}/", f"{c.CM_PREFIX}/")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        NAME, parents=[common], help="decode a Secret's certificate chain",
        description="Decode the certificates in a kubernetes.io/tls Secret (tls.crt, ca.crt): "
                    "names, serial, validity, issuer, key type, fingerprint; whether tls.key "
                    "matches the leaf; the star.operator.dev and cert-manager.io annotations.")
    add_target(parser, "what to inspect (only: secret)", "the Secret's name")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, kube: Kube) -> int:
    kind_arg, name = args.kind, args.name
    if name is None and "/" in kind_arg:
        kind_arg, name = kind_arg.split("/", 1)
    resolve(kind_arg, (SECRET,))
    if not name:
        raise CliError("missing NAME: kubectl star inspect secret NAME")
    secret = kube.get(SECRET, name)
    report = build(secret, timeutil.utcnow())
    print(render.dump_json(report) if args.output == "json" else "\n".join(text(report)))
    return OK


def _decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    out = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError):
            raise CliError(f"Secret data {key!r} is not base64") from None
    return out


def build(secret: dict[str, Any], now: datetime.datetime) -> dict[str, Any]:
    meta = secret.get("metadata") or {}
    data = _decoded(secret)
    decoded = certinfo.decode_secret(data, now)
    annotations = {k: v for k, v in sorted((meta.get("annotations") or {}).items())
                   if k.startswith(ANNOTATION_PREFIXES)}
    return {"name": meta.get("name"), "namespace": meta.get("namespace"),
            "type": secret.get("type"), "keys": sorted(data),
            "stagedKey": bool((data.get(c.STAGED_KEY) or b"").strip()),
            **decoded, "annotations": annotations}


def _cert_lines(index: int, total: int, cert: dict[str, Any], now: datetime.datetime,
                role: str) -> list[str]:
    left = cert["secondsLeft"]
    validity = (f"expired {render.duration(left)} ago" if cert["expired"]
                else f"{render.duration(left)} left")
    lines = [f"Certificate {index}/{total} ({role}):"]
    lines += render.fields([
        ("Subject", cert["subject"] or "(empty)"),
        ("DNS names", ", ".join(cert["dnsNames"]) or None),
        ("Serial", cert["serial"]),
        ("Not before", cert["notBefore"]),
        ("Not after", f"{cert['notAfter']} ({validity})"),
        ("Issuer", cert["issuer"] + (" (self-signed)" if cert["selfSigned"] else "")),
        ("Key", cert["keyType"]),
        ("SHA-256", cert["sha256Fingerprint"]),
    ], indent=2)
    return lines


def _role(i: int, cert: dict[str, Any]) -> str:
    if i == 0 and not cert["isCA"]:
        return "leaf"
    return "root" if cert["selfSigned"] else ("intermediate" if cert["isCA"] else "leaf")


def text(report: dict[str, Any], now: datetime.datetime | None = None) -> list[str]:
    now = now or timeutil.utcnow()
    certs = report["certificates"]
    key = report["key"]
    if key is None:
        key_line = "absent"
    elif key.get("error"):
        key_line = f"unreadable: {key['error']}"
    elif key["matchesLeaf"] is None:
        key_line = f"{key['type']} (no certificate to compare with)"
    else:
        key_line = f"{key['type']}, " + ("matches the leaf certificate" if key["matchesLeaf"]
                                         else "DOES NOT match the leaf certificate")
    lines = render.fields([("Secret", f"{report['namespace']}/{report['name']}"),
                           ("Type", report["type"]), ("Data", ", ".join(report["keys"]) or None),
                           ("tls.key", key_line)])
    if not certs:
        lines.append("")
        lines.append("tls.crt holds no certificate yet"
                     + (f" (the operator staged a key in {c.STAGED_KEY}: the first "
                        f"certificate is still being ordered)" if report["stagedKey"] else ""))
    for i, cert in enumerate(certs):
        lines.append("")
        lines += _cert_lines(i + 1, len(certs), cert, now, _role(i, cert))
    if report["ca"]:
        lines.append("")
        lines.append("ca.crt:")
        lines += render.table(["SUBJECT", "SERIAL", "NOT AFTER", "SHA-256"],
                              [[ca["subject"], ca["serial"], ca["notAfter"],
                                ca["sha256Fingerprint"]] for ca in report["ca"]], indent=2)
    if report["annotations"]:
        lines.append("")
        lines.append("Annotations:")
        lines += render.fields(report["annotations"].items(), indent=2)
    for problem in report["problems"]:
        lines.append(f"Problem: {problem}")
    return lines
