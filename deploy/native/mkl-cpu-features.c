/*
 * Preloaded into the JVM that runs PyTorch on x86 CPUs not made by Intel (see
 * deploy/native-runtime.sh, which builds it).
 *
 * The MKL inside PyTorch's CPU library asks this function whether it runs on an Intel CPU and,
 * when the answer is no, uses its generic x86 kernels whatever instruction sets the CPU reports.
 * Answering yes makes it pick kernels by the instruction sets the CPU does report (AVX2,
 * AVX-512). On our 2-core AMD EPYC (Zen 4) test machine it took the benchmark model from 124 to
 * 137 output tokens/s at 16 concurrent requests (worker/benchmarks/kernels.md), with the same
 * results within float rounding: the whole test suite, float64 reference comparisons included,
 * runs with it in CI.
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
