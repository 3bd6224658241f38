/* ek_server.c — the device main loop: read frames, answer requests, stream tokens (docs/protocol.md).
 *
 * Single-threaded and allocation-free. While a GENERATE runs, the loop polls the link (timeout 0)
 * between model steps, so CANCEL, PING, STATS and HELLO are answered mid-answer; requests that need
 * the model get ERROR(BUSY). Every reply to a request carries the request's seq.
 */
#include "ek_server.h"

#include <math.h>
#include <string.h>

#include "ek_port.h"
#include "ek_sampler.h"

/* How long an idle device waits in one ek_port_link_read before looping (no work depends on it). */
#define IDLE_READ_TIMEOUT_MS 1000u

/* ------------------------------------------------------------------------------------------------- */
/* sending                                                                                            */

static void send_msg(ek_server *s, uint8_t type, uint8_t seq, const void *msg)
{
    int n = ek_msg_encode(type, msg, s->tx_body, sizeof s->tx_body);
    size_t len;
    if (n < 0) /* cannot happen for messages this file builds: their arrays are sized to fit */
        return;
    len = ek_link_encode_frame(type, seq, s->tx_body, (size_t)n, s->tx_frame, sizeof s->tx_frame);
    if (len)
        ek_port_link_write(s->tx_frame, len);
}

static void set_str(ek_array *a, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n > 200) /* keep any one string well inside a frame */
        n = 200;
    a->native = text;
    a->wire = NULL;
    a->count = (uint16_t)n;
}

static void send_error(ek_server *s, uint8_t seq, uint8_t request_type, ek_status status, const char *detail)
{
    ek_msg_error e;
    memset(&e, 0, sizeof e);
    e.status = (uint16_t)status;
    e.request_seq = seq;
    e.request_type = request_type;
    set_str(&e.detail, detail);
    send_msg(s, EK_MSG_ERROR, seq, &e);
}

static void send_ack(ek_server *s, uint8_t seq, uint8_t request_type)
{
    ek_msg_ack a;
    a.request_type = request_type;
    send_msg(s, EK_MSG_ACK, seq, &a);
}

static void send_identity(ek_server *s, uint8_t seq)
{
    ek_msg_identity id;
    memset(&id, 0, sizeof id);
    id.protocol_version = EK_PROTOCOL_VERSION;
    id.max_body = EK_LINK_MAX_BODY;
    id.model_status = (uint16_t)s->model_status;
    id.clock_hz = ek_port_clock_hz();
    id.threads = s->config.threads ? s->config.threads : 1;
    id.arena_bytes = s->arena_bytes;
    id.image_bytes = s->image_bytes;
    id.bos_id = EK_NO_TOKEN;
    id.eos_id = EK_NO_TOKEN;
    if (s->model_status == EK_OK) {
        const ek_config *c = ek_model_config(&s->model);
        id.vocab_size = c->vocab_size;
        id.context_len = ek_model_max_ctx(&s->model);
        id.num_layers = c->num_layers;
        id.hidden_size = c->hidden_size;
        id.bos_id = c->bos_token_id;
        id.eos_id = c->eos_token_id;
        memcpy(id.model_hash, ek_model_hash(&s->model), 32);
        memcpy(id.tokenizer_hash, ek_model_tokenizer_hash(&s->model), 32);
    }
    set_str(&id.firmware_version, s->config.firmware_version);
    set_str(&id.board, ek_port_board_name());
    set_str(&id.kernel, s->kernel);
    send_msg(s, EK_MSG_IDENTITY, seq, &id);
}

static void send_stats(ek_server *s, uint8_t seq)
{
    ek_msg_stats_reply r;
    uint32_t uw = 0;
    memset(&r, 0, sizeof r);
    r.arena_bytes = s->arena_bytes;
    if (s->model_status == EK_OK) {
        r.arena_used = ek_model_arena_used(&s->model);
        r.seq_len = ek_model_pos(&s->model);
        r.context_len = ek_model_max_ctx(&s->model);
    }
    r.clock_hz = ek_port_clock_hz();
    r.tokens_prefilled = s->counters.tokens_prefilled;
    r.tokens_generated = s->counters.tokens_generated;
    r.prefill_cycles = s->counters.prefill_cycles;
    r.decode_cycles = s->counters.decode_cycles;
    r.sample_cycles = s->counters.sample_cycles;
    r.logits_cycles = s->counters.logits_cycles;
    r.uptime_us = ek_port_time_us() - s->boot_us;
    if (ek_port_power_uw(&uw) == 0) {
        r.power_uw = uw;
        r.power_valid = 1;
    }
    r.frames_ok = s->rx.frames_ok;
    r.crc_errors = s->rx.crc_errors;
    r.malformed_frames = s->rx.malformed;
    r.oversize_frames = s->rx.oversize;
    r.bad_messages = s->bad_messages;
    send_msg(s, EK_MSG_STATS_REPLY, seq, &r);
}

/* ------------------------------------------------------------------------------------------------- */
/* setup                                                                                              */

static void describe_kernels(ek_server *s)
{
    uint32_t formats = ek_image_ternary_formats(s->model.parts, s->model.n_parts), f;
    size_t used = 0;
    s->kernel[0] = '\0';
    for (f = 0; f < 32; f++) {
        const char *name, *variant;
        size_t need;
        if (!(formats & (1u << f)))
            continue;
        name = ek_format_name(f);
        variant = ek_kernel_variant(f);
        need = strlen(name) + 1 + strlen(variant) + (used ? 1 : 0);
        if (used + need + 1 > sizeof s->kernel)
            break;
        if (used)
            s->kernel[used++] = ',';
        memcpy(s->kernel + used, name, strlen(name));
        used += strlen(name);
        s->kernel[used++] = ':';
        memcpy(s->kernel + used, variant, strlen(variant));
        used += strlen(variant);
        s->kernel[used] = '\0';
    }
}

ek_status ek_server_init(ek_server *s, const ek_server_config *config)
{
    const uint8_t *parts[EK_MAX_PARTS];
    size_t sizes[EK_MAX_PARTS];
    unsigned n, i;
    uint8_t *arena;
    size_t arena_size = 0;

    memset(s, 0, sizeof *s);
    s->config = *config;
    ek_link_decoder_init(&s->rx);
    s->boot_us = ek_port_time_us();
    strcpy(s->kernel, "none");

    n = ek_port_image_count();
    arena = ek_port_arena(&arena_size);
    s->arena_bytes = arena_size;
    if (n == 0 || n > EK_MAX_PARTS) {
        s->model_status = EK_ERR_IMAGE_PARTS;
        return s->model_status;
    }
    for (i = 0; i < n; i++) {
        parts[i] = ek_port_image(i, &sizes[i]);
        s->image_bytes += sizes[i];
    }
    s->model_status = ek_model_open(&s->model, parts, sizes, n, config->max_ctx, arena, arena_size,
                                    config->verify_crc);
    if (s->model_status == EK_OK) {
        /* the arena beyond what the layout uses (a plan budgets it where RAM allows): chunked prefill scratch; a
         * port with other memory for it (POSIX: malloc) may set its own afterwards */
        const size_t used = (ek_model_arena_used(&s->model) + EK_ARENA_ALIGN - 1u) / EK_ARENA_ALIGN * EK_ARENA_ALIGN;
        if (used < arena_size)
            ek_model_set_prefill_scratch(&s->model, arena + used, arena_size - used);
        describe_kernels(s);
    }
    return s->model_status;
}

/* ------------------------------------------------------------------------------------------------- */
/* request handling                                                                                   */

static void handle_frame(ek_server *s, const ek_frame *f);

/* Read whatever the link has (waiting up to timeout_ms for the first byte) and handle complete frames.
 * The read position lives in the server, not in this call: a GENERATE handled here polls the link again
 * (nested, from run_generate) while this call may still hold unfed bytes after it, and the nested call must
 * feed those first; otherwise the decoder would see later bytes before earlier ones (frames right after a
 * GENERATE lost, or glued to the wrong bytes). Nesting is one level deep: no GENERATE starts during one. */
static void poll_link(ek_server *s, uint32_t timeout_ms)
{
    for (;;) {
        ek_frame f;
        if (s->rx_pos == s->rx_len) {
            int n = ek_port_link_read(s->rx_chunk, sizeof s->rx_chunk, timeout_ms);
            if (n < 0) {
                s->link_closed = 1;
                return;
            }
            if (n == 0)
                return;
            s->rx_len = (uint8_t)n;
            s->rx_pos = 0;
        }
        while (s->rx_pos < s->rx_len)
            if (ek_link_feed(&s->rx, s->rx_chunk[s->rx_pos++], &f))
                handle_frame(s, &f);
        timeout_ms = 0; /* drain what is already there, then go back to work */
        if (s->restart)
            return;
    }
}

/* The requests that need an open model get its status as an ERROR when it did not open. */
static int need_model(ek_server *s, const ek_frame *f)
{
    if (s->model_status == EK_OK)
        return 1;
    send_error(s, f->seq, f->type, s->model_status, "model image did not open");
    return 0;
}

static ek_status check_tokens(const ek_server *s, const ek_array *ids)
{
    uint32_t vocab = ek_model_config(&s->model)->vocab_size;
    uint16_t i;
    for (i = 0; i < ids->count; i++)
        if (ek_array_u32(ids, i) >= vocab)
            return EK_ERR_BAD_TOKEN;
    return EK_OK;
}

static void send_done(ek_server *s, uint8_t reason, ek_status status, uint32_t prompt_tokens, uint32_t generated,
                      uint64_t prefill_us, uint64_t prefill_cycles, uint64_t decode_us, uint64_t decode_cycles)
{
    ek_msg_done d;
    d.reason = reason;
    d.status = (uint16_t)status;
    d.prompt_tokens = prompt_tokens;
    d.generated_tokens = generated;
    d.seq_len = ek_model_pos(&s->model);
    d.prefill_us = prefill_us;
    d.prefill_cycles = prefill_cycles;
    d.decode_us = decode_us;
    d.decode_cycles = decode_cycles;
    send_msg(s, EK_MSG_DONE, s->gen_seq, &d);
}

static void do_reset(ek_server *s, uint8_t mode, uint8_t seq)
{
    if (s->model_status == EK_OK)
        ek_model_reset(&s->model);
    memset(&s->counters, 0, sizeof s->counters);
    send_ack(s, seq, EK_MSG_RESET);
    if (mode == EK_RESET_RESTART)
        s->restart = 1;
}

/* Run a GENERATE to its DONE (the caller checked everything the request can get wrong up front). */

/* Run ids[from..] through the model, as many as one prefill chunk takes (ek_model_prefill_chunk: 1 without the
 * port's scratch), with logits if that reaches the last id. Returns how many ran; *st says how it went. */
static uint16_t prefill_chunk(ek_server *s, const ek_array *ids, uint16_t from, ek_status *st)
{
    uint32_t chunk[EK_PREFILL_MAX_CHUNK], n = ek_model_prefill_chunk(&s->model), k;
    if (n > (uint32_t)(ids->count - from))
        n = (uint32_t)(ids->count - from);
    for (k = 0; k < n; k++)
        chunk[k] = ek_array_u32(ids, (uint16_t)(from + k));
    *st = ek_model_prefill(&s->model, chunk, n, from + n == ids->count);
    return *st == EK_OK ? (uint16_t)n : 0u;
}

static void run_generate(ek_server *s, const ek_msg_generate *g)
{
    ek_sampler_params params;
    ek_rng rng;
    const ek_config *cfg = ek_model_config(&s->model);
    const int stats = (g->flags & EK_GEN_STATS) != 0;
    uint64_t t0, c0, t1, c1, prefill_us = 0, prefill_cycles = 0, decode_us = 0, decode_cycles = 0;
    uint32_t generated = 0, prompt_done = 0, token = 0;
    uint16_t i;
    ek_status st = EK_OK;
    uint8_t reason = EK_DONE_MAX_TOKENS;

    params.temperature = g->temperature;
    params.top_k = g->top_k;
    params.top_p = g->top_p;
    ek_rng_seed(&rng, g->seed);
    s->generating = 1;
    s->cancel_requested = 0;

    /* prefill: logits only for the last prompt token; the link is polled so a long prompt can be cancelled */
    t0 = ek_port_time_us();
    c0 = ek_port_cycles();
    /* The marker is high while the model computes: once around the whole prefill, then once per decode step,
     * so a power meter sees 1 + (generated - 1) windows (docs/power.md). */
    ek_port_marker(1);
    for (i = 0; i < g->prompt.count;) {
        /* one prefill chunk at a time (a single token without the port's scratch), polling in between */
        const uint16_t n = prefill_chunk(s, &g->prompt, i, &st);
        if (st != EK_OK)
            break;
        i = (uint16_t)(i + n);
        prompt_done += n;
        poll_link(s, 0);
        if (s->cancel_requested || s->link_closed || s->restart)
            break;
    }
    ek_port_marker(0);
    prefill_us = ek_port_time_us() - t0;
    prefill_cycles = ek_port_cycles() - c0;
    s->counters.tokens_prefilled += prompt_done;
    s->counters.prefill_cycles += prefill_cycles;
    if (st != EK_OK) {
        reason = st == EK_ERR_CONTEXT_FULL ? EK_DONE_CONTEXT_FULL : EK_DONE_ERROR;
        goto done;
    }
    if (s->cancel_requested || s->link_closed || s->restart) {
        reason = EK_DONE_CANCELLED;
        goto done;
    }

    /* decode: token i's time is the model step of token i-1 (none for i = 0: prefill made its logits)
     * plus sampling. The last token sampled is not run through the model: DONE.seq_len excludes it. */
    while (generated < g->max_new_tokens) {
        uint64_t sc0;
        const float *logits;
        t0 = ek_port_time_us();
        c0 = ek_port_cycles();
        if (generated > 0) {
            ek_port_marker(1);
            st = ek_model_step(&s->model, token, 1);
            ek_port_marker(0);
            if (st != EK_OK) {
                reason = st == EK_ERR_CONTEXT_FULL ? EK_DONE_CONTEXT_FULL : EK_DONE_ERROR;
                break;
            }
        }
        sc0 = ek_port_cycles();
        logits = ek_model_logits(&s->model);
        token = ek_sample(logits, cfg->vocab_size, &params, &rng, ek_model_sampler_idx(&s->model),
                          ek_model_sampler_p(&s->model));
        c1 = ek_port_cycles();
        s->counters.sample_cycles += c1 - sc0;
        {
            ek_msg_token t;
            t.token_id = token;
            t.index = generated;
            t1 = ek_port_time_us();
            t.time_us = stats ? (uint32_t)(t1 - t0) : 0u; /* measured always (STATS counts it), sent on request */
            t.cycles = stats ? c1 - c0 : 0u;
            decode_us += t1 - t0;
            decode_cycles += c1 - c0;
            s->counters.decode_cycles += sc0 - c0;
            send_msg(s, EK_MSG_TOKEN, s->gen_seq, &t);
        }
        generated++;
        s->counters.tokens_generated++;
        if ((g->flags & EK_GEN_STOP_AT_EOS) && token == cfg->eos_token_id) {
            reason = EK_DONE_EOS;
            break;
        }
        poll_link(s, 0);
        if (s->cancel_requested || s->link_closed || s->restart) {
            reason = EK_DONE_CANCELLED;
            break;
        }
        if (generated < g->max_new_tokens && ek_model_pos(&s->model) >= ek_model_max_ctx(&s->model)) {
            reason = EK_DONE_CONTEXT_FULL;
            break;
        }
    }

done:
    send_done(s, reason, reason == EK_DONE_ERROR ? st : EK_OK, prompt_done, generated, prefill_us,
              prefill_cycles, decode_us, decode_cycles);
    s->generating = 0;
    s->cancel_requested = 0;
    if (s->reset_requested) {
        s->reset_requested = 0;
        do_reset(s, s->reset_mode, s->reset_seq);
    }
}

static void handle_generate(ek_server *s, const ek_frame *f, const ek_msg_generate *g)
{
    uint32_t pos, ctx, need;
    ek_status st;
    if (!need_model(s, f))
        return;
    if (isnan(g->temperature) || isnan(g->top_p)) {
        send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "temperature and top_p must be numbers");
        return;
    }
    st = check_tokens(s, &g->prompt);
    if (st != EK_OK) {
        send_error(s, f->seq, f->type, st, "prompt token id >= vocab_size");
        return;
    }
    if (!(g->flags & EK_GEN_CONTINUE))
        ek_model_reset(&s->model);
    if (g->prompt.count == 0 && g->max_new_tokens > 0 && ek_model_logits(&s->model) == NULL) {
        send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "empty prompt and no sequence to continue");
        return;
    }
    pos = ek_model_pos(&s->model);
    ctx = ek_model_max_ctx(&s->model);
    need = g->prompt.count;
    if (need > ctx - pos) {
        send_error(s, f->seq, f->type, EK_ERR_CONTEXT_FULL, "prompt does not fit the free context");
        return;
    }
    /* The prompt points into the frame decoder's buffer, which the polls during prefill reuse: run from a
     * private copy of the body. */
    {
        ek_msg_generate own;
        memcpy(s->gen_body, f->body, f->body_len);
        if (ek_msg_decode(EK_MSG_GENERATE, s->gen_body, f->body_len, &own) != EK_OK)
            return; /* cannot happen: the same bytes decoded before */
        s->gen_seq = f->seq;
        run_generate(s, &own);
    }
}

/* The k largest logits (ties: lower id first), k <= capacity of one LOGITS_TOPK frame. */
#define TOPK_MAX ((EK_LINK_MAX_BODY - EK_MSG_LOGITS_TOPK_MIN_SIZE) / 8)

static void send_logits(ek_server *s, uint8_t seq, uint8_t mode, uint16_t k)
{
    const float *logits = ek_model_logits(&s->model);
    uint32_t vocab = ek_model_config(&s->model)->vocab_size;
    uint32_t position = ek_model_pos(&s->model) - 1;
    if (mode == EK_LOGITS_FULL) {
        const uint32_t per_frame = (EK_LINK_MAX_BODY - EK_MSG_LOGITS_CHUNK_MIN_SIZE) / 4;
        ek_msg_logits_chunk c;
        uint32_t off = 0;
        c.position = position;
        c.total = vocab;
        while (off < vocab) {
            uint32_t n = vocab - off < per_frame ? vocab - off : per_frame;
            c.offset = off;
            c.values.native = logits + off;
            c.values.wire = NULL;
            c.values.count = (uint16_t)n;
            send_msg(s, EK_MSG_LOGITS_CHUNK, seq, &c);
            off += n;
        }
    } else {
        uint32_t ids[TOPK_MAX];
        float vals[TOPK_MAX];
        uint32_t have = 0, v, j;
        ek_msg_logits_topk t;
        if (k > vocab)
            k = (uint16_t)vocab;
        for (v = 0; v < vocab; v++) {
            float x = logits[v];
            if (x != x) /* NaN never ranks */
                continue;
            if (have == k && !(x > vals[k - 1]))
                continue; /* not strictly larger: an equal value keeps the lower id already held */
            j = have < k ? have++ : (uint32_t)k - 1u;
            while (j > 0 && x > vals[j - 1]) {
                vals[j] = vals[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            vals[j] = x;
            ids[j] = v;
        }
        t.position = position;
        t.vocab_size = vocab;
        t.ids.native = ids;
        t.ids.wire = NULL;
        t.ids.count = (uint16_t)have;
        t.values.native = vals;
        t.values.wire = NULL;
        t.values.count = (uint16_t)have;
        send_msg(s, EK_MSG_LOGITS_TOPK, seq, &t);
    }
}

static void handle_logits(ek_server *s, const ek_frame *f, const ek_msg_logits *r)
{
    uint16_t i;
    uint64_t c0;
    ek_status st = EK_OK;
    if (!need_model(s, f))
        return;
    if (r->mode != EK_LOGITS_FULL && r->mode != EK_LOGITS_TOPK) {
        send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "mode must be 0 (full) or 1 (top-k)");
        return;
    }
    if (r->mode == EK_LOGITS_TOPK && (r->top_k == 0 || r->top_k > TOPK_MAX)) {
        send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "top_k must be 1..126");
        return;
    }
    st = check_tokens(s, &r->ids);
    if (st != EK_OK) {
        send_error(s, f->seq, f->type, st, "token id >= vocab_size");
        return;
    }
    if (!(r->flags & EK_LOGITS_CONTINUE))
        ek_model_reset(&s->model);
    if (r->ids.count == 0 && ek_model_logits(&s->model) == NULL) {
        send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "no ids and no logits to return");
        return;
    }
    if (r->ids.count > ek_model_max_ctx(&s->model) - ek_model_pos(&s->model)) {
        send_error(s, f->seq, f->type, EK_ERR_CONTEXT_FULL, "ids do not fit the free context");
        return;
    }
    c0 = ek_port_cycles();
    for (i = 0; i < r->ids.count && st == EK_OK;)
        i = (uint16_t)(i + prefill_chunk(s, &r->ids, i, &st));
    s->counters.logits_cycles += ek_port_cycles() - c0;
    if (st != EK_OK) {
        send_error(s, f->seq, f->type, st, "model step failed");
        return;
    }
    send_logits(s, f->seq, r->mode, r->top_k);
}

static void handle_frame(ek_server *s, const ek_frame *f)
{
    ek_msg_any m;
    ek_status st;
    const ek_msg_desc *d = ek_msg_find(f->type);
    if (d == NULL || (f->type & 0x80u)) { /* replies are not requests */
        s->bad_messages++;
        send_error(s, f->seq, f->type, EK_ERR_UNKNOWN_MESSAGE, d ? "not a request type" : "unknown type");
        return;
    }
    st = ek_msg_decode(f->type, f->body, f->body_len, &m);
    if (st != EK_OK) {
        s->bad_messages++;
        send_error(s, f->seq, f->type, st, "body does not match the message layout");
        return;
    }
    switch (f->type) {
    case EK_MSG_HELLO:
        /* HELLO opens a session: a generation still running belongs to a host that went away (or restarted)
         * and would hold the device BUSY for its remaining tokens, so it ends (DONE cancelled, its own seq) */
        if (s->generating)
            s->cancel_requested = 1;
        send_identity(s, f->seq);
        break;
    case EK_MSG_PING: {
        ek_msg_pong p;
        p.data = m.ping.data;
        send_msg(s, EK_MSG_PONG, f->seq, &p);
        break;
    }
    case EK_MSG_STATS:
        send_stats(s, f->seq);
        break;
    case EK_MSG_CANCEL:
        if (s->generating)
            s->cancel_requested = 1; /* the DONE (reason cancelled, GENERATE's seq) is the answer */
        else
            send_ack(s, f->seq, EK_MSG_CANCEL);
        break;
    case EK_MSG_RESET:
        if (m.reset.mode != EK_RESET_SEQUENCE && m.reset.mode != EK_RESET_RESTART) {
            send_error(s, f->seq, f->type, EK_ERR_BAD_ARGUMENT, "mode must be 0 (sequence) or 1 (restart)");
        } else if (s->generating && s->reset_requested) {
            /* one deferred reset at a time: its seq gets the ACK, so a second RESET would go unanswered */
            send_error(s, f->seq, f->type, EK_ERR_BUSY, "a reset is already pending");
        } else if (s->generating) {
            s->cancel_requested = 1;
            s->reset_requested = 1;
            s->reset_mode = m.reset.mode;
            s->reset_seq = f->seq;
        } else {
            do_reset(s, m.reset.mode, f->seq);
        }
        break;
    case EK_MSG_GENERATE:
    case EK_MSG_LOGITS:
        if (s->generating) {
            send_error(s, f->seq, f->type, EK_ERR_BUSY, "a generate is running");
        } else if (f->type == EK_MSG_GENERATE) {
            handle_generate(s, f, &m.generate);
        } else {
            handle_logits(s, f, &m.logits);
        }
        break;
    default: /* a request type in the table this loop has no case for: a table/firmware mismatch */
        s->bad_messages++;
        send_error(s, f->seq, f->type, EK_ERR_UNKNOWN_MESSAGE, "request not implemented");
        break;
    }
}

int ek_server_run(ek_server *s)
{
    while (!s->link_closed && !s->restart)
        poll_link(s, IDLE_READ_TIMEOUT_MS);
    return s->restart ? EK_SERVER_RESTART : EK_SERVER_LINK_CLOSED;
}
