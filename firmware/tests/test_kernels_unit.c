/* Unit tests of the kernels: CRC, half floats, quantisation rounding, tl pair sums, tiny matvecs. */
#include <math.h>
#include <string.h>

#include "ek_crc32.h"
#include "ek_kernels.h"
#include "ek_test.h"

void test_crc32(void)
{
    static const uint8_t check[] = "123456789";
    uint8_t a[1000];
    uint32_t crc;
    memset(a, 'a', sizeof a);
    EK_CHECK(ek_crc32(check, 9) == 0xCBF43926u); /* the CRC-32 check value */
    EK_CHECK(ek_crc32(check, 0) == 0u);
    EK_CHECK(ek_crc32(a, sizeof a) == 0x9A38DA03u); /* zlib.crc32(b"a" * 1000) */
    crc = ek_crc32_update(0u, a, 300);
    EK_CHECK(ek_crc32_update(crc, a + 300, 700) == 0x9A38DA03u); /* streaming equals one shot */
}

void test_half_float(void)
{
    EK_CHECK(ek_half_to_float(0x3C00u) == 1.0f);
    EK_CHECK(ek_half_to_float(0xC000u) == -2.0f);
    EK_CHECK(ek_half_to_float(0x7BFFu) == 65504.0f);
    EK_CHECK(ek_half_to_float(0x0001u) == 5.9604644775390625e-8f); /* smallest subnormal, 2^-24 */
    EK_CHECK(ek_half_to_float(0x03FFu) == 6.09755516052246094e-5f); /* largest subnormal */
    EK_CHECK(ek_half_to_float(0x0400u) == 6.103515625e-5f);          /* smallest normal, 2^-14 */
    EK_CHECK(ek_half_to_float(0x3555u) == 0.333251953125f);
    EK_CHECK(ek_half_to_float(0x8000u) == 0.0f && signbit(ek_half_to_float(0x8000u)));
    EK_CHECK(isinf(ek_half_to_float(0x7C00u)) && ek_half_to_float(0xFC00u) < 0.0f);
    EK_CHECK(isnan(ek_half_to_float(0x7E00u)));
    /* bfloat16: the top half of a float32 */
    EK_CHECK(ek_bf16_to_float(0x3F80u) == 1.0f);
    EK_CHECK(ek_bf16_to_float(0xC020u) == -2.5f);
    EK_CHECK(ek_bf16_to_float(0x7F7Fu) == 3.38953139e38f);  /* largest finite */
    EK_CHECK(ek_bf16_to_float(0x0001u) == 9.18354962e-41f); /* smallest subnormal, 2^-133 */
    EK_CHECK(ek_bf16_to_float(0x8000u) == 0.0f && signbit(ek_bf16_to_float(0x8000u)));
    EK_CHECK(isinf(ek_bf16_to_float(0x7F80u)) && isnan(ek_bf16_to_float(0x7FC0u)));
}

void test_quantize(void)
{
    /* max|x| = 127 makes s_x = 1, so x_q = rint(x): halves go to even, never away from zero */
    const float x[8] = {127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, 1.49f, -127.0f};
    const int8_t want[8] = {127, 2, -2, 4, 0, 0, 1, -127};
    int8_t q[128];
    float zeros[3] = {0.0f, 0.0f, 0.0f}, s;
    size_t i;
    memset(q, 0x55, sizeof q);
    s = ek_quantize(x, 8, q);
    EK_CHECK(s == 1.0f);
    for (i = 0; i < 8; i++)
        EK_CHECK(q[i] == want[i]);
    for (i = 8; i < 128; i++) /* padding to a whole 128 block is zeroed */
        EK_CHECK(q[i] == 0);
    s = ek_quantize(zeros, 3, q); /* all-zero input: s_x = 127 / 1e-5, x_q = 0 */
    EK_CHECK(s == 127.0f / 1e-5f && q[0] == 0 && q[2] == 0);
}

void test_tl_lut(void)
{
    const int8_t x[3] = {-128, 127, 5};
    int16_t lut[18];
    int a, b;
    ek_tl_build_lut(x, 3, lut);
    for (a = -1; a <= 1; a++)
        for (b = -1; b <= 1; b++) {
            EK_CHECK(lut[(a + 1) * 3 + (b + 1)] == a * -128 + b * 127);
            EK_CHECK(lut[9 + (a + 1) * 3 + (b + 1)] == a * 5); /* odd n: the missing partner is 0 */
        }
}

void test_matvec_small(void)
{
    /* W = [[1, 0, -1], [-1, 1, 1]] in all three layouts, x = [3, -4, 5] -> [-2, -2] */
    static const uint8_t i2[2 * 32] = {
        /* row 0: byte j holds weights j, j+32, j+64, j+96 (code w+1 at bits 7..6, 5..4, 3..2, 1..0);
         * padding weights are 0 (code 1, 0x55 for a byte of four) */
        0x95, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
        0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
    uint8_t i2w[64], t158w[2], tlw[2 * 8];
    int8_t xq[128] = {3, -4, 5};
    int16_t lut[18];
    int32_t acc[2];
    ek_tensor w;
    ek_qvec x;
    memcpy(i2w, i2, 32);
    i2w[1] = 0x55;       /* weight 1 = 0 */
    i2w[2] = 0x15;       /* weight 2 = -1 */
    memcpy(i2w + 32, i2, 32);
    i2w[32] = 0x15;      /* row 1: weight 0 = -1 */
    i2w[33] = 0x95;      /* weight 1 = +1 */
    i2w[34] = 0x95;      /* weight 2 = +1 */
    x.q = xq;
    x.n = 3;
    x.scale = 1.0f;
    x.tl_lut = lut;
    ek_tl_build_lut(xq, 3, lut);
    w.rows = 2;
    w.cols = 3;
    w.scale = 1.0f;

    w.format = EK_FMT_I2;
    w.data = i2w;
    acc[0] = acc[1] = 99;
    ek_ternary_matvec(&w, &x, acc);
    EK_CHECK(acc[0] == -2 && acc[1] == -2);

    /* t158, 3 weights per row: one tail byte of digits (2,1,0,1,1) -> v = 2*81+27+0+3+1 = 193, q = ceil(193*256/243) */
    t158w[0] = (uint8_t)((193u * 256u + 242u) / 243u);
    /* row 1: digits (0,2,2,1,1) -> v = 0+54+18+3+1 = 76 */
    t158w[1] = (uint8_t)((76u * 256u + 242u) / 243u);
    w.format = EK_FMT_T158;
    w.data = t158w;
    acc[0] = acc[1] = 99;
    ek_ternary_matvec(&w, &x, acc);
    EK_CHECK(acc[0] == -2 && acc[1] == -2);

    /* tl: one tile, 2 column pairs; pair 0 = (w0, w1), pair 1 = (w2, pad 0); byte 0 = rows 0 (low) and 1 */
    memset(tlw, 0x44, sizeof tlw); /* index 4 = both weights 0, for the 14 padding rows */
    tlw[0] = (uint8_t)((2 * 3 + 1) | ((0 * 3 + 2) << 4));     /* row 0 (1, 0), row 1 (-1, 1) */
    tlw[8] = (uint8_t)((0 * 3 + 1) | ((2 * 3 + 1) << 4));     /* row 0 (-1, pad), row 1 (1, pad) */
    w.format = EK_FMT_TL;
    w.data = tlw;
    acc[0] = acc[1] = 99;
    ek_ternary_matvec(&w, &x, acc);
    EK_CHECK(acc[0] == -2 && acc[1] == -2);
    tlw[0] = 0xFF; /* corrupt nibbles read as zero weights, never outside the table */
    ek_ternary_matvec(&w, &x, acc);
    EK_CHECK(acc[0] == -5 && acc[1] == 5);

    EK_CHECK(ek_format_packed_size(EK_FMT_I2, 2, 3) == 64);
    EK_CHECK(ek_format_packed_size(EK_FMT_T158, 2, 3) == 2);
    EK_CHECK(ek_format_packed_size(EK_FMT_TL, 2, 3) == 16);
    EK_CHECK(ek_format_packed_size(EK_FMT_Q8ROW, 2, 3) == 14);
    EK_CHECK(ek_format_packed_size(EK_FMT_BF16, 2, 3) == 12);
    EK_CHECK(ek_format_packed_size(99, 2, 3) == 0);
}
