#pragma once
// Run-time instruction-set selection: GCC emits one clone of the function per target and an ifunc resolver
// picks the best one for the CPU at load time, so one binary runs on any x86-64 machine.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FP4GPTQ_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FP4GPTQ_SIMD_CLONES
#endif
