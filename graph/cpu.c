/* cpu: cpuid/xgetbv feature detection and the kernel level (cpu.h). */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TG_X86 1
#endif

static tg_cpu_info info;
static int env_level = -1;   /* level from ABLM_CPU after capping; -1 = best */
static const char *env_text = "auto";
static int forced = -1;      /* tg_cpu_set_level, -1 = none */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef TG_X86
/* XCR0: which register states the OS saves on context switches. */
static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

static void detect(void)
{
#ifdef TG_X86
    unsigned int a, b, c, d, max = (unsigned)__get_cpuid_max(0, NULL);
    if (max >= 1) {
        __cpuid(1, a, b, c, d);
        int osxsave = (c >> 27) & 1;
        unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
        int ymm = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
        int zmm = ymm && (xcr0 & 0xe0) == 0xe0;   /* opmask, ZMM_Hi256, Hi16_ZMM */
        int tiles = (xcr0 & 0x60000) == 0x60000;  /* XTILECFG, XTILEDATA */
        info.avx = ymm && ((c >> 28) & 1);
        info.fma = info.avx && ((c >> 12) & 1);
        if (max >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            unsigned int eax7 = a;
            info.avx2 = info.avx && ((b >> 5) & 1);
            info.avx512f = zmm && ((b >> 16) & 1);
            info.avx512dq = info.avx512f && ((b >> 17) & 1);
            info.avx512bw = info.avx512f && ((b >> 30) & 1);
            info.avx512vl = info.avx512f && ((b >> 31) & 1);
            info.amx_bf16 = tiles && ((d >> 22) & 1);
            info.amx_tile = tiles && ((d >> 24) & 1);
            info.amx_int8 = tiles && ((d >> 25) & 1);
            if (eax7 >= 1) {
                __cpuid_count(7, 1, a, b, c, d);
                info.avx512bf16 = info.avx512f && ((a >> 5) & 1);
            }
        }
    }
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004u) {
        unsigned int r[12];
        for (int i = 0; i < 3; i++)
            __cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        memcpy(info.brand, r, 48);
        info.brand[48] = 0;
        char *s = info.brand; /* trim the padding */
        while (*s == ' ')
            s++;
        memmove(info.brand, s, strlen(s) + 1);
        for (size_t k = strlen(info.brand); k > 0 && info.brand[k - 1] == ' '; k--)
            info.brand[k - 1] = 0;
    }
#endif
    info.best = info.avx512f && info.avx512bw && info.avx512vl && info.avx512dq && info.avx2 &&
                        info.fma
                    ? TG_CPU_AVX512
                : info.avx2 && info.fma ? TG_CPU_AVX2
                                        : TG_CPU_SCALAR;
    const char *e = getenv("ABLM_CPU");
    if (e && *e && strcmp(e, "auto")) {
        int want = -1;
        for (int l = TG_CPU_SCALAR; l <= TG_CPU_AVX512; l++)
            if (!strcmp(e, tg_cpu_level_name(l)))
                want = l;
        if (want < 0) {
            fprintf(stderr, "ablm: ABLM_CPU=%s is not one of scalar, avx2, avx512, auto; using auto\n", e);
        } else {
            if (want > info.best)
                fprintf(stderr, "ablm: ABLM_CPU=%s but this CPU supports only %s kernels; using %s\n",
                        e, tg_cpu_level_name(info.best), tg_cpu_level_name(info.best));
            env_level = want > info.best ? info.best : want;
            env_text = tg_cpu_level_name(want);
        }
    }
}

const tg_cpu_info *tg_cpu_info_get(void)
{
    pthread_once(&once, detect);
    return &info;
}

int tg_cpu_level(void)
{
    pthread_once(&once, detect);
    return forced >= 0 ? forced : env_level >= 0 ? env_level : info.best;
}

int tg_cpu_set_level(int level)
{
    int prev = tg_cpu_level();
    if (level > info.best || level < -1)
        return -1;
    forced = level;
    return prev;
}

const char *tg_cpu_level_name(int level)
{
    static const char *names[] = {"scalar", "avx2", "avx512"};
    return level >= 0 && level <= TG_CPU_AVX512 ? names[level] : NULL;
}

const char *tg_cpu_describe(char *buf, size_t n)
{
    const tg_cpu_info *c = tg_cpu_info_get();
    struct { int on; const char *name; } f[] = {
        {c->avx2, "avx2"},         {c->fma, "fma"},           {c->avx512f, "avx512f"},
        {c->avx512bw, "avx512bw"}, {c->avx512vl, "avx512vl"}, {c->avx512dq, "avx512dq"},
        {c->avx512bf16, "avx512bf16"}, {c->amx_tile, "amx-tile"}, {c->amx_bf16, "amx-bf16"},
        {c->amx_int8, "amx-int8"}};
    char feats[256] = "";
    size_t k = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].on)
            k += snprintf(feats + k, sizeof feats - k, "%s%s", k ? " " : "", f[i].name);
    snprintf(buf, n, "kernels %s (%s%s); cpu %s; %s", tg_cpu_level_name(tg_cpu_level()),
             forced >= 0 ? "forced" : "ABLM_CPU=", forced >= 0 ? "" : env_text,
             k ? feats : "baseline x86-64", c->brand[0] ? c->brand : "unknown model");
    return buf;
}
