/* ek_image.h — validating reader of .ekm model images (byte layout: edgekit/pack/image.py, ek_spec.h).
 *
 * Nothing is trusted because it is in flash: every field is checked before use, and each problem maps to
 * one ek_status (EK_ERR_IMAGE_*). Fields are read with byte loads (no struct casts of image memory), and
 * sections are used in place (XIP): nothing is copied.
 */
#ifndef EK_IMAGE_H
#define EK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ek_kernels.h"
#include "ek_spec.h"

/* A generated project's ek_config.h may set EK_MAX_PARTS and EK_VERIFY_PAYLOAD_CRC below. */
#ifdef EK_HAVE_CONFIG_H
#include "ek_config.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EK_MAX_PARTS
#define EK_MAX_PARTS 8 /* image parts one model may be split into */
#endif

/* Payload CRCs of every section are checked at open unless the caller passes verify_crc = 0; a port can
 * flip the default for slow MCUs (CRC of megabytes of flash takes seconds) by defining this as 0. */
#ifndef EK_VERIFY_PAYLOAD_CRC
#define EK_VERIFY_PAYLOAD_CRC 1
#endif

/* The model config as the image header stores it. */
typedef struct {
    uint32_t vocab_size;
    uint32_t hidden_size;       /* dim */
    uint32_t intermediate_size; /* hidden_dim of the FFN */
    uint32_t num_layers;
    uint32_t num_heads;
    uint32_t num_kv_heads;
    uint32_t head_dim;
    uint32_t max_seq_len;
    float rms_norm_eps;
    float rope_theta;
    uint32_t bos_token_id; /* EK_NO_TOKEN if none */
    uint32_t eos_token_id; /* EK_NO_TOKEN if none */
    uint32_t tied;         /* 1: lm_head is tok_embeddings */
} ek_config;

/* One image part whose header and section table checked out. */
typedef struct {
    const uint8_t *base;       /* first byte of the image (4-byte aligned) */
    size_t size;               /* image_size from the header (the region given may be larger) */
    uint32_t section_count;
    uint16_t part_index;
    uint16_t part_count;
    ek_config config;
    const uint8_t *model_hash;     /* (32) sha256, in place */
    const uint8_t *tokenizer_hash; /* (32) sha256 of tokenizer.json, in place */
} ek_image_part;

/* Tensor slots: every tensor the model needs has one (image order). The directory maps slot -> ref. */
#define EK_LAYER_TENSORS 11u
#define EK_TENSOR_SLOTS(num_layers) (EK_LAYER_TENSORS * (uint32_t)(num_layers) + 3u)
#define EK_NO_REF 0xFFFFFFFFu /* directory entry of a missing tensor */

/* Slot of (kind, layer) for a model of num_layers layers; EK_NO_REF if kind/layer make no sense. */
uint32_t ek_image_slot(uint32_t kind, uint32_t layer, uint32_t num_layers);

/* Check one part's header, table CRC and config. Does not look at sections yet. */
ek_status ek_image_open_part(const uint8_t *data, size_t size, ek_image_part *out);

/* Check that parts belong together: same config, model and tokenizer hash, part_count == n, distinct
 * indices. */
ek_status ek_image_check_parts(const ek_image_part *parts, unsigned n);

/* Bit (1 << format) set for every ternary format some section uses (the tl kernel needs arena scratch). */
uint32_t ek_image_ternary_formats(const ek_image_part *parts, unsigned n);

/* Check every section (kind, layer, shape against the config; format; bounds; alignment; size; payload
 * CRC if verify_crc) and fill directory (EK_TENSOR_SLOTS(L)) with refs. Returns
 * EK_ERR_IMAGE_MISSING_SECTION if a needed tensor is in no part. */
ek_status ek_image_index(const ek_image_part *parts, unsigned n, int verify_crc, uint32_t *directory);

/* The tensor a directory ref points at. */
void ek_image_tensor(const ek_image_part *parts, uint32_t ref, ek_tensor *out);

#ifdef __cplusplus
}
#endif
#endif /* EK_IMAGE_H */
