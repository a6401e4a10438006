"""The demo on a real node: the chart's operator and CA as pods, a CDN edge serving each renewal.

`star-env up` with a node and without the host CA; the project's image built without Docker
(cached) and imported into the node's containerd; `helm install` of the chart into namespace
star-operator with the embedded CA (star_devenv.chart_on_node: host network on loopback, no
registry); examples/ applied as written, pointed at the CA pod and the chart's root Secret; the
CDN edge of examples/cdn-edge.yaml (nginx, reloaded by a watcher of the mounted Secret) serving
the StarOrder's names. A TLS client connects to the edge (SNI = the first delegated name,
verified against the CA root) and the demo prints every distinct certificate it is served, then
deletes the StarOrder and shows the CA's answer and the edge still serving the last certificate.

Each certificate is back-dated by a full lifetime (lifetime-adjust = lifetime): the next one is
published a whole lifetime before the current one expires, which covers the kubelet's Secret
refresh (up to ~15 s), so a client never meets an expired certificate.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from star_devenv import chart_on_node, edge, environment, image
from star_devenv.chart_on_node import Release
from star_devenv.demo.common import (example_documents, local_environment, say, star_url_state,
                                     wait_for_ctrl_c)
from star_devenv.edge import Prober, Seen
from star_devenv.helm import Helm
from star_devenv.kubectl import Kubectl

NAMESPACE = "star-operator"   # where examples/ expect the operator and the DNO's Secrets
RELEASE = "star"


def print_served(index: int, seen: Seen) -> None:
    label = "first certificate" if index == 1 else f"renewal {index - 1}"
    say(f"edge serves {label:<17} serial={seen.serial:x} notBefore={seen.not_before:%H:%M:%S} "
        f"notAfter={seen.not_after:%H:%M:%S}")


def conditions(kubectl: Kubectl) -> str:
    """What the CsrTemplates and StarOrders say about themselves (why nothing was served)."""
    lines = []
    for kind in ("csrtemplates", "starorders"):
        listed = kubectl.run("get", kind, "-A", "-o", "json", check=False)
        if listed.returncode != 0:
            continue
        for obj in json.loads(listed.stdout)["items"]:
            for c in (obj.get("status") or {}).get("conditions") or []:
                lines.append(f"{obj['kind']} {obj['metadata']['name']}: {c['type']}="
                             f"{c['status']} {c.get('reason', '')}: {c.get('message', '')}")
    return "\n".join(lines)


def run(args: argparse.Namespace, state_dir: Path) -> None:
    settings = environment.EnvironmentSettings(dns_port=args.dns_port, namespace=NAMESPACE,
                                               host_ca=False, node=True)
    with local_environment(state_dir, settings) as env:
        kubeconfig = Path(env["kubeconfig"])
        kubectl = Kubectl(kubeconfig)
        say(f"control plane {env['api_url']}, node {env['node']['name']} Ready, "
            f"BIND 9 {env['dns']['server']}")
        say(f"export KUBECONFIG={kubeconfig}   # to look around while it runs")
        node = environment.load_node(state_dir)
        assert node is not None, "environment.up started no node"
        archive, tag = image.build_image()
        node.import_image(archive)
        rel = Release.new(RELEASE, NAMESPACE, "cdn", args.ca_port, args.edge_port)
        helm = Helm(kubeconfig)
        try:
            serve(args, kubectl, helm, rel, f"docker.io/{tag}", env["dns"]["server"],
                  kubeconfig, state_dir)
        except Exception:  # not on Ctrl-C: that is how the demo ends
            say(f"pod logs:\n{chart_on_node.pod_logs(rel.namespace)}\n"
                f"{chart_on_node.pod_logs(rel.cdn)}\n{conditions(kubectl)}")
            raise
        finally:
            helm.close()


def serve(args: argparse.Namespace, kubectl: Kubectl, helm: Helm, rel: Release, image_name: str,
          dns_server: str, kubeconfig: Path, state_dir: Path) -> None:
    say(f"helm install {rel.name} charts/star-operator -n {rel.namespace} (image {image_name}, "
        f"embedded CA on 127.0.0.1:{rel.ports['ca']})")
    chart_on_node.install(helm, kubectl, rel, chart_on_node.chart_values(
        rel, image_name, kubeconfig, dns_server))
    chart_on_node.wait_pods_ready(kubectl, rel)
    root_pem = chart_on_node.published_root(kubectl, rel)
    root_file = state_dir / "ca-root.pem"
    root_file.write_text(root_pem)
    say(f"operator pod and CA pod Ready; the CA root is Secret {rel.namespace}/{rel.root_secret} "
        f"({root_file})")

    docs = example_documents(rel.directory_url, dns_server,
                             {"name": rel.root_secret, "namespace": rel.namespace})
    order = next(d for d in docs if d["kind"] == "StarOrder")
    order["spec"]["lifetime"] = order["spec"]["lifetimeAdjust"] = f"{args.lifetime}s"
    ns, name = order["metadata"]["namespace"], order["metadata"]["name"]
    secret, names = order["spec"]["secretName"], order["spec"]["dnsNames"]
    server_name = names[0]
    say(f"applying examples/: CsrTemplate star-test, StarOrder {ns}/{name} (a certificate "
        f"every {args.lifetime} s, each valid {2 * args.lifetime} s) and the CDN edge (nginx, "
        f"reloaded when the Secret changes) on 127.0.0.1:{rel.ports['edge']}")
    started = time.time()
    for doc in docs:
        kubectl.apply(doc)
    edge.deploy(kubectl, ns, image_name, rel.ports["edge"], secret, names)
    prober = Prober(rel.ports["edge"], server_name, root_pem, on_new=print_served)
    prober.until(lambda: prober.order, 180, "the edge's first certificate")
    say(f"first TLS handshake with {server_name} "
        f"{prober.seen[prober.order[0]].first_seen - started:.1f} s after kubectl apply")
    prober.until(lambda: len(prober.order) > args.rotations,
                 args.lifetime * (args.rotations + 2), f"{args.rotations} renewals at the edge")

    status = kubectl.get_json("starorder", name, "-n", ns)["status"]
    say(f"STAR ID (order URL): {status['orderURL']}")
    say(f"deleting StarOrder {ns}/{name}: the operator cancels the order at the CA")
    kubectl.run("delete", "starorder", name, "-n", ns, "--timeout=60s")
    answer = star_url_state(status["starCertificateURL"], root_pem)
    say(f"star-certificate URL now answers: {answer}")
    last = prober.handshake()
    if last is not None:
        say(f"the edge still serves serial={last.serial:x} (the Secret is kept); it expires at "
            f"{last.not_after:%H:%M:%S} and is not renewed")
    wait_for_ctrl_c(args.interactive, f"try: openssl s_client -connect "
                    f"127.0.0.1:{rel.ports['edge']} -servername {server_name} "
                    f"-CAfile {root_file} < /dev/null; ")
