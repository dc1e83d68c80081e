#!/usr/bin/env bash
# Validates the deployment files with real tools that fail on a broken file:
# docker-compose (config) for deploy/docker-compose.yml and kubernetes-validate
# (strict, against the Kubernetes schemas) for every resource the kustomize
# base lists. Both come from PyPI into virtualenvs under $LIAISON_TOOLS_DIR.
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
echo "validate: deployment files are valid"
