/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/lazy_restore.c - lazy restore: userfaultfd MISSING faults served from
 * the chain, a background fill in file order (squib/lazy.h).
 *
 * Invariants:
 *  - src[p] is the chain layer that holds page p (the last one in chain
 *    order), or SRC_HOLE (zero). Built once before the mapping is used.
 *  - A page becomes present exactly once, by UFFDIO_COPY or
 *    UFFDIO_ZEROPAGE from the handler or a fill thread; the loser of a
 *    race gets EEXIST and skips the page. done[] (one bit per page, set
 *    after the page is present, relaxed atomics) only saves re-reading a
 *    page: correctness rests on EEXIST, never on done[].
 *  - Every fault is answered: served, found present (then woken with
 *    UFFDIO_WAKE), or, after a read error, zero-filled.
 *  - Threads: one handler (owns the fault ring and latency samples), N
 *    fill threads (take 1 MiB chunks through an atomic cursor, hot-set
 *    runs first); statistics are relaxed atomic counters read after the
 *    threads are joined.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <squib/lazy.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/io_internal.h"
#include "io/lazy_internal.h"

#define SRC_HOLE 0xffu
#define CHUNK_PAGES 256u
#define MAX_SAMPLES 65536u

static bool page_done(struct sq_lazy *l, uint64_t p)
{
	return atomic_load_explicit(&l->done[p >> 6], memory_order_relaxed) >> (p & 63) & 1;
}

static void set_done(struct sq_lazy *l, uint64_t p, uint64_t n)
{
	for (uint64_t i = p; i < p + n; i++)
		atomic_fetch_or_explicit(&l->done[i >> 6], 1ull << (i & 63), memory_order_relaxed);
}

/* Place [p, p + n) from @buf (NULL: zero pages); returns pages placed by
 * this call; pages already present are counted in pages_present. */
static uint64_t place(struct sq_lazy *l, uint64_t p, uint64_t n, const uint8_t *buf)
{
	uint64_t placed = 0;

	while (n) {
		uint64_t dst = (uintptr_t)l->base + (p << SQ_PAGE_SHIFT);
		int64_t got;
		int err = 0;

		if (buf) {
			struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)buf,
						 .len = n << SQ_PAGE_SHIFT };
			if (ioctl(l->uffd, UFFDIO_COPY, &c))
				err = errno;
			got = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { .start = dst,
								.len = n << SQ_PAGE_SHIFT } };
			if (ioctl(l->uffd, UFFDIO_ZEROPAGE, &z))
				err = errno;
			got = z.zeropage;
		}
		uint64_t ok = got > 0 ? (uint64_t)got >> SQ_PAGE_SHIFT : 0;
		if (ok) {
			set_done(l, p, ok);
			placed += ok;
		}
		if (!err)
			break;
		p += ok;
		n -= ok;
		if (buf)
			buf += ok << SQ_PAGE_SHIFT;
		if (err == EAGAIN || err == EINTR)
			continue; /* the mapping changed under us: retry the rest */
		/* EEXIST (or another error): skip the page that is there */
		set_done(l, p, 1);
		atomic_fetch_add_explicit(&l->pages_present, 1, memory_order_relaxed);
		p++;
		n--;
		if (buf)
			buf += SQ_PAGE_SIZE;
	}
	return placed;
}

/* Read and place [first, first + n) (all not yet done ones); @buf holds
 * n pages. Returns 0 or SQ_E_MEMORY_IO (then zero-fills the range). */
static int serve_range(struct sq_lazy *l, uint64_t first, uint64_t n, uint8_t *buf,
		       uint64_t *placed)
{
	uint64_t p = first, end = first + n;
	int rc = sq_first_err_code(&l->failed);

	while (p < end) {
		if (page_done(l, p)) {
			p++;
			continue;
		}
		uint8_t s = l->src[p];
		uint64_t q = p + 1;
		while (q < end && l->src[q] == s && !page_done(l, q))
			q++;
		if (s == SRC_HOLE || rc) {
			*placed += place(l, p, q - p, NULL);
		} else {
			size_t len = (size_t)(q - p) << SQ_PAGE_SHIFT;
			/* The file ends at size: a partial last page is its bytes, then zeros. */
			size_t flen = q == l->npages ? (size_t)(l->size - (p << SQ_PAGE_SHIFT)) : len;
			int got = sq_sys_pread_all(SQ_SITE_LAZY_LAYER_READ, l->layers[s].fd, buf, flen,
						   (off_t)(p << SQ_PAGE_SHIFT));
			memset(buf + flen, 0, len - flen);
			if (got) {
				rc = sq_first_err_set(&l->failed, sq_err_sys(SQ_E_MEMORY_IO, -got,
									      l->layers[s].path));
				continue; /* zero-filled on the next pass */
			}
			atomic_fetch_add_explicit(&l->bytes_read, len, memory_order_relaxed);
			*placed += place(l, p, q - p, buf);
		}
		p = q;
	}
	return rc;
}

static void serve_fault(struct sq_lazy *l, uint64_t addr)
{
	uint64_t t0 = sq_clock_ns(), placed = 0;
	uint64_t page = (addr - (uintptr_t)l->base) >> SQ_PAGE_SHIFT;
	uint64_t first = page & ~(uint64_t)(l->batch - 1);
	uint64_t n = first + l->batch > l->npages ? l->npages - first : l->batch;

	if (addr < (uintptr_t)l->base || page >= l->npages)
		return;
	(void)serve_range(l, first, n, l->fault_buf, &placed);
	/* The page may have been placed by a fill thread (whose copy woke
	 * waiters) or here; wake again in case the waiter raced the copy. */
	struct uffdio_range wake = { .start = (uintptr_t)l->base + (page << SQ_PAGE_SHIFT),
				     .len = SQ_PAGE_SIZE };
	(void)ioctl(l->uffd, UFFDIO_WAKE, &wake);
	uint64_t t1 = sq_clock_ns();
	uint64_t nf = atomic_fetch_add_explicit(&l->faults, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->pages_faulted, placed, memory_order_relaxed);
	if (nf == 0)
		atomic_store_explicit(&l->first_ns, t1, memory_order_relaxed);
	if (nf < MAX_SAMPLES)
		l->samples[nf] = (uint32_t)((t1 - t0) / 100); /* 0.1 us units */
	if (l->nhot_rec < l->npages && l->hot_rec)
		l->hot_rec[l->nhot_rec++] = page;
}

static void *handler_main(void *arg)
{
	struct sq_lazy *l = arg;
	struct uffd_msg msg[16];

	for (;;) {
		struct pollfd p[2] = { { .fd = l->uffd, .events = POLLIN },
				       { .fd = l->stop_fd, .events = POLLIN } };
		/* The timeout bounds how long a stop goes unseen when the
		 * eventfd write failed (sq_lazy_stop_handler). */
		int n = poll(p, 2, 100);

		/* Acquire: pairs with the release store in sq_lazy_stop_handler. */
		if (atomic_load_explicit(&l->stopping, memory_order_acquire) || (n > 0 && p[1].revents))
			break;
		if (n <= 0 || !(p[0].revents & POLLIN))
			continue;
		ssize_t got = sq_sys_read(SQ_SITE_LAZY_UFFD_READ, l->uffd, msg, sizeof(msg));
		if (got <= 0)
			continue;
		pthread_mutex_lock(&l->hot_lock);
		for (size_t i = 0; i < (size_t)got / sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				serve_fault(l, msg[i].arg.pagefault.address);
		pthread_mutex_unlock(&l->hot_lock);
	}
	return NULL;
}

static void *fill_main(void *arg)
{
	struct sq_lazy *l = arg;
	uint8_t *buf = malloc((size_t)CHUNK_PAGES << SQ_PAGE_SHIFT);
	uint64_t placed = 0, hot = 0;

	if (!buf)
		sq_first_err_set(&l->failed, sq_err(SQ_E_NOMEM, "lazy restore: out of memory"));
	for (;;) {
		/* Relaxed: the cursors only hand out work items. */
		size_t h = atomic_fetch_add_explicit(&l->hot_next, 1, memory_order_relaxed);
		if (h < l->nhot) {
			uint64_t before = placed;
			if (buf)
				(void)serve_range(l, l->hot[h].first_page, l->hot[h].npages, buf,
						  &placed);
			hot += placed - before;
			continue;
		}
		uint64_t c = atomic_fetch_add_explicit(&l->fill_next, 1, memory_order_relaxed);
		uint64_t first = c * CHUNK_PAGES;
		if (first >= l->npages || !buf)
			break;
		uint64_t n = l->npages - first < CHUNK_PAGES ? l->npages - first : CHUNK_PAGES;
		(void)serve_range(l, first, n, buf, &placed);
	}
	atomic_fetch_add_explicit(&l->pages_filled, placed, memory_order_relaxed);
	atomic_fetch_add_explicit(&l->hot_pages, hot, memory_order_relaxed);
	free(buf);
	return NULL;
}

static int open_uffd(struct sq_lazy *l)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)l->base,
						   .len = l->npages << SQ_PAGE_SHIFT },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (fd < 0 && (errno == EPERM || errno == EACCES))
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
	if (fd < 0)
		return sq_err_sys(SQ_E_UNSUPPORTED, errno, "lazy restore: userfaultfd");
	l->uffd = (int)fd;
	if (ioctl(l->uffd, UFFDIO_API, &api))
		return sq_err_sys(SQ_E_UNSUPPORTED, errno, "lazy restore: UFFDIO_API");
	if (ioctl(l->uffd, UFFDIO_REGISTER, &reg))
		return sq_err_sys(SQ_E_UNSUPPORTED, errno, "lazy restore: UFFDIO_REGISTER (missing)");
	return 0;
}

static int build_map(struct sq_lazy *l)
{
	memset(l->src, SRC_HOLE, l->npages);
	for (size_t i = 0; i < l->nlayers; i++)
		for (size_t e = 0; e < l->layers[i].next; e++) {
			/* A layer's pages (4 to 64 KiB) in the region's 4 KiB pages. */
			const struct sq_run *r = &l->layers[i].ext[e];
			unsigned k = l->layers[i].shift - SQ_PAGE_SHIFT;
			uint64_t first = r->first_page << k, np = r->npages << k;
			if (first >= l->npages || (first >> k) != r->first_page)
				return sq_err(SQ_E_MANIFEST, "%s: extent outside the region",
					      l->layers[i].path);
			if (np > l->npages - first)
				np = l->npages - first; /* a last page past the 4 KiB end */
			memset(l->src + first, (int)i, np);
		}
	return 0;
}

int sq_lazy_start(const char *const *paths, size_t n, uint64_t size,
		  const struct sq_lazy_opts *opts, struct sq_lazy **out)
{
	struct sq_lazy_opts o = SQ_INIT(struct sq_lazy_opts);
	struct sq_lazy *l;
	int rc;

	*out = NULL;
	rc = SQ_SIZED_IN(o, opts, SQ_V0_LAZY_OPTS, "sq_lazy_opts");
	if (rc)
		return rc;
	if (!size)
		return sq_err(SQ_E_ALIGN, "lazy restore: size must not be zero");
	if (n >= SRC_HOLE)
		return sq_err(SQ_E_CHAIN, "lazy restore: at most %u layers", SRC_HOLE - 1);
	if (o.batch_pages & (o.batch_pages - 1) || o.batch_pages > 512)
		return sq_err(SQ_E_INVAL, "lazy restore: batch_pages must be a power of two <= 512");
	l = calloc(1, sizeof(*l));
	if (!l)
		return sq_err(SQ_E_NOMEM, "lazy restore: out of memory");
	l->t0 = sq_clock_ns();
	l->uffd = l->stop_fd = -1;
	l->size = size;
	l->npages = sq_io_pages(size, SQ_PAGE_SHIFT); /* a partial last page included */
	l->batch = o.batch_pages ? o.batch_pages : 16;
	l->nfill = o.no_fill ? 0 : o.fill_threads ? o.fill_threads : 2;
	if (l->nfill > SQ_LAZY_MAX_FILL)
		l->nfill = SQ_LAZY_MAX_FILL;
	pthread_mutex_init(&l->hot_lock, NULL);
	sq_first_err_init(&l->failed);
	l->base = MAP_FAILED;
	rc = sq_chain_open(paths, n, 0, &l->layers);
	if (rc)
		goto fail;
	l->nlayers = n;
	if (l->layers[0].size != size) {
		rc = sq_err(SQ_E_SIZE_MISMATCH, "the chain's memory files are %llu bytes, the "
						"region %llu", (unsigned long long)l->layers[0].size,
			    (unsigned long long)size);
		goto fail;
	}
	l->src = malloc(l->npages);
	l->done = calloc((l->npages + 63) / 64, sizeof(*l->done));
	l->samples = calloc(MAX_SAMPLES, sizeof(*l->samples));
	l->hot_rec = calloc(l->npages, sizeof(*l->hot_rec));
	l->fault_buf = malloc((size_t)l->batch << SQ_PAGE_SHIFT);
	if (!l->src || !l->done || !l->samples || !l->hot_rec || !l->fault_buf) {
		rc = sq_err(SQ_E_NOMEM, "lazy restore: out of memory");
		goto fail;
	}
	rc = build_map(l);
	if (!rc && o.hotset)
		rc = sq_lazy_hotset_load(o.hotset, l->npages, &l->hot, &l->nhot);
	if (rc)
		goto fail;
	l->base = mmap(NULL, l->npages << SQ_PAGE_SHIFT, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->base == MAP_FAILED) {
		rc = sq_err_sys(SQ_E_NOMEM, errno, "lazy restore: mmap");
		goto fail;
	}
	rc = open_uffd(l);
	if (rc)
		goto fail;
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->stop_fd < 0 || pthread_create(&l->handler, NULL, handler_main, l)) {
		rc = sq_err_sys(SQ_E_IO, errno, "lazy restore: handler thread");
		goto fail;
	}
	l->handler_started = true;
	for (; l->nstarted < l->nfill; l->nstarted++)
		if (pthread_create(&l->fill[l->nstarted], NULL, fill_main, l))
			break;
	if (l->nfill && !l->nstarted) {
		rc = sq_err(SQ_E_IO, "lazy restore: no fill thread could start");
		goto fail;
	}
	l->ready_ns = sq_clock_ns();
	*out = l;
	return 0;
fail:
	sq_lazy_free(l, true);
	return rc;
}

void *sq_lazy_addr(const struct sq_lazy *l)
{
	return l->base;
}

int sq_lazy_wait(struct sq_lazy *l)
{
	if (!l->joined) {
		for (unsigned i = 0; i < l->nstarted; i++)
			pthread_join(l->fill[i], NULL);
		l->joined = true;
		if (l->nstarted)
			l->fill_ns = sq_clock_ns();
	}
	return sq_first_err_raise(&l->failed);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int sq_lazy_finish(struct sq_lazy *l, struct sq_lazy_report *r)
{
	struct sq_lazy_report rep = { .size = sizeof(rep) };
	int bad = sq_sized_check(r, SQ_V0_LAZY_REPORT, "sq_lazy_report");
	int rc = sq_lazy_wait(l);

	sq_lazy_stop_handler(l);
	if (r && !bad) {
		rep.ready_s = (double)(l->ready_ns - l->t0) * 1e-9;
		uint64_t first = atomic_load_explicit(&l->first_ns, memory_order_relaxed);
		rep.first_access_s = first ? (double)(first - l->t0) * 1e-9 : 0;
		rep.fill_s = l->fill_ns ? (double)(l->fill_ns - l->t0) * 1e-9 : 0;
		rep.faults = atomic_load_explicit(&l->faults, memory_order_relaxed);
		rep.pages_faulted = atomic_load_explicit(&l->pages_faulted, memory_order_relaxed);
		rep.pages_filled = atomic_load_explicit(&l->pages_filled, memory_order_relaxed);
		rep.pages_present = atomic_load_explicit(&l->pages_present, memory_order_relaxed);
		rep.hot_pages = atomic_load_explicit(&l->hot_pages, memory_order_relaxed);
		rep.bytes_read = atomic_load_explicit(&l->bytes_read, memory_order_relaxed);
		size_t ns = rep.faults < MAX_SAMPLES ? (size_t)rep.faults : MAX_SAMPLES;
		if (ns) {
			qsort(l->samples, ns, sizeof(*l->samples), cmp_u32);
			size_t i50 = ns / 2, i99 = ns * 99 / 100;
			rep.fault_p50_us = (double)l->samples[i50] / 10.0;
			rep.fault_p99_us = (double)l->samples[i99] / 10.0;
		}
		SQ_SIZED_OUT(r, rep);
	}
	sq_lazy_free(l, false);
	return rc ? rc : bad;
}
