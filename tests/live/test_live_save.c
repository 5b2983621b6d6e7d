/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live (copy-on-write) saves: byte-exact against a copy of the region taken
 * at the pause instant while writer threads hammer the region, for a full
 * snapshot and diffs; no lost marks across live saves (each chain restored
 * equals its pause-instant copy, so a write during save k that were not in
 * diff k+1 would show); the copy-before-write path on its own; the
 * fallback to a paused save for asynchronous kernel tracking. Regions of
 * 16 KiB pages too: their runs and the tracker's fault hook count 16 KiB
 * pages, the memory files 4 KiB ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/live.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>

#include "helpers.h"
#include "live/writers.h"
#include "snapshot/live_internal.h"

#define SIZE (64ull << 20)
#define NPAGES (SIZE / 4096)
#define ROUNDS 3

static uint8_t *state_bytes(size_t *len)
{
	struct sq_microvm_state *vm;
	uint8_t *buf = NULL;

	assert_int_equal(sq_state_demo(&vm), 0);
	assert_int_equal(sq_state_encode(vm, &buf, len), 0);
	sq_state_destroy(vm);
	return buf;
}

static void fill(uint8_t *region, struct sq_tracker *t)
{
	uint64_t s = 5;

	/* three of every four 2 MiB blocks hold data; the rest stay zero */
	for (uint64_t off = 0; off < SIZE; off += 8) {
		if ((off >> 21) % 4 == 3)
			continue;
		*(uint64_t *)(void *)(region + off) = sq_splitmix64(&s);
	}
	if (t)
		assert_int_equal(sq_tracker_mark_range(t, region, SIZE), 0);
}

/* The chain snap-0 .. snap-k restored equals @expect. */
static void check_chain(const char *dir, unsigned k, const uint8_t *expect, uint8_t *scratch)
{
	char paths[ROUNDS + 1][4200];
	const char *chain[ROUNDS + 1];
	struct sq_restore_opts ro = { .size = sizeof(ro), .threads = 2 };

	for (unsigned i = 0; i <= k; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/snap-%u.snap", dir, i);
		chain[i] = paths[i];
	}
	assert_int_equal(sq_restore_to_memory(chain, k + 1, scratch, SIZE, &ro, NULL), 0);
	for (uint64_t p = 0; p < NPAGES; p++)
		if (memcmp(scratch + p * 4096, expect + p * 4096, 4096))
			fail_msg("chain of %u: page %llu differs from the pause-instant copy", k + 1,
				 (unsigned long long)p);
}

/*
 * A full live save and ROUNDS live diffs of a region tracked as @how
 * (0 = API marks, else a KERNEL_WP tracker in mode @how), writers running.
 */
static void live_rounds_paged(int how, int expect_live, uint32_t ps)
{
	struct sq_region_opts rop = SQ_INIT(struct sq_region_opts);
	struct sq_tracker_opts to = { .size = sizeof(to), .kernel = how ? (enum sq_kernel_mode)how : SQ_KERNEL_AUTO };
	uint8_t *region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *expect = malloc(SIZE);
	uint8_t *scratch = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dir = sq_test_tmpdir("live");
	struct sq_tracker *t;
	struct writers ws;
	uint32_t rid;
	size_t stlen;
	uint8_t *st = state_bytes(&stlen);

	assert_true(region != MAP_FAILED && scratch != MAP_FAILED && expect && dir);
	assert_int_equal(sq_tracker_create(&to, &t), 0);
	rop.flags = how ? SQ_REGION_KERNEL_WP : 0;
	rop.page_size = ps;
	assert_int_equal(sq_tracker_add_region_opts(t, region, SIZE, &rop, &rid), 0);
	fill(region, how ? NULL : t);
	assert_int_equal(writers_start(&ws, region, NPAGES, 2, how ? NULL : t), 0);
	for (unsigned k = 0; k <= ROUNDS; k++) {
		char path[4200];
		struct sq_snapshot_id parent;
		struct sq_live_report lr = SQ_INIT(struct sq_live_report);
		struct sq_live_opts lo = { .size = sizeof(lo), .resume = writers_unpark, .ctx = &ws, .report = &lr };
		struct sq_snapshot_report rep = SQ_INIT(struct sq_snapshot_report);

		if (k) {
			snprintf(path, sizeof(path), "%s/snap-%u.snap", dir, k - 1);
			assert_int_equal(sq_snapshot_id_of(path, &parent), 0);
		}
		snprintf(path, sizeof(path), "%s/snap-%u.snap", dir, k);
		struct sq_mem_source src = { .base = region, .size = SIZE };
		struct sq_snapshot_save_req q = {
			.size = sizeof(struct sq_snapshot_save_req), .state_path = path, .kind = k ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
			.state = st, .state_len = stlen, .mem = &src, .parent = k ? &parent : NULL,
			.io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 2 }, .live = &lo,
		};
		struct timespec d = { 0, 30 * 1000000L };
		nanosleep(&d, NULL);
		writers_park(&ws);
		memcpy(expect, region, SIZE); /* the pause instant */
		int rc = sq_snapshot_save_tracked(&q, t, rid, &rep);
		if (rc)
			fail_msg("save %u: %s", k, sq_last_error());
		assert_int_equal(lr.live, expect_live);
		if (!expect_live)
			assert_true(strlen(lr.fallback) > 0);
		assert_true(lr.pause_s <= lr.total_s);
		fprintf(stderr, "  %s %u: live %d (%s) pages %llu cow %llu faults %llu pause %.2f ms "
				"total %.2f ms stall %.2f ms%s%s\n",
			k ? "diff" : "full", k, lr.live, lr.protect, (unsigned long long)lr.pages,
			(unsigned long long)lr.cow_pages, (unsigned long long)lr.faults,
			lr.pause_s * 1e3, lr.total_s * 1e3, lr.stall_s * 1e3,
			lr.live ? "" : " fallback: ", lr.live ? "" : lr.fallback);
		/* The writers went on during the save: the chain is the pause
		 * instant, not the region now. */
		check_chain(dir, k, expect, scratch);
	}
	uint64_t writes = writers_stop(&ws);
	assert_true(writes > 0);
	sq_tracker_destroy(t);
	munmap(region, SIZE);
	free(expect);
	munmap(scratch, SIZE);
	free(st);
	sq_test_rmrf(dir);
	free(dir);
}

static void live_rounds(int how, int expect_live)
{
	live_rounds_paged(how, expect_live, 4096);
}

static void test_live_tracker_sync(void **s)
{
	(void)s;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_SYNC)))
		skip();
	live_rounds(SQ_KERNEL_SYNC, 1);
}

static void test_live_api_marks(void **s)
{
	(void)s;
	live_rounds(0, 1);
}

static void test_live_tracker_sync_16k(void **s)
{
	(void)s;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_SYNC))) {
		fprintf(stderr, "sync uffd-wp not available here: case skipped\n");
		skip();
	}
	live_rounds_paged(SQ_KERNEL_SYNC, 1, 16384);
}

static void test_live_api_marks_16k(void **s)
{
	(void)s;
	live_rounds_paged(0, 1, 16384);
}

static void test_fallback_async(void **s)
{
	(void)s;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC)))
		skip();
	live_rounds(SQ_KERNEL_ASYNC, 0);
}

struct held {
	uint8_t *page;
	atomic_int done;
};

static void *write_one(void *arg)
{
	struct held *h = arg;

	memset(h->page, 0xee, 4096); /* held by the write-protect fault */
	atomic_store_explicit(&h->done, 1, memory_order_release);
	return NULL;
}

/* Copy-before-write on its own: a write to a pending page completes only
 * after the page's old content was staged, and the reader returns it. */
static void test_cow_before_write(void **s)
{
	(void)s;
	uint8_t *region = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sq_run run = { .first_page = 4, .npages = 8 };
	struct sq_cow *c;
	struct sq_cow_stats cs;
	uint8_t buf[8 * 4096];
	pthread_t th;

	memset(region, 0x11, 1 << 21);
	assert_int_equal(sq_cow_create(region, 1 << 21, &run, 1, &c), 0);
	assert_int_equal(sq_cow_protect_own(c, &run, 1), 0);
	struct held h = { .page = region + 9 * 4096 };
	assert_int_equal(pthread_create(&th, NULL, write_one, &h), 0);
	pthread_join(th, NULL);
	assert_int_equal(region[9 * 4096], 0xee); /* the write landed ... */
	assert_int_equal(sq_cow_read(c, 4 * 4096, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x11); /* ... after its old content was kept */
	sq_cow_get_stats(c, &cs);
	assert_int_equal(cs.cow_pages, 1);
	assert_true(cs.faults >= 1);
	/* saved pages are writable at once, without a fault */
	region[5 * 4096] = 0x22;
	sq_cow_get_stats(c, &cs);
	assert_int_equal(cs.cow_pages, 1);
	/* a page read twice is an internal error, not a silent second copy */
	assert_int_equal(sq_cow_read(c, 4 * 4096, buf, 4096), SQ_E_INTERNAL);
	sq_cow_destroy(c);
	munmap(region, 1 << 21);
}

/* require = 1 turns a fallback into SQ_E_UNSUPPORTED, and still resumes. */
static int resumed;
static void count_resume(void *ctx)
{
	(void)ctx;
	resumed++;
}

static void test_require_live(void **s)
{
	(void)s;
	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_ASYNC)))
		skip();
	struct sq_tracker_opts to = { .size = sizeof(to), .kernel = SQ_KERNEL_ASYNC };
	uint8_t *region = mmap(NULL, 1 << 21, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *dir = sq_test_tmpdir("live-req");
	struct sq_tracker *t;
	uint32_t rid;
	size_t stlen;
	uint8_t *st = state_bytes(&stlen);
	char path[4200];
	struct sq_live_report lr = SQ_INIT(struct sq_live_report);
	struct sq_live_opts lo = { .size = sizeof(lo), .resume = count_resume, .report = &lr, .require = 1 };
	struct sq_mem_source src = { .base = region, .size = 1 << 21 };

	snprintf(path, sizeof(path), "%s/a.snap", dir);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = stlen, .mem = &src,
					  .live = &lo };
	assert_int_equal(sq_tracker_create(&to, &t), 0);
	assert_int_equal(sq_tracker_add_region(t, region, 1 << 21, SQ_REGION_KERNEL_WP, &rid), 0);
	resumed = 0;
	assert_int_equal(sq_snapshot_save_tracked(&q, t, rid, NULL), SQ_E_UNSUPPORTED);
	assert_int_equal(resumed, 1);
	assert_int_equal(lr.live, 0);
	assert_int_not_equal(access(path, F_OK), 0); /* nothing written */
	sq_tracker_destroy(t);
	munmap(region, 1 << 21);
	free(st);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	if (!sq_live_supported())
		SQ_TEST_SKIP("synchronous userfaultfd write-protect is not available "
			     "(old kernel, or vm.unprivileged_userfaultfd=0 without privilege)");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cow_before_write),
		cmocka_unit_test(test_live_api_marks),
		cmocka_unit_test(test_live_tracker_sync),
		cmocka_unit_test(test_live_api_marks_16k),
		cmocka_unit_test(test_live_tracker_sync_16k),
		cmocka_unit_test(test_fallback_async),
		cmocka_unit_test(test_require_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
