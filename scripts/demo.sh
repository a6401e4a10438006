#!/usr/bin/env bash
# Set up (idempotent; the one-time Kubernetes build is cached), then run the demo: a local control
# plane, BIND 9 and a real node; the chart's operator and STAR CA as pods; a sample StarOrder whose
# certificate a CDN edge pod serves, renewed before your eyes, then cancelled. Where no node can
# run (or with --no-node): operator and CA as host processes, the Secret watched instead.
# Ctrl-C tears everything down. Options: --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/python" -m star_devenv.demo "$@"
