#!/bin/sh
# Quick start: install what is missing, build, and run `warden serve` on config/warden.yaml
# (127.0.0.1:8080, data in ./data, the built-in echo provider — no provider key needed).
# On the first run it creates a client key named "quickstart" and prints it once.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
CONFIG="${WARDEN_CONFIG:-config/warden.yaml}"
if ! build/src/warden keys list --config "$CONFIG" | grep -q ' active'; then
  echo "No client key yet; creating one named 'quickstart' (shown once, keep it):" >&2
  build/src/warden keys create --name quickstart --env development --config "$CONFIG"
fi
exec build/src/warden serve --config "$CONFIG"
