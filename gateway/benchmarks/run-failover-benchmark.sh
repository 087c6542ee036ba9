#!/usr/bin/env bash
# Failover and request-ledger benchmark.
#
# Part 1, failover latency: 1 gateway + 3 workers running the bundled model; `quire bench`
# streams 32 concurrent greedy requests for 15 s and SIGKILLs one worker 6 s in (--kill-worker-at). Reported:
# failed, truncated and duplicated-token requests (all must be 0) and, for every stream in flight
# at the kill, the pause until its next token (the failover latency). Three runs, fresh cluster each.
#
# Part 2, the ledger's cost: the same gateway with --ledger on and --ledger off, in front of 2
# stand-in workers whose steps take 5 ms (--simulate-step-time), at 512 streams, so that the gateway
# is the bottleneck; output tokens/s, alternating on/off, three runs each, medians.
#
#   gateway/benchmarks/run-failover-benchmark.sh [REPORT] (default: gateway/benchmarks/failover.md)
#   PARTS="failover ledger" (default: both) RUNS=3 (default)
#
# Run it alone: on a small machine every other process skews it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
report="${1:-gateway/benchmarks/failover.md}"
runs="${RUNS:-3}"
parts="${PARTS:-failover ledger}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

./quire --version >/dev/null   # builds once if needed
export QUIRE_NO_BUILD=1
export QUIRE_CLUSTER_SECRET="failover-benchmark-$$-$RANDOM$RANDOM"
export QUIRE_JAVA_OPTS="-Xmx512m"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_cluster() { # $1 = name, $2 = workers, $3 = gateway options, $4 = worker options
  local name=$1 n=$2
  cluster_port=$(free_port); grpc_port=$(free_port); http_port=$(free_port)
  # shellcheck disable=SC2086
  ./quire gateway --host 127.0.0.1 --grpc-port "$grpc_port" --http-port "$http_port" \
    --cluster-port "$cluster_port" --cluster-name "failover-$$-$name" --worker-queue-limit 100000 \
    --max-concurrent-requests 100000 --max-queued-requests 100000 $3 >"$work/gateway-$name.log" 2>&1 &
  pids+=($!)
  until grep -q "Gateway listening" "$work/gateway-$name.log"; do sleep 0.2; done
  worker_pids=()
  for i in $(seq 1 "$n"); do
    # shellcheck disable=SC2086
    ./quire worker --join "127.0.0.1:$cluster_port" --cluster-name "failover-$$-$name" \
      --cluster-port $((cluster_port + 1)) $4 >"$work/worker-$name-$i.log" 2>&1 &
    pids+=($!)
    worker_pids+=($!)
  done
  until [[ "$(curl -s "localhost:$http_port/cluster" | grep -o '"state":"ready"' | wc -l)" -ge "$n" ]]; do sleep 0.5; done
  until [[ "$(curl -s "localhost:$http_port/v1/models" | grep -c '"id"')" -ge 1 ]]; do sleep 0.2; done
  sleep 2
}

stop_cluster() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

json() { # $1 = json file, $2 = python expression over the report `r`
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

{
  echo "# Failover and request-ledger benchmark"
  echo
  echo "Command: \`gateway/benchmarks/run-failover-benchmark.sh\` (from the repository root)  "
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB;"
  echo "every process (gateway, workers, the load generator) shares these cores."
  echo
} > "$work/report.md"

if [[ " $parts " == *" failover "* ]]; then
  {
    echo "## Failover latency: a worker SIGKILLed under 32 streams (1 gateway, 3 workers, bundled model)"
    echo
    echo "\`quire bench -c 32 --duration 15s --output-len 256 --ignore-eos --kill-worker-at 6s\`. Pause: from the kill to"
    echo "the next token of each stream in flight at that moment (the streams on other workers pause"
    echo "only by their usual inter-token gap)."
    echo
    echo "| run | in flight | failed | truncated | duplicated | p50 pause (ms) | p99 pause (ms) | max pause (ms) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  } >> "$work/report.md"

  p99s=()
  for run in $(seq 1 "$runs"); do
    start_cluster "kill-$run" 3 "" "--kv-cache-bytes 64m"
    echo "${worker_pids[0]}" > "$work/victim.pid"
    ./quire bench --target "grpc://127.0.0.1:$grpc_port" -c 32 --duration 15s --warmup-requests 8 --input-len 16 \
      --output-len 256 --ignore-eos --no-progress --kill-worker-at 6s --worker-pid-file "$work/victim.pid" \
      --out "$work/kill-$run.json" >"$work/kill-$run.txt" 2>&1
    f="$work/kill-$run.json"
    p99=$(json "$f" "r['faults'][0]['p99_pause_ms']")
    p99s+=("$p99")
    printf "| %d | %s | %s | %s | %s | %.0f | %.0f | %.0f |\n" "$run" "$(json "$f" "r['faults'][0]['streams_in_flight']")" \
      "$(json "$f" "r['points'][0]['failed']")" "$(json "$f" "r['points'][0]['truncated']")" \
      "$(json "$f" "r['points'][0]['duplicated']")" "$(json "$f" "r['faults'][0]['p50_pause_ms']")" "$p99" \
      "$(json "$f" "r['faults'][0]['max_pause_ms']")" >> "$work/report.md"
    stop_cluster
  done
  printf "\nMedian p99 pause over %d runs: **%.0f ms**.\n" "$runs" "$(median "${p99s[@]}")" >> "$work/report.md"
fi

if [[ " $parts " == *" ledger "* ]]; then
  {
    echo
    echo "## The ledger's cost: gateway streaming throughput with --ledger on and off"
    echo
    echo "2 workers with 5 ms simulated steps and \`--max-seqs 256\`; \`quire bench -c 512 -n 6144 --warmup-requests 1024"
    echo "--input-len 32 --output-len 128 --ignore-eos\` (long enough that the gateway's JIT compilation, about 11 s of"
    echo "its CPU, does not decide the result)."
    echo
    echo "| run | ledger | output tok/s | p99 ITL (ms) | failed |"
    echo "|---:|---|---:|---:|---:|"
  } >> "$work/report.md"
  on=(); off=()
  for run in $(seq 1 "$runs"); do
    for mode in on off; do
      start_cluster "ledger-$mode-$run" 2 "--ledger $mode" "--simulate-step-time 5ms --max-seqs 256"
      ./quire bench --target "grpc://127.0.0.1:$grpc_port" -c 512 -n 6144 --warmup-requests 1024 --input-len 32 \
        --output-len 128 --ignore-eos --no-progress --out "$work/ledger-$mode-$run.json" \
        >"$work/ledger-$mode-$run.txt" 2>&1
      f="$work/ledger-$mode-$run.json"
      tps=$(json "$f" "r['points'][0]['output_throughput']")
      if [[ $mode == on ]]; then on+=("$tps"); else off+=("$tps"); fi
      printf "| %d | %s | %.0f | %.1f | %s |\n" "$run" "$mode" "$tps" "$(json "$f" "r['points'][0]['p99_itl_ms']")" \
        "$(json "$f" "r['points'][0]['failed']")" >> "$work/report.md"
      stop_cluster
    done
  done
  m_on=$(median "${on[@]}"); m_off=$(median "${off[@]}")
  printf "\nMedians: ledger on %.0f tok/s, off %.0f tok/s: on is **%.1f%%** of off.\n" "$m_on" "$m_off" \
    "$(python3 -c "print(100*$m_on/$m_off)")" >> "$work/report.md"
fi

mkdir -p "$(dirname "$report")"
cp "$work/report.md" "$report"
cat "$report"
