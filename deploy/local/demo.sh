#!/usr/bin/env bash
# The README's quick start: the main job end to end on local defaults.
#
# Starts the local Kafka (deploy/local/kafka.sh), builds and runs the engine
# with config/provisioner.toml and config/rules/, publishes
# config/samples/events.jsonl with kcat (a real client nobody here wrote),
# waits until the engine has committed them, and prints the commands and dead
# letters that came out. Safe to run again: it shows only this run's output.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work="$root/.local/demo"
mkdir -p "$work"

"$root/deploy/local/tools.sh"
bootstrap=$("$root/deploy/local/kafka.sh" up)
export KAFKA_BOOTSTRAP_SERVERS="$bootstrap"

echo "==> Building provisioner"
cargo build --quiet --bin provisioner
bin="$root/target/debug/provisioner"
config="config/provisioner.toml"

echo "==> Checking the rules"
"$bin" --config "$config" rules check

echo "==> Preview: what the sample employees get"
"$bin" --config "$config" rules preview --employees config/samples/employees.jsonl

echo "==> Starting the engine (log: $work/engine.log)"
"$bin" --config "$config" --log-format json engine >"$work/engine.log" 2>&1 &
engine_pid=$!
trap 'kill -TERM $engine_pid 2>/dev/null || true; wait $engine_pid 2>/dev/null || true' EXIT
deadline=$((SECONDS + 60))
until grep -q '"Engine ready."' "$work/engine.log"; do
  if ! kill -0 $engine_pid 2>/dev/null; then cat "$work/engine.log"; echo "engine exited" >&2; exit 1; fi
  if (( SECONDS > deadline )); then cat "$work/engine.log"; echo "engine not ready after 60 s" >&2; exit 1; fi
  sleep 0.2
done

# Every record produced from here on belongs to this run.
start_ms=$(( $(date +%s%N) / 1000000 ))
# Records the engine has committed so far, summed from its "Batch committed." lines.
committed() { { grep -o '"records":[0-9]*' "$work/engine.log" || true; } | awk -F: '{s+=$2} END {print s+0}'; }
committed_before=$(committed)
count=$(grep -c . config/samples/events.jsonl)
echo "==> Publishing $count sample events with kcat"
# kcat -K takes "key<TAB>value" lines; the key is each event's subject.
python3 - config/samples/events.jsonl >"$work/events.kcat" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    try:
        key = json.loads(line).get("data", {}).get("employee", {}).get("id", "")
    except ValueError:
        key = ""
    print(f"{key}\t{line}")
PY
kcat -P -b "$bootstrap" -t hr.employee.events -K $'\t' -l "$work/events.kcat"

deadline=$((SECONDS + 60))
while :; do
  (( $(committed) - committed_before >= count )) && break
  if (( SECONDS > deadline )); then tail -20 "$work/engine.log"; echo "engine did not process the events in 60 s" >&2; exit 1; fi
  sleep 0.2
done

for topic in $(kcat -b "$bootstrap" -L 2>/dev/null | grep -o 'topic "provisioning\.commands\.[a-z0-9_-]*"' | tr -d '"' | awk '{print $2}' | grep -v '\.dlq$' | sort); do
  echo "==> $topic"
  kcat -C -b "$bootstrap" -t "$topic" -o "s@$start_ms" -e -q -X isolation.level=read_committed -f 'key=%k %s\n'
done
echo "==> provisioning.events.dlq"
kcat -C -b "$bootstrap" -t provisioning.events.dlq -o "s@$start_ms" -e -q \
  -f 'key=%k headers=%h\n    value=%s\n'
echo "==> Done. Stop the broker with: deploy/local/kafka.sh down"
