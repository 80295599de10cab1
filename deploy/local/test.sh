#!/usr/bin/env bash
# Runs every test from scratch: installs the tools, starts the local Kafka
# (or uses KAFKA_BOOTSTRAP_SERVERS), then formatting, lints and all tests.
# Integration tests fail loudly — never skip — when a real part is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
"$root/deploy/local/tools.sh"
# `up` prints the address of the broker it started (or of KAFKA_BOOTSTRAP_SERVERS).
KAFKA_BOOTSTRAP_SERVERS=$("$root/deploy/local/kafka.sh" up)
export KAFKA_BOOTSTRAP_SERVERS
# The SCIM tests start their own scim2-server from this venv.
"$root/deploy/local/scim.sh" install
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --quiet 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
