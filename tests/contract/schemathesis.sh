#!/usr/bin/env bash
# The API against its own contract: schemathesis (from PyPI, into a
# virtualenv under $LIAISON_TOOLS_DIR) generates requests for every
# operation of /api/openapi.json on a live Liaison ($LIAISON_BIN, started
# here on SQLite in a temp dir) and fails on any 5xx, any status the
# document does not list, and any answer whose body or content type breaks
# it. Examples per operation: $CONTRACT_EXAMPLES (default 30); seed:
# $CONTRACT_SEED (default fixed, so a run is reproducible; "random" for a
# new one).
set -euo pipefail
cd "$(dirname "$0")"
TOOLS="${LIAISON_TOOLS_DIR:-$HOME/.cache/liaison-tools}"
VENV="$TOOLS/schemathesis-4.32.5"
if [ ! -x "$VENV/.ready" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==4.32.5"
  printf '#!/bin/sh\n' > "$VENV/.ready" && chmod +x "$VENV/.ready"
fi
exec "$VENV/bin/python" run_contract.py \
  --liaison "${LIAISON_BIN:?set LIAISON_BIN to the liaison binary (make contract does)}" \
  --schemathesis "$VENV/bin/st" \
  --examples "${CONTRACT_EXAMPLES:-30}" \
  --seed "${CONTRACT_SEED:-20261201}"
