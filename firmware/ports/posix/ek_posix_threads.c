/* ek_posix_threads.c — row-split matvecs over a small pthread pool (see ek_posix_threads.h).
 *
 * Three ops are split: the ternary matvec (every linear layer), the ternary matmul (the same layers for a
 * prefill chunk) and the float matvec (the lm_head, the largest single op of a decode step: vocab x hidden
 * floats read per token). Each is wrapped with -Wl,--wrap=<op>;
 * every row is still computed by the same kernel body, so results are bit-identical to one thread.
 *
 * A job's rows go out in EK_POSIX_CHUNKS_PER_THREAD contiguous chunks per thread, each claimed from a shared counter
 * by whichever thread is free. With a fixed half each, a worker the OS has descheduled (another process on
 * the core) held up every one of the ~200 ops of a token for a time slice; now the caller takes the chunks the
 * worker has not started. Measured on a 2-core EPYC (2B-4T, 2 threads, AVX2): with another process busy on
 * both cores, decode 0.6 tokens/s with fixed halves, 10-11 claimed in chunks (prefill 128: 18 vs 26); on an
 * idle machine the same (decode 27.8 both, prefill 65.6 vs 65.0). */
#if !defined(__APPLE__)
#define _POSIX_C_SOURCE 200809L
#endif

#include "ek_posix_threads.h"

#include <stdio.h>

#include "ek_kernels.h"

#if defined(EK_POSIX_WRAP_MATVEC)
#include <pthread.h>

/* Rows are split at multiples of this: a tl tile holds 16 rows, and 16 rows of every format start on a
 * 4-byte boundary (the kernels' alignment contract). */
#define ROW_GRANULE 16u
/* Below this much work (rows x cols) one thread is faster than waking the others: a hand-off costs tens of
 * microseconds (two futex wake-ups and a wait), about what a 1M-weight i2 matvec takes with AVX2. Measured
 * with the bundled 5M model (largest ternary matvec 640 x 256): splitting made decode slower, on 2 cores
 * 1100 vs 1900 tokens/s. The float threshold comes from timing the lm_head alone (AVX2, 2 cores): a
 * 2048 x 256 f32 lm_head takes 0.05 ms on one thread and 0.08 ms split in two; a 128256 x 2560 one reads
 * memory at full bandwidth from one core already, so splitting it gained nothing on that machine but may on
 * boards whose single core cannot saturate DRAM (Cortex-A). Override with -D to tune for a machine. */
#ifndef EK_POSIX_MIN_PARALLEL_TERNARY
#define EK_POSIX_MIN_PARALLEL_TERNARY (1u << 20)
#endif
#ifndef EK_POSIX_MIN_PARALLEL_FLOAT
#define EK_POSIX_MIN_PARALLEL_FLOAT (1u << 22)
#endif

/* Chunks per thread and job: more balance the load when a thread is held up, fewer keep each thread's weight
 * stream long (every chunk start is a prefetch restart). */
#ifndef EK_POSIX_CHUNKS_PER_THREAD
#define EK_POSIX_CHUNKS_PER_THREAD 4u
#endif

void __real_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void __real_ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);

enum job_kind { JOB_TERNARY, JOB_MATMUL, JOB_FLOAT, JOB_HEAD_Q8I, JOB_HEAD_Q4I };

/* A decode step dispatches ~7 matvecs per layer; waking a sleeping thread through the futex costs tens of
 * microseconds each time, as much as a small matvec. So both sides first spin (with a pause hint) for about
 * this many polls, and only then sleep on the condition variables, which stay the correctness path. */
#ifndef EK_POSIX_SPIN_POLLS
#define EK_POSIX_SPIN_POLLS 200000u
#endif

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static struct {
    pthread_t tid[EK_POSIX_MAX_THREADS];
    unsigned n; /* threads in use, including the caller */
    pthread_mutex_t lock;
    pthread_cond_t start, done_cond;
    unsigned long generation; /* bumped per job; workers join once per bump */
    /* (generation mod 2^32) << 32 | chunks << 16 | next chunk: a claim checks the job it belongs to, so a
     * worker that wakes after its job ended cannot take a chunk of the next one; the caller starts no job
     * before every chunk of the last one is done */
    uint64_t claim;
    unsigned done; /* chunks of the current job finished */
    int quit;
    enum job_kind kind;
    const ek_tensor *w;
    const ek_qvec *xq; /* JOB_TERNARY: acc (w->rows) = W . xq; JOB_MATMUL: xq[n_x], acc rows acc_stride apart */
    int32_t *acc;
    uint32_t n_x, acc_stride;
    const float *x; /* JOB_FLOAT: y (w->rows) = W . x */
    float *y;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
          .done_cond = PTHREAD_COND_INITIALIZER};

/* Rows [r0, r1) of an lm_head (JOB_FLOAT: y = W . x; JOB_HEAD_*: the integer heads on xq) through the format's
 * row-range entry: q8row, q8i and q4i keep all row scales before all rows, so a chunk goes by range, not by
 * sub-tensor. */
static void head_rows(enum job_kind kind, const ek_tensor *w, const ek_qvec *xq, const float *x, float *y,
                      uint32_t r0, uint32_t r1)
{
    if (kind == JOB_HEAD_Q8I)
        ek_head_q8i_rows(w, xq, y, r0, r1);
    else if (kind == JOB_HEAD_Q4I)
        ek_head_q4i_rows(w, xq, y, r0, r1);
    else
        ek_float_matvec_rows(w, x, y, r0, r1);
}

/* Rows [r0, r1) of chunk `chunk` out of `chunks`. */
static void run_chunk(unsigned chunk, unsigned chunks)
{
    const ek_tensor *w = pool.w;
    uint32_t granules = (w->rows + ROW_GRANULE - 1) / ROW_GRANULE;
    uint32_t g0 = (uint32_t)((uint64_t)granules * chunk / chunks);
    uint32_t g1 = (uint32_t)((uint64_t)granules * (chunk + 1) / chunks);
    uint32_t r0 = g0 * ROW_GRANULE, r1 = g1 * ROW_GRANULE;
    ek_tensor sub;
    if (r1 > w->rows)
        r1 = w->rows;
    if (r0 >= r1)
        return;
    if (pool.kind != JOB_TERNARY && pool.kind != JOB_MATMUL) {
        head_rows(pool.kind, w, pool.xq, pool.x, pool.y, r0, r1);
        return;
    }
    sub = *w;
    sub.data = w->data + ek_format_packed_size(w->format, r0, w->cols);
    sub.rows = r1 - r0;
    if (pool.kind == JOB_MATMUL)
        __real_ek_ternary_matmul(&sub, pool.xq, pool.n_x, pool.acc + r0, pool.acc_stride);
    else
        __real_ek_ternary_matvec(&sub, pool.xq, pool.acc + r0);
}

/* Claim and run chunks of job `generation` until none is left; returns 1 if this thread finished the job's
 * last chunk. */
static int run_chunks(unsigned long generation)
{
    const uint64_t job = (uint64_t)(uint32_t)generation << 32;
    uint64_t claim = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
    int last = 0;
    for (;;) {
        const unsigned chunks = (unsigned)(claim >> 16) & 0xFFFFu, next = (unsigned)claim & 0xFFFFu;
        if ((claim & 0xFFFFFFFF00000000u) != job || next >= chunks)
            return last;
        if (!__atomic_compare_exchange_n(&pool.claim, &claim, claim + 1u, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue; /* claim now holds the counter another thread left */
        run_chunk(next, chunks);
        last = __atomic_add_fetch(&pool.done, 1u, __ATOMIC_ACQ_REL) == chunks;
        claim = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
    }
}

static void *worker(void *arg)
{
    unsigned long seen = 0;
    (void)arg;
    for (;;) {
        unsigned polls;
        for (polls = 0; polls < EK_POSIX_SPIN_POLLS; polls++) {
            if (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) != seen || __atomic_load_n(&pool.quit,
                                                                                             __ATOMIC_ACQUIRE))
                break;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.lock);
        while (!pool.quit && pool.generation == seen)
            pthread_cond_wait(&pool.start, &pool.lock);
        if (pool.quit) {
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
        seen = pool.generation;
        pthread_mutex_unlock(&pool.lock);
        if (run_chunks(seen)) {
            /* under the lock, so a caller between its check and its wait cannot miss the signal */
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done_cond);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

/* Run the job described in pool (set by the caller under no lock: no thread touches the job fields between
 * jobs) on every thread, the caller claiming chunks like the workers. */
static void run_job(void)
{
    const uint32_t granules = (pool.w->rows + ROW_GRANULE - 1) / ROW_GRANULE;
    unsigned chunks = pool.n * EK_POSIX_CHUNKS_PER_THREAD, polls;
    unsigned long generation;
    if (chunks > granules)
        chunks = granules;
    if (chunks > 0xFFFFu)
        chunks = 0xFFFFu;
    pthread_mutex_lock(&pool.lock);
    generation = pool.generation + 1;
    __atomic_store_n(&pool.done, 0u, __ATOMIC_RELAXED);
    __atomic_store_n(&pool.claim, (uint64_t)(uint32_t)generation << 32 | (uint64_t)chunks << 16, __ATOMIC_RELEASE);
    __atomic_store_n(&pool.generation, generation, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.lock);
    if (run_chunks(generation))
        return;
    for (polls = 0; polls < EK_POSIX_SPIN_POLLS && __atomic_load_n(&pool.done, __ATOMIC_ACQUIRE) != chunks; polls++)
        cpu_relax();
    pthread_mutex_lock(&pool.lock);
    while (__atomic_load_n(&pool.done, __ATOMIC_ACQUIRE) != chunks)
        pthread_cond_wait(&pool.done_cond, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

static int worth_splitting(const ek_tensor *w, uint64_t min_work)
{
    return pool.n > 1 && (uint64_t)w->rows * w->cols >= min_work && w->rows >= 2 * ROW_GRANULE;
}

void __wrap_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void __wrap_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    if (!worth_splitting(w, EK_POSIX_MIN_PARALLEL_TERNARY)) {
        __real_ek_ternary_matvec(w, x, acc);
        return;
    }
    pool.kind = JOB_TERNARY;
    pool.w = w;
    pool.xq = x;
    pool.acc = acc;
    run_job();
}

/* A prefill chunk: the same row split, each part running the matmul body over all inputs. */
void __wrap_ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride);
void __wrap_ek_ternary_matmul(const ek_tensor *w, const ek_qvec *x, uint32_t n_x, int32_t *acc, uint32_t acc_stride)
{
    if (!ek_ternary_matmul_batched(w->format) ||
        !worth_splitting(w, EK_POSIX_MIN_PARALLEL_TERNARY / (n_x ? n_x : 1u))) {
        __real_ek_ternary_matmul(w, x, n_x, acc, acc_stride);
        return;
    }
    pool.kind = JOB_MATMUL;
    /* only bodies that read each weight once for all inputs run as one job; the per-input fallback calls the
     * wrapped matvec, which splits each of its calls itself (a job inside a job would wait for itself) */
    pool.w = w;
    pool.xq = x;
    pool.n_x = n_x;
    pool.acc = acc;
    pool.acc_stride = acc_stride;
    run_job();
}

/* The lm_head (float formats, or the integer q8i / q4i heads) by row ranges (head_rows). Small heads run here,
 * unsplit. */
static void head_rows_job(enum job_kind kind, const ek_tensor *w, const ek_qvec *xq, const float *x, float *y)
{
    if (!worth_splitting(w, EK_POSIX_MIN_PARALLEL_FLOAT)) {
        head_rows(kind, w, xq, x, y, 0, w->rows);
        return;
    }
    pool.kind = kind;
    pool.w = w;
    pool.xq = xq;
    pool.x = x;
    pool.y = y;
    run_job();
}

/* Active when the port links with --wrap=ek_float_matvec / --wrap=ek_head_q8i / --wrap=ek_head_q4i; they need no
 * __real_ symbol (the row-range entries do the work), so they link either way. */
void __wrap_ek_float_matvec(const ek_tensor *w, const float *x, float *y);
void __wrap_ek_float_matvec(const ek_tensor *w, const float *x, float *y)
{
    head_rows_job(JOB_FLOAT, w, NULL, x, y);
}

void __wrap_ek_head_q8i(const ek_tensor *w, const ek_qvec *x, float *y);
void __wrap_ek_head_q8i(const ek_tensor *w, const ek_qvec *x, float *y)
{
    head_rows_job(JOB_HEAD_Q8I, w, x, NULL, y);
}

void __wrap_ek_head_q4i(const ek_tensor *w, const ek_qvec *x, float *y);
void __wrap_ek_head_q4i(const ek_tensor *w, const ek_qvec *x, float *y)
{
    head_rows_job(JOB_HEAD_Q4I, w, x, NULL, y);
}

unsigned ek_posix_threads_start(unsigned n)
{
    unsigned i;
    if (n > EK_POSIX_MAX_THREADS)
        n = EK_POSIX_MAX_THREADS;
    pool.n = 1;
    for (i = 1; i < n; i++) {
        if (pthread_create(&pool.tid[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "edgekit-device: could start only %u of %u threads\n", i, n);
            break;
        }
        pool.n = i + 1;
    }
    return pool.n;
}

void ek_posix_threads_stop(void)
{
    unsigned i;
    pthread_mutex_lock(&pool.lock);
    pool.quit = 1;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.lock);
    for (i = 1; i < pool.n; i++)
        pthread_join(pool.tid[i], NULL);
    pool.n = 1;
}

#else /* no --wrap: single-threaded */

unsigned ek_posix_threads_start(unsigned n)
{
    if (n > 1)
        fprintf(stderr, "edgekit-device: --threads %u ignored: this build cannot wrap the matvec kernel "
                        "(needs a GNU-compatible linker); running single-threaded\n", n);
    return 1;
}

void ek_posix_threads_stop(void) {}

#endif
