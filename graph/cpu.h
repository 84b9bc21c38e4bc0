/* cpu: what the processor and the OS support (cpuid + xgetbv, read once),
 * and the kernel level the memory-bound ops run at.
 *
 * ablm is compiled for baseline x86-64 (SSE2); kernels written for AVX2+FMA
 * and AVX-512 are compiled with target attributes and chosen at run time
 * through tg_cpu_level(), so an older CPU never sees an instruction it
 * lacks. The environment variable ABLM_CPU=scalar|avx2|avx512|auto caps the
 * level (read once, at the first call; a level the CPU lacks is capped to
 * what it has, with a note on stderr; any other value is reported and
 * ignored). Tests force levels with tg_cpu_set_level. */
#ifndef TG_CPU_H
#define TG_CPU_H

#include <stddef.h>

enum {
    TG_CPU_SCALAR = 0, /* baseline x86-64 (SSE2): the reference kernels */
    TG_CPU_AVX2 = 1,   /* AVX2 + FMA, OS saves ymm state */
    TG_CPU_AVX512 = 2  /* AVX-512 F, BW, VL, DQ, OS saves zmm state */
};

typedef struct {
    int avx, avx2, fma;                      /* each with the OS's ymm support */
    int avx512f, avx512bw, avx512vl, avx512dq; /* each with the OS's zmm support */
    int avx512bf16;                          /* AVX512_BF16 (vcvtne2ps2bf16, vdpbf16ps) */
    int amx_tile, amx_bf16, amx_int8;        /* AMX, with the OS's tile state (XCR0 17-18) */
    int best;                                /* highest TG_CPU_* level supported */
    char brand[49];                          /* cpuid's brand string, "" if absent */
} tg_cpu_info;

/* The features found at the first call (thread-safe, read once). */
const tg_cpu_info *tg_cpu_info_get(void);

/* The level the kernels run at: the best supported, capped by ABLM_CPU and
 * by tg_cpu_set_level. */
int tg_cpu_level(void);

/* Forces the kernel level (tests, benchmarks); -1 restores the ABLM_CPU /
 * automatic choice. Returns the previous level, or -1 without change when
 * the CPU does not support `level`. Not to be called while ops run. */
int tg_cpu_set_level(int level);

/* "scalar", "avx2" or "avx512"; NULL for an unknown level. */
const char *tg_cpu_level_name(int level);

/* One line for logs and benchmarks, e.g. "kernels avx512 (ABLM_CPU=auto);
 * cpu avx2 fma avx512f avx512bw avx512vl avx512dq avx512bf16 amx-bf16;
 * Intel(R) Xeon(R) ...". Writes at most n bytes (NUL included); returns buf. */
const char *tg_cpu_describe(char *buf, size_t n);

#endif
