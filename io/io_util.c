/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/io_util.c - worker threads, O_DIRECT switching (the first error of a
 * group of workers: core/first_error.c).
 *
 * Invariants:
 *  - sq_dio_enable never leaves O_DIRECT set when it returns 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/alloc.h>
#include <squib/types.h>

#include "core/err.h"
#include "core/sysio.h"
#include "io/io_internal.h"

struct par_thread {
	pthread_t tid;
	void (*fn)(void *, unsigned);
	void *arg;
	unsigned idx;
	int started;
};

static void *par_main(void *p)
{
	struct par_thread *t = p;

	t->fn(t->arg, t->idx);
	return NULL;
}

int sq_par_run(unsigned n, void (*fn)(void *arg, unsigned i), void *arg)
{
	struct par_thread *t;

	if (n <= 1) {
		fn(arg, 0);
		return 0;
	}
	t = calloc(n, sizeof(*t));
	if (!t)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (unsigned i = 1; i < n; i++) {
		t[i] = (struct par_thread){ .fn = fn, .arg = arg, .idx = i };
		t[i].started = pthread_create(&t[i].tid, NULL, par_main, &t[i]) == 0;
	}
	fn(arg, 0);
	for (unsigned i = 1; i < n; i++) {
		if (t[i].started)
			pthread_join(t[i].tid, NULL);
		else
			fn(arg, i);
	}
	free(t);
	return 0;
}

unsigned sq_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

int sq_dio_enable(int fd, int *old)
{
	struct statx stx;
	int fl = fcntl(fd, F_GETFL);

	*old = fl;
	if (fl < 0)
		return 0;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		/* 0 means the file does not support direct IO at all. */
		if (stx.stx_dio_offset_align == 0 || stx.stx_dio_offset_align > SQ_PAGE_SIZE ||
		    stx.stx_dio_mem_align > SQ_PAGE_SIZE)
			return 0;
	}
	if (fl & O_DIRECT)
		return 1;
	if (fcntl(fd, F_SETFL, fl | O_DIRECT) < 0)
		return 0;
	return 1;
}

void sq_dio_restore(int fd, int old)
{
	if (old >= 0)
		fcntl(fd, F_SETFL, old);
}

void sq_dio_demote(int fd, atomic_int *direct)
{
	/* Relaxed: the flag only selects the alignment rule for later retries;
	 * fcntl itself is the synchronization point for the file's mode. */
	if (atomic_exchange_explicit(direct, 0, memory_order_relaxed)) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_DIRECT);
	}
}

void *sq_iobuf_alloc(size_t len)
{
	return sq_mem_alloc(len, SQ_PAGE_SIZE);
}

void sq_iobuf_free(void *p, size_t len)
{
	sq_mem_free(p, len, SQ_PAGE_SIZE);
}

