#!/usr/bin/env bash
# Lints the service's OpenAPI document, called from .ci/run: starts the service with the README's run command on an
# empty store (as tests/explorer/run.sh does), saves /openapi/v1.json into artifacts/openapi/, and runs Redocly
# (redocly.yaml) and Spectral (spectral:oas, .spectral.yaml), pinned in package-lock.json. Any error fails the step.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${OPENAPI_TEST_PORT:-18650}
out=artifacts/openapi
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
(cd tests/openapi && npm ci --no-audit --no-fund --silent)

store=$(mktemp -d)
log=$(mktemp)
Uncertainty__ModelStore="$store" dotnet run --project src/Uncertainty.Api --urls "http://127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$store"; }
trap cleanup EXIT
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "openapi: the service exited before it was ready" >&2; exit 1; }
  sleep 1
done

mkdir -p "$out"
curl -fsS "http://127.0.0.1:$port/openapi/v1.json" -o "$out/v1.json" || { tail -40 "$log"; exit 1; }
lint=tests/openapi/node_modules/.bin
status=0
"$lint/redocly" lint "$out/v1.json" --config tests/openapi/redocly.yaml --format stylish 2>&1 | tee "$out/redocly.txt" || status=1
"$lint/spectral" lint "$out/v1.json" --ruleset tests/openapi/.spectral.yaml --fail-severity error 2>&1 | tee "$out/spectral.txt" || status=1
[ "$status" -eq 0 ] || { echo "openapi: the document has lint errors (see $out/)" >&2; exit 1; }
echo "openapi: Redocly and Spectral find no errors in $out/v1.json"
