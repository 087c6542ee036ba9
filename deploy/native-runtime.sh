# Sourced by the launchers and CI. Chooses the native libraries preloaded into the JVM that runs
# PyTorch on CPU. Both parts only change speed, never results beyond float rounding.
#
# 1. Allocator. PyTorch's CPU kernels allocate and free buffers of megabytes on every engine
#    step. glibc malloc can hand such buffers back to the kernel and fault fresh pages in on the
#    next step; on our 2-core test machine a batch-32 forward pass took 172 ms with tcmalloc
#    against 340-390 ms with glibc. tcmalloc keeps them, so it is preloaded when installed
#    (Debian/Ubuntu: libgoogle-perftools4 or libtcmalloc-minimal4). Without it, glibc is told to
#    keep freed memory instead. QUIRE_MALLOC=system turns both off.
# 2. MKL kernels on x86 CPUs not made by Intel (see deploy/native/mkl-cpu-features.c), preloaded.
#    QUIRE_MKL_CPU=vendor keeps MKL's own choice.
# 3. The decode-attention kernel (worker/src/main/native/paged_attention.c), loaded by the worker
#    from QUIRE_NATIVE_DIR. QUIRE_NATIVE_ATTENTION=off keeps the PyTorch gather path.
# Both are built with the C compiler when one is installed, for the CPU they run on, into
# deploy/native/build (outside Maven's target folders, so a clean build cannot remove them under
# running tests). Without a compiler the launcher says so and runs without them.
#
# Container images build them when the image is built, not at start (deploy/docker/Dockerfile):
# QUIRE_NATIVE_PREBUILT names that folder, which holds libquire-mkl-cpu.so and one build of the
# attention kernel per x86-64 level (x86-64-v2/, x86-64-v3/, x86-64-v4/, or generic/ elsewhere).
# Nothing is compiled then; the kernel built for the highest level this CPU supports is used.
quire_native_home="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
quire_native_build="$quire_native_home/native/build"

# quire_cpu_level: the highest x86-64 micro-architecture level this CPU reports (x86-64-v4, -v3,
# -v2), or generic.
quire_cpu_level() {
  local flags level
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has_all() { local f; for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
  level=generic
  if [[ "$(uname -m)" == "x86_64" ]] && has_all cx16 lahf_lm popcnt sse4_1 sse4_2 ssse3; then
    level=x86-64-v2
    if has_all avx avx2 bmi1 bmi2 f16c fma abm movbe; then
      level=x86-64-v3
      if has_all avx512f avx512bw avx512cd avx512dq avx512vl; then
        level=x86-64-v4
      fi
    fi
  fi
  unset -f has_all
  echo "$level"
}

# quire_build_native SOURCE LIBRARY [CFLAGS...]: builds LIBRARY when missing or older than SOURCE.
# With QUIRE_NATIVE_PREBUILT it only says whether LIBRARY is there.
quire_build_native() {
  local src="$1" lib="$2"
  shift 2
  if [[ -n "${QUIRE_NATIVE_PREBUILT:-}" ]]; then
    [[ -f "$lib" ]]
    return
  fi
  if [[ ! -f "$lib" || "$src" -nt "$lib" ]]; then
    if ! command -v cc >/dev/null; then
      echo "quire: no C compiler (cc) to build $(basename "$src"); running without it (slower CPU inference)" >&2
      return 1
    fi
    mkdir -p "$(dirname "$lib")"
    cc -shared -fPIC "$@" -o "$lib" "$src" || { rm -f "$lib"; return 1; }
  fi
}

if [[ "${QUIRE_MALLOC:-auto}" != "system" && "${LD_PRELOAD:-}" != *malloc* ]]; then
  quire_tcmalloc="$( (ldconfig -p 2>/dev/null || true) | awk '/libtcmalloc_minimal\.so\.4 /{print $NF; exit}')"
  if [[ -n "$quire_tcmalloc" && -f "$quire_tcmalloc" ]]; then
    export LD_PRELOAD="$quire_tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  elif [[ -z "${GLIBC_TUNABLES:-}" ]]; then
    export GLIBC_TUNABLES="glibc.malloc.trim_threshold=17179869184:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456"
  fi
  unset quire_tcmalloc
fi

quire_mkl_build="$quire_native_build"
quire_attention_build="$quire_native_build"
if [[ -n "${QUIRE_NATIVE_PREBUILT:-}" ]]; then
  quire_mkl_build="$QUIRE_NATIVE_PREBUILT"
  quire_attention_build="$QUIRE_NATIVE_PREBUILT/$(quire_cpu_level)"
fi

if [[ "${QUIRE_MKL_CPU:-features}" != "vendor" && "$(uname -m)" == "x86_64" \
      && "${LD_PRELOAD:-}" != *libquire-mkl-cpu* ]] \
   && ! grep -q -m1 '^vendor_id.*GenuineIntel' /proc/cpuinfo 2>/dev/null \
   && quire_build_native "$quire_native_home/native/mkl-cpu-features.c" \
        "$quire_mkl_build/libquire-mkl-cpu.so" -O2; then
  export LD_PRELOAD="$quire_mkl_build/libquire-mkl-cpu.so${LD_PRELOAD:+:$LD_PRELOAD}"
fi

if [[ "${QUIRE_NATIVE_ATTENTION:-on}" != "off" ]] \
   && quire_build_native "$quire_native_home/../worker/src/main/native/paged_attention.c" \
        "$quire_attention_build/libquire-attention.so" -O3 -march=native -fno-math-errno; then
  export QUIRE_NATIVE_DIR="$quire_attention_build"
fi
unset -f quire_build_native quire_cpu_level
unset quire_native_home quire_native_build quire_mkl_build quire_attention_build
