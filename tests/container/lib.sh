# Shared by the container tests (run.sh, kube-play.sh); sourced from the repository root, not run.
# The sourcing script sets `test` (its name in messages) and may define `on_failure` (prints logs) and
# `api_key` (sent as X-Api-Key with training jobs).
image=localhost/uncertainty:ci
say() { echo "$test: $*"; }
fail() { say "FAILED: $*" >&2; if declare -F on_failure >/dev/null; then on_failure >&2 || true; fi; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1" "${@:2}"; } # stdin's JSON as d; more arguments in sys.argv

# podman, its settings for this machine and the stand-in base images (stand-in-images.sh).
prepare_podman() { bash tests/container/stand-in-images.sh all >/dev/null; }

# Builds $image from ./Dockerfile, unless it was built already from the same sources and base images: the
# image carries a label with their digest, so run.sh and kube-play.sh in one CI run build it once.
# The digest covers every file git sees except those the build never copies (.dockerignore leaves them out).
build_image() {
  local stamp t
  stamp=$({
    git ls-files -z -co --exclude-standard -- . ':!tests' ':!docs' ':!deploy' ':!benchmarks' ':!.ci' ':!*.md' \
      | sort -z | xargs -0 -r sha256sum 2>/dev/null || true
    podman image inspect --format '{{.Id}}' mcr.microsoft.com/dotnet/sdk:10.0 mcr.microsoft.com/dotnet/aspnet:10.0
  } | sha256sum | cut -c1-16)
  if [ "$(podman image inspect "$image" --format '{{index .Labels "uncertainty.sources"}}' 2>/dev/null)" = "$stamp" ]; then
    say "reusing $image, built from these sources already (digest $stamp)"
    return
  fi
  say "building $image from ./Dockerfile"
  t=$SECONDS
  podman build -q --pull=never --format docker --label "uncertainty.sources=$stamp" -t "$image" . >/dev/null
  say "built in $((SECONDS - t)) s; size $(podman image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
}

# Waits up to $2 seconds for /health/ready on 127.0.0.1:$1; the command after them says whether the container still runs.
wait_ready() {
  local port=$1 seconds=$2
  shift 2
  for _ in $(seq 1 "$seconds"); do
    curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
    "$@" || fail "the container behind port $port exited before it was ready"
    sleep 1
  done
  fail "not ready on port $port after $seconds s"
}

# Submits the training job $2 to the service on 127.0.0.1:$1, waits up to 120 s for it and prints its id.
train() {
  local port=$1 body=$2 job state
  job=$(curl -fsS -X POST "http://127.0.0.1:$port/training-jobs" -H 'content-type: application/json' \
    ${api_key:+-H "X-Api-Key: $api_key"} -d "$body" | json 'print(d["id"])') || fail "the training job was not accepted"
  for _ in $(seq 1 240); do
    state=$(curl -fsS "http://127.0.0.1:$port/training-jobs/$job" | json 'print(d["state"])')
    [ "$state" = succeeded ] && { echo "$job"; return 0; }
    [ "$state" = failed ] && fail "the training job failed"
    sleep 0.5
  done
  fail "the training job did not finish in 120 s"
}
