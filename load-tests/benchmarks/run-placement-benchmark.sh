#!/usr/bin/env bash
# Placement benchmark: cache-aware vs least-loaded vs round-robin on a shared-prefix workload, over
# one cluster of real `quire worker` and `quire gateway` processes on this machine.
#   load-tests/benchmarks/run-placement-benchmark.sh [REPORT]  (default: gateway/benchmarks/placement.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./quire --version >/dev/null   # builds the launcher's jars if needed
./mvnw -q -B -pl load-tests test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/bench.cp
QUIRE_NO_BUILD=1 java -Dquire.home=. -cp "load-tests/target/test-classes:load-tests/target/classes:$(cat load-tests/target/bench.cp)" \
  dev.quire.loadtest.cluster.PlacementBenchmark "${1:-gateway/benchmarks/placement.md}"
