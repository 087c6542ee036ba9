#!/usr/bin/env bash
# Builds Quire's container images from this checkout: first the jars (the Maven build, through the
# launcher, only when they are missing or older than the sources), then the images from
# deploy/docker/Dockerfile with the repository root as the build context.
#
#   deploy/build-images.sh                      # quire/gateway, quire/worker, quire/demo (:latest)
#   deploy/build-images.sh worker               # just one (gateway, worker, demo, worker-gpu)
#   deploy/build-images.sh --base-image my.registry/java:17-jre --tag 0.1.0
#
# Options (or environment variables):
#   --base-image IMAGE  QUIRE_BASE_IMAGE  the Java 17 runtime image to build on (default:
#                                         eclipse-temurin:17-jre; it is pulled unless present)
#   --tag TAG           QUIRE_IMAGE_TAG   the images' tag (default: latest)
#   --repository NAME   QUIRE_IMAGE_REPOSITORY  image names are NAME/gateway, ... (default: quire)
#   QUIRE_CUDA_BASE_IMAGE   the CUDA image worker-gpu builds on (default: see Dockerfile.gpu)
#   QUIRE_NO_BUILD=1    use the jars as they are (the build's own tests set it)
# worker-gpu (deploy/docker/Dockerfile.gpu) is built only when named: it downloads PyTorch's CUDA
# libraries while it is built, and has not been tested by this project (see docs/deploy.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

base_image="${QUIRE_BASE_IMAGE:-}"
tag="${QUIRE_IMAGE_TAG:-latest}"
repository="${QUIRE_IMAGE_REPOSITORY:-quire}"
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base-image) base_image="$2"; shift 2 ;;
    --base-image=*) base_image="${1#*=}"; shift ;;
    --tag) tag="$2"; shift 2 ;;
    --tag=*) tag="${1#*=}"; shift ;;
    --repository) repository="$2"; shift 2 ;;
    --repository=*) repository="${1#*=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    gateway|worker|demo|worker-gpu) targets+=("$1"); shift ;;
    *) echo "build-images: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(gateway worker demo)

if [[ "${QUIRE_NO_BUILD:-}" != 1 ]]; then
  # The launcher builds the jars when they are missing or stale, as on its own first run.
  ./quire --version >/dev/null
fi
for built in gateway/target/lib server/target/lib load-tests/target/lib; do
  [[ -d "$built" ]] || { echo "build-images: $built is missing: build the project first (./mvnw -DskipTests package)" >&2; exit 1; }
done

build_args=()
[[ -z "$base_image" ]] || build_args+=(--build-arg "BASE_IMAGE=$base_image")
for target in "${targets[@]}"; do
  image="$repository/$target:$tag"
  start=$SECONDS
  if [[ "$target" == worker-gpu ]]; then
    gpu_args=()
    [[ -z "${QUIRE_CUDA_BASE_IMAGE:-}" ]] || gpu_args+=(--build-arg "CUDA_BASE_IMAGE=$QUIRE_CUDA_BASE_IMAGE")
    docker build -f deploy/docker/Dockerfile.gpu "${gpu_args[@]}" -t "$image" .
  else
    docker build -f deploy/docker/Dockerfile "${build_args[@]}" --target "$target" -t "$image" .
  fi
  echo "build-images: $image built in $((SECONDS - start)) s"
done
