"""The demo's two-cluster mode (`--two-clusters`), non-interactive: both sides speak, the CDN's
Secret is renewed for its own key, the DNO's delete ends it with the reason on the CDN's side,
and nothing of either cluster is left running."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_demo import assert_teardown_steps, assert_torn_down, run_demo


def processes_under(*directories: str) -> list[str]:
    """Command lines of the processes (of any user we can see) that name one of ``directories``:
    etcd, kube-apiserver, BIND and star-ca all take their state directory as an argument."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        if any(d in argv for d in directories):
            found.append(argv)
    return found


@pytest.mark.cluster
@pytest.mark.dns
def test_two_clusters_shows_each_side_then_the_dno_takes_it_back() -> None:
    out = run_demo("--two-clusters", timeout=300, rotations=1)
    said = out.splitlines()
    dno = [line for line in said if "] DNO> " in line]
    cdn = [line for line in said if "] CDN> " in line]
    assert any(re.search(r"Delegation \S+ bound to the CDN's account https://127\.0\.0\.1:\d+/"
                         r"acme/acct/", line) for line in dno), out
    order = next(line for line in dno if "(made by the front end)" in line)
    assert "spec.csr from the CDN" in order and "(the key in the CDN's Secret)" in order, order
    assert any(line.endswith("holding the CDN's private key: none") for line in dno), out

    certs = re.findall(r"CDN> edge/www-dno-tls (?:first certificate|rotation \d+)\s+serial="
                       r"([0-9a-f]+) notBefore=\S+ notAfter=\S+", out)
    assert len(certs) >= 2 and len(set(certs)) == len(certs), out
    assert any("DNO> Delegation gone; star-certificate URL now answers: 403 "
               "autoRenewalCanceled" in line for line in dno), out
    canceled = next(line for line in cdn if "StarOrder edge/www-dno Ready=False" in line)
    assert "Canceled" in canceled and "autoRenewalCanceled" in canceled, canceled
    kept = re.search(r"CDN> Secret edge/www-dno-tls keeps serial=([0-9a-f]+)", out)
    assert kept is not None and kept.group(1) == certs[-1], out

    assert_teardown_steps(out, "stopping the DNO's delegation front end (pid ",
                          "stopping the CDN's operator (pid ", "stopping the DNO's operator (pid ",
                          "stopping star-ca (pid ", "stopping BIND 9",
                          "stopping the control plane", "removing /tmp/star-demo-",
                          "stopping the CDN's control plane (/tmp/star-cp-")
    assert_torn_down(out)
    cdn_dir = re.search(r"CDN> control plane \S+; export KUBECONFIG=(/tmp/star-cp-[^/]+)/", out)
    dno_dir = re.search(r"export KUBECONFIG=(/tmp/star-demo-[^/]+)/", out)
    assert cdn_dir is not None and dno_dir is not None, out
    assert not Path(cdn_dir.group(1)).exists()
    assert processes_under(cdn_dir.group(1), dno_dir.group(1)) == []
