#!/usr/bin/env bash
# Engine throughput benchmark (see EngineBenchmark's javadoc).
# Usage: worker/benchmarks/run-engine-benchmark.sh [REPORT]   (from the repository root)
# REPORT defaults to worker/benchmarks/engine.md. QUIRE_JAVA_OPTS and the switches of
# deploy/native-runtime.sh (QUIRE_MKL_CPU, QUIRE_NATIVE_ATTENTION, QUIRE_MALLOC) apply, which is how
# worker/benchmarks/kernels.md measures each CPU kernel's share.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
report="${1:-worker/benchmarks/engine.md}"
./mvnw -q -B -pl worker -am install -DskipTests
./mvnw -q -B -pl worker dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.cp
source deploy/native-runtime.sh
echo "native runtime: LD_PRELOAD=${LD_PRELOAD:-none} GLIBC_TUNABLES=${GLIBC_TUNABLES:-none} QUIRE_NATIVE_DIR=${QUIRE_NATIVE_DIR:-none}"
java -Xmx6g -Dai.djl.offline=true ${QUIRE_JAVA_OPTS:-} \
  -cp "worker/target/classes:worker/target/test-classes:$(cat worker/target/bench.cp)" \
  dev.quire.worker.bench.EngineBenchmark "$report"
