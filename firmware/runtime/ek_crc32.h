/* ek_crc32.h — CRC-32 as zlib computes it (reflected polynomial 0xEDB88320, init and final xor ~0). */
#ifndef EK_CRC32_H
#define EK_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continue a CRC: crc = ek_crc32_update(0, a, na); crc = ek_crc32_update(crc, b, nb) == crc32(a || b). */
uint32_t ek_crc32_update(uint32_t crc, const uint8_t *data, size_t n);
static inline uint32_t ek_crc32(const uint8_t *data, size_t n) { return ek_crc32_update(0u, data, n); }

#ifdef __cplusplus
}
#endif
#endif /* EK_CRC32_H */
