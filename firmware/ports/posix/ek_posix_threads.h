/* ek_posix_threads.h — run the runtime's ternary matvecs on several threads (--threads N).
 *
 * The runtime has no threading of its own (it is the same code as on a single-core MCU). On GNU linkers
 * the port wraps ek_ternary_matvec (-Wl,--wrap): each call is split into contiguous row ranges (a few per
 * thread, each taken by whichever thread is free), each range handed to the real kernel as a sub-tensor.
 * Every row's int32 accumulators are computed by the same kernel body as before, so results are
 * bit-identical to one thread. Where the linker cannot wrap (macOS ld64) the device stays single-threaded
 * and says so on stderr.
 */
#ifndef EK_POSIX_THREADS_H
#define EK_POSIX_THREADS_H

#define EK_POSIX_MAX_THREADS 64

/* Start n - 1 workers (the calling thread is the n-th). Returns the thread count actually in use. */
unsigned ek_posix_threads_start(unsigned n);
void ek_posix_threads_stop(void);

#endif /* EK_POSIX_THREADS_H */
