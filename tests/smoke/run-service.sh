#!/usr/bin/env bash
# Starts the service exactly as the README says, waits for readiness, and checks one prediction.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${PORT:-18080}
store=$(mktemp -d)
log=$(mktemp)
# JSON console logs, as in containers: checked below. gRPC on the next port, not the default 8081 another run may hold.
Uncertainty__ModelStore="$store" Uncertainty__LogFormat=json Uncertainty__GrpcPort=$((port + 1)) dotnet run --project src/Uncertainty.Api --urls "http://127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
tools=""
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$store" ${tools:+"$tools"}; }
trap cleanup EXIT

for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "smoke: the service exited before it was ready" >&2; exit 1; fi
  sleep 1
done

# The default model: Boston housing, one row of boston.csv (medv 24.0).
boston=$(curl -fsS -X POST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' \
  -d '{"inputs": [[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]], "samples": 200, "seed": 42}')
echo "smoke: $boston"
echo "$boston" | grep -q '"model":"boston"' || { echo "smoke: /predict did not answer with the Boston model" >&2; exit 1; }

# The 1-D toy model: uncertainty grows away from its training range [-1, 1].
response=$(curl -fsS -X POST "http://127.0.0.1:$port/models/toy/predict" -H 'content-type: application/json' \
  -d '{"inputs": [[0.0], [3.0]], "samples": 200, "seed": 42}')
echo "smoke: $response"
# Both rows carry a mean and an epistemic variance, and the variance is larger far from the training data.
echo "$response" | grep -q '"epistemicVariance"' || { echo "smoke: no epistemicVariance in the response" >&2; exit 1; }
awk -v r="$response" 'BEGIN {
  n = split(r, parts, "\"epistemicVariance\":\\[");
  split(parts[2], a, "]"); split(parts[3], b, "]");
  if (n != 3 || !(b[1] > 5 * a[1])) { print "smoke: variance at x=3 is not 5x that at x=0" > "/dev/stderr"; exit 1 }
}'
# The same model through the Open Inference Protocol's REST endpoint: the same numbers as /predict.
oip=$(curl -fsS -X POST "http://127.0.0.1:$port/v2/models/toy/infer" \
  -d '{"parameters": {"samples": 200, "seed": 42}, "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 1], "data": [0.0, 3.0]}], "outputs": [{"name": "epistemic_variance"}]}')
echo "smoke: $oip"
expected=$(sed -E 's/.*"epistemicVariance":\[([^]]*)\].*"epistemicVariance":\[([^]]*)\].*/\1,\2/' <<<"$response")
grep -qF "\"data\":[$expected]" <<<"$oip" || { echo "smoke: /v2/models/toy/infer did not give /predict's epistemic variances ($expected)" >&2; exit 1; }
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
grep -q '^uncertainty_mc_samples_total' <<<"$metrics" || { echo "smoke: /metrics lacks the service's metrics" >&2; exit 1; }
# Per model and version: the toy prediction above counts in its own series.
grep -q '^uncertainty_inference_request_success_total{model="toy",version="1"} [1-9]' <<<"$metrics" \
  || { echo "smoke: /metrics lacks the toy model's per-version request series" >&2; exit 1; }
# The exposition passes promtool's lint (Debian's prometheus package; only promtool is unpacked, no server is installed or started).
promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
  tools=$(mktemp -d) && chmod 755 "$tools"
  (cd "$tools" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; } && dpkg-deb -x prometheus_*.deb .)
  promtool="$tools/usr/bin/promtool"
fi
lint=$("$promtool" check metrics <<<"$metrics" 2>&1) || { echo "$lint"; echo "smoke: promtool check metrics failed" >&2; exit 1; }
echo "smoke: promtool check metrics: clean ($(grep -c '^# TYPE' <<<"$metrics") families)"
grep -q '^{"@t":' "$log" || { cat "$log"; echo "smoke: the console log is not JSON lines" >&2; exit 1; }

# SIGTERM: the service drains and exits cleanly well within the default 30 s grace period.
# dotnet run forwards the signal to the app; its exit code is the app's.
kill -TERM "$pid"
started=$SECONDS
status=0
wait "$pid" || status=$?
trap 'rm -rf "$store" ${tools:+"$tools"}' EXIT
if [ "$status" -ne 0 ] || [ $((SECONDS - started)) -gt 30 ]; then
  tail -20 "$log"; echo "smoke: exit status $status after $((SECONDS - started)) s on SIGTERM" >&2; exit 1
fi
echo "smoke: the README run command serves predictions, logs JSON, exposes metrics and stops cleanly"
