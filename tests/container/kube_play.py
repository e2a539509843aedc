#!/usr/bin/env python3
"""Helpers of tests/container/kube-play.sh (python3; render needs PyYAML, e.g. Debian's python3-yaml).

  render BUILT_YAML OUT_DIR IMAGE FIRST_PORT WRITER
      Prepares the output of `kubectl kustomize deploy/k8s` for `podman kube play`, which reads plain
      Kubernetes YAML but not kustomize, changing only what a local single-node run needs:
        - every Deployment's image becomes IMAGE with imagePullPolicy Never (no registry here);
        - a Deployment of N replicas becomes N Deployments NAME-0..NAME-{N-1} of one replica each (podman runs
          a Deployment's replicas as pods that would all bind the same host port), the WRITER one first;
        - each pod's first container port is published on 127.0.0.1:FIRST_PORT, FIRST_PORT+1, ... (hostPort), its
          other ports (gRPC) not at all;
        - each emptyDir volume is renamed POD-VOLUME: podman 4.3 makes an emptyDir a volume named after it, so
          pods with an emptyDir of the same name would share one (Kubernetes gives each pod its own);
        - each Secret becomes OUT_DIR/secret-NAME.json for `podman secret create NAME` (podman 4.3 stores a
          played Secret document as YAML but reads secretRef as a JSON map of base64 values, and fails);
        - Service, Ingress and HorizontalPodAutoscaler are dropped: podman kube play does not run them.
      Writes OUT_DIR/play.yaml, OUT_DIR/secret-NAME.json and OUT_DIR/facts.json (pods, ports, secrets,
      volumes, the first API key, what was dropped).
  watch FACTS SECONDS STOP_FILE OUT_JSONL BODY
      Polls POST /models/k8s-probe/predict on every reader in turn until STOP_FILE exists (then a few more
      rounds) or SECONDS pass; one JSON line per answer: reader, status, version, predictions.
  serving FACTS OUT_JSONL 404|VERSION [ANSWER_JSON]
      Waits up to 30 s until every reader's latest answer in OUT_JSONL is a 404, or a 200 of VERSION whose
      predictions equal those of ANSWER_JSON (the writer's answer to the same request).
  verify OUT_JSONL REFERENCES_JSON
      Every answer is a 404 or a 200 whose predictions equal those of its version in REFERENCES_JSON
      ({"1": predictions, ...}); no 5xx, no failed connection; 404s, version 1 and version 2 all seen.
"""
import base64
import copy
import json
import os
import sys
import time
import urllib.error
import urllib.request

DROPPED_KINDS = {"Service", "Ingress", "HorizontalPodAutoscaler"}


def render(built_path, out_dir, image, first_port, writer):
    import yaml

    with open(built_path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]

    deployments, others, secrets, dropped = [], [], {}, []
    for d in documents:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind == "Deployment":
            deployments.append(d)
        elif kind in ("ConfigMap", "PersistentVolumeClaim"):
            others.append(d)
        elif kind == "Secret":
            secrets[name] = d
        elif kind in DROPPED_KINDS:
            dropped.append(f"{kind}/{name}")
        else:
            sys.exit(f"kube-play: no rule for kind {kind} ({name})")
    if writer not in [d["metadata"]["name"] for d in deployments]:
        sys.exit(f"kube-play: no Deployment named {writer}")
    deployments.sort(key=lambda d: d["metadata"]["name"] != writer)

    pods, port, empty_dirs = [], first_port, []
    played = list(others)
    for d in deployments:
        replicas = d["spec"].get("replicas", 1)
        for i in range(replicas):
            copy_ = copy.deepcopy(d)
            name = d["metadata"]["name"] if replicas == 1 else f"{d['metadata']['name']}-{i}"
            copy_["metadata"]["name"] = name
            copy_["spec"]["replicas"] = 1
            containers = copy_["spec"]["template"]["spec"]["containers"]
            for c in containers:
                c["image"] = image
                c["imagePullPolicy"] = "Never"
            containers[0]["ports"][0].update(hostIP="127.0.0.1", hostPort=port)
            # podman kube play publishes a containerPort without a hostPort on the host's same port: every pod's gRPC
            # port (8081) would collide. The test drives HTTP only, so the other ports are not published.
            del containers[0]["ports"][1:]
            pod_spec = copy_["spec"]["template"]["spec"]
            for v in pod_spec.get("volumes", []):
                if "emptyDir" in v:
                    for c in containers:
                        for m in c.get("volumeMounts", []):
                            if m["name"] == v["name"]:
                                m["name"] = f"{name}-{v['name']}"
                    v["name"] = f"{name}-{v['name']}"
                    empty_dirs.append(v["name"])
            pods.append({"deployment": name, "pod": f"{name}-pod-0", "container": f"{name}-pod-0-{containers[0]['name']}",
                         "port": port, "writer": name == writer})
            played.append(copy_)
            port += 1

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "play.yaml"), "w") as f:
        yaml.safe_dump_all(played, f, sort_keys=False)
    keys = []
    for name, secret in secrets.items():
        data = dict(secret.get("data", {}))
        data.update({k: base64.b64encode(v.encode()).decode() for k, v in secret.get("stringData", {}).items()})
        with open(os.path.join(out_dir, f"secret-{name}.json"), "w") as f:
            json.dump(data, f)
        keys += [base64.b64decode(v).decode() for k, v in sorted(data.items()) if k.startswith("Uncertainty__ApiKeys__")]
    volumes = [d["metadata"]["name"] for d in others if d["kind"] == "PersistentVolumeClaim"] + empty_dirs
    facts = {"pods": pods, "secrets": sorted(secrets), "volumes": volumes, "apiKey": keys[0] if keys else "",
             "dropped": dropped}
    with open(os.path.join(out_dir, "facts.json"), "w") as f:
        json.dump(facts, f, indent=1)


def post(url, body, timeout=30):
    request = urllib.request.Request(url, data=body.encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None


def watch(facts_path, seconds, stop_file, out_path, body):
    with open(facts_path) as f:
        readers = [p for p in json.load(f)["pods"] if not p["writer"]]
    deadline = time.monotonic() + float(seconds)
    rounds_after_stop = None
    with open(out_path, "w") as out:
        while time.monotonic() < deadline and rounds_after_stop != 0:
            if rounds_after_stop is None and os.path.exists(stop_file):
                rounds_after_stop = 20
            for reader in readers:
                url = f"http://127.0.0.1:{reader['port']}/models/k8s-probe/predict"
                try:
                    status, response = post(url, body)
                except OSError as e:  # a reset or refused connection is a failure too
                    status, response = 0, {"error": str(e)}
                record = {"reader": reader["deployment"], "status": status, "t": round(time.monotonic(), 3)}
                if status == 200:
                    record.update(version=response["version"], predictions=response["predictions"])
                out.write(json.dumps(record) + "\n")
                out.flush()
            if rounds_after_stop:
                rounds_after_stop -= 1
            time.sleep(0.05)


def latest(answers_path):
    answers = {}
    if not os.path.exists(answers_path):
        return answers
    with open(answers_path) as f:
        for line in f:
            if line.endswith("\n"):
                a = json.loads(line)
                answers[a["reader"]] = a
    return answers


def serving(facts_path, answers_path, target, reference=None):
    with open(facts_path) as f:
        readers = [p["deployment"] for p in json.load(f)["pods"] if not p["writer"]]
    expected = None if target == "404" else json.loads(reference)

    def ok(a):
        if expected is None:
            return a and a["status"] == 404
        return a and a["status"] == 200 and a["version"] == int(target) and a["predictions"] == expected["predictions"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answers = latest(answers_path)
        if all(ok(answers.get(r)) for r in readers):
            return
        time.sleep(0.1)
    wrong = {r: {k: v for k, v in (answers.get(r) or {}).items() if k != "t"} for r in readers if not ok(answers.get(r))}
    want = "a 404" if expected is None else f"version {target} with the writer's numbers {expected['predictions']}"
    sys.exit(f"not every reader answered {want} within 30 s; latest answers: {json.dumps(wrong)[:600]}")


def verify(answers_path, references_path):
    with open(references_path) as f:
        references = {int(v): o for v, o in json.load(f).items()}
    counts, bad = {}, []
    with open(answers_path) as f:
        for line in f:
            a = json.loads(line)
            key = "404" if a["status"] == 404 else f"{a['status']} v{a.get('version')}"
            counts[key] = counts.get(key, 0) + 1
            if a["status"] == 404:
                continue
            if a["status"] != 200:
                bad.append(f"{a['reader']}: HTTP {a['status']} {a.get('error', '')}")
            elif a["predictions"] != references.get(a["version"]):
                bad.append(f"{a['reader']}: version {a['version']} answered numbers that are not that version's")
    summary = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
    if bad:
        sys.exit(f"{len(bad)} bad answers ({summary}); first: {bad[:3]}")
    if set(counts) != {"404", "200 v1", "200 v2"}:
        sys.exit(f"the readers were not seen before the model, with version 1 and with version 2 ({summary})")
    print(f"{sum(counts.values())} answers ({summary})")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "render":
        render(args[0], args[1], args[2], int(args[3]), args[4])
    elif command == "watch":
        watch(*args)
    elif command == "serving":
        serving(*args)
    elif command == "verify":
        verify(*args)
    else:
        sys.exit(f"unknown command {command}")
