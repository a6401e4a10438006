"""Publish the embedded star-ca's root certificate into a Secret (sidecar of the CA pod).

`star-ca serve` writes DATA_DIR/root.pem when it starts (creating its CA on first start). This
loop copies that file into key `ca.crt` of the Secret the chart created for it, whenever the file
differs from what the Secret holds, so the operator (CsrTemplate spec.acme.caBundleSecretRef) and
CDN pods can trust the CA. Its ServiceAccount may only get/patch that one Secret.

Environment: ROOT_PEM (file), SECRET_NAME, SECRET_NAMESPACE, INTERVAL (seconds).
`--once` publishes once and exits (status 1 if it could not): used by tests.
Runs in the operator image, which has the `kubernetes` client; in-cluster credentials, or
KUBECONFIG outside a cluster.
"""
import base64
import os
import signal
import sys
import time

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


def load_credentials():
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()


def publish(api, name, namespace, pem):
    """Patch key ca.crt if it differs; return True if the Secret changed."""
    encoded = base64.b64encode(pem).decode("ascii")
    secret = api.read_namespaced_secret(name, namespace)
    if (secret.data or {}).get("ca.crt") == encoded:
        return False
    api.patch_namespaced_secret(name, namespace, {"data": {"ca.crt": encoded}})
    return True


def main(argv):
    # PID 1 in its container: without a handler SIGTERM is ignored and the pod waits out its
    # whole termination grace period.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    path = os.environ["ROOT_PEM"]
    name, namespace = os.environ["SECRET_NAME"], os.environ["SECRET_NAMESPACE"]
    interval = float(os.environ.get("INTERVAL", "30"))
    load_credentials()
    api = client.CoreV1Api()
    published = None
    while True:
        try:
            with open(path, "rb") as f:
                pem = f.read()
        except FileNotFoundError:
            pem = None  # the CA has not started yet
        if pem and pem != published:
            try:
                changed = publish(api, name, namespace, pem)
                published = pem
                print(f"publish-ca-root: {'updated' if changed else 'unchanged'} "
                      f"Secret {namespace}/{name} key ca.crt", flush=True)
            except ApiException as exc:
                print(f"publish-ca-root: Secret {namespace}/{name}: {exc.status} {exc.reason}",
                      file=sys.stderr, flush=True)
        if "--once" in argv:
            return 0 if published else 1
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
