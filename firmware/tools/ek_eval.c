/* ek_eval.c — host harness for the edgekit runtime (tests drive it; not part of any device build).
 *
 *   ek_eval run [--ctx N] [--no-verify-crc] [--arena-bytes N] [--tokens 1,2,3 | --tokens-file F]
 *               [--logits OUT] [--generate N] [--temperature T] [--top-k K] [--top-p P] [--seed S] PART...
 *       Run the prompt; --logits writes every prompt position's logits (T x vocab float32, little-endian);
 *       --prefill-chunk N (> 1) prefills in chunks of up to N tokens (ek_model_prefill with scratch), and
 *       --logits then writes the last position's logits only (1 x vocab);
 *       --generate samples N more tokens (greedy unless --temperature > 0) and prints "tokens: ..." .
 *   ek_eval info PART...                     config, formats, kernel bodies and arena size
 *   ek_eval layout VOCAB DIM HIDDEN LAYERS HEADS KV_HEADS HEAD_DIM CTX FORMATS    arena layout
 *       (FORMATS: comma list of ternary format names, or "-"); prints "name offset size align" lines
 *   ek_eval matvec FORMAT ROWS COLS WEIGHTS XQ OUT   int32 accumulators of every built kernel body; exits 1
 *       if any body disagrees with the portable one (XQ: cols int8 values)
 *   ek_eval sample LOGITS N TEMP TOP_K TOP_P SEED DRAWS   DRAWS samples from one RNG stream
 *   ek_eval status CODE                      the status name of a code
 *
 * Errors print "error: <STATUS_NAME>: <message>" on stderr and exit with status 2.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_arena.h"
#include "ek_kernels.h"
#include "ek_model.h"
#include "ek_sampler.h"
#include "../ports/posix/ek_options.h" /* shared with edgekit-device */

/* Names as edgekit/status.py spells them; tests/test_c_runtime.py checks this table against it. */
static const struct {
    int code;
    const char *name;
} status_names[] = {
    {EK_OK, "OK"},
    {EK_ERR_IMAGE_TRUNCATED, "IMAGE_TRUNCATED"},
    {EK_ERR_IMAGE_MAGIC, "IMAGE_MAGIC"},
    {EK_ERR_IMAGE_VERSION, "IMAGE_VERSION"},
    {EK_ERR_IMAGE_HEADER_CRC, "IMAGE_HEADER_CRC"},
    {EK_ERR_IMAGE_TABLE_CRC, "IMAGE_TABLE_CRC"},
    {EK_ERR_IMAGE_SECTION_CRC, "IMAGE_SECTION_CRC"},
    {EK_ERR_IMAGE_BOUNDS, "IMAGE_BOUNDS"},
    {EK_ERR_IMAGE_CONFIG, "IMAGE_CONFIG"},
    {EK_ERR_IMAGE_MISSING_SECTION, "IMAGE_MISSING_SECTION"},
    {EK_ERR_IMAGE_FORMAT, "IMAGE_FORMAT"},
    {EK_ERR_IMAGE_PARTS, "IMAGE_PARTS"},
    {EK_ERR_ARENA_TOO_SMALL, "ARENA_TOO_SMALL"},
    {EK_ERR_CONTEXT_FULL, "CONTEXT_FULL"},
    {EK_ERR_BAD_TOKEN, "BAD_TOKEN"},
    {EK_ERR_BAD_ARGUMENT, "BAD_ARGUMENT"},
    {EK_ERR_BUSY, "BUSY"},
    {EK_ERR_FRAME_CRC, "FRAME_CRC"},
    {EK_ERR_FRAME_TOO_LONG, "FRAME_TOO_LONG"},
    {EK_ERR_UNKNOWN_MESSAGE, "UNKNOWN_MESSAGE"},
    {EK_ERR_BAD_MESSAGE, "BAD_MESSAGE"},
    {EK_ERR_PROTOCOL_VERSION, "PROTOCOL_VERSION"},
};

static const char *status_name(int code)
{
    size_t i;
    for (i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
        if (status_names[i].code == code)
            return status_names[i].name;
    return "UNKNOWN";
}

static int fail_status(const char *what, ek_status st)
{
    fprintf(stderr, "error: %s: %s\n", status_name(st), what);
    return 2;
}

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "error: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 2;
}

/* Whole file into a malloc'd buffer (malloc alignment suits the image's 4-byte requirement). */
static uint8_t *read_file(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = (uint8_t *)malloc(size > 0 ? (size_t)size : 1u);
        if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        *size_out = (size_t)size;
    }
    fclose(f);
    return buf;
}

/* Write to "<path>.tmp", then rename over path, so a reader never sees a half-written file. */
static int write_file(const char *path, const void *data, size_t n)
{
    char tmp[4096];
    FILE *f;
    int ok;
    if (strlen(path) + 5u > sizeof tmp)
        return 0;
    strcpy(tmp, path);
    strcat(tmp, ".tmp");
    f = fopen(tmp, "wb");
    if (f == NULL)
        return 0;
    ok = fwrite(data, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return 0;
    }
    return 1;
}

/* Parse "1,2,3" or whitespace-separated ids into a malloc'd array. */
static uint32_t *parse_tokens(const char *text, size_t *n_out)
{
    size_t cap = 16, n = 0;
    uint32_t *ids = (uint32_t *)malloc(cap * sizeof *ids);
    const char *p = text;
    while (ids != NULL && *p) {
        char *end;
        unsigned long v;
        while (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (!*p)
            break;
        v = strtoul(p, &end, 10);
        if (end == p) {
            free(ids);
            return NULL;
        }
        if (n == cap) {
            uint32_t *grown = (uint32_t *)realloc(ids, 2u * cap * sizeof *ids);
            if (grown == NULL) {
                free(ids);
                return NULL;
            }
            ids = grown;
            cap *= 2u;
        }
        ids[n++] = (uint32_t)v;
        p = end;
    }
    *n_out = n;
    return ids;
}

typedef struct {
    const uint8_t *data[EK_MAX_PARTS];
    size_t size[EK_MAX_PARTS];
    unsigned n;
} parts_t;

static int load_parts(parts_t *parts, int argc, char **argv)
{
    int i;
    parts->n = 0;
    for (i = 0; i < argc; i++) {
        size_t size = 0;
        uint8_t *buf;
        if (parts->n == EK_MAX_PARTS)
            return fail("too many image parts", NULL);
        buf = read_file(argv[i], &size);
        if (buf == NULL)
            return fail("cannot read image part", argv[i]);
        parts->data[parts->n] = buf;
        parts->size[parts->n] = size;
        parts->n++;
    }
    if (parts->n == 0)
        return fail("no image parts given", NULL);
    return 0;
}

static uint8_t *alloc_arena(size_t size, void **raw)
{
    uint8_t *p;
    *raw = malloc(size + EK_ARENA_ALIGN);
    if (*raw == NULL)
        return NULL;
    p = (uint8_t *)*raw;
    return p + ((EK_ARENA_ALIGN - ((uintptr_t)p % EK_ARENA_ALIGN)) % EK_ARENA_ALIGN);
}

/* --tokens / --tokens-file: the prompt (the last one given wins). */
typedef struct {
    uint32_t *ids;
    size_t n;
} token_list_t;

static int tokens_from_text(const char *text, void *target)
{
    token_list_t *list = (token_list_t *)target;
    free(list->ids);
    list->ids = parse_tokens(text, &list->n);
    return list->ids != NULL ? 0 : -1;
}

static int tokens_from_file(const char *path, void *target)
{
    size_t size;
    uint8_t *file = read_file(path, &size);
    char *text = file != NULL ? (char *)realloc(file, size + 1u) : NULL;
    int rc;
    if (text == NULL) {
        free(file);
        return -1;
    }
    text[size] = '\0';
    rc = tokens_from_text(text, target);
    free(text);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    unsigned long ctx = 0, generate = 0, arena_bytes = 0, chunk = 1, top_k = 0;
    token_list_t token_list = {NULL, 0};
    uint8_t *scratch = NULL;
    int verify = EK_VERIFY_PAYLOAD_CRC, i, rc;
    const char *logits_path = NULL;
    uint32_t *tokens = NULL;
    size_t n_tokens = 0, arena_size, t;
    ek_sampler_params sp = {0.0f, 0u, 0.0f};
    unsigned long long seed = 0;
    parts_t parts;
    static ek_model model;
    void *arena_raw;
    uint8_t *arena;
    float *all_logits = NULL;
    ek_status st;
    ek_rng rng;

    {
        const ek_option options[] = {
            {"--ctx", EK_OPT_ULONG, &ctx, 0, 0xFFFFFFFFul, NULL, 0, NULL},
            {"--no-verify-crc", EK_OPT_SET, &verify, 0, 0, NULL, 0, NULL},
            /* smaller than needed: tests ARENA_TOO_SMALL */
            {"--arena-bytes", EK_OPT_ULONG, &arena_bytes, 0, ULONG_MAX, NULL, 0, NULL},
            {"--tokens", EK_OPT_CALL, &token_list, 0, 0, NULL, 0, tokens_from_text},
            {"--tokens-file", EK_OPT_CALL, &token_list, 0, 0, NULL, 0, tokens_from_file},
            {"--logits", EK_OPT_STRING, &logits_path, 0, 0, NULL, 0, NULL},
            {"--generate", EK_OPT_ULONG, &generate, 0, 0xFFFFFFFFul, NULL, 0, NULL},
            {"--prefill-chunk", EK_OPT_ULONG, &chunk, 0, 0xFFFFFFFFul, NULL, 0, NULL},
            {"--temperature", EK_OPT_FLOAT, &sp.temperature, 0, 0, NULL, 0, NULL},
            {"--top-k", EK_OPT_ULONG, &top_k, 0, 0xFFFFFFFFul, NULL, 0, NULL},
            {"--top-p", EK_OPT_FLOAT, &sp.top_p, 0, 0, NULL, 0, NULL},
            {"--seed", EK_OPT_U64, &seed, 0, 0, NULL, 0, NULL},
        };
        i = ek_options_parse("error", options, (int)(sizeof options / sizeof options[0]), argc, argv, NULL, NULL, 1);
        if (i < 0)
            return 2;
    }
    sp.top_k = (uint32_t)top_k;
    tokens = token_list.ids;
    n_tokens = token_list.n;
    if ((rc = load_parts(&parts, argc - i, argv + i)) != 0)
        return rc;
    if (n_tokens == 0)
        return fail("no prompt tokens (--tokens or --tokens-file)", NULL);
    arena_size = ek_model_arena_size(parts.data, parts.size, parts.n, (uint32_t)ctx);
    if (arena_size == 0) { /* open again to name the problem */
        st = ek_model_open(&model, parts.data, parts.size, parts.n, (uint32_t)ctx, NULL, 0, verify);
        return fail_status("cannot open the image", st == EK_OK ? EK_ERR_BAD_ARGUMENT : st);
    }
    if (arena_bytes != 0)
        arena_size = arena_bytes;
    arena = alloc_arena(arena_size, &arena_raw);
    if (arena == NULL)
        return fail("out of memory for the arena", NULL);
    st = ek_model_open(&model, parts.data, parts.size, parts.n, (uint32_t)ctx, arena, arena_size, verify);
    if (st != EK_OK)
        return fail_status("cannot open the image", st);
    if (chunk > 1) {
        const size_t need = ek_model_prefill_scratch_size(&model, (uint32_t)chunk);
        scratch = (uint8_t *)malloc(need);
        if (scratch == NULL)
            return fail("out of memory for the prefill scratch", NULL);
        ek_model_set_prefill_scratch(&model, scratch, need);
        st = ek_model_prefill(&model, tokens, (uint32_t)n_tokens, logits_path != NULL || generate > 0);
        if (st != EK_OK)
            return fail_status("prefill failed", st);
        if (logits_path != NULL &&
            !write_file(logits_path, ek_model_logits(&model), model.config.vocab_size * sizeof(float)))
            return fail("cannot write logits", logits_path);
        logits_path = NULL;
        n_tokens = 0; /* done: skip the step loop */
    }
    if (logits_path != NULL) {
        all_logits = (float *)malloc(n_tokens * model.config.vocab_size * sizeof(float));
        if (all_logits == NULL)
            return fail("out of memory for logits", NULL);
    }
    for (t = 0; t < n_tokens; t++) {
        int want = logits_path != NULL || (generate > 0 && t + 1 == n_tokens);
        st = ek_model_step(&model, tokens[t], want);
        if (st != EK_OK)
            return fail_status("step failed", st);
        if (all_logits != NULL)
            memcpy(all_logits + t * model.config.vocab_size, ek_model_logits(&model),
                   model.config.vocab_size * sizeof(float));
    }
    if (logits_path != NULL &&
        !write_file(logits_path, all_logits, n_tokens * model.config.vocab_size * sizeof(float)))
        return fail("cannot write logits", logits_path);
    if (generate > 0) {
        unsigned long g;
        ek_rng_seed(&rng, (uint64_t)seed);
        printf("tokens:");
        for (g = 0; g < generate; g++) {
            uint32_t next = ek_sample(ek_model_logits(&model), model.config.vocab_size, &sp, &rng,
                                      ek_model_sampler_idx(&model), ek_model_sampler_p(&model));
            printf(" %lu", (unsigned long)next);
            if (g + 1 == generate)
                break;
            st = ek_model_step(&model, next, 1);
            if (st != EK_OK) {
                printf("\n");
                return fail_status("step failed", st);
            }
        }
        printf("\n");
    }
    free(all_logits);
    free(scratch);
    free(tokens);
    free(arena_raw);
    for (i = 0; i < (int)parts.n; i++)
        free((void *)(uintptr_t)parts.data[i]);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    parts_t parts;
    ek_image_part p[EK_MAX_PARTS];
    int rc;
    unsigned i;
    ek_status st;
    uint32_t f, mask;
    ek_arena_layout layout;
    if ((rc = load_parts(&parts, argc, argv)) != 0)
        return rc;
    for (i = 0; i < parts.n; i++)
        if ((st = ek_image_open_part(parts.data[i], parts.size[i], &p[i])) != EK_OK)
            return fail_status(argv[i], st);
    if ((st = ek_image_check_parts(p, parts.n)) != EK_OK)
        return fail_status("parts", st);
    {   /* the sections too, exactly as the device checks them before it runs (CRCs included) */
        uint32_t slots = ek_model_directory_slots(parts.data, parts.size, parts.n);
        uint32_t *directory = (uint32_t *)malloc((size_t)(slots ? slots : 1u) * sizeof *directory);
        st = directory ? ek_model_check_sections(parts.data, parts.size, parts.n, 1, directory) : EK_ERR_BAD_ARGUMENT;
        free(directory);
        if (st != EK_OK)
            return fail_status("sections", st);
    }
    printf("vocab %lu dim %lu hidden %lu layers %lu heads %lu kv_heads %lu head_dim %lu max_seq_len %lu tied %lu\n",
           (unsigned long)p[0].config.vocab_size, (unsigned long)p[0].config.hidden_size,
           (unsigned long)p[0].config.intermediate_size, (unsigned long)p[0].config.num_layers,
           (unsigned long)p[0].config.num_heads, (unsigned long)p[0].config.num_kv_heads,
           (unsigned long)p[0].config.head_dim, (unsigned long)p[0].config.max_seq_len,
           (unsigned long)p[0].config.tied);
    mask = ek_image_ternary_formats(p, parts.n);
    for (f = 0; f < 32u; f++)
        if (mask & (1u << f))
            printf("format %s kernel %s\n", ek_format_name(f), ek_kernel_variant(f));
    if (ek_arena_layout_compute(&p[0].config, p[0].config.max_seq_len, mask, &layout) == EK_OK)
        printf("arena_bytes %lu\n", (unsigned long)layout.size_bytes);
    return 0;
}

static uint32_t format_code(const char *name)
{
    uint32_t f;
    for (f = 0; f < 32u; f++)
        if (strcmp(ek_format_name(f), name) == 0)
            return f;
    return 0;
}

static int cmd_layout(int argc, char **argv)
{
    ek_config c;
    ek_arena_layout layout;
    uint32_t mask = 0;
    char names[256], *tok;
    int b;
    if (argc != 9)
        return fail("layout needs VOCAB DIM HIDDEN LAYERS HEADS KV_HEADS HEAD_DIM CTX FORMATS", NULL);
    memset(&c, 0, sizeof c);
    c.vocab_size = (uint32_t)strtoul(argv[0], NULL, 10);
    c.hidden_size = (uint32_t)strtoul(argv[1], NULL, 10);
    c.intermediate_size = (uint32_t)strtoul(argv[2], NULL, 10);
    c.num_layers = (uint32_t)strtoul(argv[3], NULL, 10);
    c.num_heads = (uint32_t)strtoul(argv[4], NULL, 10);
    c.num_kv_heads = (uint32_t)strtoul(argv[5], NULL, 10);
    c.head_dim = (uint32_t)strtoul(argv[6], NULL, 10);
    c.max_seq_len = (uint32_t)strtoul(argv[7], NULL, 10);
    strncpy(names, argv[8], sizeof names - 1u);
    names[sizeof names - 1u] = '\0';
    for (tok = strtok(names, ","); tok != NULL; tok = strtok(NULL, ","))
        if (strcmp(tok, "-") != 0) {
            uint32_t f = format_code(tok);
            if (!ek_format_is_ternary(f))
                return fail("unknown ternary format", tok);
            mask |= 1u << f;
        }
    if (ek_arena_layout_compute(&c, c.max_seq_len, mask, &layout) != EK_OK)
        return fail_status("layout overflows size_t", EK_ERR_BAD_ARGUMENT);
    for (b = 0; b < EK_BUF_COUNT; b++)
        printf("%s %lu %lu %lu\n", ek_arena_buffer_names[b], (unsigned long)layout.buf[b].offset,
               (unsigned long)layout.buf[b].size, (unsigned long)layout.buf[b].align);
    printf("total %lu\n", (unsigned long)layout.size_bytes);
    for (b = 2; b <= (int)EK_PREFILL_MAX_CHUNK; b *= 2) /* what a plan budgets for chunks of b tokens */
        printf("prefill %d %lu\n", b,
               (unsigned long)(ek_arena_prefill_scratch(&layout, (uint32_t)b, EK_PREFILL_RECORD_BYTES, NULL) +
                               EK_ARENA_ALIGN));
    return 0;
}

typedef void (*matvec_fn)(const ek_tensor *, const ek_qvec *, int32_t *);

static int cmd_matvec(int argc, char **argv)
{
    ek_tensor w;
    ek_qvec x;
    size_t wsize = 0, xsize = 0, n_bodies = 0, b;
    uint8_t *wdata, *xdata;
    int8_t *xq;
    int16_t *lut;
    int32_t *ref, *acc;
    const char *names[6];
    matvec_fn bodies[6];
    int mismatch = 0;
    if (argc != 6)
        return fail("matvec needs FORMAT ROWS COLS WEIGHTS XQ OUT", NULL);
    w.format = format_code(argv[0]);
    w.rows = (uint32_t)strtoul(argv[1], NULL, 10);
    w.cols = (uint32_t)strtoul(argv[2], NULL, 10);
    w.scale = 1.0f;
    if (!ek_format_is_ternary(w.format))
        return fail("not a ternary format", argv[0]);
    wdata = read_file(argv[3], &wsize);
    xdata = read_file(argv[4], &xsize);
    if (wdata == NULL || xdata == NULL || wsize != ek_format_packed_size(w.format, w.rows, w.cols) ||
        xsize != w.cols)
        return fail("weights or x_q file missing or of the wrong size", NULL);
    w.data = wdata;
    xq = (int8_t *)calloc(EK_XQ_PAD(w.cols), 1);
    lut = (int16_t *)malloc(EK_TL_LUT_ENTRIES(w.cols) * sizeof *lut + 1u);
    ref = (int32_t *)malloc(w.rows * sizeof *ref + 1u);
    acc = (int32_t *)malloc(w.rows * sizeof *acc + 1u);
    if (xq == NULL || lut == NULL || ref == NULL || acc == NULL)
        return fail("out of memory", NULL);
    memcpy(xq, xdata, w.cols);
    ek_tl_build_lut(xq, w.cols, lut);
    x.q = xq;
    x.n = w.cols;
    x.scale = 1.0f;
    x.tl_lut = lut;

    /* every body built for this format, portable first */
    switch (w.format) {
    case EK_FMT_I2:
        names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_i2_c;
#if EK_ISA_TERNARY != EK_ISA_C /* the ISA body ek_isa.h chose, under its body name (dotprod is the NEON body) */
        names[n_bodies] = EK_ISA_NAME(EK_ISA_TERNARY);
        bodies[n_bodies++] = EK_ISA_BODY(ek_matvec_i2, EK_ISA_TERNARY);
#endif
        break;
    case EK_FMT_T158:
        names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_t158_c;
        break;
    default:
        names[n_bodies] = "c", bodies[n_bodies++] = ek_matvec_tl_c;
        break;
    }
    bodies[0](&w, &x, ref);
    for (b = 0; b < n_bodies; b++) {
        bodies[b](&w, &x, acc);
        printf("body %s %s\n", names[b], memcmp(acc, ref, w.rows * sizeof *acc) == 0 ? "equal" : "DIFFERENT");
        mismatch |= memcmp(acc, ref, w.rows * sizeof *acc) != 0;
    }
    ek_ternary_matvec(&w, &x, acc); /* the dispatched body is the one the runtime uses */
    printf("dispatch %s %s\n", ek_kernel_variant(w.format),
           memcmp(acc, ref, w.rows * sizeof *acc) == 0 ? "equal" : "DIFFERENT");
    mismatch |= memcmp(acc, ref, w.rows * sizeof *acc) != 0;
    if (!write_file(argv[5], ref, w.rows * sizeof *ref))
        return fail("cannot write", argv[5]);
    free(wdata), free(xdata), free(xq), free(lut), free(ref), free(acc);
    return mismatch ? 1 : 0;
}

static int cmd_sample(int argc, char **argv)
{
    size_t size = 0;
    uint32_t n, draws, d, *idx;
    float *logits, *p;
    ek_sampler_params sp;
    ek_rng rng;
    if (argc != 7)
        return fail("sample needs LOGITS N TEMP TOP_K TOP_P SEED DRAWS", NULL);
    n = (uint32_t)strtoul(argv[1], NULL, 10);
    logits = (float *)(void *)read_file(argv[0], &size);
    if (logits == NULL || size != (size_t)n * sizeof(float) || n == 0)
        return fail("logits file missing or not N float32 values", argv[0]);
    sp.temperature = strtof(argv[2], NULL);
    sp.top_k = (uint32_t)strtoul(argv[3], NULL, 10);
    sp.top_p = strtof(argv[4], NULL);
    ek_rng_seed(&rng, (uint64_t)strtoull(argv[5], NULL, 10));
    draws = (uint32_t)strtoul(argv[6], NULL, 10);
    idx = (uint32_t *)malloc(n * sizeof *idx);
    p = (float *)malloc(n * sizeof *p);
    if (idx == NULL || p == NULL)
        return fail("out of memory", NULL);
    for (d = 0; d < draws; d++)
        printf("%lu\n", (unsigned long)ek_sample(logits, n, &sp, &rng, idx, p));
    free(logits), free(idx), free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail("usage: ek_eval run|info|layout|matvec|sample|status ...", NULL);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "info") == 0)
        return cmd_info(argc - 2, argv + 2);
    if (strcmp(argv[1], "layout") == 0)
        return cmd_layout(argc - 2, argv + 2);
    if (strcmp(argv[1], "matvec") == 0)
        return cmd_matvec(argc - 2, argv + 2);
    if (strcmp(argv[1], "sample") == 0)
        return cmd_sample(argc - 2, argv + 2);
    if (strcmp(argv[1], "status") == 0 && argc == 3) {
        printf("%s\n", status_name(atoi(argv[2])));
        return 0;
    }
    return fail("unknown command", argv[1]);
}
