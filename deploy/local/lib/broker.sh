# shellcheck shell=bash
# Shared by kafka.sh and kafka-sasl.sh: a local Kafka broker process kept in a
# state directory (jars, config, data, logs, pid file). Sourced, not run.
#
# The caller sets: REPO_ROOT, STATE_DIR, LIBS_DIR, POM (the pom.xml listing the
# broker's jars), LOG4J_DIR, LOG_DIR, PID_FILE, CONFIG, CONSOLE_LOG, and
# defines log() and die().

have() { command -v "$1" >/dev/null 2>&1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a Kafka CLI class with quiet (stderr, WARN+) logging.
kafka_tool() {
  java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_DIR/tools-log4j2.properties" "$@"
}

# shellcheck source=deploy/local/lib/pidfile.sh
. "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

# The pid of our broker (its pid file's, if that process runs this config).
running_pid() { pid_of "$PID_FILE" kafka.Kafka "$CONFIG"; }
is_running() { running_pid >/dev/null; }

# Serialise up/down/reset of one broker; $1: seconds to wait for the lock.
take_lock() {
  mkdir -p "$STATE_DIR"
  if have flock; then
    exec 9>"$STATE_DIR/.lock"
    flock -w "$1" 9 || die "timed out waiting for another $(basename "$0") to finish"
  fi
}

# Copy the broker's runtime classpath from Maven Central into $LIBS_DIR, once,
# under a lock of its own (both brokers share the jars). The pom's hash is
# recorded so that bumping a version in pom.xml re-assembles; the copy goes to
# a temp dir first, so an interrupted download never looks complete.
ensure_libs() {
  local want
  want=$(sha256sum "$POM" | cut -d' ' -f1)
  [[ -f $LIBS_DIR/.pom.sha256 && $(<"$LIBS_DIR/.pom.sha256") == "$want" ]] && return 0
  have mvn || die "mvn not found; needed once to fetch Kafka jars (Debian: apt-get install -y maven)"
  local dir=${LIBS_DIR%/*}
  mkdir -p "$dir"
  (
    have flock && { exec 8>"$dir/.libs.lock"; flock -w 300 8 || exit 1; }
    [[ -f $LIBS_DIR/.pom.sha256 && $(<"$LIBS_DIR/.pom.sha256") == "$want" ]] && exit 0
    log "assembling Kafka jars from Maven Central into ${LIBS_DIR#"$REPO_ROOT"/} (one-time) ..."
    rm -rf "$LIBS_DIR.tmp"
    # Maven's output is only shown when it fails (even -q prints stray ANSI codes).
    if ! mvn -B -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS_DIR.tmp" >"$dir/mvn.log" 2>&1; then
      grep -E 'ERROR|FAIL' "$dir/mvn.log" | head -n 30 >&2 || true
      exit 1
    fi
    echo "$want" >"$LIBS_DIR.tmp/.pom.sha256"
    rm -rf "$LIBS_DIR"
    mv "$LIBS_DIR.tmp" "$LIBS_DIR"
  ) || die "maven could not resolve the Kafka jars (full output: $dir/mvn.log)"
}

# Starts the JVM in the background and waits for its pid file.
# Arguments: the JVM flags (heap and GC).
# setsid: own session, so the broker survives the calling shell/terminal (and
# its Ctrl-C / process-group kill). 9>&- keeps the broker from inheriting (and
# forever holding) take_lock's lock. The inner bash writes its own pid and then
# execs java, so the pid file holds the JVM's pid whether or not setsid forked.
start_jvm() {
  mkdir -p "$LOG_DIR"
  rm -f "$PID_FILE"
  local detach=()
  have setsid && detach=(setsid)
  # shellcheck disable=SC2016  # $$/$0/$@ are for the inner bash
  "${detach[@]}" nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java "$@" -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dkafka.logs.dir="$LOG_DIR" \
      -Dlog4j2.configurationFile="$LOG4J_DIR/log4j2.properties" \
      -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG" \
    >"$CONSOLE_LOG" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $PID_FILE ]] && return 0
    sleep 0.1
  done
  die "broker did not start (no pid file); see $CONSOLE_LOG"
}

# Stops the broker in the pid file: SIGTERM, then SIGKILL after $1 seconds.
stop_jvm() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping broker (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + $1))
  while is_running && (( SECONDS < deadline )); do
    sleep 0.5
  done
  if is_running; then
    log "still running after ${1}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$PID_FILE"
  log "stopped"
}
