"""Fakes of a StarOrder's outside world, shared by the ordering and renewal unit tests: the
status sub-resource and Events (:class:`Fakes`), one STAR CA (:class:`FakeCa`), Secrets
(:class:`FakeSecrets`), custom objects (:class:`FakeObjects`) and owner lookups. Each records
what it was asked, so a test asserts on the requests made as well as on what was written."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer

from star_operator import acme, k8s, timeutil
from star_operator import constants as c
from star_operator.backoff import Backoff
from star_operator.ordering.issuance import OrderJob
from star_operator.ordering.status import StatusRecorder
from star_operator.secrets import ownership

URL = "https://ca.test/acme/order/7"
ACCOUNT_URL = "https://ca.test/acme/acct/1"
STAR_URL = URL + "/star"


def merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """JSON merge patch (RFC 7386), what the API server applies to status."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def apply_status_ops(status: dict[str, Any], ops: Sequence[Mapping[str, Any]]) -> None:
    """JSON Patch ops (RFC 6902, by the ``jsonpatch`` library kopf depends on) on a status
    sub-resource, as the API server applies them: all or nothing, a failed ``test`` (or a
    missing path) a 422, a field set to null dropped (none of ours is nullable)."""
    try:
        result = jsonpatch.apply_patch({"status": status}, list(ops))["status"]
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise k8s.ApiError(422, "Invalid", str(exc)) from exc
    status.clear()
    status.update({k: v for k, v in result.items() if v is not None})


class FakeCa:
    """The AcmeClient surface of issuance and cancellation: one STAR CA holding one order (at
    :data:`URL`, in ``state``), every request recorded as ``"VERB url"``.

    ``fail(op, exc, ...)`` makes the next calls of ``op`` raise (the request still counts: it
    was sent). ops: ``directory``, ``new_order`` (refused: no order made), ``new_order_answer``
    (the order made, its answer lost), ``list``, ``get_order``, ``dns01``, ``finalize``.
    ``finalized`` is the state finalize leaves the order in; ``cancel_answers`` are returned
    (or raised) by cancel in turn.
    """

    account_url = ACCOUNT_URL

    def __init__(self, state: str = "pending", *cancel_answers: acme.Order | Exception,
                 finalized: str = "valid", star_certificate: bool = True) -> None:
        self.state = state
        self.cancel_answers = list(cancel_answers)
        self.finalized = finalized
        self.star_certificate = star_certificate
        self.requests: list[str] = []
        self.failures: dict[str, list[Exception]] = {}
        self.names: tuple[str, ...] = ("www.test",)
        self.auto_renewal: dict[str, Any] = {"end-date": "2026-12-03T00:00:00Z",
                                             "lifetime": 300}
        self.error: dict[str, Any] | None = None
        self.placed = 0  # orders created by newOrder (listed in the account's orders)
        self.csr_der: bytes | None = None

    def fail(self, op: str, *excs: Exception) -> None:
        self.failures.setdefault(op, []).extend(excs)

    def _request(self, op: str, text: str) -> None:
        self.requests.append(text)
        pending = self.failures.get(op)
        if pending:
            raise pending.pop(0)

    def order(self) -> acme.Order:
        doc: dict[str, Any] = {
            "status": self.state, "identifiers": [{"type": "dns", "value": n} for n in self.names],
            "authorizations": [URL + "/authz"], "finalize": URL + "/finalize",
            "auto-renewal": dict(self.auto_renewal)}
        if self.state == "valid" and self.star_certificate:
            doc["star-certificate"] = STAR_URL
        if self.error:
            doc["error"] = self.error
        return acme.Order.from_json(URL, doc)

    async def directory(self) -> acme.Directory:
        self._request("directory", "GET directory")
        return acme.Directory.from_json({
            "newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
            "newOrder": "https://ca.test/order",
            "meta": {"auto-renewal": {"min-lifetime": 60, "max-duration": 31536000,
                                      "allow-certificate-get": True}}})

    async def new_order(self, names: list[str], auto_renewal: acme.AutoRenewal | None = None,
                        **kw: Any) -> acme.Order:
        self._request("new_order", "NEW-ORDER " + ",".join(names))
        assert auto_renewal is not None, "a native STAR order carries auto-renewal"
        self.state, self.names, self.placed = "pending", tuple(names), self.placed + 1
        self.auto_renewal = {"end-date": timeutil.format_time(auto_renewal.end_date),
                             "lifetime": auto_renewal.lifetime}
        pending = self.failures.get("new_order_answer")
        if pending:
            raise pending.pop(0)
        return self.order()

    async def list_orders(self) -> list[str]:
        self._request("list", "LIST orders")
        return [URL] if self.placed else []

    async def get_order(self, url: str) -> acme.Order:
        self._request("get_order", f"GET {url}")
        return self.order()

    async def wait_order(self, url: str) -> acme.Order:
        self._request("wait", f"WAIT {url}")
        if self.state == "processing":
            self.state = self.finalized
        return self.order()

    async def solve_authorizations(self, order: acme.Order, solver: Any) -> None:
        self._request("dns01", f"DNS-01 {order.url}")
        self.state = "ready"

    async def finalize(self, order: acme.Order, csr_der: bytes) -> acme.Order:
        self._request("finalize", f"FINALIZE {order.url}")
        self.csr_der, self.state = csr_der, self.finalized
        return self.order()

    async def cancel_order(self, url: str) -> acme.Order:
        self.requests.append(f"CANCEL {url}")
        answer = self.cancel_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        self.state = answer.status
        return answer

    async def close(self) -> None:
        pass


def order(status: str) -> acme.Order:
    """The order of a fresh :class:`FakeCa` in ``status``."""
    return FakeCa(status).order()


class Fakes:
    """A StarOrder's (or, with ``plural``, a StarCertificate's) status sub-resource (a JSON
    merge patch per write) and its Events."""

    def __init__(self, status: Mapping[str, Any], plural: str = c.STARORDER_PLURAL) -> None:
        self.plural = plural
        self.status = dict(status)
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    async def patch_status(self, plural: str, namespace: str | None, name: str,
                           fields: Mapping[str, Any]) -> dict[str, Any]:
        assert (plural, namespace, name) == (self.plural, "ns", "web")
        self.patches.append(dict(fields))
        merge(self.status, fields)
        return {"status": dict(self.status)}

    async def json_patch_status(self, plural: str, namespace: str | None, name: str,
                                ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The status JSON Patch (the Ready mirror of a StarCertificate's loop); recorded in
        ``patches`` as the fields it set when it applied."""
        assert (plural, namespace, name) == (self.plural, "ns", "web")
        apply_status_ops(self.status, ops)
        self.patches.append({op["path"].removeprefix("/status/"): op["value"] for op in ops
                             if op["op"] in ("add", "replace")})
        return {"status": dict(self.status)}

    def post(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    def job(self, spec: Mapping[str, Any] | None = None,
            annotations: Mapping[str, str] | None = None, generation: int = 1,
            **fields: Any) -> OrderJob:
        """``fields``: further OrderJob collaborators (a Secret store, an owner lookup)."""
        body = {"apiVersion": c.API_VERSION, "kind": c.STARORDER_KIND,
                "metadata": {"namespace": "ns", "name": "web", "uid": "uid-web",
                             "generation": generation, "annotations": dict(annotations or {})},
                "spec": {"secretName": "tls", "csrTemplateName": "t", **(spec or {})}}
        recorder = StatusRecorder("ns", "web", self.status, generation, self.post,
                                  logging.getLogger("test"), patch_status=self.patch_status)
        return OrderJob(namespace="ns", name="web", body=body, recorder=recorder,
                        default_namespace="star-operator",
                        backoff=Backoff(first=1.0, cap=600.0, spread=0.0), **fields)

    def phases(self) -> list[str]:
        """The phases written, in order."""
        return [p["phase"] for p in self.patches if "phase" in p]

    def ready(self) -> tuple[str, str]:
        """(status, reason) of the Ready condition as it stands."""
        cond = next(x for x in self.status["conditions"] if x["type"] == "Ready")
        return cond["status"], cond["reason"]


class FakeSecrets:
    """Secrets by name (any namespace) as the API server keeps them: a create of an existing
    one is a 409, a replace of a missing one a 404, of an older resourceVersion a 409, answers
    are copies. Every call recorded (``calls``); ``fail_next`` errors answer the next writes."""

    def __init__(self, *secrets: dict[str, Any]) -> None:
        self.secrets = {s["metadata"]["name"]: s for s in secrets}
        self.calls: list[str] = []
        self.fail_next: list[k8s.ApiError] = []

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(f"get {name}")
        found = self.secrets.get(name)
        return copy.deepcopy(found) if found is not None else None

    def _failing(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(f"create {body['metadata']['name']}")
        self._failing()
        if body["metadata"]["name"] in self.secrets:
            raise k8s.Conflict(409, "AlreadyExists", f"secrets {body['metadata']['name']!r} "
                                                      "already exists")
        stored = copy.deepcopy(dict(body))
        stored["metadata"] = {**stored["metadata"], "resourceVersion": "1"}
        self.secrets[body["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    async def replace_secret(self, namespace: str, name: str,
                             body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(f"replace {name}")
        self._failing()
        stored = self.secrets.get(name)
        if stored is None:
            raise k8s.NotFound(404, "NotFound", f"secrets {name!r} not found")
        version = stored["metadata"].get("resourceVersion")
        if body["metadata"].get("resourceVersion") not in (None, version):
            raise k8s.Conflict(409, "Conflict", "the object has been modified")
        written = copy.deepcopy(dict(body))
        written["metadata"] = {**written["metadata"], "resourceVersion": str(int(version or 0) + 1)}
        self.secrets[name] = written
        return copy.deepcopy(written)  # the API server's answer: a copy, as over the wire

    def edit(self, name: str, **data: str) -> None:
        """Someone else's write to a Secret: ``data`` merged in, a new resourceVersion."""
        stored = self.secrets[name]
        stored["data"] = {**(stored.get("data") or {}), **data}
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]
                                                        .get("resourceVersion") or 0) + 1)


class FakeObjects:
    """Custom objects by (plural, namespace, name); every call recorded."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.calls: list[str] = []

    def put(self, plural: str, namespace: str | None, body: dict[str, Any]) -> None:
        self.objects[(plural, namespace, body["metadata"]["name"])] = body

    async def get_object(self, plural: str, namespace: str | None,
                         name: str) -> dict[str, Any] | None:
        self.calls.append(f"get {plural}/{name}")
        return self.objects.get((plural, namespace, name))

    async def create_object(self, plural: str, namespace: str | None,
                            body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(f"create {plural}/{body['metadata']['name']}")
        if (plural, namespace, body["metadata"]["name"]) in self.objects:
            raise k8s.Conflict(409, "AlreadyExists", f"{plural} {body['metadata']['name']!r} "
                                                      "already exists")
        self.put(plural, namespace, dict(body))
        return dict(body)

    async def patch_object(self, plural: str, namespace: str | None, name: str,
                           patch: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(f"patch {plural}/{name}")
        merge(self.objects[(plural, namespace, name)], patch)
        return self.objects[(plural, namespace, name)]


def lookup(alive: set[ownership.Owner]) -> ownership.OwnerLookup:
    """An owner lookup that finds exactly ``alive``."""
    async def exists(owner: ownership.Owner) -> bool:
        return owner in alive
    return exists
