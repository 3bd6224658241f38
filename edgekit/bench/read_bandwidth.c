/* Read bandwidth of this machine: T threads each sum their share of a buffer far larger than the caches.
 * Built and run by edgekit/bench/bandwidth.py (the roofline the peer benchmark measures decode against).
 *
 *   read_bandwidth MIB THREADS REPEATS   ->   one line per repeat: bytes seconds
 *
 * The sum is printed (to stderr) so the compiler cannot drop the loads; 8 independent 64-bit accumulators
 * let it vectorise the loop (-O2 -march=native), so the core issues loads as fast as the memory returns them.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    pthread_barrier_t *start;
} part_t;

static void *reader(void *arg) {
    part_t *part = arg;
    uint64_t a[8] = {0};
    pthread_barrier_wait(part->start);
    for (size_t i = 0; i + 8 <= part->n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += part->p[i + k];
    part->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    pthread_barrier_wait(part->start);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: read_bandwidth MIB THREADS REPEATS\n");
        return 2;
    }
    size_t bytes = (size_t)strtoul(argv[1], NULL, 10) << 20;
    int threads = atoi(argv[2]), repeats = atoi(argv[3]);
    if (bytes == 0 || threads < 1 || threads > 256 || repeats < 1) {
        fprintf(stderr, "read_bandwidth: bad arguments\n");
        return 2;
    }
    uint64_t *buf = aligned_alloc(64, bytes);
    if (!buf) {
        fprintf(stderr, "read_bandwidth: out of memory\n");
        return 1;
    }
    memset(buf, 1, bytes); /* real pages, not the shared zero page */
    size_t words = bytes / 8, share = words / (size_t)threads / 8 * 8;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    uint64_t total = 0;
    for (int r = 0; r < repeats; r++) {
        pthread_t tid[256];
        part_t parts[256];
        for (int t = 0; t < threads; t++) {
            parts[t] = (part_t){buf + (size_t)t * share, share, 0, &start};
            pthread_create(&tid[t], NULL, reader, &parts[t]);
        }
        pthread_barrier_wait(&start); /* all threads created: go */
        double t0 = now();
        pthread_barrier_wait(&start); /* all threads done */
        double t1 = now();
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            total += parts[t].sum;
        }
        printf("%zu %.9f\n", share * 8 * (size_t)threads, t1 - t0);
    }
    fprintf(stderr, "checksum %llu\n", (unsigned long long)total);
    free(buf);
    return 0;
}
