"""Credentials for the Kubernetes API outside a kopf run as well as inside one.

The operator's ``@kopf.on.login`` handler and the delegation front end (a plain aiohttp
server, no kopf loop) log in the same way: the pod's service account against the
``KUBERNETES_SERVICE_HOST/PORT`` the kubelet injects, else KUBECONFIG.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import kopf


def in_cluster_server(env: Any = None) -> str:
    """The API server a pod should use: KUBERNETES_SERVICE_HOST/PORT as client-go and the
    official Python client read them (kopf's own in-cluster login always says
    https://kubernetes.default.svc, which needs cluster DNS)."""
    env = os.environ if env is None else env
    host = env.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return "https://kubernetes.default.svc"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = env.get("KUBERNETES_SERVICE_PORT") or "443"
    return f"https://{host}:{port}"


def connection_info(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else KUBECONFIG (None when neither exists)."""
    kwargs.setdefault("settings", kopf.OperatorSettings())
    info = kopf.login_with_service_account(**kwargs)
    if info is not None:
        return dataclasses.replace(info, server=in_cluster_server())
    return kopf.login_with_kubeconfig(**kwargs)
