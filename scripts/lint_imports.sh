#!/usr/bin/env bash
# The layer rules (pyproject.toml [tool.importlinter]) checked on the *installed* layout.
#
# In the checkout, foundry_dr.flows / .tasks / .deployments live in the top-level folders the
# design fixes (flows/, tasks/, deployments/) and are mapped by pyproject.toml; import-linter
# (grimp) reads a package's folder, so it would not see them. Installed, they are plain
# subfolders of foundry_dr/: this installs both distributions into a scratch folder (from a copy,
# so no build output lands in the checkout) and lints that.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/.venv/bin}
# Absolute: the linter runs from the scratch folder (make passes BIN=.venv/bin).
case $bin in /*) ;; *) bin=$root/$bin ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
for item in pyproject.toml README.md foundry_dr flows tasks deployments sandbox; do
  cp -r "$root/$item" "$work/src/"
done
find "$work/src" \( -name __pycache__ -o -name '*.egg-info' -o -name build \) -prune -exec rm -rf {} +
"$bin/python" -m pip install --quiet --no-deps --no-compile --target "$work/site" "$work/src" "$work/src/sandbox" \
  > "$work/pip.log" 2>&1 || { cat "$work/pip.log"; exit 1; }
cd "$work/site"
PYTHONPATH="$work/site" "$bin/lint-imports" "$root/pyproject.toml" --no-cache
