# Sourced by the launchers. Chooses the native allocator for the JVM that runs PyTorch.
#
# PyTorch's CPU kernels allocate and free buffers of megabytes on every engine step. glibc malloc
# can hand such buffers back to the kernel and fault fresh pages in on the next step; on our 2-core
# test machine a batch-32 forward pass took 172 ms with tcmalloc against 340-390 ms with glibc.
# tcmalloc keeps them, so it is preloaded when installed (Debian/Ubuntu: libgoogle-perftools4 or
# libtcmalloc-minimal4).
# Without it, glibc is told to keep freed memory instead. QUIRE_MALLOC=system turns both off.
if [[ "${QUIRE_MALLOC:-auto}" != "system" && "${LD_PRELOAD:-}" != *malloc* ]]; then
  quire_tcmalloc="$( (ldconfig -p 2>/dev/null || true) | awk '/libtcmalloc_minimal\.so\.4 /{print $NF; exit}')"
  if [[ -n "$quire_tcmalloc" && -f "$quire_tcmalloc" ]]; then
    export LD_PRELOAD="$quire_tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  elif [[ -z "${GLIBC_TUNABLES:-}" ]]; then
    export GLIBC_TUNABLES="glibc.malloc.trim_threshold=17179869184:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=268435456"
  fi
  unset quire_tcmalloc
fi
