#!/usr/bin/env bash
# The main job: a DR drill of the sandbox plan against a local two-region sandbox, on
# Prefect's embedded server. Starts the sandbox, seeds the primary, runs the runbooks that
# exist, and always stops the sandbox again (no process left behind).
set -euo pipefail
cd "$(dirname "$0")/.."
PLAN="${1:-deployments/plans/sandbox.yaml}"
BIN=.venv/bin
export FOUNDRY_DR_SANDBOX_DIR="${FOUNDRY_DR_SANDBOX_DIR:-$PWD/.sandbox/drill}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
unset PREFECT_API_URL  # the demo runs on Prefect's embedded server, whatever the shell points at
export PREFECT_HOME="${PREFECT_HOME:-$PWD/.sandbox/prefect-home}"

cleanup() { "$BIN/foundry-dr" sandbox down --purge >/dev/null 2>&1 || true; }
trap cleanup EXIT

start=$(date +%s)
"$BIN/foundry-dr" plan validate "$PLAN"
"$BIN/foundry-dr" sandbox up --detach
"$BIN/foundry-dr" sandbox seed
if "$BIN/foundry-dr" drill --plan "$PLAN" --approve; then
  status=0
else
  status=$?
fi
echo "drill wall time: $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
