#!/usr/bin/env bash
# Validates the deployment files with real tools that fail on a broken file:
# docker-compose (config) for deploy/docker-compose.yml and kubernetes-validate
# (strict, against the Kubernetes schemas) for every resource the kustomize
# base lists. Both come from PyPI into virtualenvs under $LIAISON_TOOLS_DIR.
# Then the binary ($LIAISON_BIN) checks each process's settings.
set -euo pipefail
cd "$(dirname "$0")"
TOOLS="${LIAISON_TOOLS_DIR:-$HOME/.cache/liaison-tools}"
mkdir -p "$TOOLS"

venv() { # name, then pip arguments
  local dir="$TOOLS/$1"; shift
  if [ ! -x "$dir/.ready" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@"
    printf '#!/bin/sh\n' > "$dir/.ready" && chmod +x "$dir/.ready"
  fi
}
# docker-compose 1.29 needs PyYAML 5.4, which builds only with Cython < 3.
venv compose "cython<3" wheel
if [ ! -x "$TOOLS/compose/bin/docker-compose" ]; then
  "$TOOLS/compose/bin/pip" install -q --no-build-isolation "pyyaml==5.4.1"
  "$TOOLS/compose/bin/pip" install -q "docker-compose==1.29.2"
fi
venv k8s "kubernetes-validate==1.37.0"

echo "validate: docker-compose.yml"
# The file requires its secrets from the environment; any value will do here.
POSTGRES_PASSWORD=validation LIAISON_INTERNAL_TOKEN=validation \
  LIAISON_IDENTITY_KEY=validation-key-of-at-least-32-chars LIAISON_ADMIN_PASSWORD=validation \
  "$TOOLS/compose/bin/docker-compose" -f docker-compose.yml config --quiet

echo "validate: k8s/base"
resources=()
while IFS= read -r line; do
  resources+=("k8s/base/$line")
done < <(sed -n '/^resources:/,/^[a-z]/s/^  - //p' k8s/base/kustomization.yaml)
[ "${#resources[@]}" -gt 0 ] || { echo "validate: kustomization.yaml lists no resources" >&2; exit 1; }
for resource in "${resources[@]}"; do
  [ -f "$resource" ] || { echo "validate: $resource is listed but missing" >&2; exit 1; }
done
"$TOOLS/k8s/bin/kubernetes-validate" --strict --quiet "${resources[@]}"

# Each process of the compose file and of the manifests, as the binary sees
# it: its own database and the peers it calls are set (`liaison admin
# check-deployment` with exactly that process's environment).
echo "validate: every process's settings"
BIN="${LIAISON_BIN:?set LIAISON_BIN to the liaison binary (make validate-deploy does)}"
"$TOOLS/compose/bin/python" - "$BIN" "${resources[@]}" <<'PY'
import subprocess, sys, yaml

binary, manifests = sys.argv[1], sys.argv[2:]
SECRET = "validation-secret-of-at-least-32-characters"

def placeholder(name):
    return "postgres://validation@db:5432/validation" if name.endswith("DATABASE_URL") else SECRET

def check(where, args, env):
    target = args[args.index("--target") + 1] if "--target" in args else "all"
    env = {key: str(value) for key, value in env.items()}
    run = subprocess.run([binary, "admin", "check-deployment", "--target", target],
                         env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"validate: {where}: {run.stderr.strip()}")
    print(f"validate: {where}: {run.stdout.strip()}")

compose = yaml.safe_load(open("docker-compose.yml"))
for name, service in compose["services"].items():
    if "serve" not in service.get("command", []):
        continue
    env = {key: value.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "pw")
           if isinstance(value, str) else value
           for key, value in service.get("environment", {}).items()}
    env = {key: (SECRET if isinstance(value, str) and value.startswith("${") else value)
           for key, value in env.items()}
    check(f"docker-compose {name}", service["command"], env)

documents = [doc for path in manifests for doc in yaml.safe_load_all(open(path)) if doc]
config_maps = {doc["metadata"]["name"]: doc.get("data", {})
               for doc in documents if doc["kind"] == "ConfigMap"}
for doc in documents:
    if doc["kind"] != "Deployment":
        continue
    for container in doc["spec"]["template"]["spec"]["containers"]:
        env = {}
        for source in container.get("envFrom", []):
            env.update(config_maps[source["configMapRef"]["name"]])
        for variable in container.get("env", []):
            env[variable["name"]] = variable.get("value", placeholder(variable["name"]))
        check(f"k8s {doc['metadata']['name']}", container.get("args", []), env)
PY
echo "validate: deployment files are valid"
