/* ek_sampler.h — token sampling: greedy, temperature, top-k, top-p, with a seeded xorshift64* RNG.
 *
 * The algorithm is specified literally (edgekit/reference/sampler.py implements the same text) so the
 * device and the host draw the same token for the same logits, parameters and seed.
 */
#ifndef EK_SAMPLER_H
#define EK_SAMPLER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t state; /* never 0 */
} ek_rng;

/* seed 0 is replaced by 0x9E3779B97F4A7C15 (xorshift has a fixed point at 0). */
void ek_rng_seed(ek_rng *rng, uint64_t seed);
uint32_t ek_rng_next_u32(ek_rng *rng);
/* Uniform in [0, 1): the top 24 bits of the next u32 times 2^-24. */
float ek_rng_uniform(ek_rng *rng);

typedef struct {
    float temperature; /* <= 0: greedy (argmax, lowest index wins ties; no RNG draw) */
    uint32_t top_k;    /* 0 or >= n: no top-k cut */
    float top_p;       /* <= 0 or >= 1: no nucleus cut */
} ek_sampler_params;

/* Pick a token from logits (n). Scratch: idx (n) and p (n), e.g. the arena's sampler buffers.
 * Draws exactly one ek_rng_uniform when temperature > 0, none otherwise. */
uint32_t ek_sample(const float *logits, uint32_t n, const ek_sampler_params *params, ek_rng *rng,
                   uint32_t *idx, float *p);

#ifdef __cplusplus
}
#endif
#endif /* EK_SAMPLER_H */
