#!/bin/sh
# Copy the CRDs from crds/ (the single source of truth) into the Helm chart's crds/ folder.
#
# Helm installs files under a chart's crds/ folder before the templates, and does not follow
# symlinks reliably, so the chart carries byte-identical copies. tests/e2e/test_chart_crds.py
# fails whenever they differ; run this script after editing crds/ to fix that.
#
#   scripts/sync-chart-crds.sh          copy, and delete chart copies whose source is gone
#   scripts/sync-chart-crds.sh --check  only report differences; exit 1 if there are any
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/crds"
dst="$root/charts/star-operator/crds"
check=0
[ "${1:-}" = "--check" ] && check=1

status=0
mkdir -p "$dst"
for f in "$src"/*.yaml; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$dst/$name"; then
        if [ "$check" = 1 ]; then
            echo "differs: charts/star-operator/crds/$name (source crds/$name)"; status=1
        else
            cp "$f" "$dst/$name"; echo "copied crds/$name"
        fi
    fi
done
for f in "$dst"/*.yaml; do
    [ -e "$f" ] || continue
    name=$(basename "$f")
    if [ ! -e "$src/$name" ]; then
        if [ "$check" = 1 ]; then
            echo "stale: charts/star-operator/crds/$name (no crds/$name)"; status=1
        else
            rm "$f"; echo "removed stale charts/star-operator/crds/$name"
        fi
    fi
done
exit $status
