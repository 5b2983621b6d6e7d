/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel's own floor for a kernel-tracked harvest.
 *
 *   engine/kernel/bare_pagemap_scan_4g_1pct   the same 4 GiB anonymous
 *       region and the same written pages (every 100th, 1 %) as
 *       engine/kernel/harvest_4g_1pct, tracked by a userfaultfd with
 *       UFFD_FEATURE_WP_ASYNC and harvested by bare PAGEMAP_SCAN ioctls
 *       (PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, the
 *       same 4096-entry vector): get-and-re-protect with nothing around it.
 *       The written pages are counted, not stored.
 *
 * Set-up and writes are untimed. Skipped where the kernel lacks the mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <squib/squib.h>
#include "engine/uapi_pagemap.h"
#include "harness.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define G4 ((size_t)4 << 30)
#define VEC 4096

struct bare {
	char *p;
	int uffd;
	int pagemap;
	struct page_region *vec;
};

static int bare_setup(struct bare *k)
{
	struct uffdio_api api = { .api = UFFD_API };

	k->p = mmap(NULL, G4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (k->p == MAP_FAILED)
		return -1;
	madvise(k->p, G4, MADV_NOHUGEPAGE);
	k->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (k->uffd < 0 || ioctl(k->uffd, UFFDIO_API, &api))
		return -1;
	/* A second UFFDIO_API on a fresh fd with the features wanted. */
	uint64_t want = UFFD_FEATURE_WP_ASYNC | (api.features & UFFD_FEATURE_WP_UNPOPULATED);
	close(k->uffd);
	k->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	api = (struct uffdio_api){ .api = UFFD_API, .features = want };
	if (k->uffd < 0 || ioctl(k->uffd, UFFDIO_API, &api))
		return -1;
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)k->p, .len = G4 },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(k->uffd, UFFDIO_REGISTER, &reg))
		return -1;
	if (!(want & UFFD_FEATURE_WP_UNPOPULATED) && madvise(k->p, G4, MADV_POPULATE_WRITE))
		return -1;
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)k->p, .len = G4 },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	if (ioctl(k->uffd, UFFDIO_WRITEPROTECT, &wp))
		return -1;
	k->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	k->vec = malloc(VEC * sizeof(*k->vec));
	return k->pagemap < 0 || !k->vec ? -1 : 0;
}

static void bare_teardown(struct bare *k)
{
	if (k->pagemap >= 0)
		close(k->pagemap);
	if (k->uffd >= 0)
		close(k->uffd);
	if (k->p != MAP_FAILED)
		munmap(k->p, G4);
	free(k->vec);
}

/* Get the written pages and write-protect them again; returns the count. */
static int64_t bare_scan(struct bare *k)
{
	uint64_t end = (uintptr_t)k->p + G4, pages = 0;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)k->p,
		.end = end,
		.vec = (uintptr_t)k->vec,
		.vec_len = VEC,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	for (;;) {
		int n = ioctl(k->pagemap, PAGEMAP_SCAN, &a);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		for (int i = 0; i < n; i++)
			pages += (k->vec[i].end - k->vec[i].start) / SQ_PAGE_SIZE;
		if (a.walk_end >= end || (uint64_t)n < a.vec_len)
			return (int64_t)pages;
		a.start = a.walk_end;
	}
}

static void bm_bare(struct sq_bench *b)
{
	struct bare k = { .p = MAP_FAILED, .uffd = -1, .pagemap = -1 };

	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC))) {
		sq_bench_skip(b, "userfaultfd WP_ASYNC + PAGEMAP_SCAN unsupported");
		return;
	}
	if (bare_setup(&k)) {
		sq_bench_skip(b, "userfaultfd / pagemap set-up failed");
		bare_teardown(&k);
		return;
	}
	int64_t pages = 0;
	uint64_t gen = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		gen++;
		for (size_t off = 0; off < G4; off += 100 * (size_t)SQ_PAGE_SIZE)
			k.p[off] = (char)gen;
		sq_bench_resume(b);
		pages = bare_scan(&k);
	}
	if (pages < 0)
		sq_bench_skip(b, "PAGEMAP_SCAN failed");
	sq_bench_counter(b, "dirty_pages", (double)pages);
	bare_teardown(&k);
}
SQ_BENCH_DEF(.name = "engine/kernel/bare_pagemap_scan_4g_1pct", .fn = bm_bare, .min_time_s = 0.3)
