#!/usr/bin/env bash
# Gateway overhead benchmark (see GatewayOverheadBenchmark's javadoc). Writes gateway/benchmarks/overhead.md.
# Usage: gateway/benchmarks/run-overhead-benchmark.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./mvnw -q -B -pl gateway -am install -DskipTests
./mvnw -q -B -pl gateway dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.cp
java -Xmx2g --add-opens java.base/java.lang=ALL-UNNAMED -Dai.djl.offline=true \
  -cp "gateway/target/classes:gateway/target/test-classes:$(cat gateway/target/bench.cp)" \
  dev.quire.gateway.bench.GatewayOverheadBenchmark gateway/benchmarks/overhead.md
