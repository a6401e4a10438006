"""Publish the embedded star-ca's root certificate into a Secret (sidecar of the CA pod).

`star-ca serve` writes DATA_DIR/root.pem when it starts (creating its CA on first start). This
loop copies that file into key `ca.crt` of the Secret the chart created for it, whenever the file
differs from what the Secret holds, so the operator (CsrTemplate spec.acme.caBundleSecretRef) and
CDN pods can trust the CA. Its ServiceAccount may only get/patch that one Secret.

Environment: ROOT_PEM (file), SECRET_NAME, SECRET_NAMESPACE, INTERVAL (seconds).
`--once` publishes once and exits (status 1 if it could not): used by tests.
Runs in the operator image and talks to the API server the way the operator does
(star_operator.kubelogin credentials: in-cluster service account, else KUBECONFIG; the
operator's aiohttp client), so the image needs no second Kubernetes client library.
"""
import asyncio
import base64
import os
import signal
import sys

from star_operator import k8s, kubelogin


async def publish(api, name, namespace, pem):
    """Patch key ca.crt if it differs; return True if the Secret changed."""
    encoded = base64.b64encode(pem).decode("ascii")
    secret = await api.request("GET", k8s.secret_path(namespace, name))
    if (secret.get("data") or {}).get("ca.crt") == encoded:
        return False
    await api.request("PATCH", k8s.secret_path(namespace, name),
                      body={"data": {"ca.crt": encoded}}, content_type=k8s.MERGE_PATCH)
    return True


async def run(once):
    path = os.environ["ROOT_PEM"]
    name, namespace = os.environ["SECRET_NAME"], os.environ["SECRET_NAMESPACE"]
    interval = float(os.environ.get("INTERVAL", "30"))
    info = kubelogin.connection_info()
    if info is None:
        print("publish-ca-root: no in-cluster service account and no KUBECONFIG",
              file=sys.stderr, flush=True)
        return 1
    api = k8s.KubeClient(info)
    published = None
    try:
        while True:
            try:
                with open(path, "rb") as f:
                    pem = f.read()
            except FileNotFoundError:
                pem = None  # the CA has not started yet
            if pem and pem != published:
                try:
                    changed = await publish(api, name, namespace, pem)
                    published = pem
                    print(f"publish-ca-root: {'updated' if changed else 'unchanged'} "
                          f"Secret {namespace}/{name} key ca.crt", flush=True)
                except k8s.TRANSIENT_ERRORS as exc:
                    print(f"publish-ca-root: Secret {namespace}/{name}: {exc}",
                          file=sys.stderr, flush=True)
            if once:
                return 0 if published else 1
            await asyncio.sleep(interval)
    finally:
        await api.close()


def main(argv):
    # PID 1 in its container: without a handler SIGTERM is ignored and the pod waits out its
    # whole termination grace period.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    return asyncio.run(run("--once" in argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
