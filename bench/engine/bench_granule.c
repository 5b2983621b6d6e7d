/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adaptive against fixed granules: one snapshot round of a mixed workload
 * on a kernel-tracked region (SQ_REGION_KERNEL_WP).
 *
 *   engine/granule/{sync_wp,async_wp}/{adaptive,fixed_4k,fixed_2m}
 *
 * One iteration (manual time) is one round:
 *   1. writer phase: one 8-byte store into each page of a fixed pattern,
 *      the write-protect faults included;
 *   2. sq_tracker_harvest of the region;
 *   3. sq_memfile_write of the dirty runs as a diff memory file (a fresh
 *      file, O_DIRECT where the filesystem allows it, fdatasync);
 *   4. sq_tracker_note_io with the writer's IO ops, bytes and elapsed time.
 * The file is unlinked after the round, untimed.
 *
 * The pattern is the same every round (seeded), so the controller can
 * learn it. For a region of B 2 MiB blocks:
 *   hot      4 blocks, 7 pages in 8 written (448 pages, 64 runs each)
 *   warm     2 blocks, 1 page in 4 written (128 pages, 128 runs each)
 *   scatter  32 single pages in other blocks (a block may get two)
 * Fixed 4 KiB pays a fault per page and an IO request per run; fixed 2 MiB
 * writes every touched block whole; adaptive should make the hot (and,
 * depending on the measured IO costs, the warm) blocks coarse and leave
 * the scattered pages fine.
 *
 * Before the timed rounds, untimed warm-up rounds: GR_WARMUP_FIXED for the
 * fixed modes (file system and page state only); the adaptive controller
 * gets at least GR_WARMUP_ADAPTIVE and then rounds until GR_SETTLED rounds
 * in a row moved no block, at most GR_WARMUP_MAX (heat is an EWMA with alpha 30 %, and a block moves after
 * 2 consecutive epochs in favour, so convergence takes several rounds).
 *
 * Counters, per timed round: bytes_written, runs (dirty runs harvested),
 * io_ops (write requests issued), faults (sync: write faults served;
 * async: pages seen written), dirty_pages, writer_ms / harvest_ms / io_ms
 * (the three parts of the round), coarse_blocks (at the end), transitions
 * (granule changes during the timed rounds: 0 when the controller stays
 * converged), warmup_rounds.
 *
 * Environment: SQ_BENCH_GRANULE_SIZE (region size, e.g. "256M", "1G";
 * default 256 MiB, at least 32 MiB), SQ_BENCH_DIR (directory of the diff
 * file; default the directory of the benchmark executable, i.e. the build
 * tree). Skipped where the kernel lacks the tracking mode.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <squib/squib.h>
#include "harness.h"
#include "core/splitmix.h"

#define GR_DEFAULT_SIZE ((size_t)256 << 20)
#define GR_MIN_BLOCKS 16
#define GR_HOT 4
#define GR_WARM 2
#define GR_SCATTER 32
#define GR_ROUNDS 5
#define GR_WARMUP_FIXED 2
#define GR_WARMUP_ADAPTIVE 8
#define GR_SETTLED 5
#define GR_WARMUP_MAX 40
#define GR_PAGES_PER_BLOCK (SQ_BLOCK_SIZE / SQ_PAGE_SIZE)

struct gr_ctx {
	struct sq_tracker *t;
	uint32_t id;
	uint8_t *base;
	size_t size;
	uint64_t *pages; /* the pattern: page indices, written in this order */
	size_t npages;
	char path[512];
	uint64_t gen;
};

/* Totals of the timed rounds. */
struct gr_sum {
	double writer_s, harvest_s, io_s;
	uint64_t bytes, runs, io_ops, faults, dirty_pages;
	struct sq_writer_report rep; /* of the last round */
};

static size_t gr_size(void)
{
	const char *e = getenv("SQ_BENCH_GRANULE_SIZE");
	size_t size = GR_DEFAULT_SIZE;

	if (e) {
		char *end;
		unsigned long long v = strtoull(e, &end, 10);
		if (*end == 'G' || *end == 'g')
			v <<= 30;
		else if (*end == 'M' || *end == 'm')
			v <<= 20;
		if (v)
			size = (size_t)v & ~(size_t)(SQ_BLOCK_SIZE - 1);
	}
	if (size < (size_t)GR_MIN_BLOCKS * SQ_BLOCK_SIZE)
		size = (size_t)GR_MIN_BLOCKS * SQ_BLOCK_SIZE;
	return size;
}

/* $SQ_BENCH_DIR, else the directory of the executable (the build tree). */
static void gr_path(char *buf, size_t len)
{
	const char *d = getenv("SQ_BENCH_DIR");
	char exe[400];
	ssize_t n;

	if (!d) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = 0;
			d = dirname(exe);
		} else {
			d = ".";
		}
	}
	snprintf(buf, len, "%s/squib-bench-%d-granule.mem", d, (int)getpid());
}

/* The fixed write pattern: hot, warm, then scattered pages. */
static int gr_pattern(struct gr_ctx *c)
{
	uint64_t nblocks = c->size / SQ_BLOCK_SIZE, s = 0x6a7a;
	uint64_t picked[GR_HOT + GR_WARM] = { 0 };
	size_t cap = GR_HOT * GR_PAGES_PER_BLOCK + GR_WARM * GR_PAGES_PER_BLOCK + GR_SCATTER;

	c->pages = malloc(cap * sizeof(*c->pages));
	if (!c->pages)
		return -1;
	for (unsigned i = 0; i < GR_HOT + GR_WARM; i++) {
		uint64_t blk;
		unsigned j;
		do {
			blk = sq_splitmix64(&s) % nblocks;
			for (j = 0; j < i && picked[j] != blk; j++)
				;
		} while (j < i);
		picked[i] = blk;
		for (uint64_t p = 0; p < GR_PAGES_PER_BLOCK; p++) {
			bool hot = i < GR_HOT;
			if (hot ? p % 8 == 7 : p % 4 != 0)
				continue;
			c->pages[c->npages++] = blk * GR_PAGES_PER_BLOCK + p;
		}
	}
	for (unsigned i = 0; i < GR_SCATTER;) {
		uint64_t pg = sq_splitmix64(&s) % (c->size / SQ_PAGE_SIZE), blk = pg / GR_PAGES_PER_BLOCK;
		unsigned j;
		for (j = 0; j < GR_HOT + GR_WARM && picked[j] != blk; j++)
			;
		if (j < GR_HOT + GR_WARM)
			continue;
		c->pages[c->npages++] = pg;
		i++;
	}
	return 0;
}

static int gr_setup(struct gr_ctx *c, enum sq_kernel_mode k, enum sq_granule_mode g)
{
	struct sq_tracker_opts o = { .size = sizeof(o), .granule = g, .kernel = k };

	c->size = gr_size();
	c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->base == MAP_FAILED) {
		c->base = NULL;
		return -1;
	}
	madvise(c->base, c->size, MADV_NOHUGEPAGE);
	/* Populated with non-zero data, as guest memory in use would be: the
	 * round measures tracking and IO, not page allocation. */
	for (size_t off = 0; off < c->size; off += SQ_PAGE_SIZE)
		memset(c->base + off, (int)(off >> SQ_PAGE_SHIFT) | 1, SQ_PAGE_SIZE);
	gr_path(c->path, sizeof(c->path));
	if (gr_pattern(c) || sq_tracker_create(&o, &c->t) ||
	    sq_tracker_add_region(c->t, c->base, c->size, SQ_REGION_KERNEL_WP, &c->id))
		return -1;
	return 0;
}

static void gr_teardown(struct gr_ctx *c)
{
	sq_tracker_destroy(c->t);
	if (c->base)
		munmap(c->base, c->size);
	free(c->pages);
	unlink(c->path);
}

static uint64_t gr_faults(struct gr_ctx *c)
{
	struct sq_dirty_stats st = SQ_INIT(struct sq_dirty_stats);

	return sq_tracker_stats(c->t, c->id, &st) ? 0 : st.kernel_faults;
}

/* One snapshot round; adds its figures to @sum when not NULL. Returns the
 * round's seconds, or a negative value on failure (sq_last_error says). */
static double gr_round(struct gr_ctx *c, struct gr_sum *sum)
{
	struct sq_mem_source src = { .base = c->base, .size = c->size };
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	struct sq_dirty_set *set = NULL;
	uint64_t f0 = gr_faults(c);
	int rc;

	c->gen++;
	double t0 = sq_bench_now();
	for (size_t i = 0; i < c->npages; i++)
		*(volatile uint64_t *)(c->base + (c->pages[i] << SQ_PAGE_SHIFT)) = c->gen;
	double t1 = sq_bench_now();
	rc = sq_tracker_harvest(c->t, c->id, &set);
	if (rc)
		return -1;
	double t2 = sq_bench_now();
	int fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -1
		    : sq_memfile_write(fd, SQ_LAYOUT_DIFF, &src, sq_dirty_set_runs(set),
				       sq_dirty_set_nruns(set), NULL, NULL, &rep);
	if (fd >= 0)
		close(fd);
	double t3 = sq_bench_now();
	if (!rc)
		rc = sq_tracker_note_io(c->t, c->id, rep.io_ops, rep.bytes_written,
					(uint64_t)((t3 - t2) * 1e9));
	double t4 = sq_bench_now();
	unlink(c->path);
	if (!rc && sum) {
		sum->writer_s += t1 - t0;
		sum->harvest_s += t2 - t1;
		sum->io_s += t4 - t2;
		sum->bytes += rep.bytes_written;
		sum->runs += sq_dirty_set_nruns(set);
		sum->io_ops += rep.io_ops;
		sum->dirty_pages += sq_dirty_set_pages(set);
		sum->faults += gr_faults(c) - f0;
		sum->rep = rep;
	}
	sq_dirty_set_destroy(set);
	return rc ? -1 : t4 - t0;
}

static void run_granule(struct sq_bench *b, enum sq_kernel_mode k, enum sq_granule_mode g)
{
	struct gr_ctx c = { 0 };
	struct gr_sum sum = { 0 };
	struct sq_dirty_stats st0 = SQ_INIT(struct sq_dirty_stats), st1 = SQ_INIT(struct sq_dirty_stats);
	uint64_t rounds = 0;
	char l[200];

	if (!(sq_tracker_kernel_support() & (1u << k))) {
		sq_bench_skip(b, "kernel tracking mode unsupported");
		return;
	}
	if (gr_setup(&c, k, g)) {
		sq_bench_skip(b, "kernel tracking set-up failed");
		gr_teardown(&c);
		return;
	}
	/* Warm-up: GR_WARMUP_FIXED rounds; adaptive at least GR_WARMUP_ADAPTIVE
	 * and until GR_SETTLED rounds in a row moved no block (at most
	 * GR_WARMUP_MAX). */
	bool adaptive = g == SQ_GRANULE_ADAPTIVE;
	unsigned warm = 0, quiet = 0;
	uint64_t moves = 0;
	while (warm < (adaptive ? GR_WARMUP_ADAPTIVE : GR_WARMUP_FIXED) ||
	       (adaptive && quiet < GR_SETTLED && warm < GR_WARMUP_MAX)) {
		if (gr_round(&c, NULL) < 0 || sq_tracker_stats(c.t, c.id, &st0)) {
			sq_bench_skip(b, sq_last_error());
			gr_teardown(&c);
			return;
		}
		warm++;
		quiet = st0.to_coarse + st0.to_fine == moves ? quiet + 1 : 0;
		moves = st0.to_coarse + st0.to_fine;
	}
	while (sq_bench_running(b)) {
		double t = gr_round(&c, &sum);
		if (t < 0) {
			sq_bench_skip(b, sq_last_error());
			break;
		}
		sq_bench_set_iteration_time(b, t);
		rounds++;
	}
	if (rounds) {
		double n = (double)rounds;
		sq_tracker_stats(c.t, c.id, &st1);
		sq_bench_counter(b, "bytes_written", (double)sum.bytes / n);
		sq_bench_counter(b, "runs", (double)sum.runs / n);
		sq_bench_counter(b, "io_ops", (double)sum.io_ops / n);
		sq_bench_counter(b, "faults", (double)sum.faults / n);
		sq_bench_counter(b, "dirty_pages", (double)sum.dirty_pages / n);
		sq_bench_counter(b, "writer_ms", sum.writer_s * 1e3 / n);
		sq_bench_counter(b, "harvest_ms", sum.harvest_s * 1e3 / n);
		sq_bench_counter(b, "io_ms", sum.io_s * 1e3 / n);
		sq_bench_counter(b, "coarse_blocks", (double)st1.coarse_blocks);
		sq_bench_counter(b, "transitions",
				 (double)(st1.to_coarse + st1.to_fine - st0.to_coarse - st0.to_fine));
		sq_bench_counter(b, "warmup_rounds", warm);
		snprintf(l, sizeof(l), "size=%zuMiB pattern_pages=%zu backend=%s direct=%d",
			 c.size >> 20, c.npages, sq_io_backend_name(sum.rep.backend),
			 sum.rep.direct);
		sq_bench_label(b, l);
	}
	gr_teardown(&c);
}

static void bm_sync_adaptive(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_SYNC, SQ_GRANULE_ADAPTIVE);
}

static void bm_sync_4k(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_SYNC, SQ_GRANULE_FIXED_4K);
}

static void bm_sync_2m(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_SYNC, SQ_GRANULE_FIXED_2M);
}

static void bm_async_adaptive(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_ASYNC, SQ_GRANULE_ADAPTIVE);
}

static void bm_async_4k(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_ASYNC, SQ_GRANULE_FIXED_4K);
}

static void bm_async_2m(struct sq_bench *b)
{
	run_granule(b, SQ_KERNEL_ASYNC, SQ_GRANULE_FIXED_2M);
}

#define GR_SYNC_BASE "engine/granule/sync_wp/fixed_4k"
#define GR_ASYNC_BASE "engine/granule/async_wp/fixed_4k"

SQ_BENCH_DEF(.name = "engine/granule/sync_wp/adaptive", .fn = bm_sync_adaptive,
	     .iterations = GR_ROUNDS, .manual_time = 1, .baseline = GR_SYNC_BASE)
SQ_BENCH_DEF(.name = GR_SYNC_BASE, .fn = bm_sync_4k, .iterations = GR_ROUNDS, .manual_time = 1)
SQ_BENCH_DEF(.name = "engine/granule/sync_wp/fixed_2m", .fn = bm_sync_2m,
	     .iterations = GR_ROUNDS, .manual_time = 1, .baseline = GR_SYNC_BASE)
SQ_BENCH_DEF(.name = "engine/granule/async_wp/adaptive", .fn = bm_async_adaptive,
	     .iterations = GR_ROUNDS, .manual_time = 1, .baseline = GR_ASYNC_BASE)
SQ_BENCH_DEF(.name = GR_ASYNC_BASE, .fn = bm_async_4k, .iterations = GR_ROUNDS, .manual_time = 1)
SQ_BENCH_DEF(.name = "engine/granule/async_wp/fixed_2m", .fn = bm_async_2m,
	     .iterations = GR_ROUNDS, .manual_time = 1, .baseline = GR_ASYNC_BASE)
