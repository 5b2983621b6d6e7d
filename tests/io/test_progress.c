/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progress reports and cancellation (squib/progress.h) of merge, restore
 * and verify on a real chain (a full snapshot and two diffs): the callback
 * runs on the calling thread, starts at 0, never goes back, ends once at
 * the documented total; a cancel at the first or the last report returns
 * SQ_E_CANCELED, and a canceled merge leaves the previous output byte for
 * byte and no temp file. A callback that takes longer than the report
 * interval sees every unit of work (one worker), so the reports in between
 * are exercised without depending on the machine's speed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/merge.h>
#include <squib/progress.h>
#include <squib/restore.h>
#include "helpers.h"
#include "io/chain_build.h"

#define PG 4096u
#define NPAGES 2048u /* 8 MiB: 8 reads of 1 MiB for a full layer */
#define SIZE ((size_t)NPAGES * PG)

static char *dir;
static uint8_t *region, *final_image;
static char snap[3][1024], mem[3][1024];
static uint64_t seed;

/* What the callback saw. */
struct seen {
	pthread_t caller;
	unsigned calls, cancel_at; /* cancel_at: 1-based call to refuse, 0 = never */
	int sleepy;                /* outlast the report interval at every call */
	int off_thread, went_back, bad_phase;
	enum sq_progress_phase phase;
	uint64_t first, last, total;
};

static int on_progress(void *ctx, const struct sq_progress *p)
{
	struct seen *s = ctx;

	if (!pthread_equal(pthread_self(), s->caller))
		s->off_thread = 1;
	if (p->phase != s->phase || p->round != 0)
		s->bad_phase = 1;
	if (s->calls == 0) {
		s->first = p->done;
		s->total = p->total;
	} else if (p->done <= s->last || p->total != s->total) {
		s->went_back = 1; /* strictly growing: done == total comes once */
	}
	s->last = p->done;
	s->calls++;
	if (s->sleepy) {
		struct timespec ts = { 0, (SQ_PROGRESS_INTERVAL_MS + 10) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return s->cancel_at && s->calls == s->cancel_at;
}

static struct seen watch(enum sq_progress_phase phase, unsigned cancel_at, int sleepy)
{
	return (struct seen){ .caller = pthread_self(), .phase = phase, .cancel_at = cancel_at,
			      .sleepy = sleepy };
}

/* The report of a phase that completed: 0 first, @total last, in order. */
static void check_complete(const struct seen *s, uint64_t total)
{
	assert_false(s->off_thread);
	assert_false(s->bad_phase);
	assert_false(s->went_back);
	assert_true(s->calls >= 2);
	assert_int_equal(s->first, 0);
	assert_int_equal(s->total, total);
	assert_int_equal(s->last, total);
}

static void randomize(uint32_t first, uint32_t n)
{
	chain_randomize(region, &seed, first, n);
}

static void save(unsigned gen, const struct sq_run *runs, size_t n)
{
	chain_save(snap[gen], gen ? snap[gen - 1] : NULL, gen, region, SIZE, runs, n);
}

static int setup(void **state)
{
	(void)state;
	seed = sq_test_seed("io/progress");
	dir = sq_test_tmpdir("progress");
	region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!dir || region == MAP_FAILED)
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(snap[i], sizeof(snap[i]), "%s/s%d.snap", dir, i);
		snprintf(mem[i], sizeof(mem[i]), "%s/s%d.mem", dir, i);
	}
	randomize(0, 1500);
	randomize(1700, 300);
	save(0, NULL, 0);
	randomize(10, 40);
	randomize(1600, 200);
	struct sq_run r1[] = { { 10, 40 }, { 1600, 200 } };
	save(1, r1, 2);
	randomize(30, 500);
	struct sq_run r2[] = { { 30, 500 } };
	save(2, r2, 1);
	final_image = malloc(SIZE);
	if (!final_image)
		return -1;
	memcpy(final_image, region, SIZE);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(region, SIZE);
	free(final_image);
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

/* Data bytes of a layer, from its manifest. */
static uint64_t data_bytes(const char *memfile)
{
	char mp[1100];
	struct sq_manifest *m;

	assert_int_equal(sq_manifest_path(memfile, mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	uint64_t b = m->npages * PG;
	sq_manifest_destroy(m);
	return b;
}

static void restore_reports(void **state)
{
	(void)state;
	const char *chain[3] = { snap[0], snap[1], snap[2] };
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct seen s = watch(SQ_PROGRESS_RESTORE_READ, 0, 0);
	struct sq_restore_opts o = { .size = sizeof(o), .threads = 3, .verify = 1, .progress = on_progress,
				     .progress_ctx = &s };
	struct sq_restore_report rep = SQ_INIT(struct sq_restore_report);

	assert_true(dst != MAP_FAILED);
	assert_int_equal(sq_restore_to_memory(chain, 3, dst, SIZE, &o, &rep), 0);
	assert_memory_equal(dst, final_image, SIZE);
	uint64_t total = data_bytes(mem[0]) + data_bytes(mem[1]) + data_bytes(mem[2]);
	check_complete(&s, total);
	assert_int_equal(rep.bytes_read, total);

	/* One worker and a callback slower than the interval: a report per read. */
	s = watch(SQ_PROGRESS_RESTORE_READ, 0, 1);
	o.threads = 1;
	assert_int_equal(sq_restore_to_memory(chain, 1, dst, SIZE, &o, NULL), 0);
	check_complete(&s, data_bytes(mem[0]));
	assert_true(s.calls >= 4); /* 0, reads between, total: 8 reads of 1 MiB */
	munmap(dst, SIZE);
}

static void restore_cancel(void **state)
{
	(void)state;
	const char *chain[2] = { snap[0], snap[1] };
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(dst != MAP_FAILED);
	for (unsigned at = 1; at <= 2; at++) {
		struct seen s = watch(SQ_PROGRESS_RESTORE_READ, at, 0);
		struct sq_restore_opts o = { .size = sizeof(o), .progress = on_progress, .progress_ctx = &s };
		assert_int_equal(sq_restore_to_memory(chain, 2, dst, SIZE, &o, NULL),
				 SQ_E_CANCELED);
		assert_int_equal(sq_last_error_code(), SQ_E_CANCELED);
		assert_int_equal(s.calls, at); /* no report after the one that canceled */
	}
	munmap(dst, SIZE);
}

static void verify_reports_and_cancel(void **state)
{
	(void)state;
	struct seen s = watch(SQ_PROGRESS_VERIFY_READ, 0, 1);
	struct sq_verify_opts o = { .size = sizeof(o), .threads = 1, .progress = on_progress, .progress_ctx = &s };
	struct sq_verify_report r = SQ_INIT(struct sq_verify_report);

	assert_int_equal(sq_memfile_verify_ex(mem[0], NULL, &o, &r), 0);
	check_complete(&s, data_bytes(mem[0]));
	assert_true(s.calls >= 4);
	assert_int_equal(r.bytes_read, s.total);

	s = watch(SQ_PROGRESS_VERIFY_READ, 2, 1);
	assert_int_equal(sq_memfile_verify_ex(mem[0], NULL, &o, &r), SQ_E_CANCELED);
	assert_int_equal(s.calls, 2);
	assert_true(r.bytes_read < data_bytes(mem[0])); /* stopped early */
	/* NULL options: the defaults, as sq_memfile_verify. */
	assert_int_equal(sq_memfile_verify_ex(mem[2], NULL, NULL, NULL), 0);
}

static size_t count_entries(const char *path)
{
	DIR *d = opendir(path);
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void merge_reports_and_cancel(void **state)
{
	(void)state;
	const char *chain[3] = { snap[0], snap[1], snap[2] };
	char out[1100], man[1100];
	struct seen s = watch(SQ_PROGRESS_MERGE_COPY, 0, 0);
	struct sq_merge_opts o = { .size = sizeof(o), .threads = 2, .progress = on_progress, .progress_ctx = &s };
	struct sq_merge_report rep = SQ_INIT(struct sq_merge_report);
	unsigned char *before = NULL, *mbefore = NULL, *after = NULL, *mafter = NULL;
	size_t len, mlen, alen, malen;

	snprintf(out, sizeof(out), "%s/merged.mem", dir);
	snprintf(man, sizeof(man), "%s/merged.manifest", dir);
	assert_int_equal(sq_merge_chain(chain, 3, out, &o, &rep), 0);
	check_complete(&s, rep.pages_out * PG);
	assert_int_equal(rep.bytes_copied, rep.pages_out * PG);
	assert_int_equal(sq_memfile_verify(out, NULL, 0, NULL), 0);

	/* A canceled merge over that output (of a shorter chain, so a commit
	 * would change it): the same files, nothing new in the directory. */
	assert_int_equal(sq_test_read_file(out, &before, &len), 0);
	assert_memory_equal(before, final_image, SIZE);
	assert_int_equal(sq_test_read_file(man, &mbefore, &mlen), 0);
	size_t entries = count_entries(dir);
	for (unsigned at = 1; at <= 2; at++) {
		s = watch(SQ_PROGRESS_MERGE_COPY, at, 0);
		assert_int_equal(sq_merge_chain(chain, 2, out, &o, NULL), SQ_E_CANCELED);
		assert_int_equal(s.calls, at);
		assert_int_equal(count_entries(dir), entries);
		assert_int_equal(sq_test_read_file(out, &after, &alen), 0);
		assert_int_equal(sq_test_read_file(man, &mafter, &malen), 0);
		assert_int_equal(alen, len);
		assert_memory_equal(after, before, len);
		assert_int_equal(malen, mlen);
		assert_memory_equal(mafter, mbefore, mlen);
		free(after);
		free(mafter);
	}
	/* The last report (done == total) comes before the commit: refusing it
	 * cancels too. */
	s = watch(SQ_PROGRESS_MERGE_COPY, 0, 0);
	assert_int_equal(sq_merge_chain(chain, 2, out, &o, NULL), 0);
	assert_int_equal(s.last, s.total);
	free(before);
	free(mbefore);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_reports),
		cmocka_unit_test(restore_cancel),
		cmocka_unit_test(verify_reports_and_cancel),
		cmocka_unit_test(merge_reports_and_cancel),
	};
	return cmocka_run_group_tests_name("io/progress", tests, setup, teardown);
}
