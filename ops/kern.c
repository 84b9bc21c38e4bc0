/* kern: the kernel table of the current CPU level (kern.h, graph/cpu.h). */
#include "kern.h"

#include "cpu.h"

const tg_kern *tg_kern_at(int level)
{
    if (level < TG_CPU_SCALAR || level > tg_cpu_info_get()->best)
        return NULL;
#ifdef TG_REAL_DOUBLE /* the float64 test build has the scalar kernels only */
    return &tg_kern_scalar; /* at every level */
#endif
    return level == TG_CPU_AVX512 ? &tg_kern_avx512
           : level == TG_CPU_AVX2 ? &tg_kern_avx2
                                  : &tg_kern_scalar;
}

const tg_kern *tg_kern_get(void) { return tg_kern_at(tg_cpu_level()); }
