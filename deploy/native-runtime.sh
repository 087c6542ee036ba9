# Sourced by the launchers and CI. Chooses the native libraries preloaded into the JVM that runs
# PyTorch on CPU. Both parts only change speed, never results beyond float rounding.
#
# 1. Allocator. PyTorch's CPU kernels allocate and free buffers of megabytes on every engine
#    step. glibc malloc can hand such buffers back to the kernel and fault fresh pages in on the
#    next step; on our 2-core test machine a batch-32 forward pass took 172 ms with tcmalloc
#    against 340-390 ms with glibc. tcmalloc keeps them, so it is preloaded when installed
#    (Debian/Ubuntu: libgoogle-perftools4 or libtcmalloc-minimal4). Without it, glibc is told to
#    keep freed memory instead. QUIRE_MALLOC=system turns both off.
# 2. MKL kernels on x86 CPUs not made by Intel (see deploy/native/mkl-cpu-features.c). Built
#    with the C compiler when one is installed, into deploy/native/build (outside Maven's
#    target folders, so a clean build cannot remove it under running tests), and preloaded.
#    QUIRE_MKL_CPU=vendor keeps MKL's own choice.
quire_native_home="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${QUIRE_MALLOC:-auto}" != "system" && "${LD_PRELOAD:-}" != *malloc* ]]; then
  quire_tcmalloc="$( (ldconfig -p 2>/dev/null || true) | awk '/libtcmalloc_minimal\.so\.4 /{print $NF; exit}')"
  if [[ -n "$quire_tcmalloc" && -f "$quire_tcmalloc" ]]; then
    export LD_PRELOAD="$quire_tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  elif [[ -z "${GLIBC_TUNABLES:-}" ]]; then
    export GLIBC_TUNABLES="glibc.malloc.trim_threshold=17179869184:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456"
  fi
  unset quire_tcmalloc
fi

if [[ "${QUIRE_MKL_CPU:-features}" != "vendor" && "$(uname -m)" == "x86_64" \
      && "${LD_PRELOAD:-}" != *libquire-mkl-cpu* ]] \
   && ! grep -q -m1 '^vendor_id.*GenuineIntel' /proc/cpuinfo 2>/dev/null; then
  quire_mkl_src="$quire_native_home/native/mkl-cpu-features.c"
  quire_mkl_lib="$quire_native_home/native/build/libquire-mkl-cpu.so"
  if [[ ! -f "$quire_mkl_lib" || "$quire_mkl_src" -nt "$quire_mkl_lib" ]] && command -v cc >/dev/null; then
    mkdir -p "$(dirname "$quire_mkl_lib")"
    cc -O2 -shared -fPIC -o "$quire_mkl_lib" "$quire_mkl_src" || rm -f "$quire_mkl_lib"
  fi
  if [[ -f "$quire_mkl_lib" ]]; then
    export LD_PRELOAD="$quire_mkl_lib${LD_PRELOAD:+:$LD_PRELOAD}"
  else
    echo "quire: no C compiler (cc) to build $quire_mkl_src; MKL will use its generic kernels on this CPU (slower CPU inference)" >&2
  fi
  unset quire_mkl_src quire_mkl_lib
fi
unset quire_native_home
