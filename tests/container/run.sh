#!/usr/bin/env bash
# Builds the real Dockerfile and runs the image as a user would, with podman and local stand-ins for the
# official .NET images (no Docker engine or registry here). Checks: non-root uid, read-only root with a
# volume and a tmpfs, readiness, a prediction's mean and epistemic variance, the HEALTHCHECK command, a model
# trained through the API surviving a restart on the volume, a clean SIGTERM exit within the grace period,
# and docker-compose.yml brought up with its example client calling the service over the compose network.
set -euo pipefail
cd "$(dirname "$0")/../.."
test=container
source tests/container/lib.sh
started=$SECONDS
name=uncertainty-ci
volume=uncertainty-ci-data
port=${CONTAINER_TEST_PORT:-18181}
on_failure() { podman logs "$name" 2>&1 | tail -30; }

cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
  (cd tests/container && UNCERTAINTY_PORT=$((port + 1)) UNCERTAINTY_GRPC_PORT=$((port + 2)) podman-compose -p uncertainty-ci-compose -f ../../docker-compose.yml down -v >/dev/null 2>&1) || true
}
trap cleanup EXIT

say "preparing podman and the stand-in base images"
prepare_podman
build_image

start() {
  # Without systemd podman cannot schedule HEALTHCHECKs and says so on every start; the check is run by hand below.
  podman run -d --name "$name" --read-only --tmpfs /tmp -v "$volume:/data" -p "127.0.0.1:$port:8080" "$image" 2> >(grep -v systemd >&2) >/dev/null
  wait_ready "$port" 120 running "$name"
}
running() { [ "$(podman inspect "$1" --format '{{.State.Running}}')" = true ]; }

cleanup
podman volume create "$volume" >/dev/null
start
uid=$(podman exec "$name" id -u)
[ "$uid" = 1654 ] || fail "runs as uid $uid, not the image's non-root user 1654"
if podman exec "$name" touch /app/written 2>/dev/null; then fail "the root filesystem is writable"; fi
podman exec "$name" touch /data/probe /tmp/probe || fail "/data or /tmp is not writable"
say "ready; uid $uid; root filesystem read-only; /data and /tmp writable"

row='[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]'
curl -fsS -X POST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' \
  -d "{\"inputs\": [$row], \"samples\": 200, \"seed\": 42}" \
  | json 'p=d["predictions"][0]; m=p["mean"][0]; v=p["epistemicVariance"][0]; assert d["model"]=="boston" and 5<m<50 and v>0, d; print(f"container: prediction mean {m:.2f} k$, epistemic variance {v:.3f}")' \
  || fail "the prediction lacks a plausible mean and epistemic variance"
curl -fsS -X POST "http://127.0.0.1:$port/v2/models/boston/infer" -H 'content-type: application/json' \
  -d "{\"parameters\": {\"samples\": 200, \"seed\": 42}, \"inputs\": [{\"name\": \"input\", \"datatype\": \"FP32\", \"shape\": [1, 13], \"data\": $row}]}" \
  | json 'o={t["name"]: t for t in d["outputs"]}; m=o["mean"]["data"][0]; assert d["model_name"]=="boston" and 5<m<50 and o["mean"]["shape"]==[1, 1], d; print(f"container: Open Inference Protocol mean {m:.2f} k$")' \
  || fail "POST /v2/models/boston/infer (Open Inference Protocol) failed"

# A picture through the built-in image model: SkiaSharp's native decoder must load in the image.
picture=$(mktemp --suffix=.png)
python3 - "$picture" <<'PY'
import struct, sys, zlib
# A 32x32 grey "1": a light vertical bar on black, as the 8x8 digits are drawn.
rows = [bytes(255 if 13 <= x <= 18 and 4 <= y <= 27 else 0 for x in range(32)) for y in range(32)]
raw = b"".join(b"\x00" + r for r in rows)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
curl -fsS -X POST "http://127.0.0.1:$port/models/digits/predict/image?samples=20&seed=1" -F "image=@$picture;type=image/png" \
  | json 'p=d["predictions"][0]; lab=p["label"]; ent=p["entropy"]; assert d["model"]=="digits" and len(p["probabilities"])==10 and p["mutualInformation"]>=0, d; print(f"container: picture classified as {lab} (entropy {ent:.2f})")' \
  || fail "the digits model did not classify an uploaded PNG"
rm -f "$picture"

podman healthcheck run "$name" || fail "the image's HEALTHCHECK command failed"
say "HEALTHCHECK passes"

job=$(train "$port" '{"model": "persisted", "dataset": "concrete", "network": {"hidden": [32]}, "training": {"epochs": 5, "seed": 1}}')
say "trained 'persisted' through the API"

podman restart -t 30 "$name" >/dev/null 2> >(grep -v systemd >&2)
wait_ready "$port" 120 running "$name"
curl -fsS -X POST "http://127.0.0.1:$port/models/persisted/predict" -H 'content-type: application/json' \
  -d '{"inputs": [[540, 0, 0, 162, 2.5, 1040, 676, 28]], "samples": 50, "seed": 1}' \
  | json 'assert d["model"]=="persisted" and d["version"]==1, d' || fail "the trained model did not survive a restart"
curl -fsS "http://127.0.0.1:$port/training-jobs/$job" | json 'assert d["state"]=="succeeded", d' || fail "the job's state did not survive a restart"
say "after a restart the trained model and its job are still there (volume $volume)"

t=$SECONDS
podman stop -t 30 "$name" >/dev/null 2> >(grep -v systemd >&2)
code=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || fail "exit code $code on SIGTERM"
[ $((SECONDS - t)) -lt 30 ] || fail "took $((SECONDS - t)) s to stop (grace period 30 s)"
say "SIGTERM: clean exit (code 0) in $((SECONDS - t)) s"
podman rm -f "$name" >/dev/null 2>&1

say "docker-compose.yml: service and example client"
(
  cd tests/container
  export UNCERTAINTY_PORT=$((port + 1)) UNCERTAINTY_GRPC_PORT=$((port + 2))
  compose=(podman-compose -p uncertainty-ci-compose -f ../../docker-compose.yml)
  podman tag "$image" localhost/uncertainty:latest
  "${compose[@]}" up -d api client >/dev/null 2>&1 || fail "compose up failed"
  client=$(podman ps -a --filter label=com.docker.compose.project=uncertainty-ci-compose --filter label=com.docker.compose.service=client --format '{{.Names}}' | head -1)
  [ -n "$client" ] || fail "compose started no client container"
  code=$(timeout 180 podman wait "$client") || fail "the compose client did not finish"
  podman logs "$client" 2>&1 | tail -1
  [ "$code" = 0 ] || fail "the compose client exited with $code"
  curl -fsS "http://127.0.0.1:$UNCERTAINTY_PORT/health/ready" >/dev/null || fail "the compose service is not reachable on its published port"
  "${compose[@]}" down -v >/dev/null 2>&1
)
say "compose: the client called /predict over the compose network"
say "passed in $((SECONDS - started)) s"
