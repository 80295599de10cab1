#!/usr/bin/env bash
# The README's quick start: the main job end to end on local defaults.
#
# Starts the local Kafka (deploy/local/kafka.sh) and a local SCIM 2.0 app
# (scim2-server, deploy/local/scim.sh) standing in for Slack, builds and runs
# the engine with config/provisioner.toml and config/rules/ and a connector for
# the `slack` app, publishes config/samples/events.jsonl with kcat (a real
# client nobody here wrote), waits until the engine has committed them and the
# connector has applied Slack's commands, and prints the commands, the dead
# letters and the user accounts now in the SCIM server. Safe to run again: it
# shows only this run's commands.
#
# Grace's sample `left` (evt-0007) ends on her end_date, still ahead: it only
# schedules the deprovisioning. The demo then moves her end_date to an instant
# ~10 s ahead with a `changed` event and waits for the engine's timer to take
# the leave into effect on its own, with no event at that moment.
#
# The engine takes its rules from the rules store (#14): the demo publishes
# config/rules/ with `provisioner rules publish` before starting it, and
# prints `rules history` at the end.
#
# Then reconciliation (#13): it makes an account by hand in the SCIM app and
# raises Ada's role there, shows `provisioner reconcile --app slack --dry-run`
# reporting the orphan and the drift, runs it again with the app's reactions
# on (`drifted = "reapply"`, `orphans = "suspend"`), waits until the connector
# has re-applied Ada's role and the orphan is suspended, and prints the users.
#
# SCIM_PORT (default 8080) moves the SCIM app, and the demo's slack app with it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work="$root/.local/demo"
mkdir -p "$work"

"$root/deploy/local/tools.sh"
# Each run gets its own topics and consumer groups (the sample config with a
# run prefix), so a second run starts from a clean slate and shows its own
# output, however many runs came before.
run="demo-$(date +%Y%m%d%H%M%S)"
prefix="$run."
config="$work/provisioner.toml"
sed -e "s/^group_id = \"\(.*\)\"/group_id = \"$run-\1\"/" \
    -e "s/= \"hr\.employee\.events\"/= \"${prefix}hr.employee.events\"/" \
    -e "s/= \"provisioning\./= \"${prefix}provisioning./" \
    -e "s#\"http://127.0.0.1:8080\"#\"http://127.0.0.1:${SCIM_PORT:-8080}\"#" \
    config/provisioner.toml >"$config"
bootstrap=$("$root/deploy/local/kafka.sh" up)
export KAFKA_BOOTSTRAP_SERVERS="$bootstrap"
# The SCIM app requires a bearer token; the connector reads it from the
# variable named by apps.slack.token_env. A demo value, not a secret.
export SCIM_BEARER_TOKEN=demo-token SLACK_SCIM_TOKEN=demo-token
# A fresh SCIM app per run (it keeps users in memory).
"$root/deploy/local/scim.sh" down >/dev/null 2>&1 || true
scim_url=$("$root/deploy/local/scim.sh" up)

echo "==> Building provisioner"
cargo build --quiet --bin provisioner
bin="$root/target/debug/provisioner"

echo "==> Checking the rules"
"$bin" --config "$config" rules check

echo "==> Preview: what the sample employees get"
"$bin" --config "$config" rules preview --employees config/samples/employees.jsonl

# The engine reads its rules from the rules store (rules.source = "kafka"):
# publish the sample rules, as CI does on a merge.
echo "==> Publishing the sample rules to the rules store (${prefix}provisioning.rules)"
"$bin" --config "$config" rules publish --rules config/rules --message "demo: the sample rules" --author demo

echo "==> Starting the engine (log: $work/engine.log) and the slack connector (log: $work/connector.log)"
"$bin" --config "$config" --log-format json engine >"$work/engine.log" 2>&1 &
engine_pid=$!
connector_pid=
trap 'kill -TERM $engine_pid $connector_pid 2>/dev/null || true; wait $engine_pid $connector_pid 2>/dev/null || true' EXIT
deadline=$((SECONDS + 60))
until grep -q 'Engine ready' "$work/engine.log"; do
  if ! kill -0 $engine_pid 2>/dev/null; then cat "$work/engine.log"; echo "engine exited" >&2; exit 1; fi
  if (( SECONDS > deadline )); then cat "$work/engine.log"; echo "engine not ready after 60 s" >&2; exit 1; fi
  sleep 0.2
done
# The engine has created the topics; the connector can start.
"$bin" --config "$config" --log-format json connector --app slack >"$work/connector.log" 2>&1 &
connector_pid=$!

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
kcat -P -b "$bootstrap" -t "${prefix}hr.employee.events" -K $'\t' -l "$work/events.kcat"

deadline=$((SECONDS + 60))
while :; do
  (( $(committed) - committed_before >= count )) && break
  if (( SECONDS > deadline )); then tail -20 "$work/engine.log"; echo "engine did not process the events in 60 s" >&2; exit 1; fi
  sleep 0.2
done

# A future-dated leave taking effect: move Grace's end_date to an instant a
# few seconds ahead; the engine keeps it as a timer in her state and, at that
# instant, deprovisions her with cause "provisioner.schedule.due".
slack_topic="${prefix}provisioning.commands.slack"
scheduled() {
  kcat -C -b "$bootstrap" -t "$slack_topic" -o "s@$start_ms" -e -q -X isolation.level=read_committed \
    -f '%s\n' | grep '"event_type":"provisioner.schedule.due"' || true
}
leave_at=$(date -u -d '+10 seconds' +%Y-%m-%dT%H:%M:%SZ)
echo "==> Moving Grace's (E1002) end_date to $leave_at, ~10 s from now (a 'changed' event, sequence 3)"
python3 - "$leave_at" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/leave.kcat" <<'PY'
import json, sys
leave_at, now = sys.argv[1], sys.argv[2]
event = {
    "specversion": "1.0", "id": "evt-0009", "source": "hris://acme",
    "type": "hr.employee.changed", "time": now, "subject": "E1002",
    "datacontenttype": "application/json",
    "data": {"sequence": 3, "employee": {"id": "E1002", "end_date": leave_at}},
}
print("E1002\t" + json.dumps(event))
PY
kcat -P -b "$bootstrap" -t "${prefix}hr.employee.events" -K $'\t' -l "$work/leave.kcat"
deadline=$((SECONDS + 60))
while :; do
  (( $(committed) - committed_before >= count + 1 )) && break
  if (( SECONDS > deadline )); then tail -20 "$work/engine.log"; echo "engine did not process the change in 60 s" >&2; exit 1; fi
  sleep 0.2
done
if [[ -n $(scheduled) ]]; then echo "Grace was deprovisioned before her end_date" >&2; exit 1; fi
echo "==> Scheduled: Grace keeps Slack until $leave_at (now $(date -u +%H:%M:%S)); what 'schedule list' shows:"
"$bin" --config "$config" schedule list --employee E1002
echo "==> Waiting for her timer"
deadline=$((SECONDS + 70))
until [[ -n $(scheduled) ]]; do
  if (( SECONDS > deadline )); then tail -20 "$work/engine.log"; echo "the scheduled deprovision did not come" >&2; exit 1; fi
  sleep 0.2
done
scheduled | python3 -c "$(cat <<'PY'
import json, sys
for line in sys.stdin:
    c = json.loads(line)
    e = c["cause"].get("effective", {})
    print(f"{c['command_id']}: {c['action']} ({c.get('deprovision')}) issued at {c['issued_at']}, "
          f"{e.get('field')} {e.get('date')} took effect at {e.get('at')}")
PY
)"
grep '"Timers fired."' "$work/engine.log" | tail -1

for app in $(sed -n 's/^\[apps\.\([a-z0-9_-]*\)\]$/\1/p' "$config"); do
  topic="${prefix}provisioning.commands.$app"
  echo "==> $topic"
  kcat -C -b "$bootstrap" -t "$topic" -o "s@$start_ms" -e -q -X isolation.level=read_committed -f 'key=%k %s\n'
done
echo "==> provisioning.events.dlq"
kcat -C -b "$bootstrap" -t "${prefix}provisioning.events.dlq" -o "s@$start_ms" -e -q \
  -f 'key=%k headers=%h\n    value=%s\n'

# The connector writes one result per command; wait for one per Slack command.
slack_commands=$(kcat -C -b "$bootstrap" -t "${prefix}provisioning.commands.slack" -o "s@$start_ms" -e -q \
  -X isolation.level=read_committed -f '%o\n' | grep -c . || true)
echo "==> Waiting for the connector to apply $slack_commands Slack command(s)"
deadline=$((SECONDS + 60))
while :; do
  results=$(kcat -C -b "$bootstrap" -t "${prefix}provisioning.results" -o "s@$start_ms" -e -q \
    -f '%s\n' 2>/dev/null | grep -c '"app":"slack"' || true)
  (( results >= slack_commands )) && break
  if (( SECONDS > deadline )); then tail -20 "$work/connector.log"; echo "connector did not apply the commands in 60 s" >&2; exit 1; fi
  sleep 0.2
done
echo "==> provisioning.results (this run)"
kcat -C -b "$bootstrap" -t "${prefix}provisioning.results" -o "s@$start_ms" -e -q -f '%s\n'
# The user accounts in the SCIM app, one row each.
show_users() {
  curl -sf -H "Authorization: Bearer $SCIM_BEARER_TOKEN" "$scim_url/Users" | python3 -c "$(cat <<'PY'
import json, sys
users = json.load(sys.stdin).get("Resources", [])
print(f"{'EXTERNAL ID':<12} {'USER NAME':<24} {'ACTIVE':<7} ROLES")
for u in sorted(users, key=lambda u: (u.get("externalId") or "~", u.get("userName", ""))):
    roles = ",".join(r.get("value", "") for r in u.get("roles", []))
    print(f"{u.get('externalId') or '-':<12} {u.get('userName', ''):<24} {str(u.get('active')):<7} {roles}")
PY
)"
}
echo "==> Users in the SCIM app ($scim_url)"
show_users

# Reconciliation: change the app behind the provisioner's back (an account
# made by hand, Ada's role raised in the app's admin page), see what
# `reconcile --dry-run` reports, then let the reactions put it right.
scim() { curl -sf -H "Authorization: Bearer $SCIM_BEARER_TOKEN" -H "Content-Type: application/scim+json" "$@"; }
echo "==> Behind the provisioner's back: an account made by hand (mallory) and Ada's (E1001) role set to admin in the app"
scim -X POST "$scim_url/Users" -o /dev/null -d '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "mallory@example.net", "active": true, "roles": [{"value": "admin", "primary": true}]}'
ada_id=$(scim "$scim_url/Users" | python3 -c "$(cat <<'PY'
import json, sys
print(next(u["id"] for u in json.load(sys.stdin)["Resources"] if u.get("externalId") == "E1001"))
PY
)")
scim -X PATCH "$scim_url/Users/$ada_id" -o /dev/null -d '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "replace", "path": "roles", "value": [{"value": "admin", "primary": true}]}]}'
show_users
echo "==> provisioner reconcile --app slack --dry-run (report only: changes nothing)"
"$bin" --config "$config" reconcile --app slack --dry-run

# The same config with the app's reactions on: re-assert drifted accounts
# through the command topic (the running connector applies them), suspend
# orphans by their id in the app.
react_config="$work/provisioner-reconcile.toml"
cp "$config" "$react_config"
printf '\n[apps.slack.reconcile]\ndrifted = "reapply"\norphans = "suspend"\n' >>"$react_config"
echo "==> provisioner reconcile --app slack, with [apps.slack.reconcile] drifted = \"reapply\", orphans = \"suspend\""
"$bin" --config "$react_config" reconcile --app slack
echo "==> Waiting for the connector to re-apply Ada's role and for the orphan to be suspended"
reconciled() {
  scim "$scim_url/Users" | python3 -c "$(cat <<'PY'
import json, sys
users = json.load(sys.stdin)["Resources"]
ada = next(u for u in users if u.get("externalId") == "E1001")
mallory = next(u for u in users if u.get("userName") == "mallory@example.net")
ok = [r.get("value") for r in ada.get("roles", [])] == ["member"] and mallory.get("active") is False
sys.exit(0 if ok else 1)
PY
)"
}
deadline=$((SECONDS + 60))
until reconciled; do
  if (( SECONDS > deadline )); then tail -20 "$work/connector.log"; echo "reconciliation's reactions did not take effect in 60 s" >&2; exit 1; fi
  sleep 0.2
done
echo "==> provisioning.results of the re-assert"
kcat -C -b "$bootstrap" -t "${prefix}provisioning.results" -o "s@$start_ms" -e -q -f '%s\n' | grep '"reassert"' || true
echo "==> Users in the SCIM app, reconciled"
show_users
echo "==> The rules store's history"
"$bin" --config "$config" rules history

echo "==> Done. Stop the services with: deploy/local/scim.sh down; deploy/local/kafka.sh down"
