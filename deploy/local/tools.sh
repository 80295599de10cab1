#!/usr/bin/env bash
# Installs the command-line tools the demo and the tests use, when missing:
# kcat (a real Kafka client nobody here wrote) and promtool from Debian;
# kustomize (built from its Go module) into <repo>/.local/bin, and
# kubernetes-validate (PyPI) into the venv <repo>/.local/k8s/venv, which the
# deploy tests use to build the manifests and validate them offline against
# the Kubernetes schemas. Java 17 and Maven, which the local Kafka needs, Go
# and the Rust toolchain are expected on the machine. Harmless when done.
set -euo pipefail

# The versions the tests were checked with.
KUSTOMIZE_VERSION=v5.8.2
KUBERNETES_VALIDATE_VERSION=1.37.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$root/.local/bin
k8s_venv=$root/.local/k8s/venv
missing=()
# librdkafka is built with OpenSSL (TLS, SASL/SCRAM).
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
# Go's own install directory, when it is not on PATH.
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
for tool in java mvn cargo go; do
  command -v "$tool" >/dev/null 2>&1 || { echo "tools.sh: '$tool' is required but not installed" >&2; exit 1; }
done
if ((${#missing[@]})); then
  echo "==> Installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kustomize, built from its Go module (no prebuilt binary to download).
if [[ $("$bin/kustomize" version 2>/dev/null || true) != "$KUSTOMIZE_VERSION" ]]; then
  echo "==> Installing kustomize $KUSTOMIZE_VERSION into .local/bin (go install)"
  mkdir -p "$bin"
  GOBIN=$bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

# kubernetes-validate: the Kubernetes JSON schemas ship inside the package,
# so validation needs no network.
installed=$("$k8s_venv/bin/kubernetes-validate" --version 2>/dev/null || true)
if [[ $installed != *"$KUBERNETES_VALIDATE_VERSION"* ]]; then
  echo "==> Installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into .local/k8s/venv (pip)"
  rm -rf "$k8s_venv"
  python3 -m venv "$k8s_venv"
  "$k8s_venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
mkdir -p "$bin"
ln -sf "$k8s_venv/bin/kubernetes-validate" "$bin/kubernetes-validate"
