"""`LossyNamespace`: a network namespace joined to this one by a veth pair, whose traffic on
chosen TCP ports loses packets at random; `NamespacedCA`: star-ca running inside it.

Random loss is ``iptables -m statistic --mode random --probability P -j DROP`` inside the
namespace (this machine's kernel has no netem qdisc; see shared/reference/fault-injection.md).
Only the namespace's own tables are touched, so nothing outside the test sees the fault, and
deleting the namespace removes the rules, the veth pair and the addresses at once.

Needs root (``ip netns``, iptables); without it the first command fails with its own message,
so a test that needs the fault fails clearly instead of passing without it.
"""
from __future__ import annotations

import ipaddress
import os
import random
import re
import subprocess
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from star_devenv.ca import LocalCA

_RANGE = ipaddress.ip_network("10.213.0.0/16")  # /30 links carved out of it at random


def _run(argv: Sequence[str]) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}; root needed): "
                           f"{proc.stderr.strip()}")
    return proc.stdout


def _free_link() -> ipaddress.IPv4Network:
    """A /30 in :data:`_RANGE` that no interface here uses yet."""
    used = _run(["ip", "-4", "-o", "addr", "show"])
    while True:
        link = ipaddress.ip_network(
            (int(_RANGE.network_address) + 4 * random.randrange(_RANGE.num_addresses // 4), 30))
        if f" {link[1]}/" not in used and f" {link[2]}/" not in used:
            return link  # type: ignore[return-value]


class LossyNamespace:
    """``create()`` makes namespace ``name`` with address ``inside`` on a veth pair whose other
    end, here, has ``outside``; ``lose(port, p)`` drops that share of TCP packets to and from
    ``port`` inside; ``dropped()`` counts what was dropped; ``delete()`` undoes everything."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
        self.name, self._veth_out, self._veth_in = f"star-fault-{tag}", f"sfo{tag}", f"sfi{tag}"
        link = _free_link()
        self.outside, self.inside = str(link[1]), str(link[2])
        self._created = False

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec`` execs it: same PID)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def create(self) -> LossyNamespace:
        _run(["ip", "netns", "add", self.name])
        self._created = True
        try:
            _run(["ip", "link", "add", self._veth_out, "type", "veth", "peer", "name",
                  self._veth_in])
            _run(["ip", "link", "set", self._veth_in, "netns", self.name])
            _run(["ip", "addr", "add", f"{self.outside}/30", "dev", self._veth_out])
            _run(["ip", "link", "set", self._veth_out, "up"])
            _run(["ip", "-n", self.name, "addr", "add", f"{self.inside}/30", "dev",
                  self._veth_in])
            _run(["ip", "-n", self.name, "link", "set", self._veth_in, "up"])
            _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        except BaseException:
            self.delete()
            raise
        return self

    def lose(self, port: int, probability: float) -> None:
        """Drop ``probability`` of the TCP packets arriving at and leaving from ``port``."""
        for chain, match in (("INPUT", "--dport"), ("OUTPUT", "--sport")):
            _run(self.exec_argv(["iptables", "-A", chain, "-p", "tcp", match, str(port),
                                 "-m", "statistic", "--mode", "random", "--probability",
                                 str(probability), "-j", "DROP"]))

    def dropped(self) -> int:
        """Packets the loss rules have dropped so far (iptables' counters)."""
        saved = _run(self.exec_argv(["iptables-save", "-c"]))
        return sum(int(m.group(1)) for m in re.finditer(r"^\[(\d+):\d+\] .*-j DROP$", saved,
                                                           re.MULTILINE))

    def delete(self) -> None:
        """The namespace, its rules and the veth pair (both ends go with it)."""
        if self._created:
            _run(["ip", "netns", "del", self.name])
            self._created = False

    def __enter__(self) -> LossyNamespace:
        return self.create()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.delete()


class NamespacedCA(LocalCA):
    """star-ca serving on the namespace's ``inside`` address, from inside it (its serving
    certificate names that address and 127.0.0.1, so a relay on loopback can front it)."""

    def __init__(self, netns: LossyNamespace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns
        self.host = netns.inside

    def argv(self) -> list[str]:
        return self.netns.exec_argv(super().argv())
