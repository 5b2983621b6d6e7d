/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/io_internal.h - helpers shared by the writer, verify, restore and merge.
 *
 *   struct sq_first_err  the first failure of a group of worker threads
 *                        (core/first_error.h)
 *   sq_par_run           run fn(arg, worker index) on N threads and join
 *   sq_dio_enable        set O_DIRECT on an fd when the filesystem allows
 *   sq_online_cpus       online CPUs, at least 1
 */
#ifndef SQ_IO_INTERNAL_H
#define SQ_IO_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/first_error.h"
#include "core/input.h"

/*
 * sq_par_run() - run @fn(@arg, i) for i in [0, n) on n threads (the caller
 * runs i = 0) and join them all. Returns 0, or SQ_E_NOMEM / SQ_E_INTERNAL
 * when no thread could be started (then nothing ran). Threads that fail
 * to start are run by the caller after its own share.
 */
int sq_par_run(unsigned n, void (*fn)(void *arg, unsigned i), void *arg);

unsigned sq_online_cpus(void);

/*
 * sq_dio_enable() - try to set O_DIRECT on @fd. Returns 1 when set (the
 * previous flags in *@old), 0 when the filesystem refuses it or needs an
 * alignment above 4 KiB (the fd is left buffered).
 */
int sq_dio_enable(int fd, int *old);
void sq_dio_restore(int fd, int old);
/*
 * sq_dio_demote() - after a short direct transfer that left an unaligned
 * remainder: clear O_DIRECT on @fd (the whole open file description, so
 * every worker continues buffered, which is always correct) and set
 * *@direct to 0. Safe to call from several workers; the first one does it.
 */
void sq_dio_demote(int fd, atomic_int *direct);

/*
 * sq_io_page_shift() - log2 of @page_size when it is a manifest page size
 * (a power of two in [SQ_PAGE_SIZE_MIN, SQ_PAGE_SIZE_MAX]), else 0.
 */
static inline unsigned sq_io_page_shift(uint64_t page_size)
{
	if (page_size < 4096u || page_size > 65536u || (page_size & (page_size - 1)))
		return 0;
	return (unsigned)__builtin_ctzll(page_size);
}

/* Pages of 1 << @shift bytes in @size bytes, a partial last one included. */
static inline uint64_t sq_io_pages(uint64_t size, unsigned shift)
{
	return (size >> shift) + ((size & (((uint64_t)1 << shift) - 1)) != 0);
}

/* Bytes of page @p (1 << @shift bytes) inside @size bytes: 0 beyond the end. */
static inline uint64_t sq_io_page_len(uint64_t p, unsigned shift, uint64_t size)
{
	uint64_t off = p << shift;

	if (off >= size)
		return 0;
	return size - off < ((uint64_t)1 << shift) ? size - off : (uint64_t)1 << shift;
}

/* Page-aligned IO buffer of @len bytes (len a multiple of 4 KiB). */
void *sq_iobuf_alloc(size_t len);
void sq_iobuf_free(void *p, size_t len);

#endif /* SQ_IO_INTERNAL_H */
