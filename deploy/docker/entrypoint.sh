#!/usr/bin/env bash
# The entry point of Quire's container images: `quire COMMAND [OPTIONS]`, the command line of the
# repository's launcher (/opt/quire/quire), which it runs after setting what a container needs:
#
# - gateway, worker: the cluster interface defaults to this container's address (Hazelcast and the
#   data plane bind and advertise it; the launcher's default, 127.0.0.1, reaches no other container).
# - worker: fixed ports instead of free ones, so that they can be published and probed: the data
#   plane on 7000, /health /ready /metrics on 8000.
# - the JVM's heap is a share of the container's memory limit: 75% for a gateway, 25% where a model
#   runs (its weights and KV cache live outside the heap, in PyTorch's native memory); a JVM out of
#   memory exits, so that the container is restarted.
# - PyTorch's CPU threads follow the container's CPU limit (PyTorch counts the host's cores).
#
# Every default here is an environment variable the user's own settings replace: a flag, a key of
# the --config YAML file or a QUIRE_<OPTION> variable wins; QUIRE_JAVA_OPTS is appended to the JVM
# flags (so its -XX:MaxRAMPercentage wins) and OMP_NUM_THREADS is kept when set.
set -euo pipefail

export QUIRE_HOME=/opt/quire QUIRE_NO_BUILD=1
command="${1:-}"

# option NAME DEFAULT ARGS...: the value of --NAME from the arguments, else from the --config YAML
# file (or QUIRE_CONFIG), else from QUIRE_NAME, else DEFAULT.
option() {
  local name="$1" default="$2" config="${QUIRE_CONFIG:-}" value="" var
  shift 2
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --"$name") value="${2:-}"; shift ;;
      --"$name"=*) value="${1#*=}" ;;
      --config) config="${2:-}"; shift ;;
      --config=*) config="${1#*=}" ;;
    esac
    shift
  done
  if [[ -z "$value" && -n "$config" && -r "$config" ]]; then
    value="$(sed -n -E "s/^$name:[[:space:]]*[\"']?([^\"'#[:space:]]*).*/\\1/p" "$config" | head -n 1)"
  fi
  if [[ -z "$value" ]]; then
    var="QUIRE_$(tr 'a-z-' 'A-Z_' <<<"$name")"
    value="${!var:-}"
  fi
  echo "${value:-$default}"
}

# This container's IPv4 address (the one its hostname resolves to).
container_address() {
  local address
  address="$(hostname -i 2>/dev/null | tr ' ' '\n' | grep -m 1 -E '^[0-9]+(\.[0-9]+){3}$' || true)"
  echo "${address:-127.0.0.1}"
}

# The CPUs the container may use (its cgroup quota), or nothing without a limit.
cpu_limit() {
  local quota period
  if [[ -r /sys/fs/cgroup/cpu.max ]]; then
    read -r quota period </sys/fs/cgroup/cpu.max
  elif [[ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
    quota="$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
    period="$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
  fi
  if [[ -n "${quota:-}" && "$quota" != max && "$quota" -gt 0 && "${period:-0}" -gt 0 ]]; then
    echo $(((quota + period - 1) / period))
  fi
}

heap_percent=75
case "$command" in
  worker|serve)
    if [[ ! -d /opt/quire/server/target/lib ]]; then
      echo "quire: this is the gateway image; '$command' runs a model and runs from the worker image" >&2
      exit 2
    fi
    heap_percent=25
    if [[ -z "${OMP_NUM_THREADS:-}" ]]; then
      cpus="$(cpu_limit)"
      if [[ -n "$cpus" ]]; then
        export OMP_NUM_THREADS="$cpus"
      fi
    fi
    ;;
esac

case "$command" in
  gateway)
    export QUIRE_CLUSTER_INTERFACE="${QUIRE_CLUSTER_INTERFACE:-$(container_address)}"
    export QUIRE_HEALTHCHECK_URL="127.0.0.1:$(option http-port 8000 "$@")/health"
    ;;
  worker)
    export QUIRE_CLUSTER_INTERFACE="${QUIRE_CLUSTER_INTERFACE:-$(container_address)}"
    export QUIRE_PORT="${QUIRE_PORT:-7000}" QUIRE_METRICS_PORT="${QUIRE_METRICS_PORT:-8000}"
    export QUIRE_HEALTHCHECK_URL="$(option cluster-interface 127.0.0.1 "$@"):$(option metrics-port 8000 "$@")/ready"
    ;;
  serve)
    export QUIRE_HEALTHCHECK_URL="127.0.0.1:$(option http-port 8000 "$@")/ready"
    ;;
esac

export QUIRE_JAVA_OPTS="-XX:MaxRAMPercentage=$heap_percent -XX:+ExitOnOutOfMemoryError ${QUIRE_JAVA_OPTS:-}"
exec /opt/quire/quire "$@"
