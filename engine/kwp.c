/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine/kwp.c - kernel write tracking: userfaultfd write-protect.
 *
 * Two modes, chosen per region at run time (sq_tracker_kernel_support):
 *
 * async (Linux 6.7+): a userfaultfd with UFFD_FEATURE_WP_ASYNC |
 *   UFFD_FEATURE_WP_UNPOPULATED; the region is registered in WP mode and
 *   write-protected. A write to a protected page is resolved by the kernel
 *   itself (no message, no thread): the page just loses its uffd-wp bit. A
 *   harvest asks ioctl(PAGEMAP_SCAN) on /proc/self/pagemap for the pages
 *   that are PAGE_IS_WRITTEN, with PM_SCAN_WP_MATCHING so that the kernel
 *   re-protects exactly the pages it reports, atomically with the scan.
 *   The reported pages are ORed into the region's bits, which are then
 *   harvested like API marks.
 *
 * sync (fallback, Linux 5.7+): the same registration without WP_ASYNC; a
 *   write to a protected page blocks the writer and queues a message; a
 *   handler thread per region unprotects the page (fine block) or the whole
 *   2 MiB block (coarse block) without waking, sets the page's bit, then
 *   wakes the writer. A harvest clears the bits and then write-protects the
 *   runs it reports, before it returns.
 *
 * Pages: the kernel protects and reports 4 KiB host pages; the tracker's
 * are the region's (4 to 64 KiB). A host page reported written marks the
 * region page covering it; a sync fault unprotects the whole region page
 * (clipped to the region end) or the whole block, so "page" below is a
 * region page and the arguments hold unchanged.
 *
 * Invariants and the no-lost-writes argument:
 * - async: a page is written-and-unreported iff its uffd-wp bit is clear;
 *   PM_SCAN_WP_MATCHING sets the bit of each page it reports in the same
 *   page-table walk, so a write either happened before the walk reached the
 *   page (reported now) or after (reported next time).
 * - sync: a page is writable only while its bit is set or while its block
 *   is coarse and some bit of the block is set. The handler unprotects
 *   before setting the bit but wakes the writer only after, so the write
 *   follows the mark. A harvest clears a bit before re-protecting its page
 *   and returns only after re-protecting: a write in between is to a page
 *   in the returned set, whose content the caller reads afterwards.
 * - sync, granule changes: the handler reads the granule and unprotects
 *   under kwp->gran_lock; coarse -> fine switches take the same lock and
 *   set all fine bits of a block with any bit set (engine/controller.c).
 * - The handler thread never takes the region lock or the tracker lock, so
 *   a harvest may wait on it; it touches only atomics and this struct.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/err.h"
#include "core/sysio.h"
#include "engine/internal.h"
#include <squib/alloc.h>

#include "engine/uapi_pagemap.h" /* PAGEMAP_SCAN where uapi headers predate 6.7 */

/* Newer userfaultfd features (include/uapi/linux/userfaultfd.h; stable ABI). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SQ_KWP_VEC 4096 /* page_region entries per PAGEMAP_SCAN call */

struct sq_kwp {
	unsigned mode;           /* SQ_KERNEL_ASYNC or SQ_KERNEL_SYNC */
	int uffd;
	int pagemap_fd;          /* async */
	struct page_region *vec; /* async */
	int stop_fd;             /* sync: eventfd that stops the handler */
	pthread_t thread;        /* sync */
	bool thread_started;
	_Atomic bool stopping;   /* sync: also seen by the handler's poll timeout */
	pthread_mutex_t gran_lock;
	struct sq_region *r;
	/* sync: called before a fault unprotects (sq_tracker_set_wp_hook);
	 * read and written under gran_lock only */
	sq_tracker_wp_hook_fn hook;
	void *hook_ctx;
};

static int uffd_open(void)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	return fd < 0 ? -errno : (int)fd;
}

static uint64_t probe_features(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = uffd_open();
	uint64_t f = 0;

	if (fd < 0)
		return 0;
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		f = api.features;
	close(fd);
	return f;
}

static bool probe_pagemap_scan(void)
{
	int fd = sq_sys_open(SQ_SITE_ENGINE_PAGEMAP_OPEN, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC,
			     0);
	struct page_region vec[1];
	static char probe[SQ_PAGE_SIZE] __attribute__((aligned(SQ_PAGE_SIZE)));
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.start = (uintptr_t)probe,
		.end = (uintptr_t)probe + sizeof(probe),
		.vec = (uintptr_t)vec,
		.vec_len = 1,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, PAGEMAP_SCAN, &a) >= 0;
	close(fd);
	return ok;
}

static _Atomic unsigned sq_kwp_support_cache = ~0u;
static _Atomic uint64_t sq_kwp_features;

unsigned sq_tracker_kernel_support(void)
{
	/* Relaxed: the probe is idempotent; racing probes store the same value. */
	unsigned s = atomic_load_explicit(&sq_kwp_support_cache, memory_order_relaxed);

	if (s != ~0u)
		return s;
	uint64_t f = probe_features();
	s = 0;
	if (f & UFFD_FEATURE_PAGEFAULT_FLAG_WP)
		s |= 1u << SQ_KERNEL_SYNC;
	if ((f & UFFD_FEATURE_WP_ASYNC) && (f & UFFD_FEATURE_WP_UNPOPULATED) && probe_pagemap_scan())
		s |= 1u << SQ_KERNEL_ASYNC;
	atomic_store_explicit(&sq_kwp_features, f, memory_order_relaxed);
	atomic_store_explicit(&sq_kwp_support_cache, s, memory_order_relaxed);
	return s;
}

unsigned sq_kwp_mode(const struct sq_region *r)
{
	return r->kwp ? r->kwp->mode : 0;
}

bool sq_kwp_fine_bits_inexact(const struct sq_region *r)
{
	return r->kwp && r->kwp->mode == SQ_KERNEL_SYNC;
}

void sq_kwp_granule_lock(struct sq_region *r)
{
	pthread_mutex_lock(&r->kwp->gran_lock);
}

void sq_kwp_granule_unlock(struct sq_region *r)
{
	pthread_mutex_unlock(&r->kwp->gran_lock);
}

static int wp_range(int uffd, uintptr_t start, uint64_t len, uint64_t mode)
{
	struct uffdio_writeprotect wp = { .range = { .start = start, .len = len }, .mode = mode };

	for (;;) {
		if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* Serve one write-protect fault (sync mode handler thread). */
static void serve_fault(struct sq_kwp *k, uintptr_t addr)
{
	struct sq_region *r = k->r;
	uint64_t page = (addr - r->base) >> r->page_shift;
	uint64_t blk = page >> r->blk_shift;
	uint64_t first = page, n = 1;

	if (addr < r->base || page >= r->npages)
		return;
	pthread_mutex_lock(&k->gran_lock);
	if (sq_block_is_coarse(r, blk)) {
		first = blk << r->blk_shift;
		n = r->npages - first < r->ppb ? r->npages - first : r->ppb;
	}
	/* A 4 KiB host page faulted: unprotect the whole region page(s)
	 * covering it, clipped to the region (a partial last page). */
	uintptr_t start = r->base + (first << r->page_shift);
	uint64_t len = n << r->page_shift;
	if (len > r->len - (start - r->base))
		len = r->len - (start - r->base);
	/* The hook sees the pages while they are still protected (their
	 * writer is held): a live save copies their old content here. */
	if (k->hook)
		k->hook(k->hook_ctx, first, n);
	/* Unprotect without waking, then mark, then wake: the write follows
	 * the mark. On failure the writer is woken anyway and faults again. */
	(void)wp_range(k->uffd, start, len, UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
	sq_bits_mark_page(r, page);
	pthread_mutex_unlock(&k->gran_lock);
	atomic_fetch_add_explicit(&r->kfaults, 1, memory_order_relaxed);
	struct uffdio_range wake = { .start = start, .len = len };
	(void)ioctl(k->uffd, UFFDIO_WAKE, &wake);
}

static void *fault_thread(void *arg)
{
	struct sq_kwp *k = arg;
	struct uffd_msg msg[16];

	for (;;) {
		struct pollfd p[2] = { { .fd = k->uffd, .events = POLLIN },
				       { .fd = k->stop_fd, .events = POLLIN } };
		/* The timeout bounds how long a stop can go unseen when the
		 * eventfd write failed (kwp_free). */
		int n = poll(p, 2, 100);
		/* Acquire: pairs with the release store in kwp_free. */
		if (atomic_load_explicit(&k->stopping, memory_order_acquire) || (n > 0 && p[1].revents))
			break;
		if (n <= 0)
			continue; /* timeout, EINTR */
		if (!(p[0].revents & POLLIN))
			continue;
		ssize_t got = sq_sys_read(SQ_SITE_ENGINE_UFFD_READ, k->uffd, msg, sizeof(msg));
		if (got <= 0)
			continue; /* EAGAIN, EINTR, EIO: the faults stay queued and
				   * poll reports them again; giving up would leave
				   * their writers blocked for ever */
		for (size_t i = 0; i < (size_t)got / sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT &&
			    (msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
				serve_fault(k, (uintptr_t)msg[i].arg.pagefault.address);
	}
	return NULL;
}

static void kwp_free(struct sq_kwp *k)
{
	if (k->thread_started) {
		uint64_t one = 1;
		/* Release: the handler's acquire load sees the flag. The eventfd
		 * wakes it at once; when the write keeps failing, the poll
		 * timeout lets it see the flag within 100 ms. */
		atomic_store_explicit(&k->stopping, true, memory_order_release);
		for (int i = 0; i < 4; i++)
			if (sq_sys_write(SQ_SITE_ENGINE_UFFD_STOP, k->stop_fd, &one, sizeof(one)) ==
			    (ssize_t)sizeof(one))
				break;
		pthread_join(k->thread, NULL);
	}
	if (k->stop_fd >= 0)
		close(k->stop_fd);
	/* Closing the userfaultfd unregisters the range, drops the protection
	 * and wakes any blocked writer. */
	if (k->uffd >= 0)
		close(k->uffd);
	if (k->pagemap_fd >= 0)
		close(k->pagemap_fd);
	if (k->vec)
		sq_mem_free(k->vec, SQ_KWP_VEC * sizeof(struct page_region), 64);
	pthread_mutex_destroy(&k->gran_lock);
	free(k);
}

int sq_kwp_attach(struct sq_region *r, enum sq_kernel_mode want)
{
	unsigned sup = sq_tracker_kernel_support();
	uint64_t have = atomic_load_explicit(&sq_kwp_features, memory_order_relaxed);
	struct sq_kwp *k;
	unsigned mode;
	int rc;

	if (want == SQ_KERNEL_AUTO)
		mode = (sup & (1u << SQ_KERNEL_ASYNC)) ? SQ_KERNEL_ASYNC : SQ_KERNEL_SYNC;
	else
		mode = want;
	if (!(sup & (1u << mode)))
		return sq_err(SQ_E_UNSUPPORTED,
			      "kernel write tracking (%s) is not available on this system",
			      mode == SQ_KERNEL_ASYNC ? "userfaultfd WP_ASYNC + PAGEMAP_SCAN"
						      : "userfaultfd write-protect");
	k = calloc(1, sizeof(*k));
	if (!k)
		return sq_err(SQ_E_NOMEM, "add_region: out of memory");
	k->mode = mode;
	k->uffd = k->pagemap_fd = k->stop_fd = -1;
	k->r = r;
	pthread_mutex_init(&k->gran_lock, NULL);

	rc = uffd_open();
	if (rc < 0) {
		rc = sq_err_sys(SQ_E_UNSUPPORTED, -rc, "userfaultfd");
		goto fail;
	}
	k->uffd = rc;
	struct uffdio_api api = { .api = UFFD_API };
	api.features = have & (UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	if (mode == SQ_KERNEL_ASYNC)
		api.features |= UFFD_FEATURE_WP_ASYNC;
	if (ioctl(k->uffd, UFFDIO_API, &api)) {
		rc = sq_err_sys(SQ_E_UNSUPPORTED, errno, "UFFDIO_API");
		goto fail;
	}
	struct uffdio_register reg = {
		.range = { .start = r->base, .len = r->len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(k->uffd, UFFDIO_REGISTER, &reg)) {
		rc = sq_err_sys(errno == EINVAL ? SQ_E_UNSUPPORTED : SQ_E_IO, errno,
				"UFFDIO_REGISTER (write-protect) of the region");
		goto fail;
	}
	/* Without WP_UNPOPULATED, protection only sticks to present pages. */
	if (!(api.features & UFFD_FEATURE_WP_UNPOPULATED) &&
	    madvise((void *)r->base, r->len, MADV_POPULATE_WRITE)) {
		rc = sq_err_sys(SQ_E_UNSUPPORTED, errno, "MADV_POPULATE_WRITE");
		goto fail;
	}
	rc = wp_range(k->uffd, r->base, r->len, UFFDIO_WRITEPROTECT_MODE_WP);
	if (rc) {
		rc = sq_err_sys(SQ_E_IO, -rc, "UFFDIO_WRITEPROTECT of the region");
		goto fail;
	}
	if (mode == SQ_KERNEL_ASYNC) {
		rc = sq_sys_open(SQ_SITE_ENGINE_PAGEMAP_OPEN, "/proc/self/pagemap",
				 O_RDONLY | O_CLOEXEC, 0);
		if (rc < 0) {
			rc = sq_err_sys(SQ_E_IO, -rc, "open /proc/self/pagemap");
			goto fail;
		}
		k->pagemap_fd = rc;
		k->vec = sq_mem_alloc(SQ_KWP_VEC * sizeof(struct page_region), 64);
		if (!k->vec) {
			rc = sq_err(SQ_E_NOMEM, "add_region: out of memory");
			goto fail;
		}
	} else {
		k->stop_fd = eventfd(0, EFD_CLOEXEC);
		if (k->stop_fd < 0) {
			rc = sq_err_sys(SQ_E_IO, errno, "eventfd");
			goto fail;
		}
		rc = pthread_create(&k->thread, NULL, fault_thread, k);
		if (rc) {
			rc = sq_err_sys(SQ_E_IO, rc, "fault handler thread");
			goto fail;
		}
		k->thread_started = true;
	}
	r->kwp = k;
	return 0;
fail:
	kwp_free(k);
	return rc;
}

void sq_kwp_detach(struct sq_region *r)
{
	kwp_free(r->kwp);
	r->kwp = NULL;
}

int sq_kwp_collect(struct sq_region *r, bool reprotect)
{
	struct sq_kwp *k = r->kwp;
	uint64_t end = r->base + r->len;

	if (k->mode != SQ_KERNEL_ASYNC)
		return 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = reprotect ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
		.start = r->base,
		.end = end,
		.vec = (uintptr_t)k->vec,
		.vec_len = SQ_KWP_VEC,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	for (;;) {
		int n = ioctl(k->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return sq_err_sys(SQ_E_IO, errno, "PAGEMAP_SCAN");
		}
		uint64_t seen = 0;
		for (int i = 0; i < n; i++) {
			/* 4 KiB host pages: mark the region pages covering them. */
			uint64_t first, cnt = sq_region_pages_of(r, k->vec[i].start - r->base,
								 k->vec[i].end - k->vec[i].start,
								 &first);
			sq_bits_mark_pages(r, first, cnt);
			seen += (k->vec[i].end - k->vec[i].start) >> SQ_PAGE_SHIFT;
		}
		if (reprotect)
			atomic_fetch_add_explicit(&r->kfaults, seen, memory_order_relaxed);
		if (a.walk_end >= end || (uint64_t)n < a.vec_len)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

int sq_kwp_reprotect(struct sq_region *r, const struct sq_dirty_set *set)
{
	struct sq_kwp *k = r->kwp;

	if (k->mode != SQ_KERNEL_SYNC)
		return 0;
	/*
	 * One UFFDIO_WRITEPROTECT costs ~50 us here whatever its length (TLB
	 * shootdown), and one over a populated GiB ~24 ms: past one run per
	 * block, protect the whole region at once. Protecting pages that
	 * are not in the set is safe: a protected page with its bit set (or
	 * clear) only faults once more and is marked again.
	 */
	if (set->n > r->nblocks + 1) {
		int rc = wp_range(k->uffd, r->base, r->len, UFFDIO_WRITEPROTECT_MODE_WP);
		return rc ? sq_err_sys(SQ_E_IO, -rc, "UFFDIO_WRITEPROTECT (re-protect)") : 0;
	}
	for (size_t i = 0; i < set->n; i++) {
		uint64_t off = set->runs[i].first_page << r->page_shift;
		uint64_t len = set->runs[i].npages << r->page_shift;
		if (len > r->len - off)
			len = r->len - off; /* the region's length is whole host pages */
		int rc = wp_range(k->uffd, r->base + off, len, UFFDIO_WRITEPROTECT_MODE_WP);
		if (rc)
			return sq_err_sys(SQ_E_IO, -rc, "UFFDIO_WRITEPROTECT (re-protect)");
	}
	return 0;
}

int sq_tracker_set_wp_hook(struct sq_tracker *t, uint32_t id, sq_tracker_wp_hook_fn fn, void *ctx)
{
	struct sq_region *r;
	int rc = 0;

	if (!t)
		return sq_err(SQ_E_INVAL, "set_wp_hook: no tracker");
	pthread_rwlock_rdlock(&t->lock);
	r = sq_region_by_id(t, id);
	if (!r) {
		rc = sq_err(SQ_E_NOT_FOUND, "set_wp_hook: no region %u", id);
	} else if (!r->kwp || r->kwp->mode != SQ_KERNEL_SYNC) {
		rc = sq_err(SQ_E_UNSUPPORTED, "set_wp_hook: region %u has no synchronous "
					      "kernel write tracking", id);
	} else {
		/* Under gran_lock, which the handler holds across its hook call:
		 * after this returns no call of the previous hook is running. */
		pthread_mutex_lock(&r->kwp->gran_lock);
		r->kwp->hook = fn;
		r->kwp->hook_ctx = ctx;
		pthread_mutex_unlock(&r->kwp->gran_lock);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}
