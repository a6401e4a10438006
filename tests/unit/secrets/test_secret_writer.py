"""The Secret writer against the shared fake Secret store (tests/unit/ordering/fakes.py): one
conditional write, re-read on 409, no write when nothing changes, refusals named, and another
owner's Secret left alone."""

from __future__ import annotations

import asyncio

import pytest

from star_operator import constants as c
from star_operator import k8s
from star_operator.secrets import ownership, payload, writer
from tests.unit.ordering.fakes import FakeSecrets

OWNER = ownership.Owner(c.STARORDER_KIND, "ns", "web", "uid-web")


async def _exists(owner: ownership.Owner) -> bool:
    return True  # every recorded owner still exists


CLAIM = ownership.Claim(OWNER, _exists)


def _write(store: FakeSecrets, material: payload.TlsMaterial) -> writer.WriteResult:
    return asyncio.run(writer.write_tls_secret("ns", "tls", material, {}, claim=CLAIM,
                                               store=store))


def test_stage_then_install_moves_the_key_in_one_write_each() -> None:
    store = FakeSecrets()
    staged = asyncio.run(writer.stage_private_key("ns", "tls", b"KEY", claim=CLAIM,
                                                  store=store))
    assert staged.changed and store.calls == ["get tls", "create tls"]
    data = store.secrets["tls"]["data"]
    assert payload.unb64(data[c.STAGED_KEY]) == b"KEY" and data[c.TLS_KEY] == ""
    assert store.secrets["tls"]["metadata"]["annotations"][c.OWNER_UID_ANNOTATION] == "uid-web"

    store.calls.clear()
    result = _write(store, payload.TlsMaterial(b"CHAIN", b"KEY", b"CA"))
    assert result.changed and store.calls == ["get tls", "replace tls"]
    data = store.secrets["tls"]["data"]
    assert c.STAGED_KEY not in data  # the same write that installs the pair drops the stage
    assert (payload.unb64(data[c.TLS_CRT]), payload.unb64(data[c.TLS_KEY])) == (b"CHAIN",
                                                                                b"KEY")
    assert result.resource_version == store.secrets["tls"]["metadata"]["resourceVersion"]


def test_the_same_data_again_is_no_write() -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"CHAIN", b"KEY"))
    store.calls.clear()
    assert not _write(store, payload.TlsMaterial(b"CHAIN", b"KEY")).changed
    assert store.calls == ["get tls"]


def test_a_conflict_re_reads_and_re_applies() -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"OLD", b"KEY"))
    store.calls.clear()
    store.fail_next = [k8s.Conflict(409, "Conflict", "modified")]
    assert _write(store, payload.TlsMaterial(b"NEW", b"KEY")).changed
    assert store.calls == ["get tls", "replace tls", "get tls", "replace tls"]
    assert payload.unb64(store.secrets["tls"]["data"][c.TLS_CRT]) == b"NEW"


def test_endless_conflicts_give_up_after_a_bound() -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"OLD", b"KEY"))
    store.fail_next = [k8s.Conflict(409, "Conflict", "modified")] * writer.MAX_ATTEMPTS
    with pytest.raises(k8s.Conflict, match="gave up"):
        _write(store, payload.TlsMaterial(b"NEW", b"KEY"))
    assert payload.unb64(store.secrets["tls"]["data"][c.TLS_CRT]) == b"OLD"


@pytest.mark.parametrize("error", [k8s.Conflict(409, "Conflict", "modified"),
                                   k8s.NotFound(404, "NotFound", "secrets \"tls\" not found")])
def test_a_known_version_gone_stale_is_raised_not_re_applied(error: k8s.ApiError) -> None:
    """A rotation's data (its key) was checked against ``known``: after a 409 or 404 on it the
    caller decides again on a fresh read, so the writer neither re-reads nor re-creates."""
    store = FakeSecrets()
    known = _write(store, payload.TlsMaterial(b"OLD", b"KEY")).secret
    assert known == store.secrets["tls"]
    store.calls.clear()
    store.fail_next = [error]
    with pytest.raises(type(error)):
        asyncio.run(writer.write_tls_secret("ns", "tls", payload.TlsMaterial(b"NEW", b"KEY"),
                                            {}, claim=CLAIM, known=known,
                                            reread_on_conflict=False, store=store))
    assert store.calls == ["replace tls"]
    assert payload.unb64(store.secrets["tls"]["data"][c.TLS_CRT]) == b"OLD"


def test_a_secret_deleted_between_read_and_write_is_not_re_created() -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"OLD", b"KEY"))
    store.fail_next = [k8s.NotFound(404, "NotFound", "secrets \"tls\" not found")]
    with pytest.raises(writer.SecretWriteError, match="404"):
        _write(store, payload.TlsMaterial(b"NEW", b"KEY"))
    assert store.calls[-2:] == ["get tls", "replace tls"]


@pytest.mark.parametrize("error,hint", [
    (k8s.ApiError(403, "Forbidden", "secrets is forbidden"), "RBAC"),
    (k8s.ApiError(422, "Invalid", "field is immutable"), "immutable"),
])
def test_a_refused_write_names_the_secret_and_the_cause(error: k8s.ApiError,
                                                        hint: str) -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"OLD", b"KEY"))
    store.fail_next = [error]
    with pytest.raises(writer.SecretWriteError, match=f"Secret ns/tls: .*{hint}"):
        _write(store, payload.TlsMaterial(b"NEW", b"KEY"))
    assert payload.unb64(store.secrets["tls"]["data"][c.TLS_CRT]) == b"OLD"


def test_a_secret_the_operator_did_not_create_is_not_written() -> None:
    foreign = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
               "metadata": {"name": "tls", "namespace": "ns", "resourceVersion": "3"},
               "data": {c.TLS_CRT: payload.b64(b"THEIRS"), c.TLS_KEY: payload.b64(b"K")}}
    store = FakeSecrets(foreign)
    with pytest.raises(writer.SecretConflictError):
        _write(store, payload.TlsMaterial(b"MINE", b"KEY"))
    assert store.calls == ["get tls"]
    assert store.secrets["tls"]["data"] == foreign["data"]


def test_another_owners_secret_is_not_written() -> None:
    store = FakeSecrets()
    _write(store, payload.TlsMaterial(b"FIRST", b"KEY"))
    other = ownership.Claim(ownership.Owner(c.STARORDER_KIND, "ns", "copycat", "uid-2"), _exists)
    with pytest.raises(writer.SecretConflictError):
        asyncio.run(writer.write_tls_secret("ns", "tls", payload.TlsMaterial(b"X", b"Y"), {},
                                            claim=other, store=store))
    assert payload.unb64(store.secrets["tls"]["data"][c.TLS_CRT]) == b"FIRST"
