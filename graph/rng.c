/* Counter-based random numbers (splitmix64 over seed and counter). */
#include "tg.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tg_rng_seed(tg_rng *r, uint64_t seed)
{
    r->seed = mix64(seed ^ 0x5eedULL);
    r->counter = 0;
}

uint64_t tg_rng_next(tg_rng *r) { return mix64(r->seed ^ mix64(r->counter++)); }

double tg_rng_uniform(tg_rng *r) { return (tg_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Box-Muller; one draw per call keeps the stream position simple. */
double tg_rng_normal(tg_rng *r)
{
    double u1 = tg_rng_uniform(r), u2 = tg_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double tg_hash_uniform(uint64_t key, uint64_t index)
{
    return (mix64(key ^ mix64(index)) >> 11) * (1.0 / 9007199254740992.0);
}
