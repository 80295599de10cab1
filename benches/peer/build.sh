#!/usr/bin/env bash
# Builds the Kafka Streams peer of the engine benchmark (see README.md beside this
# script): target/streams-peer-0.jar and its runtime jars in target/lib/. Offline from
# the local Maven repository when it has everything, else from Maven Central.
# Tests: `mvn -q test` here (Kafka Streams' TopologyTestDriver, no broker).
set -euo pipefail
cd "$(dirname "$0")"
command -v mvn >/dev/null || { echo "build.sh: mvn not found (Maven 3, Java 17)" >&2; exit 1; }
goals=(-B -q -DskipTests package dependency:copy-dependencies
       -DincludeScope=runtime -DoutputDirectory=target/lib)
if ! mvn -o "${goals[@]}" >/dev/null 2>&1; then
  mvn "${goals[@]}"
fi
test -f target/streams-peer-0.jar
