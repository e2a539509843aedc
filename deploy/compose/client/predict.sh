#!/usr/bin/env bash
# The compose example client: waits for the service, then posts one Boston row to /predict over plain
# bash /dev/tcp (the .NET images have no curl) and prints the JSON answer. Exit 0 when it holds a mean and
# an epistemic variance.
set -uo pipefail
host=${API_HOST:-api}
port=${API_PORT:-8080}

request() { # method path [body]
  local body=${3:-}
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$2" "$host" "${#body}" "$body" >&3
  cat <&3
  exec 3<&-
}

for _ in $(seq 1 120); do
  request GET /health/ready 2>/dev/null | head -n1 | grep -q ' 200 ' && break
  sleep 1
done

response=$(request POST /predict '{"inputs": [[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]], "samples": 200, "seed": 42}')
body=${response#*$'\r\n\r\n'}
echo "$body"
grep -q '"mean"' <<<"$body" && grep -q '"epistemicVariance"' <<<"$body"
