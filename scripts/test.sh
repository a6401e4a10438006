#!/usr/bin/env bash
# Set up everything the suite needs (idempotent; the one-time Kubernetes build is cached), then
# run the whole suite: unit tests, integration tests against a real control plane, BIND 9 and the
# STAR CA over HTTPS, and the Helm end-to-end tests. Extra arguments go to pytest.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" || exit $?
cd "$ROOT"
# pytest's temporary files go to a directory of this run's own, removed afterwards, so a run
# leaves nothing behind in /tmp (the fixtures remove their own state and processes).
basetemp="$(mktemp -d -t star-tests-XXXXXX)"
trap 'rm -rf "$basetemp"' EXIT
# Two pytest-xdist workers, each with its own control plane, BIND and CAs: the suite mostly waits
# on real timers (certificate lifetimes, backoffs), so one worker leaves the cores idle three
# quarters of the time. Every test on the real node runs in one worker (tests/conftest.py).
# STAR_TEST_WORKERS=0 runs it in this process, one test after another, which is the default
# against an existing cluster (STAR_USE_EXISTING_CLUSTER=1): both workers would share it.
if [ "${STAR_USE_EXISTING_CLUSTER:-}" = "1" ]; then default_workers=0; else default_workers=2; fi
workers="${STAR_TEST_WORKERS:-$default_workers}"
.venv/bin/python -m pytest -p no:cacheprovider -ra --durations=15 --basetemp="$basetemp/t" \
    -n "$workers" --dist loadgroup "$@"
code=$?
if [ $code -eq 5 ]; then
    echo "pytest collected no tests: failing, an empty run proves nothing" >&2
    exit 1
fi
exit $code
