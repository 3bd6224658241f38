/* ek_formats.c — the C side of the format table in edgekit/pack/formats.py: names, kinds and packed sizes, all
 * read from the rows generated into ek_spec.h (EK_FORMAT_TABLE). tests/test_formats.py checks every row's
 * answers against the Python table. */
#include "ek_kernels.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "edgekit images are little-endian and the kernels read f32/f16/bf16 payloads in place"
#endif

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1u) / b; }

static const ek_format_geometry ek_formats[EK_FORMAT_COUNT] = EK_FORMAT_TABLE;

static const ek_format_geometry *find(uint32_t format)
{
    size_t i;
    for (i = 0; i < EK_FORMAT_COUNT; i++)
        if (ek_formats[i].code == format)
            return &ek_formats[i];
    return NULL;
}

uint64_t ek_format_packed_size(uint32_t format, uint32_t rows, uint32_t cols)
{
    const ek_format_geometry *g = find(format);
    uint64_t group_bytes;
    if (g == NULL)
        return 0;
    group_bytes = (uint64_t)(cols / g->block_cols) * g->block_bytes +
                  ceil_div(cols % g->block_cols, g->tail_cols) * g->tail_bytes;
    return ceil_div(rows, g->row_group) * group_bytes + (uint64_t)rows * g->row_prefix_bytes;
}

int ek_format_is_ternary(uint32_t format)
{
    const ek_format_geometry *f = find(format);
    return f != NULL && f->ternary;
}

int ek_format_is_float(uint32_t format)
{
    const ek_format_geometry *f = find(format);
    return f != NULL && !f->ternary;
}

const char *ek_format_name(uint32_t format)
{
    const ek_format_geometry *f = find(format);
    return f != NULL ? f->name : "?";
}

#if defined(EK_KERNEL_AVX512)
/* the run-time tier's name (ek_isa.h), at most `best`: the best tier with a body for the op */
static const char *x86_tier_name(int best)
{
    const int tier = ek_isa_x86_tier() < best ? ek_isa_x86_tier() : best;
    return tier == EK_ISA_AVX512VNNI ? EK_ISA_NAME(EK_ISA_AVX512VNNI)
           : tier == EK_ISA_AVX512   ? EK_ISA_NAME(EK_ISA_AVX512)
                                     : EK_ISA_NAME(EK_ISA_AVX2);
}
#define EK_VARIANT_RUNTIME(best, built) x86_tier_name(best)
#else
#define EK_VARIANT_RUNTIME(best, built) (built)
#endif

const char *ek_kernel_variant(uint32_t format)
{
    switch (format) {
    case EK_FMT_I2: /* the ops with run-time AVX-512 bodies name the tier they run (ek_isa.h) */
        return EK_VARIANT_RUNTIME(EK_ISA_AVX512VNNI, EK_ISA_NAME(EK_ISA_TERNARY));
    case EK_FMT_Q8I: /* the integer heads follow the float family where no run-time body applies */
        return EK_VARIANT_RUNTIME(EK_ISA_AVX512VNNI, EK_ISA_NAME(EK_ISA_FLOAT));
    case EK_FMT_Q4I:
        return EK_VARIANT_RUNTIME(EK_ISA_AVX512, EK_ISA_NAME(EK_ISA_FLOAT));
    case EK_FMT_T158:
        return EK_ISA_NAME(EK_ISA_TERNARY);
    case EK_FMT_TL:
        return EK_ISA_NAME(EK_ISA_TL);
    default:
        return ek_format_is_float(format) ? EK_ISA_NAME(EK_ISA_FLOAT_LANES) : "?";
    }
}

#if defined(EK_KERNEL_TRACE)
const char *ek_kernel_ran[EK_TRACE_SLOTS];
#endif
