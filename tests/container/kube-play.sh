#!/usr/bin/env bash
# Runs the Kubernetes manifests (deploy/k8s) with `podman kube play`, a real runner of Kubernetes YAML, on the
# image built from the real Dockerfile: the one writer and two read-only readers sharing the model volume.
# podman kube play reads plain YAML, not kustomize: `kubectl kustomize` builds the kustomization (kubectl from
# Debian's kubernetes-client where none is installed) and kube_play.py prepares that for podman: the image set
# to the local build with imagePullPolicy Never, the readers' Deployment of 2 replicas as two one-replica
# Deployments, each pod published on its own loopback port, emptyDirs named per pod, the Secret as a podman secret.
# Service, Ingress and HorizontalPodAutoscaler are dropped: podman kube play does not run those kinds, so the
# routing of writes to the writer and the autoscaling are not tested here (docs/deployment.md says what is).
# Checks: all three pods ready; non-root, read-only root, the readers' /data read-only; a model trained through
# the writer is served by both readers with the writer's numbers; a write sent to a reader gets 403; while the
# writer trains a second version and switches the default back and forth, every answer of the readers, polled
# all along, is a 404 (no model yet) or a 200 whose numbers are exactly those of the version it names.
set -euo pipefail
cd "$(dirname "$0")/../.."
test=kube-play
source tests/container/lib.sh
started=$SECONDS
port=${KUBE_PLAY_PORT:-18191}
work=$(mktemp -d)
play=$work/play.yaml
facts=$work/facts.json
fact() { json "$1" <"$facts"; }
on_failure() {
  for c in $(fact 'print(" ".join(p["container"] for p in d["pods"]))' 2>/dev/null); do
    echo "--- $c"; podman logs "$c" 2>&1 | grep -v RequestLoggingMiddleware | tail -15 | cut -c1-400
  done
}
# The pods, volumes (the claim's and the emptyDirs') and secrets that the rendered YAML names.
teardown() {
  podman kube down "$play" >/dev/null 2>&1 || true
  for p in $(fact 'print(" ".join(p["pod"] for p in d["pods"]))'); do podman pod rm -f "$p" >/dev/null 2>&1 || true; done
  for v in $(fact 'print(" ".join(d["volumes"]))'); do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  for s in $(fact 'print(" ".join(d["secrets"]))'); do podman secret rm "$s" >/dev/null 2>&1 || true; done
}
cleanup() {
  [ -z "${watcher:-}" ] || kill "$watcher" 2>/dev/null || true
  [ ! -f "$facts" ] || teardown
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that a killed run cleans up too
# One line a check, with the seconds it took.
t=$SECONDS
check() { say "ok ($((SECONDS - t)) s): $*"; t=$SECONDS; }

say "preparing podman and the stand-in base images"
prepare_podman
build_image
t=$SECONDS

command -v kubectl >/dev/null || { apt-get update -qq && apt-get install -y -qq kubernetes-client >/dev/null; }
kubectl kustomize deploy/k8s >"$work/built.yaml" || fail "kubectl kustomize refused deploy/k8s"
# The render needs PyYAML: the python3 on PATH if it has it, else Debian's with python3-yaml.
py=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  py=/usr/bin/python3
  "$py" -c 'import yaml' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-yaml >/dev/null; }
fi
"$py" tests/container/kube_play.py render "$work/built.yaml" "$work" "$image" "$port" uncertainty-writer
teardown # what an earlier run that was killed left: podman 4.3 refuses to play a claim whose volume exists
api_key=$(fact 'print(d["apiKey"])')
writer=$(fact 'print(next(p["port"] for p in d["pods"] if p["writer"]))')
read -r -a readers <<<"$(fact 'print(" ".join(str(p["port"]) for p in d["pods"] if not p["writer"]))')"
read -r -a containers <<<"$(fact 'print(" ".join(p["container"] for p in d["pods"]))')"
check "built deploy/k8s with kubectl kustomize ($(grep -c '^kind:' "$work/built.yaml") objects) and prepared it for podman: $(grep -c '^kind:' "$play") to play; dropped, as podman kube play does not run them: $(fact 'print(", ".join(d["dropped"]))')"

for s in $(fact 'print(" ".join(d["secrets"]))'); do podman secret create "$s" "$work/secret-$s.json" >/dev/null; done
# Without systemd podman cannot schedule the healthchecks it makes of liveness probes, and says so per container.
podman kube play "$play" 2> >(grep -v 'systemd\|syslog' >&2) >/dev/null || fail "podman kube play refused the manifests"
check "podman kube play: pods $(fact 'print(", ".join(p["pod"] + " on 127.0.0.1:" + str(p["port"]) for p in d["pods"]))'); volume $(fact 'print(d["volumes"][0])') shared"

running() { [ "$(podman inspect "$1" --format '{{.State.Running}}')" = true ]; }
wait_ready "$writer" 180 running "${containers[0]}"
check "the writer is ready (it trained the built-in models into the volume)"
for i in "${!readers[@]}"; do wait_ready "${readers[$i]}" 120 running "${containers[$((i + 1))]}"; done
check "both readers are ready (they waited for the writer's default model)"

for c in "${containers[@]}"; do
  [ "$(podman exec "$c" id -u)" = 1654 ] || fail "$c does not run as uid 1654"
  if podman exec "$c" touch /app/written 2>/dev/null; then fail "$c: the root filesystem is writable"; fi
  podman exec "$c" touch /tmp/probe || fail "$c: /tmp is not writable"
done
podman exec "${containers[0]}" touch /data/probe || fail "the writer cannot write /data"
for c in "${containers[@]:1}"; do
  if podman exec "$c" touch /data/probe 2>/dev/null; then fail "$c: a reader can write /data"; fi
done
check "all run as uid 1654 on a read-only root with a writable /tmp; /data is writable in the writer only"

# From here on a watcher polls every reader's /models/k8s-probe/predict, one request at a time, from before the
# model exists until after the last default switch, and is the readers' only client of /predict: requests that
# overlap on one replica are merged into one pass, whose last bits may differ (the numbers are then equal only
# to about 1e-9, not identical). The checks below read its answers.
body='{"inputs": [[0.00632, 18.0, 2.31, 0, 0.538, 6.575, 65.2, 4.09, 1, 296, 15.3, 396.9, 4.98]], "samples": 50, "seed": 7}'
answers=$work/answers.jsonl
python3 tests/container/kube_play.py watch "$facts" 150 "$work/stop" "$answers" "$body" &
watcher=$!
writer_predict() { curl -fsS -X POST "http://127.0.0.1:$writer$1" -H 'content-type: application/json' -d "$body"; }
# Waits until both readers answer 404, or version $1 with the numbers of the writer's answer $2.
serving() { local why; why=$(python3 tests/container/kube_play.py serving "$facts" "$answers" "$@" 2>&1) || fail "$why"; }
job_body() { echo "{\"model\": \"k8s-probe\", \"dataset\": \"boston\", \"network\": {\"hidden\": [16]}, \"training\": {\"epochs\": 20, \"seed\": $1}, \"makeDefault\": true}"; }

serving 404
check "both readers answer 404 for k8s-probe before it is trained (watched from now on)"
train "$writer" "$(job_body 1)" >/dev/null
check "trained k8s-probe version 1 through the writer's API"
v1=$(writer_predict /models/k8s-probe/predict)
json 'assert d["version"] == 1, d' <<<"$v1" || fail "the writer does not serve k8s-probe version 1"
serving 1 "$v1"
check "both readers serve k8s-probe version 1 with numbers identical to the writer's (same seed)"

for port in "${readers[@]}"; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/training-jobs" \
    -H 'content-type: application/json' -H "X-Api-Key: $api_key" -d "$(job_body 1)")
  [ "$code" = 403 ] || fail "a training job sent to the reader on port $port got $code, not 403"
done
check "a training job sent to a reader (with a valid key) gets 403"

train "$writer" "$(job_body 2)" >/dev/null
v2=$(writer_predict /models/k8s-probe/predict)
json 'assert d["version"] == 2, d' <<<"$v2" || fail "the writer does not serve k8s-probe version 2 after training it"
serving 2 "$v2"
check "trained version 2 (makeDefault) through the writer; both readers switched to it"
make_default() {
  curl -fsS -X PUT "http://127.0.0.1:$writer/models/k8s-probe/default-version" -H 'content-type: application/json' \
    -H "X-Api-Key: $api_key" -d "{\"version\": $1}" >/dev/null || fail "the writer refused to make version $1 the default"
}
for version in 1 2 1 2; do
  make_default "$version"
  if [ "$version" = 1 ]; then serving 1 "$v1"; else serving 2 "$v2"; fi
done
check "the writer switched the default to 1, 2, 1, 2; both readers followed each switch"
switches=0 until=$((SECONDS + 15))
while [ "$SECONDS" -lt "$until" ]; do make_default 1; make_default 2; switches=$((switches + 2)); done
serving 2 "$v2"
check "$switches switches back to back for 15 s, the readers read all the while; both settled on version 2"

touch "$work/stop"
wait "$watcher" || fail "the watcher of the readers failed"
watcher=
for v in 1 2; do writer_predict "/models/k8s-probe/versions/$v/predict" >"$work/v$v.json"; done
python3 -c 'import json,sys; print(json.dumps({str(i + 1): json.load(open(f))["predictions"] for i, f in enumerate(sys.argv[1:])}))' \
  "$work/v1.json" "$work/v2.json" >"$work/references.json"
summary=$(python3 tests/container/kube_play.py verify "$answers" "$work/references.json" 2>&1) || fail "$summary"
check "no half-written version: watched all along, the readers gave $summary; every 200 has exactly its version's numbers (from the writer's /versions/{v}/predict), no 5xx"

say "passed in $((SECONDS - started)) s"
