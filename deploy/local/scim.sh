#!/usr/bin/env bash
# Local SCIM 2.0 server (scim2-server from PyPI) for the SCIM connector's tests
# and the demo. It keeps users in memory and speaks RFC 7644.
#
# Usage: deploy/local/scim.sh install | up | down | status
#
#   install  Create the venv <repo>/.local/scim/venv and install the pinned
#            scim2-server into it (harmless when already done). The test
#            harness (tests/apps/) starts its own servers from this venv.
#   up       Install if needed, start scim2-server on 127.0.0.1:$SCIM_PORT in the
#            background and return once `GET /Users` answers. Prints the base URL.
#   down     Stop the server recorded in the pid file (SIGTERM, then SIGKILL).
#   status   Print running/stopped; exit 0 when running, 1 when stopped.
#
# scim2-server ships the RFC 7643 schemas and the User/Group resource types, so
# Users with externalId, emails, active and roles are accepted as they are; it
# needs no schema directory. Without --bearer-token it accepts every request.
#
# Environment:
#   SCIM_PORT           listen port                               (default 8080)
#   SCIM_BEARER_TOKEN   when set, the server requires this bearer token
#   SCIM_START_TIMEOUT  seconds `up` waits for the server          (default 30)
#
# State (venv, pid, log) lives in <repo>/.local/scim/ (gitignored).
set -euo pipefail

# The version these scripts, the harness and docs/CONNECTORS.md were checked with.
SCIM2_SERVER_VERSION=0.8.3

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STATE_DIR=$REPO_ROOT/.local/scim
VENV=$STATE_DIR/venv
PID_FILE=$STATE_DIR/scim.pid
LOG_FILE=$STATE_DIR/scim.log

SCIM_PORT=${SCIM_PORT:-8080}
START_TIMEOUT=${SCIM_START_TIMEOUT:-30}
BASE_URL=http://127.0.0.1:$SCIM_PORT

log() { echo "scim.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

installed_version() {
  [[ -x $VENV/bin/python ]] || return 1
  "$VENV/bin/python" -c \
    'import importlib.metadata as m; print(m.version("scim2-server"))' 2>/dev/null
}

install() {
  if [[ $(installed_version || true) == "$SCIM2_SERVER_VERSION" ]]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 not found (Debian: apt-get install -y python3 python3-venv)"
  log "installing scim2-server==$SCIM2_SERVER_VERSION into ${VENV#"$REPO_ROOT"/} ..."
  mkdir -p "$STATE_DIR"
  # Start from scratch: a half-finished earlier install fails the version check
  # above and is replaced whole. (A venv cannot be built elsewhere and moved:
  # its scripts hard-code its path.)
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install -y python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "scim2-server==$SCIM2_SERVER_VERSION" || die "pip could not install scim2-server==$SCIM2_SERVER_VERSION"
  [[ $(installed_version || true) == "$SCIM2_SERVER_VERSION" ]] || die "scim2-server is not importable after install"
}

# shellcheck source=deploy/local/lib/pidfile.sh
. "$SCRIPT_DIR/lib/pidfile.sh"

# The pid of our server (its pid file's, if that process serves our port).
running_pid() { pid_of "$PID_FILE" scim2-server "--port $SCIM_PORT"; }

# Does GET /Users answer (any HTTP status counts: 401 means it is up, with auth)?
answers() {
  "$VENV/bin/python" - "$BASE_URL/Users?count=1" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
EOF
}

up() {
  install
  if running_pid >/dev/null; then
    echo "$BASE_URL"
    return 0
  fi
  local args=(--hostname 127.0.0.1 --port "$SCIM_PORT")
  [[ -n ${SCIM_BEARER_TOKEN:-} ]] && args+=(--bearer-token "$SCIM_BEARER_TOKEN")
  nohup "$VENV/bin/scim2-server" "${args[@]}" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    running_pid >/dev/null || { tail -n 20 "$LOG_FILE" >&2; die "scim2-server exited during start-up"; }
    ((SECONDS < deadline)) || { down; die "scim2-server did not answer within ${START_TIMEOUT}s (log: $LOG_FILE)"; }
    sleep 0.2
  done
  log "scim2-server $SCIM2_SERVER_VERSION is up (pid $(<"$PID_FILE"), log ${LOG_FILE#"$REPO_ROOT"/})"
  echo "$BASE_URL"
}

down() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "running (pid $pid, $BASE_URL)"
  else
    echo "stopped"
    return 1
  fi
}

case ${1:-} in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
