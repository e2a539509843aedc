#!/usr/bin/env bash
# Generated clients, called from .ci/run: starts the service with the README's run command on an empty store,
# downloads /openapi/v1.json and generates three clients from it (nothing generated is committed): NSwag (C#),
# Kiota (C#) and openapi-typescript + openapi-fetch. Each program predicts and replays the seed, lists the models,
# imports a safetensors file (multipart) and runs a small training job; one line per client says what passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${CLIENTS_TEST_PORT:-18650}
command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
dotnet tool restore >/dev/null

store=$(mktemp -d)
work=$(mktemp -d)
log=$(mktemp)
Uncertainty__ModelStore="$store" dotnet run --project src/Uncertainty.Api --urls "http://127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$store" "$work"; }
trap cleanup EXIT
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "clients: the service exited before it was ready" >&2; exit 1; }
  sleep 1
done

url="http://127.0.0.1:$port"
doc="$work/openapi.json"
curl -fsS "$url/openapi/v1.json" -o "$doc"
fail() { tail -40 "$log"; echo "clients: $1 failed" >&2; exit 1; }

dir=tests/clients
dotnet nswag openapi2csclient "/input:$doc" "/output:$dir/nswag/generated/UncertaintyClient.cs" \
  /namespace:Uncertainty.Clients.Nswag /classname:UncertaintyClient /jsonLibrary:SystemTextJson >/dev/null || fail "NSwag generation"
dotnet build "$dir/nswag" -nologo -v quiet >/dev/null || { dotnet build "$dir/nswag" -nologo -v quiet; fail "the NSwag client's build"; }
dotnet run --no-build --project "$dir/nswag" -- "$url" || fail "the NSwag client"

dotnet kiota generate -l CSharp -d "$doc" -o "$dir/kiota/generated" -n Uncertainty.Clients.Kiota.Generated -c UncertaintyClient \
  --clean-output --log-level Error >/dev/null || fail "Kiota generation"
dotnet build "$dir/kiota" -nologo -v quiet >/dev/null || { dotnet build "$dir/kiota" -nologo -v quiet; fail "the Kiota client's build"; }
dotnet run --no-build --project "$dir/kiota" -- "$url" || fail "the Kiota client"

(cd "$dir/typescript" && npm ci --no-audit --no-fund --silent && node generate.mjs "$doc" && npx tsc --noEmit && npx tsc) || fail "the TypeScript client's generation or type check"
node "$dir/typescript/dist/main.js" "$url" || fail "the TypeScript client"
