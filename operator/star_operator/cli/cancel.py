"""``kubectl star cancel starorder NAME``: end the delegation without deleting the StarOrder.

Sets ``spec.canceled: true``; the operator then does at the CA what a deletion does (native STAR:
cancel the order, RFC 8739 §3.1.2; emulated series: order nothing more and revoke unless
``revokeOnDelete: false``) and sets phase ``Canceled``. The StarOrder and its Secret stay for
inspection. Irreversible: a new StarOrder starts a new delegation.
"""
from __future__ import annotations

import argparse
from typing import Any

from star_operator.constants import Phase

from .errors import NOT_POSSIBLE, OK, CliError
from .kube import Kube
from .resources import STARORDER, add_target, split_target
from .status import EMULATED, order_mode, ready_condition
from .waiting import add_wait_options, wait_until

NAME = "cancel"
KINDS = (STARORDER,)
#: Ready reasons with which the operator says the CA has not confirmed yet (it keeps trying).
PENDING_REASONS = ("CancelFailed", "RevokeFailed")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        NAME, parents=[common], help="end a StarOrder's delegation, keeping the object",
        description="Set spec.canceled: the operator cancels the STAR order at the CA (an "
                    "emulated series: orders nothing more and revokes its certificates unless "
                    "revokeOnDelete is false). The StarOrder and its Secret stay. Irreversible.")
    add_target(parser, "starorder (or starorder/NAME)")
    add_wait_options(parser, "the CA has confirmed (phase Canceled)", 60)
    parser.set_defaults(run=run)


def _canceled(order: dict[str, Any]) -> bool:
    return (order.get("status") or {}).get("phase") == Phase.CANCELED


def run(args: argparse.Namespace, kube: Kube) -> int:
    _, name = split_target(args.kind, args.name, KINDS)
    order = kube.get(STARORDER, name)
    meta = order.get("metadata") or {}
    ref = f"StarOrder {meta.get('namespace') or kube.namespace}/{name}"
    if _canceled(order):
        print(f"{ref} is already canceled")
        return OK
    if meta.get("deletionTimestamp"):
        raise CliError(f"{ref} is being deleted: the deletion ends the delegation already",
                       NOT_POSSIBLE)
    kube.merge_patch(STARORDER, name, {"spec": {"canceled": True}})
    what = ("nothing more is ordered and its certificates are revoked"
            if order_mode(order) == EMULATED else "the STAR order is canceled at the CA")
    print(f"{ref}: cancellation requested (spec.canceled: true): {what}; the Secret is kept")
    if not args.wait:
        return OK
    order, done = wait_until(lambda: kube.get(STARORDER, name), _canceled, args.timeout)
    ready = ready_condition(order) or {}
    if not done:
        hint = " (the operator keeps retrying)" if ready.get("reason") in PENDING_REASONS else ""
        raise CliError(f"{ref} not canceled within {args.timeout:.0f}s: Ready "
                       f"{ready.get('reason')}: {ready.get('message')}{hint}")
    print(f"{ref}: canceled ({ready.get('message')})")
    return OK
