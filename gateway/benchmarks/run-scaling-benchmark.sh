#!/usr/bin/env bash
# Cluster scaling benchmark: 1 gateway + N worker processes on this machine, each worker a
# stand-in engine whose every step takes STEP whatever the batch (quire worker
# --simulate-step-time), so the figures measure the gateway, placement and the data plane, not
# a CPU's matrix work. Part 1: output tokens/s with 1, 2, 4 and 8 workers at 16 streams per
# worker. Part 2: the inter-token latency the gateway and the data-plane hop add at 100 and
# 1000 concurrent streams (ITL minus the step time).
#
#   gateway/benchmarks/run-scaling-benchmark.sh [REPORT] (default: gateway/benchmarks/scaling.md)
#
# Run it alone: on a small machine every other process skews it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
report="${1:-gateway/benchmarks/scaling.md}"
step_ms="${STEP_MS:-20}"
seqs_per_worker="${SEQS_PER_WORKER:-16}"
output_len="${OUTPUT_LEN:-128}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

./quire --version >/dev/null   # builds once if needed
export QUIRE_NO_BUILD=1
export QUIRE_CLUSTER_SECRET="scaling-benchmark-$$-$RANDOM$RANDOM"
export QUIRE_JAVA_OPTS="-Xmx512m"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_cluster() { # $1 = workers, $2 = max seqs per worker
  local n=$1 seqs=$2
  cluster_port=$(free_port); grpc_port=$(free_port); http_port=$(free_port)
  ./quire gateway --host 127.0.0.1 --grpc-port "$grpc_port" --http-port "$http_port" \
    --cluster-port "$cluster_port" --cluster-name "scale-$$-$n" --worker-queue-limit 100000 \
    --max-concurrent-requests 100000 --max-queued-requests 100000 >"$work/gateway-$n.log" 2>&1 &
  pids+=($!)
  until grep -q "Gateway listening" "$work/gateway-$n.log"; do sleep 0.2; done
  for i in $(seq 1 "$n"); do
    ./quire worker --join "127.0.0.1:$cluster_port" --cluster-name "scale-$$-$n" \
      --cluster-port $((cluster_port + 1)) --simulate-step-time "${step_ms}ms" --max-seqs "$seqs" \
      >"$work/worker-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  until [[ "$(curl -s "localhost:$http_port/cluster" | grep -o '"state":"ready"' | wc -l)" -ge "$n" ]]; do sleep 0.5; done
  sleep 2
}

stop_cluster() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

metric() { # $1 = json file, $2 = key
  python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['points'][0]; print(p.get(sys.argv[2]) or 0)" "$1" "$2"
}

{
  echo "# Cluster scaling benchmark"
  echo
  echo "Command: \`gateway/benchmarks/run-scaling-benchmark.sh\` (from the repository root)  "
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo
  echo "Every worker is a separate \`./quire worker --simulate-step-time ${step_ms}ms\` process: each engine step"
  echo "takes ${step_ms} ms whatever the batch, like a large GPU's decode step, so one worker with"
  echo "\`--max-seqs ${seqs_per_worker}\` can give at most $((seqs_per_worker * 1000 / step_ms)) output tokens/s."
  echo "All processes (gateway, workers, the load generator) share this machine's cores."
  echo
  echo "## Throughput with 1, 2, 4 and 8 workers (${seqs_per_worker} streams per worker, ${output_len} output tokens each)"
  echo
  echo "| workers | concurrency | output tok/s | speed-up | ideal tok/s | p99 ITL (ms) | failed |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
} > "$work/report.md"

base=""
for n in 1 2 4 8; do
  start_cluster "$n" "$seqs_per_worker"
  c=$((n * seqs_per_worker))
  ./quire bench --target "grpc://127.0.0.1:$grpc_port" -c "$c" -n $((c * 6)) --warmup-requests "$c" \
    --input-len 32 --output-len "$output_len" --ignore-eos --no-progress --out "$work/scale-$n.json" \
    >"$work/bench-$n.txt" 2>&1
  tps=$(metric "$work/scale-$n.json" output_throughput)
  itl=$(metric "$work/scale-$n.json" p99_itl_ms)
  failed=$(metric "$work/scale-$n.json" failed)
  base=${base:-$tps}
  printf "| %d | %d | %.0f | %.2fx | %d | %.1f | %s |\n" "$n" "$c" "$tps" \
    "$(python3 -c "print($tps/$base)")" $((n * seqs_per_worker * 1000 / step_ms)) "$itl" "$failed" >> "$work/report.md"
  stop_cluster
done

{
  echo
  echo "## Latency the gateway adds at 100 and 1000 streams (4 workers, ${step_ms} ms steps)"
  echo
  echo "ITL is the gap between successive tokens at the client; each worker emits a token every ${step_ms} ms, so"
  echo "what lies above ${step_ms} ms is the gateway, the data-plane hop, the client and this shared machine."
  echo
  echo "| streams | output tok/s | p50 ITL (ms) | p99 ITL (ms) | p99 added (ms) | failed |"
  echo "|---:|---:|---:|---:|---:|---:|"
} >> "$work/report.md"
start_cluster 4 256
for c in 100 1000; do
  ./quire bench --target "grpc://127.0.0.1:$grpc_port" -c "$c" -n $((c * 2)) --warmup-requests "$c" \
    --input-len 32 --output-len 64 --ignore-eos --no-progress --out "$work/latency-$c.json" \
    >"$work/latency-$c.txt" 2>&1
  p50=$(metric "$work/latency-$c.json" median_itl_ms)
  p99=$(metric "$work/latency-$c.json" p99_itl_ms)
  printf "| %d | %.0f | %.1f | %.1f | %.1f | %s |\n" "$c" "$(metric "$work/latency-$c.json" output_throughput)" \
    "$p50" "$p99" "$(python3 -c "print($p99-$step_ms)")" "$(metric "$work/latency-$c.json" failed)" >> "$work/report.md"
done
stop_cluster

mkdir -p "$(dirname "$report")"
cp "$work/report.md" "$report"
cat "$report"
