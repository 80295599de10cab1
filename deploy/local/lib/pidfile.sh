# shellcheck shell=bash
# Shared by the local service scripts (lib/broker.sh, scim.sh). Sourced, not run.

# pid_of PID_FILE PATTERN...: the pid in PID_FILE if that process is alive and
# its command line holds every PATTERN (guards against a stale pid file whose
# pid was reused by something else). A zombie has an empty command line, so it
# counts as stopped.
pid_of() {
  local file=$1 pid cmdline pattern
  shift
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  for pattern in "$@"; do
    [[ $cmdline == *"$pattern"* ]] || return 1
  done
  echo "$pid"
}
