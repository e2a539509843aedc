#!/usr/bin/env bash
# Browser test of the explorer page, called from .ci/run: installs Debian's chromium if missing, checks that
# the vendored chart library is what explorer/package-lock.json pins, starts the service with the README's run
# command on an empty store, and drives the page with playwright-core. Screenshots: artifacts/explorer/.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${EXPLORER_TEST_PORT:-18600}
shots=artifacts/explorer
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd explorer && npm ci --no-audit --no-fund --silent && npm run --silent check)
(cd tests/explorer && npm ci --no-audit --no-fund --silent)

store=$(mktemp -d)
log=$(mktemp)
Uncertainty__ModelStore="$store" Uncertainty__GrpcPort=$((port + 1)) dotnet run --project src/Uncertainty.Api --urls "http://127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$store"; }
trap cleanup EXIT
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "explorer: the service exited before it was ready" >&2; exit 1; }
  sleep 1
done

mkdir -p "$shots"
node tests/explorer/explorer.test.mjs "http://127.0.0.1:$port" "$shots" || { tail -40 "$log"; exit 1; }
