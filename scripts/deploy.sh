#!/usr/bin/env bash
# Register every runbook as a Prefect deployment (prefect.yaml) on the server PREFECT_API_URL
# points at (a local `prefect server start`, a self-hosted server, or Prefect Cloud).
# Idempotent: the work pool is created only when missing, deployments are updated in place.
#
#   PREFECT_API_URL=http://127.0.0.1:4200/api scripts/deploy.sh [extra `prefect deploy` args]
#
# Then start a worker in the checkout (FOUNDRY_DR_HOME is where its flow runs start):
#   FOUNDRY_DR_HOME=$PWD .venv/bin/prefect worker start --pool foundry-dr
set -euo pipefail
cd "$(dirname "$0")/.."
PREFECT="${PREFECT:-.venv/bin/prefect}"
POOL="${FOUNDRY_DR_WORK_POOL:-foundry-dr}"
export PREFECT_CLI_PROMPT=false  # never ask questions: this runs from CI and scripts

# `--pool NAME` is ours, not prefect's: `prefect deploy --all` ignores CLI options for several
# deployments ("These options will be ignored") and prefect.yaml names the pool. So the pool
# chosen here is written into a copy of prefect.yaml, deployed with --prefect-file.
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pool) POOL="${2:?--pool needs a work pool name}"; shift 2 ;;
    --pool=*) POOL="${1#--pool=}"; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

if [[ -z "${PREFECT_API_URL:-}" ]]; then
  echo "deploy.sh: PREFECT_API_URL is not set; using the current Prefect profile's API" >&2
fi

if "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
  echo "work pool $POOL exists"
else
  "$PREFECT" work-pool create "$POOL" --type process
fi

PREFECT_FILE=prefect.yaml
if [[ "$POOL" != foundry-dr ]]; then
  PREFECT_FILE=".prefect-deploy-$$.yaml"  # next to prefect.yaml: entrypoints stay relative to the checkout
  trap 'rm -f "$PREFECT_FILE"' EXIT
  "$(dirname "$PREFECT")/python" - "$POOL" "$PREFECT_FILE" <<'PY'
import sys

import yaml

pool, out = sys.argv[1], sys.argv[2]
with open("prefect.yaml") as fh:
    doc = yaml.safe_load(fh)
for deployment in doc["deployments"]:
    deployment["work_pool"] = {**(deployment.get("work_pool") or {}), "name": pool}
with open(out, "w") as fh:
    yaml.safe_dump(doc, fh, sort_keys=False)
PY
fi

"$PREFECT" deploy --all --no-prompt --prefect-file "$PREFECT_FILE" ${ARGS[@]+"${ARGS[@]}"}

cat <<MSG
deployed. Start a worker in this checkout:
  FOUNDRY_DR_HOME=$PWD $PREFECT worker start --pool $POOL
or serve every runbook from one process (no worker):
  $(dirname "$PREFECT")/python deployments/serve.py
MSG
