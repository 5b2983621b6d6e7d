/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel write-tracking benchmarks.
 *
 *   engine/kernel/harvest_4g_1pct   harvest (PAGEMAP_SCAN with
 *       PM_SCAN_WP_MATCHING) of a 4 GiB anonymous region of which 1 % of
 *       the pages (every 100th) were written since the last harvest; the
 *       writes are untimed.
 *   engine/kernel/first_write/{async_wp,sync_wp_4k,sync_wp_2m}   cost of a
 *       write to a tracked, populated page that was not written since the
 *       last harvest: one byte per page, pages in order. With sync_wp_2m one
 *       fault unprotects the whole 2 MiB block, so the figure is the cost
 *       per page amortized over the block.
 *   engine/kernel/first_write/mprotect_sigsegv_baseline   the same writes
 *       tracked the classic way: mprotect(PROT_READ), a SIGSEGV handler that
 *       sets a bit and mprotects the page writable again.
 *
 * The region is re-armed (harvest, or mprotect) untimed when used up.
 * Skipped where the kernel lacks the mode.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <squib/squib.h>
#include "harness.h"

#define G4 ((size_t)4 << 30)
#define FW_LEN ((size_t)64 << 20)
#define FW_PAGES (FW_LEN / SQ_PAGE_SIZE)

static void bm_harvest_4g(struct sq_bench *b)
{
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC))) {
		sq_bench_skip(b, "userfaultfd WP_ASYNC + PAGEMAP_SCAN unsupported");
		return;
	}
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = SQ_GRANULE_FIXED_4K, .kernel = SQ_KERNEL_ASYNC };
	struct sq_tracker *t;
	struct sq_dirty_set *s;
	uint32_t id;
	char *p = mmap(NULL, G4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (p == MAP_FAILED) {
		sq_bench_skip(b, "cannot map 4 GiB");
		return;
	}
	madvise(p, G4, MADV_NOHUGEPAGE);
	if (sq_tracker_create(&o, &t) || sq_tracker_add_region(t, p, G4, SQ_REGION_KERNEL_WP, &id)) {
		sq_bench_skip(b, "kernel tracking set-up failed");
		munmap(p, G4);
		return;
	}
	uint64_t pages = 0, gen = 0;
	while (sq_bench_running(b)) {
		sq_bench_pause(b);
		gen++;
		for (size_t off = 0; off < G4; off += 100 * (size_t)SQ_PAGE_SIZE)
			p[off] = (char)gen;
		sq_bench_resume(b);
		sq_tracker_harvest(t, id, &s);
		pages = sq_dirty_set_pages(s);
		sq_dirty_set_destroy(s);
	}
	sq_bench_counter(b, "dirty_pages", (double)pages);
	sq_tracker_destroy(t);
	munmap(p, G4);
}
SQ_BENCH_DEF(.name = "engine/kernel/harvest_4g_1pct", .fn = bm_harvest_4g, .min_time_s = 0.3)

static void first_write_uffd(struct sq_bench *b, enum sq_kernel_mode k, enum sq_granule_mode g)
{
	if (!(sq_tracker_kernel_support() & (1u << k))) {
		sq_bench_skip(b, "kernel mode unsupported");
		return;
	}
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = g, .kernel = k };
	struct sq_tracker *t;
	struct sq_dirty_set *s;
	uint32_t id;
	char *p = mmap(NULL, FW_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		sq_bench_skip(b, "mmap failed");
		return;
	}
	madvise(p, FW_LEN, MADV_NOHUGEPAGE);
	memset(p, 1, FW_LEN); /* populated: measure the tracking, not page allocation */
	if (sq_tracker_create(&o, &t) || sq_tracker_add_region(t, p, FW_LEN, SQ_REGION_KERNEL_WP, &id)) {
		sq_bench_skip(b, "kernel tracking set-up failed");
		munmap(p, FW_LEN);
		return;
	}
	size_t i = 0;
	while (sq_bench_running(b)) {
		if (i == FW_PAGES) {
			sq_bench_pause(b);
			sq_tracker_harvest(t, id, &s);
			sq_dirty_set_destroy(s);
			i = 0;
			sq_bench_resume(b);
		}
		((volatile char *)p)[i++ * SQ_PAGE_SIZE] = 2;
	}
	sq_tracker_destroy(t);
	munmap(p, FW_LEN);
}

static void bm_fw_async(struct sq_bench *b)
{
	first_write_uffd(b, SQ_KERNEL_ASYNC, SQ_GRANULE_FIXED_4K);
}

static void bm_fw_sync4k(struct sq_bench *b)
{
	first_write_uffd(b, SQ_KERNEL_SYNC, SQ_GRANULE_FIXED_4K);
}

static void bm_fw_sync2m(struct sq_bench *b)
{
	first_write_uffd(b, SQ_KERNEL_SYNC, SQ_GRANULE_FIXED_2M);
}

SQ_BENCH_DEF(.name = "engine/kernel/first_write/async_wp", .fn = bm_fw_async,
	     .baseline = "engine/kernel/first_write/mprotect_sigsegv_baseline")
SQ_BENCH_DEF(.name = "engine/kernel/first_write/sync_wp_4k", .fn = bm_fw_sync4k,
	     .baseline = "engine/kernel/first_write/mprotect_sigsegv_baseline")
SQ_BENCH_DEF(.name = "engine/kernel/first_write/sync_wp_2m", .fn = bm_fw_sync2m,
	     .baseline = "engine/kernel/first_write/mprotect_sigsegv_baseline")

/* The baseline's tracking state, used from the signal handler. */
static char *segv_base;
static _Atomic uint64_t *segv_bits;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	uintptr_t a = (uintptr_t)si->si_addr;
	if (a < (uintptr_t)segv_base || a >= (uintptr_t)segv_base + FW_LEN)
		abort();
	uint64_t page = (a - (uintptr_t)segv_base) >> SQ_PAGE_SHIFT;
	atomic_fetch_or_explicit(&segv_bits[page >> 6], 1ull << (page & 63), memory_order_relaxed);
	mprotect(segv_base + (page << SQ_PAGE_SHIFT), SQ_PAGE_SIZE, PROT_READ | PROT_WRITE);
}

static void bm_fw_mprotect(struct sq_bench *b)
{
	struct sigaction sa = { 0 }, old;
	char *p = mmap(NULL, FW_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		sq_bench_skip(b, "mmap failed");
		return;
	}
	madvise(p, FW_LEN, MADV_NOHUGEPAGE);
	memset(p, 1, FW_LEN);
	segv_base = p;
	segv_bits = calloc(FW_PAGES / 64, sizeof(uint64_t));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	mprotect(p, FW_LEN, PROT_READ);
	size_t i = 0;
	while (sq_bench_running(b)) {
		if (i == FW_PAGES) {
			sq_bench_pause(b);
			memset((void *)segv_bits, 0, FW_PAGES / 8);
			mprotect(p, FW_LEN, PROT_READ);
			i = 0;
			sq_bench_resume(b);
		}
		((volatile char *)p)[i++ * SQ_PAGE_SIZE] = 2;
	}
	sigaction(SIGSEGV, &old, NULL);
	munmap(p, FW_LEN);
	free((void *)segv_bits);
}
SQ_BENCH("engine/kernel/first_write/mprotect_sigsegv_baseline", bm_fw_mprotect);
