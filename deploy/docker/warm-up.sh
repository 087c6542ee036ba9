#!/usr/bin/env bash
# Run once while the worker image is built (deploy/docker/Dockerfile): serves MODEL_DIR until the
# model has answered, so that DJL unpacks PyTorch's and the tokenizer's native libraries into
# DJL_CACHE_DIR, and the image is known to load and run a model before it is ever started.
set -euo pipefail
model="$1"
log=/tmp/warm-up/serve.log
/opt/quire/bin/quire serve --model "$model" --kv-cache-bytes 16m --grpc-port 15051 --http-port 18000 \
  >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  if grep -q 'Quire is serving' "$log"; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "warm-up: quire serve exited before serving" >&2
    exit 1
  fi
  sleep 0.5
done
# One real generation through the HTTP API (bash only: the image has no HTTP client).
body='{"model":"stories260K","prompt":"Once upon a time","max_tokens":4,"temperature":0}'
exec 3<>/dev/tcp/127.0.0.1/18000
printf 'POST /v1/completions HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "${#body}" "$body" >&3
answer="$(timeout 60 cat <&3)"
exec 3<&-
kill -TERM "$pid"
wait "$pid" || true
if [[ "$answer" != "HTTP/1."?" 200"* || "$answer" != *'"text"'* ]]; then
  cat "$log" >&2
  echo "warm-up: the completion failed: $answer" >&2
  exit 1
fi
grep -E 'kernels|native|Extracting' "$log" || true
# DJL unpacks into owner-only temporary folders: let the containers' user read (not write) them.
chmod -R a+rX,go-w "$DJL_CACHE_DIR"
ls "$DJL_CACHE_DIR"/pytorch/*/libtorch.so "$DJL_CACHE_DIR"/tokenizers/*/libtokenizers.so
