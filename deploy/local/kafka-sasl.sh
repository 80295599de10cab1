#!/usr/bin/env bash
# A second local Kafka 4.x broker that requires SASL/SCRAM-SHA-256: the secure
# variant of kafka.sh, for tests/ops/sasl.rs and for trying the TLS/SASL settings
# of docs/OPERATIONS.md by hand. It reuses the jars kafka.sh assembled.
#
# Usage: deploy/local/kafka-sasl.sh up | down | status | logs | reset | env
#
#   up      Start the broker (or reuse a running one); return once it answers an
#           authenticated metadata request. Prints the bootstrap address.
#   down    Stop it (SIGTERM, then SIGKILL).
#   status  running/stopped; exit 0 when running.
#   logs    The last 100 lines of its server log.
#   reset   down, then delete its data (next `up` formats fresh storage).
#   env     Print the client settings as shell assignments.
#
# The SCRAM credentials are written into the metadata log when the storage is
# formatted (StorageTool format --add-scram), so changing them needs `reset`.
# Jars: those of kafka.sh (.local/kafka/libs), assembled the same way if missing.
# They are local test credentials, not secrets:
#   KAFKA_SASL_USER      client user          (default provisioner)
#   KAFKA_SASL_PASSWORD  its password         (default provisioner-local-secret)
# Other settings: KAFKA_SASL_PORT (19094), KAFKA_SASL_CONTROLLER_PORT (19095),
# KAFKA_SASL_HEAP_OPTS ("-Xmx384m -Xms128m"), KAFKA_START_TIMEOUT (90 s).
# State lives in <repo>/.local/kafka-sasl/ (gitignored).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CONF_DIR=$SCRIPT_DIR/kafka-sasl
LOG4J_DIR=$SCRIPT_DIR/kafka
LIBS_DIR=$REPO_ROOT/.local/kafka/libs   # assembled by kafka.sh
STATE_DIR=$REPO_ROOT/.local/kafka-sasl
DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
PID_FILE=$STATE_DIR/kafka.pid
CONFIG=$STATE_DIR/server.properties
CLIENT_CONFIG=$STATE_DIR/client.properties
CONSOLE_LOG=$LOG_DIR/kafka.out
POM=$LOG4J_DIR/pom.xml

PORT=${KAFKA_SASL_PORT:-19094}
CONTROLLER_PORT=${KAFKA_SASL_CONTROLLER_PORT:-19095}
HEAP_OPTS=${KAFKA_SASL_HEAP_OPTS:--Xmx384m -Xms128m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
USER_NAME=${KAFKA_SASL_USER:-provisioner}
USER_PASSWORD=${KAFKA_SASL_PASSWORD:-provisioner-local-secret}
ADMIN_USER="admin"
ADMIN_PASSWORD=admin-local-secret
BOOTSTRAP=127.0.0.1:$PORT

log() { echo "kafka-sasl.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=deploy/local/lib/broker.sh
. "$SCRIPT_DIR/lib/broker.sh"

write_client_config() {
  mkdir -p "$STATE_DIR"
  cat >"$CLIENT_CONFIG" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$USER_NAME" password="$USER_PASSWORD";
request.timeout.ms=3000
default.api.timeout.ms=5000
EOF
}

# An authenticated metadata request: proves the listener and the credentials.
# Kafka's own client, not kcat: Debian's kcat (librdkafka 2.0.2) has been
# seen failing SCRAM against this broker while Java clients and the engine's
# librdkafka authenticate.
probe() {
  port_open "$PORT" || return 1
  timeout 30 java -cp "$LIBS_DIR/*" \
    -Dlog4j2.configurationFile="$LOG4J_DIR/tools-log4j2.properties" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list \
    --command-config "$CLIENT_CONFIG" >/dev/null 2>&1
}

render_config() {
  local esc_data
  esc_data=$(printf '%s' "$DATA_DIR" | sed 's/[\\|&]/\\&/g')
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$esc_data|g" -e "s|@ADMIN_USER@|$ADMIN_USER|g" \
      -e "s|@ADMIN_PASSWORD@|$ADMIN_PASSWORD|g" \
      "$CONF_DIR/server.properties" >"$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

# Once: cluster id, metadata bootstrap and the SCRAM users (broker + client).
format_storage_once() {
  [[ -f $DATA_DIR/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
  log "formatting storage in ${DATA_DIR#"$REPO_ROOT"/} with SCRAM users $ADMIN_USER, $USER_NAME ..."
  mkdir -p "$DATA_DIR"
  kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
    --add-scram "SCRAM-SHA-256=[name=$ADMIN_USER,password=$ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=$USER_NAME,password=$USER_PASSWORD]" >&2 \
    || die "StorageTool format failed"
}

start_broker() {
  local heap
  read -r -a heap <<<"$HEAP_OPTS"
  start_jvm "${heap[@]}" -XX:+UseG1GC
  log "started SASL broker (pid $(<"$PID_FILE")), waiting for $BOOTSTRAP ..."
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until probe; do
    if ! running_pid >/dev/null; then
      log "broker process exited during startup; last lines of $CONSOLE_LOG:"
      tail -n 30 "$CONSOLE_LOG" >&2 || true
      tail -n 30 "$LOG_DIR/server.log" >&2 2>/dev/null || true
      rm -f "$PID_FILE"
      exit 1
    fi
    (( SECONDS < deadline )) || die "SASL broker at $BOOTSTRAP did not answer within ${START_TIMEOUT}s (see $LOG_DIR)"
    sleep 1
  done
}

cmd_up() {
  take_lock 180
  have java || die "java not found; Kafka 4.x needs Java 17+"
  ensure_libs
  write_client_config
  if running_pid >/dev/null; then
    wait_ready
    echo "$BOOTSTRAP"
    return 0
  fi
  # A SASL broker of another checkout on these ports, with these credentials: reuse it.
  if port_open "$PORT" && probe; then
    log "a SASL broker this checkout did not start answers on $BOOTSTRAP; using it"
    echo "$BOOTSTRAP"
    return 0
  fi
  local port
  for port in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$port" && die "127.0.0.1:$port is in use by a process this script did not start" \
      "(pick other ports with KAFKA_SASL_PORT / KAFKA_SASL_CONTROLLER_PORT)"
  done
  render_config
  format_storage_once
  start_broker
  local t0=$SECONDS
  wait_ready
  log "SASL broker ready on $BOOTSTRAP after $((SECONDS - t0))s"
  echo "$BOOTSTRAP"
}

cmd_down() {
  take_lock 180
  stop_jvm 30
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status)
    if pid=$(running_pid); then echo "running (pid $pid, $BOOTSTRAP)"; else echo stopped; exit 1; fi ;;
  logs) tail -n 100 "$LOG_DIR/server.log" ;;
  reset) cmd_down; rm -rf "$DATA_DIR"; log "deleted ${DATA_DIR#"$REPO_ROOT"/}" ;;
  env)
    printf 'KAFKA_SASL_BOOTSTRAP=%s\nKAFKA_SASL_USER=%s\nKAFKA_SASL_PASSWORD=%s\n' \
      "$BOOTSTRAP" "$USER_NAME" "$USER_PASSWORD" ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) echo "usage: $0 up|down|status|logs|reset|env" >&2; exit 2 ;;
esac
