#!/usr/bin/env bash
# Debian's chromium for the (slow) Prefect UI screenshot test. Idempotent: does nothing when a
# chromium is already on PATH; installs with apt-get when running as root (or with sudo);
# otherwise explains and exits 1, and the test skips.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "install-chromium.sh: chromium is missing and apt-get needs root: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null \
  || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
command -v chromium >/dev/null
