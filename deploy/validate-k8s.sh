#!/usr/bin/env bash
# Validates deploy/k8s/*.yaml offline: every document against the Kubernetes API schema of
# K8S_VERSION (PyPI's kubernetes-validate bundles the schemas; --strict rejects unknown fields),
# then what the example promises: readiness, liveness and startup probes on /health at the
# container's port, a memory request and limit, the Prometheus scrape annotations (port, /metrics),
# the model mounted read-only at /models/model.gguf, and a Service selecting the Deployment's pods.
# A deliberately broken copy must fail, so the validator is known to be checking.
#
# Usage: deploy/validate-k8s.sh
# Env:   DEPLOY_VENV (default deploy/build/venv, made from deploy/requirements-validate.txt),
#        K8S_VERSION (default 1.31.0; any version kubernetes-validate knows)
# Time:  ~2 s (plus ~20 s to make the venv the first time; that step needs PyPI).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${DEPLOY_VENV:-$ROOT/deploy/build/venv}
K8S_VERSION=${K8S_VERSION:-1.31.0}
if ! "$VENV/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r deploy/requirements-validate.txt
fi

"$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" deploy/k8s/*.yaml

BROKEN=$(mktemp --suffix=.yaml)
trap 'rm -f "$BROKEN"' EXIT
sed 's/containerPort: 8080/containerPort: "8080x"/' deploy/k8s/deployment.yaml > "$BROKEN"
if "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$BROKEN" > /dev/null 2>&1; then
    echo "validate-k8s.sh: a broken manifest passed kubernetes-validate" >&2
    exit 1
fi

"$VENV/bin/python" - deploy/k8s/*.yaml <<'PY'
import sys
import yaml

docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)

(dep,) = by_kind["Deployment"]
pod = dep["spec"]["template"]
(c,) = pod["spec"]["containers"]
ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
port = ports.get("http")
check(port == 8080, "container port http is 8080 (the image's --port)")
for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    get = c.get(probe, {}).get("httpGet", {})
    check(get.get("path") == "/health", f"{probe} on /health")
    check(get.get("port") in ("http", port), f"{probe} on the http port")
res = c.get("resources", {})
check("memory" in res.get("requests", {}), "memory request")
check("memory" in res.get("limits", {}), "memory limit")
ann = pod["metadata"].get("annotations", {})
check(ann.get("prometheus.io/scrape") == "true", "prometheus.io/scrape: true on the pod")
check(ann.get("prometheus.io/port") == str(port), "prometheus.io/port is the http port")
check(ann.get("prometheus.io/path") == "/metrics", "prometheus.io/path: /metrics")
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
model = mounts.get("/models/model.gguf")
check(model is not None and model.get("readOnly") is True, "model mounted read-only at /models/model.gguf")
vols = {v["name"] for v in pod["spec"].get("volumes", [])}
check(all(m["name"] in vols for m in mounts.values()), "every volume mount has a volume")
labels = pod["metadata"]["labels"]
check(dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), "Deployment selector matches its pods")
(svc,) = by_kind["Service"]
check(svc["spec"]["selector"].items() <= labels.items(), "Service selects the Deployment's pods")
check(all(p.get("targetPort") in ("http", port) for p in svc["spec"]["ports"]), "Service targets the http port")
for claim in [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]:
    check(any(p["metadata"]["name"] == claim for p in by_kind.get("PersistentVolumeClaim", [])),
          f"PersistentVolumeClaim {claim} is defined")
if errors:
    sys.exit("validate-k8s.sh: missing: " + "; ".join(errors))
print(f"validate-k8s.sh: {len(docs)} manifests valid ({', '.join(sorted(by_kind))})")
PY
