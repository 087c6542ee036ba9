#!/usr/bin/env bash
# The images' HEALTHCHECK: GET the health endpoint the entry point chose for the command it runs
# (QUIRE_HEALTHCHECK_URL in the main process's environment) and require 200. Plain bash, so the
# images need no HTTP client. A container running a one-off command (cluster, bench) is healthy.
set -uo pipefail
url="$(tr '\0' '\n' </proc/1/environ 2>/dev/null | sed -n 's/^QUIRE_HEALTHCHECK_URL=//p' | head -n 1)"
[[ -n "$url" ]] || exit 0
address="${url%%/*}"
path="/${url#*/}"
exec 3<>"/dev/tcp/${address%:*}/${address##*:}" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$address" >&3
IFS= read -r -t 4 status <&3 || exit 1
[[ "$status" =~ ^HTTP/1\.[01]\ 200 ]] || { echo "$path: ${status%$'\r'}"; exit 1; }
