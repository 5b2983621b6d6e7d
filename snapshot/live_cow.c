/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/live_cow.c - copy-before-write for live saves.
 *
 * Each page of the region has one state, read and written only under the
 * lock of its 2 MiB block's stripe:
 *
 *   NONE     not in S (the save does not read it)
 *   PENDING  in S, not saved; write-protected, so its content is still the
 *            content at the pause instant
 *   STAGED   in S, its pause-instant content copied to staging[page]; the
 *            page itself may have been written since
 *   SAVED    handed to the writer (from the region or from staging)
 *
 * Transitions: PENDING -> STAGED by a write fault (sq_cow_hook, before
 * the fault unprotects the page); PENDING or STAGED -> SAVED by the
 * writer's page reader (sq_cow_read). Both run under the stripe lock, so
 * a page is read for the file exactly once, either from the region while
 * it is still protected (its writer, if any, is held by the kernel until
 * the hook has run, and the hook waits for the lock) or from its staged
 * copy: the file gets the pause-instant bytes.
 *
 * Own mode (no tracker protection): a userfaultfd of this save, in
 * synchronous write-protect mode, protects the PENDING pages; its handler
 * thread runs the hook and then unprotects and wakes; the reader
 * unprotects pages as soon as they are SAVED. Tracker mode: the tracker's
 * own synchronous handler calls sq_cow_hook (sq_tracker_set_wp_hook), and
 * saved pages stay protected because that protection records the next
 * diff's writes.
 *
 * Staging is a MAP_NORESERVE mapping the size of the region, addressed by
 * page: only copied pages take memory, and each is released once saved.
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

#include <squib/live.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/sysio.h"
#include "snapshot/live_internal.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define COW_STRIPES 64u

enum { PG_NONE = 0, PG_PENDING = 1, PG_STAGED = 2, PG_SAVED = 3 };

struct sq_cow {
	uint8_t *base;
	uint64_t size, npages;
	uint8_t *state;     /* per page, under stripe[block % COW_STRIPES] */
	uint8_t *staging;   /* size bytes, MAP_NORESERVE */
	pthread_mutex_t stripe[COW_STRIPES];
	int uffd;           /* own mode, else -1 */
	int stop_fd;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;
	_Atomic uint64_t cow_pages, faults, stall_ns;
	unsigned hook_k;    /* sq_cow_hook's page = 4 KiB << hook_k */
};

static pthread_mutex_t *stripe_of(struct sq_cow *c, uint64_t page)
{
	return &c->stripe[(page >> 9) % COW_STRIPES];
}

/*
 * The one copy of a region page that may run while a writer of that page
 * is held in a write-protect fault. The kernel orders the held store after
 * this copy (the writer resumes only once the hook has returned), an
 * ordering ThreadSanitizer cannot see: tests/tsan.supp names this function.
 */
__attribute__((noinline)) void sq_live_copy_page(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

static int uffd_open_sync(void)
{
	/* Kernel-mode accesses (a read(2) into the region) are covered only
	 * without UFFD_USER_MODE_ONLY, so ask for that first. */
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && (errno == EPERM || errno == EACCES))
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	return fd < 0 ? -errno : (int)fd;
}

int sq_live_supported(void)
{
	static _Atomic int cached = -1;
	/* Relaxed: the probe is idempotent; racing probes store the same value. */
	int s = atomic_load_explicit(&cached, memory_order_relaxed);

	if (s >= 0)
		return s;
	int fd = uffd_open_sync();
	struct uffdio_api api = { .api = UFFD_API };
	s = 0;
	if (fd >= 0) {
		if (ioctl(fd, UFFDIO_API, &api) == 0)
			s = (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) &&
			    (api.features & UFFD_FEATURE_WP_UNPOPULATED);
		close(fd);
	}
	atomic_store_explicit(&cached, s, memory_order_relaxed);
	return s;
}

int sq_cow_create(const void *base, uint64_t size, const struct sq_run *runs, size_t nruns,
		  struct sq_cow **out)
{
	struct sq_cow *c = calloc(1, sizeof(*c));

	if (!c)
		return sq_err(SQ_E_NOMEM, "live save: out of memory");
	c->base = (uint8_t *)(uintptr_t)base;
	c->size = size;
	c->npages = size >> SQ_PAGE_SHIFT;
	c->uffd = c->stop_fd = -1;
	for (unsigned i = 0; i < COW_STRIPES; i++)
		pthread_mutex_init(&c->stripe[i], NULL);
	c->state = calloc(c->npages ? c->npages : 1, 1);
	c->staging = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->staging == MAP_FAILED)
		c->staging = NULL;
	if (!c->state || !c->staging) {
		sq_cow_destroy(c);
		return sq_err(SQ_E_NOMEM, "live save: out of memory (page states, staging)");
	}
	if (!runs) {
		memset(c->state, PG_PENDING, c->npages);
	} else {
		for (size_t i = 0; i < nruns; i++) {
			if (runs[i].first_page >= c->npages ||
			    runs[i].npages > c->npages - runs[i].first_page) {
				sq_cow_destroy(c);
				return sq_err(SQ_E_RANGE, "live save: run outside the region");
			}
			memset(c->state + runs[i].first_page, PG_PENDING, runs[i].npages);
		}
	}
	*out = c;
	return 0;
}

/* PENDING pages of [first_page, first_page + npages) -> STAGED. */
static uint64_t cow_copy(struct sq_cow *c, uint64_t first_page, uint64_t npages)
{
	uint64_t end = first_page + npages > c->npages ? c->npages : first_page + npages;
	uint64_t copied = 0;

	for (uint64_t p = first_page; p < end;) {
		pthread_mutex_t *m = stripe_of(c, p);
		uint64_t blk_end = ((p >> 9) + 1) << 9;

		pthread_mutex_lock(m);
		for (; p < end && p < blk_end; p++) {
			if (c->state[p] != PG_PENDING)
				continue;
			sq_live_copy_page(c->staging + (p << SQ_PAGE_SHIFT),
					  c->base + (p << SQ_PAGE_SHIFT), SQ_PAGE_SIZE);
			c->state[p] = PG_STAGED;
			copied++;
		}
		pthread_mutex_unlock(m);
	}
	return copied;
}

/* Relaxed: statistics, read after the handler stopped or the hook was
 * removed (both synchronize with the thread that counted). */
static void count_fault(struct sq_cow *c, uint64_t copied, uint64_t t0)
{
	atomic_fetch_add_explicit(&c->cow_pages, copied, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->faults, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->stall_ns, sq_clock_ns() - t0, memory_order_relaxed);
}

void sq_cow_hook(void *ctx, uint64_t first_page, uint64_t npages)
{
	struct sq_cow *c = ctx;
	uint64_t t0 = sq_clock_ns();

	/* Region pages to 4 KiB pages; cow_copy clips to the region. */
	count_fault(c, cow_copy(c, first_page << c->hook_k, npages << c->hook_k), t0);
}

void sq_cow_hook_unit(struct sq_cow *c, uint32_t page_size)
{
	c->hook_k = (unsigned)__builtin_ctz(page_size) - SQ_PAGE_SHIFT;
}

static int wp(int uffd, uint64_t start, uint64_t len, uint64_t mode)
{
	struct uffdio_writeprotect w = { .range = { .start = start, .len = len }, .mode = mode };

	for (;;) {
		if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

int sq_cow_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct sq_cow *c = ctx;
	uint64_t first = off >> SQ_PAGE_SHIFT, end = first + (len >> SQ_PAGE_SHIFT);
	uint8_t *out = buf;

	if (end > c->npages)
		return sq_err(SQ_E_RANGE, "live save: read past the region");
	for (uint64_t p = first; p < end;) {
		pthread_mutex_t *m = stripe_of(c, p);
		uint64_t blk_end = ((p >> 9) + 1) << 9, staged_lo = UINT64_MAX, staged_hi = 0;

		pthread_mutex_lock(m);
		for (; p < end && p < blk_end; p++) {
			uint8_t *dst = out + ((p - first) << SQ_PAGE_SHIFT);
			if (c->state[p] == PG_STAGED) {
				memcpy(dst, c->staging + (p << SQ_PAGE_SHIFT), SQ_PAGE_SIZE);
				staged_lo = staged_lo < p ? staged_lo : p;
				staged_hi = p + 1;
			} else if (c->state[p] == PG_PENDING) {
				sq_live_copy_page(dst, c->base + (p << SQ_PAGE_SHIFT), SQ_PAGE_SIZE);
			} else {
				pthread_mutex_unlock(m);
				return sq_err(SQ_E_INTERNAL, "live save: page %llu read twice or "
							     "outside the set",
					      (unsigned long long)p);
			}
			c->state[p] = PG_SAVED;
		}
		pthread_mutex_unlock(m);
		if (staged_hi)
			(void)madvise(c->staging + (staged_lo << SQ_PAGE_SHIFT),
				      (staged_hi - staged_lo) << SQ_PAGE_SHIFT, MADV_DONTNEED);
	}
	/* Saved: a write may land now (own mode; mode 0 also wakes writers
	 * whose fault the handler has not served yet). */
	if (c->uffd >= 0) {
		int rc = wp(c->uffd, (uintptr_t)c->base + off, len, 0);
		if (rc)
			return sq_err_sys(SQ_E_IO, -rc, "live save: UFFDIO_WRITEPROTECT (unprotect)");
	}
	return 0;
}

static void *own_handler(void *arg)
{
	struct sq_cow *c = arg;
	struct uffd_msg msg[16];

	for (;;) {
		struct pollfd p[2] = { { .fd = c->uffd, .events = POLLIN },
				       { .fd = c->stop_fd, .events = POLLIN } };
		/* The timeout bounds how long a stop goes unseen when the
		 * eventfd write failed (sq_cow_destroy). */
		int n = poll(p, 2, 100);

		/* Acquire: pairs with the release store in sq_cow_destroy. */
		if (atomic_load_explicit(&c->stopping, memory_order_acquire) || (n > 0 && p[1].revents))
			break;
		if (n <= 0 || !(p[0].revents & POLLIN))
			continue;
		ssize_t got = sq_sys_read(SQ_SITE_LIVE_UFFD_READ, c->uffd, msg, sizeof(msg));
		if (got <= 0)
			continue; /* EAGAIN: another read took it; the faults stay queued otherwise */
		for (size_t i = 0; i < (size_t)got / sizeof(msg[0]); i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT ||
			    !(msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
				continue;
			uint64_t t0 = sq_clock_ns();
			uint64_t a = msg[i].arg.pagefault.address & ~(uint64_t)(SQ_PAGE_SIZE - 1);
			uint64_t page = (a - (uintptr_t)c->base) >> SQ_PAGE_SHIFT;
			if (a < (uintptr_t)c->base || page >= c->npages)
				continue;
			/* Counted before the wake, so a writer that returned from
			 * its fault finds its copy counted. */
			count_fault(c, cow_copy(c, page, 1), t0);
			/* Unprotect and wake. A failure leaves the writer to fault
			 * again; closing the userfaultfd at the end releases it. */
			(void)wp(c->uffd, a, SQ_PAGE_SIZE, 0);
		}
	}
	return NULL;
}

int sq_cow_protect_own(struct sq_cow *c, const struct sq_run *runs, size_t nruns)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)c->base, .len = c->size },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	int rc = uffd_open_sync();

	if (rc < 0)
		return sq_err_sys(SQ_E_UNSUPPORTED, -rc, "live save: userfaultfd");
	c->uffd = rc;
	if (ioctl(c->uffd, UFFDIO_API, &api) ||
	    !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
		rc = sq_err(SQ_E_UNSUPPORTED, "live save: no synchronous userfaultfd "
					      "write-protect with WP_UNPOPULATED");
		goto fail;
	}
	if (ioctl(c->uffd, UFFDIO_REGISTER, &reg)) {
		rc = sq_err_sys(SQ_E_UNSUPPORTED, errno, "live save: UFFDIO_REGISTER (write-protect; "
							 "EBUSY: the region has another userfaultfd)");
		goto fail;
	}
	if (!runs) {
		rc = wp(c->uffd, (uintptr_t)c->base, c->size, UFFDIO_WRITEPROTECT_MODE_WP);
	} else {
		rc = 0;
		for (size_t i = 0; i < nruns && !rc; i++)
			rc = wp(c->uffd, (uintptr_t)c->base + (runs[i].first_page << SQ_PAGE_SHIFT),
				runs[i].npages << SQ_PAGE_SHIFT, UFFDIO_WRITEPROTECT_MODE_WP);
	}
	if (rc) {
		rc = sq_err_sys(SQ_E_IO, -rc, "live save: UFFDIO_WRITEPROTECT");
		goto fail;
	}
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_fd < 0) {
		rc = sq_err_sys(SQ_E_IO, errno, "live save: eventfd");
		goto fail;
	}
	rc = pthread_create(&c->thread, NULL, own_handler, c);
	if (rc) {
		rc = sq_err_sys(SQ_E_IO, rc, "live save: fault handler thread");
		goto fail;
	}
	c->thread_started = true;
	return 0;
fail:
	/* Closing the userfaultfd unregisters and drops every protection. */
	close(c->uffd);
	c->uffd = -1;
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	c->stop_fd = -1;
	return rc;
}

void sq_cow_get_stats(struct sq_cow *c, struct sq_cow_stats *st)
{
	st->cow_pages = atomic_load_explicit(&c->cow_pages, memory_order_relaxed);
	st->faults = atomic_load_explicit(&c->faults, memory_order_relaxed);
	st->stall_ns = atomic_load_explicit(&c->stall_ns, memory_order_relaxed);
}

void sq_cow_destroy(struct sq_cow *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		uint64_t one = 1;
		/* Release: the handler's acquire load sees the flag; the eventfd
		 * wakes it at once, else its poll timeout does. */
		atomic_store_explicit(&c->stopping, true, memory_order_release);
		(void)sq_sys_write(SQ_SITE_LIVE_UFFD_STOP, c->stop_fd, &one, sizeof(one));
		pthread_join(c->thread, NULL);
	}
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	/* Unregisters the range and wakes any writer still queued. */
	if (c->uffd >= 0)
		close(c->uffd);
	if (c->staging)
		munmap(c->staging, c->size);
	for (unsigned i = 0; i < COW_STRIPES; i++)
		pthread_mutex_destroy(&c->stripe[i]);
	free(c->state);
	free(c);
}
