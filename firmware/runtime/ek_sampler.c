/* ek_sampler.c — the sampler, implemented literally from its specification (see ek_sampler.h and
 * edgekit/reference/sampler.py): every float operation happens in the order written there, so the host
 * mirror picks the same token. */
#include <math.h>

#include "ek_sampler.h"

void ek_rng_seed(ek_rng *rng, uint64_t seed) { rng->state = seed ? seed : 0x9E3779B97F4A7C15ull; }

uint32_t ek_rng_next_u32(ek_rng *rng)
{
    uint64_t s = rng->state; /* xorshift64* */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    rng->state = s;
    return (uint32_t)((s * 0x2545F4914F6CDD1Dull) >> 32);
}

float ek_rng_uniform(ek_rng *rng) { return (float)(ek_rng_next_u32(rng) >> 8) * (1.0f / 16777216.0f); }

/* Candidate order: higher p first, lower index first among equal p. A total order, so the sort result does
 * not depend on the algorithm. */
static int better(const float *p, uint32_t a, uint32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

static void sift_down(uint32_t *idx, const float *p, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2u * root + 1u, best = root, tmp;
        if (child < n && better(p, idx[child], idx[best]))
            best = child;
        if (child + 1u < n && better(p, idx[child + 1u], idx[best]))
            best = child + 1u;
        if (best == root)
            return;
        tmp = idx[root];
        idx[root] = idx[best];
        idx[best] = tmp;
        root = best;
    }
}

/* Put the best k of idx[0..n) at idx[n-k..n) in candidate order. Heap selection: O(n + k log n), no
 * recursion, no allocation. */
static uint32_t *select_best(uint32_t *idx, const float *p, uint32_t n, uint32_t k)
{
    uint32_t i, end = n, tmp;
    for (i = n / 2u; i-- > 0;)
        sift_down(idx, p, i, n);
    for (i = 0; i < k; i++) { /* pop the best to the end of the shrinking heap */
        end--;
        tmp = idx[0];
        idx[0] = idx[end];
        idx[end] = tmp;
        sift_down(idx, p, 0, end);
    }
    /* popped in order to n-1, n-2, ...: reverse so the best comes first */
    for (i = 0; i < k / 2u; i++) {
        tmp = idx[n - k + i];
        idx[n - k + i] = idx[n - 1u - i];
        idx[n - 1u - i] = tmp;
    }
    return idx + (n - k);
}

uint32_t ek_sample(const float *logits, uint32_t n, const ek_sampler_params *params, ek_rng *rng,
                   uint32_t *idx, float *p)
{
    const float temperature = params->temperature, top_p = params->top_p;
    const int use_k = params->top_k > 0u && params->top_k < n;
    const int use_p = top_p > 0.0f && top_p < 1.0f;
    float m, total, r, acc;
    uint32_t i, kept, *cand;

    if (n == 0)
        return 0;
    if (!(temperature > 0.0f)) { /* greedy: first maximum, no RNG draw */
        uint32_t best = 0;
        for (i = 1; i < n; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
    m = logits[0];
    for (i = 1; i < n; i++)
        if (logits[i] > m)
            m = logits[i];
    for (i = 0; i < n; i++)
        p[i] = expf((logits[i] - m) / temperature);

    if (!use_k && !use_p) { /* plain temperature sampling, indices in order */
        total = 0.0f;
        for (i = 0; i < n; i++)
            total += p[i];
        r = ek_rng_uniform(rng) * total;
        acc = 0.0f;
        for (i = 0; i < n; i++) {
            acc += p[i];
            if (r < acc)
                return i;
        }
        return n - 1u;
    }

    kept = use_k ? params->top_k : n;
    for (i = 0; i < n; i++)
        idx[i] = i;
    cand = select_best(idx, p, n, kept);
    if (use_p) { /* shortest prefix whose running sum reaches top_p of the kept mass */
        float s = 0.0f, threshold, run = 0.0f;
        for (i = 0; i < kept; i++)
            s += p[cand[i]];
        threshold = top_p * s;
        for (i = 0; i < kept; i++) {
            run += p[cand[i]];
            if (run >= threshold) {
                kept = i + 1u;
                break;
            }
        }
    }
    total = 0.0f;
    for (i = 0; i < kept; i++)
        total += p[cand[i]];
    r = ek_rng_uniform(rng) * total;
    acc = 0.0f;
    for (i = 0; i < kept; i++) {
        acc += p[cand[i]];
        if (r < acc)
            return cand[i];
    }
    return cand[kept - 1u];
}
