#!/usr/bin/env bash
# Set up (idempotent; the one-time Kubernetes build is cached), then run the demo: a local control
# plane, BIND 9, the STAR CA and the operator; a sample StarOrder whose Secret is renewed before
# your eyes, then cancelled. Ctrl-C tears everything down. Options: --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/python" -m star_devenv.demo "$@"
