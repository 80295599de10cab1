#!/usr/bin/env bash
# Installs the command-line tools the demo and the tests use, when missing:
# kcat (a real Kafka client nobody here wrote). Java 17 and Maven, which the
# local Kafka needs, and the Rust toolchain are expected on the machine.
set -euo pipefail
missing=()
# librdkafka is built with OpenSSL (TLS, SASL/SCRAM).
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
for tool in java mvn cargo; do
  command -v "$tool" >/dev/null 2>&1 || { echo "tools.sh: '$tool' is required but not installed" >&2; exit 1; }
done
if ((${#missing[@]})); then
  echo "==> Installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
