#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x broker (KRaft, combined broker + controller),
# assembled from Maven Central jars. No Docker, no Kafka tarball download.
#
# Usage: deploy/local/kafka.sh up | down | status | logs [-f] | reset
#
#   up      Start the broker (or reuse a running one) and return once it answers a
#           metadata request. Prints the bootstrap address on stdout, so callers can do
#             export KAFKA_BOOTSTRAP_SERVERS=$(deploy/local/kafka.sh up)
#           If KAFKA_BOOTSTRAP_SERVERS is already set, nothing is started: the script
#           only waits for that broker to answer and prints it.
#   down    Stop the broker recorded in the pid file (SIGTERM, then SIGKILL).
#   status  Print running/stopped; exit 0 when running, 1 when stopped.
#   logs    Print the last 100 lines of the server log (-f: follow).
#   reset   down, then delete the data dir (next `up` formats fresh storage).
#
# Needs: Java 17+ (Kafka 4.x brokers require it) and Maven (first `up` only).
# Optional: kcat, for a fast readiness probe; otherwise Kafka's TopicCommand is used.
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS  use an existing broker instead of starting one
#   KAFKA_PORT               client listener port      (default 9092)
#   KAFKA_CONTROLLER_PORT    KRaft controller port     (default 9093)
#   KAFKA_STATE_DIR          data, logs, pid file      (default <repo>/.local/kafka)
#                            another dir (and ports) = another, independent broker,
#                            e.g. one a test may stop; the jars stay shared
#   KAFKA_HEAP_OPTS          JVM heap flags            (default "-Xmx1g -Xms256m")
#   KAFKA_START_TIMEOUT      seconds to wait in `up`   (default 90)
#   KAFKA_STOP_TIMEOUT       seconds before SIGKILL    (default 30)
#   KAFKA_PROBE=java         use the Java probe even if kcat is installed
#
# State (jars, data, logs, pid) lives in <repo>/.local/kafka/ (gitignored); the
# jars always do, the rest follows KAFKA_STATE_DIR.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CONF_DIR=$SCRIPT_DIR/kafka

STATE_DIR=${KAFKA_STATE_DIR:-$REPO_ROOT/.local/kafka}
LIBS_DIR=$REPO_ROOT/.local/kafka/libs   # shared by every broker of this checkout
DATA_DIR=$STATE_DIR/data
LOG_DIR=$STATE_DIR/logs
PID_FILE=$STATE_DIR/kafka.pid
CONFIG=$STATE_DIR/server.properties
SERVER_LOG=$LOG_DIR/server.log
CONSOLE_LOG=$LOG_DIR/kafka.out   # JVM stdout/stderr: crashes before log4j is up, WARN+
POM=$CONF_DIR/pom.xml
LOG4J_DIR=$CONF_DIR

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
LOCAL_BOOTSTRAP=127.0.0.1:$KAFKA_PORT

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=deploy/local/lib/broker.sh
. "$SCRIPT_DIR/lib/broker.sh"

# ---------------------------------------------------------------- prerequisites

check_java() {
  have java || die "java not found; Kafka 4.x needs Java 17+ (Debian: apt-get install -y openjdk-17-jre-headless)"
  local spec
  spec=$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  if ! [[ ${spec%%.*} =~ ^[0-9]+$ ]] || (( ${spec%%.*} < 17 )); then
    die "java ${spec:-?} found, but Kafka 4.x brokers need Java 17+"
  fi
}

# ---------------------------------------------------------------- process state

# Does a broker at $1 (comma-separated bootstrap list) answer a metadata request?
probe() {
  # Local broker: skip the (slower) metadata probe while the port is still closed.
  [[ $1 == "$LOCAL_BOOTSTRAP" ]] && ! port_open "$KAFKA_PORT" && return 1
  if [[ ${KAFKA_PROBE:-} != java ]] && have kcat; then
    # -m: metadata timeout; librdkafka otherwise keeps retrying a refused connection.
    timeout 15 kcat -b "$1" -L -m 3 >/dev/null 2>&1
  else
    [[ -f $LIBS_DIR/.pom.sha256 ]] || ensure_libs
    timeout 30 java -cp "$LIBS_DIR/*" \
        -Dlog4j2.configurationFile="$CONF_DIR/tools-log4j2.properties" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --list \
        --command-config "$CONF_DIR/probe-admin.properties" >/dev/null 2>&1
  fi
}

# server.log size when this `up` started the broker, so a failure shows this run's
# lines rather than the previous run's shutdown.
LOG_OFFSET=0

show_logs_tail() {
  if [[ -s $CONSOLE_LOG ]]; then
    log "---- last 20 lines of $CONSOLE_LOG ----"
    tail -n 20 "$CONSOLE_LOG" >&2
  fi
  if [[ -f $SERVER_LOG ]]; then
    log "---- last 50 lines of $SERVER_LOG (this run) ----"
    tail -c +"$((LOG_OFFSET + 1))" "$SERVER_LOG" | tail -n 50 >&2
  fi
}

# Poll (not sleep) until the broker answers, with a deadline.
# $1 bootstrap servers; $2 = "local" to also fail fast if our JVM dies.
wait_ready() {
  local bootstrap=$1 mode=${2:-local} deadline=$((SECONDS + START_TIMEOUT))
  [[ $mode == local ]] || log "waiting for broker at $bootstrap ..."
  until probe "$bootstrap"; do
    if [[ $mode == local ]] && ! is_running; then
      log "broker process exited during startup"
      show_logs_tail
      rm -f "$PID_FILE"
      exit 1
    fi
    if (( SECONDS >= deadline )); then
      log "broker at $bootstrap did not answer within ${START_TIMEOUT}s"
      [[ $mode == local ]] && show_logs_tail && log "(still running; 'kafka.sh down' to stop it)"
      exit 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- setup steps

# Render the committed template with this checkout's paths and ports.
render_config() {
  local esc_data
  esc_data=$(printf '%s' "$DATA_DIR" | sed 's/[\\|&]/\\&/g')
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_DATA_DIR@|$esc_data|g" \
      "$CONF_DIR/server.properties" >"$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

# KRaft storage must be formatted (cluster id + metadata bootstrap) before the first
# start, and exactly once: re-formatting would mean a new cluster. meta.properties is
# the marker StorageTool itself writes. No --standalone: the quorum is static
# (controller.quorum.voters), and --standalone is only for dynamic quorums.
format_storage_once() {
  [[ -f $DATA_DIR/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
  log "formatting KRaft storage in ${DATA_DIR#"$REPO_ROOT"/} (cluster id $cluster_id) ..."
  mkdir -p "$DATA_DIR"
  kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" >&2 \
    || die "StorageTool format failed"
}

start_broker() {
  local heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  LOG_OFFSET=$(stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0)
  start_jvm "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  log "started broker (pid $(<"$PID_FILE")), waiting for it to answer on $LOCAL_BOOTSTRAP ..."
}

# ---------------------------------------------------------------- commands

cmd_up() {
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    # Externally managed broker (CI service, another checkout): never start our own.
    wait_ready "$KAFKA_BOOTSTRAP_SERVERS" external
    echo "$KAFKA_BOOTSTRAP_SERVERS"
    return 0
  fi
  take_lock 120
  local pid
  if pid=$(running_pid); then
    log "already running (pid $pid)"
    wait_ready "$LOCAL_BOOTSTRAP"
    echo "$LOCAL_BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"   # stale
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_open "$port" && die "127.0.0.1:$port is already in use by a process this script did not start." \
      "Stop it, pick other ports (KAFKA_PORT / KAFKA_CONTROLLER_PORT), or reuse a running broker" \
      "with KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT."
  done
  check_java
  ensure_libs
  render_config
  format_storage_once
  start_broker
  local t0=$SECONDS
  wait_ready "$LOCAL_BOOTSTRAP"
  log "broker ready on $LOCAL_BOOTSTRAP after $((SECONDS - t0))s"
  echo "$LOCAL_BOOTSTRAP"
}

cmd_down() {
  take_lock 120
  stop_jvm "$STOP_TIMEOUT"
}

cmd_status() {
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    if probe "$KAFKA_BOOTSTRAP_SERVERS"; then
      echo "running (external broker at $KAFKA_BOOTSTRAP_SERVERS)"
      return 0
    fi
    echo "stopped (external broker at $KAFKA_BOOTSTRAP_SERVERS not answering)"
    return 1
  fi
  local pid
  if pid=$(running_pid); then
    if probe "$LOCAL_BOOTSTRAP"; then
      echo "running (pid $pid, $LOCAL_BOOTSTRAP)"
    else
      echo "running (pid $pid, not answering on $LOCAL_BOOTSTRAP yet)"
    fi
    return 0
  fi
  echo "stopped"
  return 1
}

cmd_logs() {
  [[ -f $SERVER_LOG ]] || die "no server log yet ($SERVER_LOG)"
  if [[ ${1:-} == -f ]]; then
    exec tail -n 100 -F "$SERVER_LOG"
  fi
  tail -n 100 "$SERVER_LOG"
}

cmd_reset() {
  cmd_down
  log "deleting ${DATA_DIR#"$REPO_ROOT"/}"
  rm -rf "$DATA_DIR"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  reset) cmd_reset ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) echo "usage: $0 up|down|status|logs [-f]|reset" >&2; exit 2 ;;
esac
