/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lazy restore: under concurrent random reads and writes the region ends
 * equal to the eager restore plus the writes (the fill never overwrites a
 * write); faults alone serve the right bytes; a hot set recorded by one
 * restore is filled first by the next; bad hot-set files are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <squib/error.h>
#include <squib/lazy.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "core/splitmix.h"

#define SIZE (32ull << 20)
#define NPAGES (SIZE / 4096)
#define NLAYERS 3

static char *dir;
static char paths[NLAYERS][4200];
static const char *chain[NLAYERS];
static uint8_t *expect; /* the eager restore */

static void *map(void)
{
	void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* A full snapshot and two diffs (with dirty zero pages) of a region whose
 * every fourth 2 MiB block is a hole. */
static int build_chain(void **s)
{
	(void)s;
	struct sq_microvm_state *vm;
	uint8_t *st = NULL, *region = map();
	size_t stlen;
	uint64_t rng = 9;

	dir = sq_test_tmpdir("lazy");
	assert_non_null(dir);
	assert_int_equal(sq_state_demo(&vm), 0);
	assert_int_equal(sq_state_encode(vm, &st, &stlen), 0);
	sq_state_destroy(vm);
	for (uint64_t off = 0; off < SIZE; off += 8)
		if ((off >> 21) % 4 != 3)
			*(uint64_t *)(void *)(region + off) = sq_splitmix64(&rng);
	for (unsigned k = 0; k < NLAYERS; k++) {
		struct sq_run runs[64];
		struct sq_snapshot_id parent;
		size_t nr = 0;

		if (k) {
			assert_int_equal(sq_snapshot_id_of(paths[k - 1], &parent), 0);
			for (uint64_t p = k * 7; p < NPAGES && nr < 64; p += NPAGES / 64 + k) {
				if (nr % 5 == 0)
					memset(region + p * 4096, 0, 4096);
				else
					memset(region + p * 4096, 0x40 + (int)k, 4096);
				runs[nr++] = (struct sq_run){ p, 1 };
			}
		}
		snprintf(paths[k], sizeof(paths[k]), "%s/snap-%u.snap", dir, k);
		chain[k] = paths[k];
		struct sq_mem_source src = { .base = region, .size = SIZE };
		struct sq_snapshot_save_req q = {
			.size = sizeof(struct sq_snapshot_save_req), .state_path = paths[k], .kind = k ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
			.state = st, .state_len = stlen, .mem = &src, .runs = k ? runs : NULL,
			.nruns = nr, .parent = k ? &parent : NULL, .io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 2 },
		};
		assert_int_equal(sq_snapshot_save(&q, NULL), 0);
	}
	expect = map();
	assert_int_equal(sq_restore_to_memory(chain, NLAYERS, expect, SIZE, NULL, NULL), 0);
	assert_memory_equal(expect, region, SIZE);
	munmap(region, SIZE);
	free(st);
	return 0;
}

static int drop_chain(void **s)
{
	(void)s;
	munmap(expect, SIZE);
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

struct toucher {
	uint8_t *lazy, *want;
	unsigned idx;       /* 0, 1: writers of pages p % 4 == idx; 2, 3: readers */
	unsigned iters;
	uint64_t bad;
};

static void *touch_main(void *arg)
{
	struct toucher *t = arg;
	uint64_t rng = 1000 + t->idx;

	for (unsigned i = 0; i < t->iters; i++) {
		uint64_t p = (sq_splitmix64(&rng) % (NPAGES / 4)) * 4 + t->idx;
		uint8_t *pg = t->lazy + p * 4096;
		if (t->idx < 2) {
			uint64_t v = sq_splitmix64(&rng);
			size_t at = (v % 512) * 8;
			memcpy(pg + at, &v, 8);
			memcpy(t->want + p * 4096 + at, &v, 8);
		} else if (memcmp(pg, t->want + p * 4096, 4096)) {
			t->bad++;
		}
	}
	return NULL;
}

static void test_concurrent_reads_writes(void **s)
{
	(void)s;
	struct sq_lazy_opts o = { .size = sizeof(o), .fill_threads = 2 };
	struct sq_lazy_report r = SQ_INIT(struct sq_lazy_report);
	struct sq_lazy *l;
	uint8_t *want = map();
	struct toucher t[4];
	pthread_t th[4];

	memcpy(want, expect, SIZE);
	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), 0);
	uint8_t *lazy = sq_lazy_addr(l);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct toucher){ .lazy = lazy, .want = want, .idx = i, .iters = 20000 };
		assert_int_equal(pthread_create(&th[i], NULL, touch_main, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sq_lazy_finish(l, &r), 0);
	assert_int_equal(t[2].bad + t[3].bad, 0);
	assert_memory_equal(lazy, want, SIZE);
	assert_int_equal(r.pages_faulted + r.pages_filled, NPAGES);
	assert_true(r.fill_s > 0);
	fprintf(stderr, "  ready %.3f ms, first access %.3f ms, fill %.1f ms, faults %llu "
			"(p50 %.1f us, p99 %.1f us), faulted %llu, filled %llu, present %llu\n",
		r.ready_s * 1e3, r.first_access_s * 1e3, r.fill_s * 1e3,
		(unsigned long long)r.faults, r.fault_p50_us, r.fault_p99_us,
		(unsigned long long)r.pages_faulted, (unsigned long long)r.pages_filled,
		(unsigned long long)r.pages_present);
	munmap(lazy, SIZE);
	munmap(want, SIZE);
}

/* Faults only: each touched page brings its aligned batch, nothing else. */
static void test_faults_only_and_hotset(void **s)
{
	(void)s;
	struct sq_lazy_opts o = { .size = sizeof(o), .no_fill = 1, .batch_pages = 16 };
	struct sq_lazy_report r = SQ_INIT(struct sq_lazy_report);
	struct sq_lazy *l;
	char hot[4300];
	static const uint64_t touched[] = { 5, 20, 7000, NPAGES - 1, 1536 * 2 + 3 };

	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), 0);
	uint8_t *lazy = sq_lazy_addr(l);
	for (size_t i = 0; i < sizeof(touched) / sizeof(touched[0]); i++)
		assert_memory_equal(lazy + touched[i] * 4096, expect + touched[i] * 4096, 4096);
	/* the batch around page 20 came with it */
	assert_memory_equal(lazy + 16 * 4096, expect + 16 * 4096, 16 * 4096);
	snprintf(hot, sizeof(hot), "%s/hot", dir);
	assert_int_equal(sq_lazy_hotset_save(l, hot), 0);
	assert_int_equal(sq_lazy_finish(l, &r), 0);
	assert_int_equal(r.faults, 5);
	assert_int_equal(r.pages_faulted, 5 * 16);
	assert_int_equal(r.pages_filled, 0);
	assert_true(r.first_access_s > 0);
	/* never touched, never filled: zero after finish */
	uint8_t zero[4096] = { 0 };
	assert_memory_equal(lazy + 100 * 4096, zero, 4096);
	munmap(lazy, SIZE);

	/* The next restore fills the recorded pages first. */
	o = (struct sq_lazy_opts){ .size = sizeof(struct sq_lazy_opts), .hotset = hot, .fill_threads = 1 };
	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), 0);
	lazy = sq_lazy_addr(l);
	assert_int_equal(sq_lazy_finish(l, &r), 0);
	assert_int_equal(r.hot_pages, 5);
	assert_memory_equal(lazy, expect, SIZE);
	munmap(lazy, SIZE);

	/* A damaged or truncated hot set is refused before anything is mapped. */
	int fd = open(hot, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x01", 1, 30), 1);
	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), SQ_E_CORRUPT);
	assert_int_equal(ftruncate(fd, 20), 0);
	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), SQ_E_CORRUPT);
	close(fd);
	o.hotset = NULL;
	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE / 2, &o, &l), SQ_E_SIZE_MISMATCH);
}

/* A write to a page the fill reaches last survives the fill. */
static void test_write_before_fill(void **s)
{
	(void)s;
	struct sq_lazy_opts o = { .size = sizeof(o), .fill_threads = 1 };
	struct sq_lazy *l;

	assert_int_equal(sq_lazy_start(chain, NLAYERS, SIZE, &o, &l), 0);
	uint8_t *lazy = sq_lazy_addr(l);
	memset(lazy + (NPAGES - 1) * 4096, 0x5a, 4096);
	assert_int_equal(sq_lazy_finish(l, NULL), 0);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(lazy[(NPAGES - 1) * 4096 + i], 0x5a);
	assert_memory_equal(lazy, expect, SIZE - 4096);
	munmap(lazy, SIZE);
}

int main(void)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);

	if (fd < 0)
		SQ_TEST_SKIP("userfaultfd is not available (errno %d): lazy restore needs it", errno);
	close((int)fd);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_reads_writes),
		cmocka_unit_test(test_faults_only_and_hotset),
		cmocka_unit_test(test_write_before_fill),
	};
	return cmocka_run_group_tests(tests, build_chain, drop_chain);
}
