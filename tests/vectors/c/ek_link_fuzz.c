/* ek_link_fuzz.c — feeds arbitrary bytes (stdin) to the C frame decoder and message decoder.
 *
 * Built with -fsanitize=address,undefined by tests/test_protocol_fuzz.py, which pipes random and mutated
 * frames through it. Every frame the decoder accepts is decoded as a message of its type (and of every
 * other type, to exercise all layouts on hostile bodies), then re-encoded; a decoded message must
 * re-encode to the same bytes. Prints "frames <n>" and exits 0; any memory error aborts (non-zero). */
#include <stdio.h>
#include <string.h>

#include "ek_link.h"

int main(void)
{
    static ek_link_decoder d;
    static uint8_t body2[EK_LINK_MAX_BODY], wire[EK_LINK_MAX_ENCODED];
    unsigned long frames = 0;
    int c;
    ek_frame f;
    ek_link_decoder_init(&d);
    while ((c = getchar()) != EOF) {
        unsigned i;
        if (!ek_link_feed(&d, (uint8_t)c, &f))
            continue;
        frames++;
        for (i = 0; i < EK_MSG_COUNT; i++) {
            ek_msg_any m;
            uint8_t t = ek_msg_table[i].code;
            if (ek_msg_decode(t, f.body, f.body_len, &m) == EK_OK) {
                int n = ek_msg_encode(t, &m, body2, sizeof body2);
                if (n != (int)f.body_len || memcmp(body2, f.body, (size_t)n) != 0) {
                    printf("re-encode mismatch for type 0x%02x\n", t);
                    return 1;
                }
                if (ek_link_encode_frame(t, f.seq, body2, (size_t)n, wire, sizeof wire) == 0) {
                    printf("frame encode failed for a %d-byte body\n", n);
                    return 1;
                }
            }
        }
        {
            ek_msg_any m;
            (void)ek_msg_decode(f.type, f.body, f.body_len, &m); /* unknown types included */
        }
    }
    printf("frames %lu\n", frames);
    return 0;
}
