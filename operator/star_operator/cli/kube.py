"""Kubernetes API access for the CLI: the ``kubernetes`` client's kubeconfig handling (files,
``KUBECONFIG`` lists, contexts, exec plugins, in-cluster), plain JSON in and out.

Requests go through the client's generic request path rather than its typed models, so objects
come back exactly as the API server sent them (as ``kubectl get -o json`` shows them). Every
failure becomes one :class:`~star_operator.cli.errors.CliError` line.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import CliError
from .resources import Kind

#: Seconds per API request (connect + read); the CLI should never hang on a dead server.
REQUEST_TIMEOUT = 15
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _kube():
    try:  # imported late: --help stays fast
        from kubernetes import client, config
    except ImportError:
        raise CliError("kubectl star needs the Kubernetes client for kubeconfig handling: "
                       "pip install 'star-operator[cli]'") from None
    return client, config


class Kube:
    """An API client for one kubeconfig context, and the namespace to use by default."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None) -> None:
        client, config = _kube()
        # urllib3 would print a warning per retried connection; the one-line error suffices.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        configuration = client.Configuration()
        default_ns = "default"
        try:
            if kubeconfig is None and not _kubeconfig_files() and _in_cluster():
                config.load_incluster_config(client_configuration=configuration)
                default_ns = _SA_NAMESPACE.read_text().strip() if _SA_NAMESPACE.exists() \
                    else "default"
            else:
                if kubeconfig is not None and not Path(kubeconfig).expanduser().is_file():
                    raise CliError(f"kubeconfig {kubeconfig}: no such file")
                if kubeconfig is None and not _kubeconfig_files():
                    raise CliError("no kubeconfig: set KUBECONFIG or --kubeconfig "
                                   "(~/.kube/config does not exist)")
                config.load_kube_config(config_file=kubeconfig, context=context,
                                        client_configuration=configuration,
                                        persist_config=False)
                default_ns = _context_namespace(config, kubeconfig, context) or "default"
        except CliError:
            raise
        except Exception as exc:  # ConfigException, YAML errors, missing files, exec plugin
            raise CliError(f"bad kubeconfig: {_one_line(exc)}") from None
        configuration.retries = 1
        self.host = configuration.host
        self.api = client.ApiClient(configuration)
        self.namespace = namespace or default_ns

    # --------------------------------------------------------------------- raw requests

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                body: Any = None, content_type: str | None = None) -> Any:
        client, _ = _kube()
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            serialized = self.api.param_serialize(
                method=method, resource_path=path, query_params=list((query or {}).items()),
                header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = self.api.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
            data = resp.read()
        except client.exceptions.ApiException as exc:
            raise _api_error(exc.status, exc.body, path) from None
        except Exception as exc:  # connection refused, TLS, timeouts (urllib3 errors)
            raise CliError(f"cannot reach the API server at {self.host}: "
                           f"{_one_line(exc)}") from None
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
        if not 200 <= resp.status <= 299:
            raise _api_error(resp.status, text, path)
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise CliError(f"the API server at {self.host} answered {path} with "
                           f"non-JSON data") from None

    # --------------------------------------------------------------------- objects

    def path(self, kind: Kind, name: str | None = None, namespace: str | None = None) -> str:
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced:
            base += f"/namespaces/{quote(namespace or self.namespace, safe='')}"
        base += f"/{kind.plural}"
        return base + (f"/{quote(name, safe='')}" if name is not None else "")

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return self.request("GET", self.path(kind, name, namespace))
        except NotFound as exc:
            if exc.named:
                where = f" in namespace {namespace or self.namespace}" if kind.namespaced else ""
                raise NotFound(f"{kind.singular} {name!r} not found{where}", named=True) \
                    from None
            raise

    def get_optional(self, kind: Kind, name: str, namespace: str | None = None
                     ) -> tuple[dict[str, Any] | None, str | None]:
        """(object, None), or (None, why not) when it is missing or may not be read: for the
        objects a status screen shows alongside the one asked about."""
        try:
            return self.get(kind, name, namespace), None
        except CliError as exc:
            return None, exc.message

    def events(self, kind: Kind, name: str, namespace: str | None = None,
               uid: str | None = None) -> list[dict[str, Any]]:
        """Core v1 Events about the object (those of an earlier object of that name left out
        when ``uid`` is given)."""
        selector = f"involvedObject.kind={kind.kind},involvedObject.name={name}"
        path = f"/api/v1/namespaces/{quote(namespace or self.namespace, safe='')}/events"
        items = (self.request("GET", path, query={"fieldSelector": selector}) or {}).get(
            "items") or []
        return [e for e in items
                if not uid or (e.get("involvedObject") or {}).get("uid") in (None, "", uid)]

    def merge_patch(self, kind: Kind, name: str, patch: dict[str, Any],
                    namespace: str | None = None) -> dict[str, Any]:
        return self.request("PATCH", self.path(kind, name, namespace), body=patch,
                            content_type="application/merge-patch+json")


class NotFound(CliError):
    def __init__(self, message: str, *, named: bool) -> None:
        super().__init__(message)
        self.named = named


def _api_error(status: int | None, body: Any, path: str) -> CliError:
    """One line from the API server's Status object."""
    try:
        parsed = json.loads(body) if isinstance(body, (str, bytes)) and body else {}
    except ValueError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    message = parsed.get("message") or (body if isinstance(body, str) and body else "")
    details = parsed.get("details") or {}
    if status == 404:
        if details.get("name"):
            return NotFound(message or f"{path}: not found", named=True)
        return NotFound(f"the API server does not serve {path.rsplit('/', 1)[0]} "
                        f"(are the star-operator CRDs installed?)", named=False)
    if status == 401:
        return CliError(f"unauthorized: the kubeconfig's credentials were refused "
                        f"({_one_line(message) or 'HTTP 401'})")
    if status == 403:
        return CliError(f"forbidden: {_one_line(message) or path}")
    return CliError(f"API error (HTTP {status}): {_one_line(message) or path}")


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())[:500]


def _kubeconfig_files() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    paths = env.split(os.pathsep) if env else ["~/.kube/config"]
    return [p for p in (Path(x).expanduser() for x in paths if x) if p.is_file()]


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _context_namespace(config: Any, kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace the chosen context names (what kubectl uses without ``-n``)."""
    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((ctx for ctx in contexts or () if ctx.get("name") == context), None) \
        if context else active
    return ((chosen or {}).get("context") or {}).get("namespace")
