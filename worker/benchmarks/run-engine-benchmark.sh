#!/usr/bin/env bash
# Engine throughput benchmark (see EngineBenchmark's javadoc). Writes worker/benchmarks/engine.md.
# Usage: worker/benchmarks/run-engine-benchmark.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./mvnw -q -B -pl worker -am install -DskipTests
./mvnw -q -B -pl worker dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.cp
source deploy/native-runtime.sh
echo "native runtime: LD_PRELOAD=${LD_PRELOAD:-none} GLIBC_TUNABLES=${GLIBC_TUNABLES:-none}"
java -Xmx6g -Dai.djl.offline=true \
  -cp "worker/target/classes:worker/target/test-classes:$(cat worker/target/bench.cp)" \
  dev.quire.worker.bench.EngineBenchmark worker/benchmarks/engine.md
