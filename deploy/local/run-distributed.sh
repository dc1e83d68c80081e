#!/usr/bin/env bash
# Runs Liaison as separate processes, one per service, against the local
# PostgreSQL and NATS JetStream servers. Ctrl-C stops them all.
#
#   LIAISON_BIN             the binary (default: target/release/liaison)
#   LIAISON_POSTGRES_URL    default postgres://postgres@127.0.0.1:5432/postgres
#   LIAISON_NATS_URL        default nats://127.0.0.1:4222
#   LIAISON_RUN_DIR         logs and data dirs (default: ./data/distributed)
set -euo pipefail

BIN="${LIAISON_BIN:-target/release/liaison}"
POSTGRES_URL="${LIAISON_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
NATS_URL="${LIAISON_NATS_URL:-nats://127.0.0.1:4222}"
RUN_DIR="${LIAISON_RUN_DIR:-./data/distributed}"

# service  gRPC port  HTTP port   (start order; stopped in reverse)
SERVICES=(
  "contacts 50061 8081"
  "relations 50062 8082"
  "gateway 50063 8080"
)

[ -x "$BIN" ] || { echo "run-distributed: $BIN not found; run 'cargo build --release -p liaison'" >&2; exit 1; }

port_of() { local rest="${1##*:}"; echo "${rest%%/*}"; }
host_of() { local rest="${1#*://}"; rest="${rest##*@}"; echo "${rest%%:*}"; }
reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
reachable "$(host_of "$POSTGRES_URL")" "$(port_of "$POSTGRES_URL")" \
  || { echo "run-distributed: PostgreSQL is not reachable at $POSTGRES_URL" >&2; exit 1; }
reachable "$(host_of "$NATS_URL")" "$(port_of "$NATS_URL")" \
  || { echo "run-distributed: NATS is not reachable at $NATS_URL" >&2; exit 1; }

mkdir -p "$RUN_DIR"
# Every process signs and verifies caller identities with one shared key.
IDENTITY_KEY="${LIAISON__SECURITY__IDENTITY_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
pids=()
stop_all() {
  trap - INT TERM EXIT
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run-distributed: stopped"
}
trap stop_all INT TERM EXIT

for entry in "${SERVICES[@]}"; do
  read -r service grpc http <<<"$entry"
  upper="$(echo "$service" | tr '[:lower:]' '[:upper:]')"
  env "LIAISON__SERVICES__${upper}__DATABASE_URL=$POSTGRES_URL" \
      "LIAISON__PEERS__CONTACTS=http://127.0.0.1:50061" \
      "LIAISON__PEERS__RELATIONS=http://127.0.0.1:50062" \
      "LIAISON__SECURITY__IDENTITY_KEY=$IDENTITY_KEY" \
      "LIAISON__BUS__KIND=nats" \
      "LIAISON__BUS__NATS_URL=$NATS_URL" \
      "$BIN" serve --target "$service" \
        --data-dir "$RUN_DIR/$service" \
        --grpc-addr "127.0.0.1:$grpc" --http-addr "127.0.0.1:$http" \
        > >(sed -u "s/^/[$service] /") 2>&1 &
  pids+=("$!")
  echo "run-distributed: $service on gRPC 127.0.0.1:$grpc, HTTP 127.0.0.1:$http"
done
wait
