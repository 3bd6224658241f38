/* ek_posix_threads.c — row-split ternary matvecs over a small pthread pool (see ek_posix_threads.h). */
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
/* Below this many weights one thread is faster than waking the others. */
#define MIN_PARALLEL_WEIGHTS 65536u

void __real_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc);

static struct {
    pthread_t tid[EK_POSIX_MAX_THREADS];
    unsigned n; /* threads in use, including the caller */
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped per job; workers run once per bump */
    unsigned pending;         /* workers still running the current job */
    int quit;
    const ek_tensor *w;
    const ek_qvec *x;
    int32_t *acc;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .start = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

/* Rows [r0, r1) of job part `part` out of pool.n. */
static void run_part(unsigned part)
{
    const ek_tensor *w = pool.w;
    uint32_t granules = (w->rows + ROW_GRANULE - 1) / ROW_GRANULE;
    uint32_t g0 = (uint32_t)((uint64_t)granules * part / pool.n);
    uint32_t g1 = (uint32_t)((uint64_t)granules * (part + 1) / pool.n);
    uint32_t r0 = g0 * ROW_GRANULE, r1 = g1 * ROW_GRANULE;
    ek_tensor sub;
    if (r1 > w->rows)
        r1 = w->rows;
    if (r0 >= r1)
        return;
    sub = *w;
    sub.data = w->data + ek_format_packed_size(w->format, r0, w->cols);
    sub.rows = r1 - r0;
    __real_ek_ternary_matvec(&sub, pool.x, pool.acc + r0);
}

static void *worker(void *arg)
{
    unsigned part = (unsigned)(size_t)arg;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (!pool.quit && pool.generation == seen)
            pthread_cond_wait(&pool.start, &pool.lock);
        if (pool.quit) {
            pthread_mutex_unlock(&pool.lock);
            return NULL;
        }
        seen = pool.generation;
        pthread_mutex_unlock(&pool.lock);
        run_part(part);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.lock);
    }
}

void __wrap_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc);
void __wrap_ek_ternary_matvec(const ek_tensor *w, const ek_qvec *x, int32_t *acc)
{
    if (pool.n <= 1 || (uint64_t)w->rows * w->cols < MIN_PARALLEL_WEIGHTS || w->rows < 2 * ROW_GRANULE) {
        __real_ek_ternary_matvec(w, x, acc);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.w = w;
    pool.x = x;
    pool.acc = acc;
    pool.pending = pool.n - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.lock);
    run_part(0);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

unsigned ek_posix_threads_start(unsigned n)
{
    unsigned i;
    if (n > EK_POSIX_MAX_THREADS)
        n = EK_POSIX_MAX_THREADS;
    pool.n = 1;
    for (i = 1; i < n; i++) {
        if (pthread_create(&pool.tid[i], NULL, worker, (void *)(size_t)i) != 0) {
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
