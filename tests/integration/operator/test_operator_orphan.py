"""The one unrecorded window: the CA created the order but its answer never reached the
StarOrder's status (a crash, a lost response). On resume the operator finds that order in the
account's orders list (RFC 8555 §7.1.2.1) and continues it instead of placing a second one;
never another StarOrder's (one that asks for the same names and end-date on purpose)."""
from __future__ import annotations

import asyncio
import base64

import josepy as jose
import pytest
from op_env import (OPERATOR_NS, StarEnv, ca_orders, events, get, wait_condition)

from star_devenv.ca import LocalCA
from star_devenv.kubectl import Kubectl
from star_operator import acme, timeutil

pytestmark = [pytest.mark.cluster, pytest.mark.dns]


async def new_order_as_the_operator(env: StarEnv, key_pem: bytes, order: dict) -> str:
    """Send the newOrder the staged StarOrder would send, with the DNO's account key."""
    status, spec = order["status"], order["spec"]
    renewal = acme.AutoRenewal(end_date=timeutil.parse_time(status["endDate"]),
                               lifetime=timeutil.parse_duration(spec["lifetime"]),
                               allow_certificate_get=True)
    async with acme.AcmeClient(env.ca.directory_url, jose.JWK.load(key_pem),
                               ca_bundle=env.root_pem) as client:
        await client.register()
        return (await client.new_order(spec["dnsNames"], renewal)).url


def test_order_whose_answer_was_lost_is_adopted(kubectl: Kubectl, star_env: StarEnv,
                                               star_ca: LocalCA, operator_process,
                                               namespace: str) -> None:
    wait_condition(kubectl, "csrtemplate", star_env.template, None, status="True")
    host = f"lost-{namespace}.star.test"
    star_ca.kill()
    try:  # the operator gets as far as newOrder: key staged, nothing recorded after it
        kubectl.apply(star_env.star_order("lost", namespace, [host]))
        staged = wait_condition(kubectl, "starorder", "lost", namespace, status="False",
                                reason="CAUnreachable")
        assert staged["status"]["phase"] == "KeyStaged" and not staged["status"].get("orderURL")
        operator_process.kill()
    finally:
        star_ca.start()
    # The marker the operator records right before sending newOrder (set already if its cached
    # client got as far as the refused newOrder; set here if it failed earlier).
    kubectl.run("patch", "starorder", "lost", "-n", namespace, "--subresource=status",
                "--type=merge", "-p", '{"status": {"newOrderAt": "%s"}}'
                % timeutil.format_time(timeutil.utcnow()))
    account = get(kubectl, "secret", f"acct-{star_env.template}", OPERATOR_NS)
    key_pem = base64.b64decode(account["data"]["tls.key"])
    lost_url = asyncio.run(new_order_as_the_operator(star_env, key_pem, staged))
    operator_process.start()
    order = wait_condition(kubectl, "starorder", "lost", namespace, status="True",
                           reason="Issued", timeout=120)
    assert order["status"]["orderURL"] == lost_url
    assert len(ca_orders(star_ca, host)) == 1
    assert any(e["reason"] == "OrderAdopted" for e in events(kubectl, namespace, "lost"))
