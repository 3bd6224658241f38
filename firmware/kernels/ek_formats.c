/* ek_formats.c — the C side of the format table in edgekit/pack/formats.py: names and packed sizes.
 * tests/test_c_kernels.py checks every row against the Python table. */
#include "ek_kernels.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "edgekit images are little-endian and the kernels read f32/f16 payloads in place"
#endif

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1u) / b; }

typedef struct {
    uint32_t code;
    const char *name;
    int ternary;
} ek_format_row;

static const ek_format_row ek_formats[] = {
    {EK_FMT_I2, "i2", 1},   {EK_FMT_T158, "t158", 1}, {EK_FMT_TL, "tl", 1},
    {EK_FMT_F32, "f32", 0}, {EK_FMT_F16, "f16", 0},   {EK_FMT_Q8ROW, "q8row", 0},
};

static const ek_format_row *find(uint32_t format)
{
    size_t i;
    for (i = 0; i < sizeof ek_formats / sizeof ek_formats[0]; i++)
        if (ek_formats[i].code == format)
            return &ek_formats[i];
    return NULL;
}

uint64_t ek_format_packed_size(uint32_t format, uint32_t rows, uint32_t cols)
{
    const uint64_t r = rows, c = cols;
    switch (format) {
    case EK_FMT_I2: /* per row, 32 bytes per 128-weight block */
        return r * ceil_div(c, EK_I2_BLOCK) * (EK_I2_BLOCK / 4);
    case EK_FMT_T158: /* per row, 16 bytes per 80-weight block, then the tail 5 weights per byte */
        return r * ((c / EK_T158_BLOCK) * 16u + ceil_div(c % EK_T158_BLOCK, 5));
    case EK_FMT_TL: /* per 16-row tile and column pair, 8 bytes of two 4-bit pair indices */
        return ceil_div(r, EK_TL_TILE_ROWS) * ceil_div(c, 2) * (EK_TL_TILE_ROWS / 2);
    case EK_FMT_F32:
        return 4u * r * c;
    case EK_FMT_F16:
        return 2u * r * c;
    case EK_FMT_Q8ROW: /* fp32 scale per row first, then int8 values */
        return 4u * r + r * c;
    default:
        return 0;
    }
}

int ek_format_is_ternary(uint32_t format)
{
    const ek_format_row *f = find(format);
    return f != NULL && f->ternary;
}

int ek_format_is_float(uint32_t format)
{
    const ek_format_row *f = find(format);
    return f != NULL && !f->ternary;
}

const char *ek_format_name(uint32_t format)
{
    const ek_format_row *f = find(format);
    return f != NULL ? f->name : "?";
}

const char *ek_kernel_variant(uint32_t format)
{
    switch (format) {
    case EK_FMT_I2:
    case EK_FMT_T158: /* both have a body per ISA family; ek_ternary_matvec dispatches them alike */
#if defined(EK_KERNEL_MVE)
        return "mve";
#elif defined(EK_KERNEL_DOTPROD)
        return "dotprod";
#elif defined(EK_KERNEL_NEON)
        return "neon";
#elif defined(EK_KERNEL_DSP)
        return "dsp";
#elif defined(EK_KERNEL_AVX2)
        return "avx2";
#else
        return "c";
#endif
    case EK_FMT_TL: /* the NEON body needs no dotprod */
#if defined(EK_KERNEL_MVE)
        return "mve";
#elif defined(EK_KERNEL_NEON) || defined(EK_KERNEL_DOTPROD)
        return "neon";
#elif defined(EK_KERNEL_AVX2)
        return "avx2";
#else
        return "c";
#endif
    default:
        return "?";
    }
}
