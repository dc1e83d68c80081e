#!/usr/bin/env bash
# Profiles distributed CreatePerson by hand: a private NATS, the contacts
# service alone on a fresh PostgreSQL schema, `liaison-bench load` against it,
# and where the machine's CPU went meanwhile (whole machine from /proc/stat,
# per process from /proc/<pid>/stat).
#
#   bench/scripts/profile-contacts.sh [seconds] [clients]
#
# LIAISON (default target/release/liaison), BENCH (liaison-bench next to it),
# POSTGRES_URL (default the local server), NATS_PORT (default 14222).
set -euo pipefail

seconds=${1:-10}
clients=${2:-32}
target=${CARGO_TARGET_DIR:-target}
liaison=${LIAISON:-$target/release/liaison}
bench=${BENCH:-$(dirname "$liaison")/liaison-bench}
postgres_url=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
nats_port=${NATS_PORT:-14222}
schema=profile_$$
work=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -qtA "$postgres_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

for binary in "$liaison" "$bench" /usr/sbin/nats-server; do
    [ -x "$binary" ] || { echo "error: $binary is not an executable (build with make bench, or set LIAISON/BENCH)" >&2; exit 2; }
done

# utime + stime of every process, as "pid name ticks".
process_ticks() {
    for stat in /proc/[0-9]*/stat; do
        awk '{ name = $2; sub(/^.*\) /, ""); print FILENAME, name, $12 + $13 }' "$stat" 2>/dev/null || true
    done | sed 's|/proc/||; s|/stat||'
}
# Busy (user, nice, system, irq, softirq, steal) and idle (idle, iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

/usr/sbin/nats-server -js -sd "$work/nats" -a 127.0.0.1 -p "$nats_port" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done

LIAISON__CONTACTS__DATABASE_URL=$postgres_url LIAISON__CONTACTS__DATABASE_SCHEMA=$schema \
LIAISON__BUS__KIND=nats LIAISON__BUS__NATS_URL=nats://127.0.0.1:$nats_port LIAISON__LOG__LEVEL=warn \
    "$liaison" serve --target contacts --data-dir "$work/data" \
    --grpc-addr 127.0.0.1:15051 --http-addr 127.0.0.1:15080 >"$work/log" 2>&1 &
pids+=($!)
ready=false
for _ in $(seq 100); do
    curl -sf http://127.0.0.1:15080/readyz >/dev/null && { ready=true; break; }
    sleep 0.2
done
if [ "$ready" != true ]; then
    echo "error: contacts did not become ready within 20 s; its log:" >&2
    cat "$work/log" >&2
    exit 1
fi

"$bench" --seconds "$seconds" load --url http://127.0.0.1:15051 --clients "$clients" &
load=$!
# Skip the first second and the last: connections opening and closing.
sleep 1
process_ticks >"$work/before"; read -r busy0 idle0 < <(machine_ticks)
sleep $((seconds - 2))
process_ticks >"$work/after"; read -r busy1 idle1 < <(machine_ticks)
wait "$load"

hz=$(getconf CLK_TCK)
window=$((seconds - 2))
busy=$((busy1 - busy0))
idle=$((idle1 - idle0))
echo "machine: $((100 * busy / (busy + idle)))% of the cores busy"
awk -v hz="$hz" -v window="$window" '
    FNR == NR { before[$1] = $3; next }
    {
        name = $2; gsub(/[()]/, "", name)
        used[name] += $3 - before[$1]
    }
    END {
        for (name in used) if (used[name] > 0) printf "  %-20s %.3f cores\n", name, used[name] / hz / window
    }' "$work/before" "$work/after" | sort -k2 -rn
