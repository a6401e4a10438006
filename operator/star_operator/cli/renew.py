"""``kubectl star renew starorder NAME``: have an emulated series order its next certificate now.

Sets ``renew.star.operator.dev/requested-at`` to the current time (RFC 3339); the series loop
acts on each new value once (``status.series.renewRequest``). A native STAR order has nothing to
force: the CA re-issues at the star-certificate URL on its own schedule, so the command says so
and exits 2, as it does where the operator would refuse (series ended, being deleted, no first
certificate yet). ``--wait`` waits for the new certificate's serial.
"""
from __future__ import annotations

import argparse
import datetime
from typing import Any

from star_operator import constants as c
from star_operator import timeutil

from . import render
from .errors import NOT_POSSIBLE, OK, CliError
from .kube import Kube
from .resources import STARCERTIFICATE, STARORDER, add_target, split_target
from .status import EMULATED, NATIVE, order_mode, ready_condition
from .waiting import add_wait_options, wait_until

NAME = "renew"
KINDS = (STARORDER, STARCERTIFICATE)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        NAME, parents=[common], help="order the next certificate of an emulated series now",
        description=f"Emulated STAR series: set {c.RENEW_ANNOTATION} so the operator orders "
                    f"the next certificate now (a new key under rotationPolicy Always). Native "
                    f"STAR orders are renewed by the CA itself and cannot be forced (exit 2).")
    add_target(parser, "starorder (or starorder/NAME)")
    add_wait_options(parser, "the Secret holds the new certificate", 120)
    parser.set_defaults(run=run)


def request_value(now: datetime.datetime) -> str:
    """RFC 3339 UTC with microseconds: two requests never carry the same value."""
    return now.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def refusal(order: dict[str, Any]) -> str | None:
    """Why a renewal cannot be forced for this StarOrder (None: it can)."""
    meta, st = order.get("metadata") or {}, order.get("status") or {}
    ref = f"StarOrder {meta.get('namespace')}/{meta.get('name')}"
    mode = order_mode(order)
    if meta.get("deletionTimestamp"):
        return f"{ref} is being deleted: no further certificate is ordered"
    if st.get("phase") == c.Phase.CANCELED:
        return f"{ref} is canceled (spec.canceled): no further certificate is ordered"
    if mode == NATIVE:
        url = st.get("starCertificateURL")
        return (f"{ref} is a native STAR order (RFC 8739): the CA re-issues its certificate by "
                f"itself" + (f" at {url}" if url else "") + "; a renewal cannot be forced "
                f"(the StarCertificate fetches each new certificate as the CA publishes it; "
                f"see: kubectl star status starorder {meta.get('name')})")
    if mode != EMULATED or st.get("phase") != c.Phase.VALID or not (st.get("series") or {}).get(
            "serial"):
        return (f"{ref} has no certificate to renew yet (phase "
                f"{st.get('phase') or c.Phase.PENDING}): the first certificate is still being "
                f"ordered")
    end = render.parse(st.get("endDate"))
    if end is not None and timeutil.utcnow() >= end:
        return (f"{ref}: its end-date {st['endDate']} has passed; no certificate is ordered "
                f"after it")
    if (st.get("series") or {}).get("final"):
        return (f"{ref}: the series has reached its end-date (the current certificate is the "
                f"last one); nothing more is ordered")
    return None


def run(args: argparse.Namespace, kube: Kube) -> int:
    kind, name = split_target(args.kind, args.name, KINDS)
    if kind is STARCERTIFICATE:
        cert = kube.get(STARCERTIFICATE, name)
        raise CliError(f"StarCertificate {kube.namespace}/{name} follows a native STAR order: "
                       f"the CA re-issues at {(cert.get('spec') or {}).get('starCertificateURL')} "
                       f"by itself; a renewal cannot be forced", NOT_POSSIBLE)
    order = kube.get(STARORDER, name)
    why = refusal(order)
    if why:
        raise CliError(why, NOT_POSSIBLE)
    series = order["status"]["series"]
    value = request_value(timeutil.utcnow())
    kube.merge_patch(STARORDER, name, {"metadata": {"annotations": {c.RENEW_ANNOTATION: value}}})
    ns = (order.get("metadata") or {}).get("namespace") or kube.namespace
    print(f"StarOrder {ns}/{name}: renewal requested ({c.RENEW_ANNOTATION}={value}); the "
          f"operator orders the next certificate now, replacing serial {series['serial']} "
          f"(was due {series.get('renewAt') or 'never'})")
    if not args.wait:
        return OK
    new = _wait(kube, name, value, series["serial"], args.timeout)
    print(f"StarOrder {ns}/{name}: new certificate serial {new['serial']}, valid until "
          f"{new.get('notAfter')}; next due {new.get('renewAt') or 'never'}")
    return OK


def _wait(kube: Kube, name: str, value: str, old_serial: str, timeout: float
          ) -> dict[str, Any]:
    def renewed(order: dict[str, Any]) -> bool:
        series = (order.get("status") or {}).get("series") or {}
        return series.get("renewRequest") == value and series.get("serial") not in (
            None, old_serial)
    order, done = wait_until(lambda: kube.get(STARORDER, name), renewed, timeout)
    st = order.get("status") or {}
    series = st.get("series") or {}
    if done:
        return series
    ready = ready_condition(order) or {}
    raise CliError(f"no new certificate within {render.duration(timeout)} (Ready "
                   f"{ready.get('status')} {ready.get('reason')}: "
                   f"{ready.get('message')}; lastError: {series.get('lastError')})")
