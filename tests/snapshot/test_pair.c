/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot pairs: tracked saves (a full save resets the dirty log, a diff
 * takes exactly the harvested pages), transactional put-back on injected
 * faults at every IO site of io/ and snapshot/, no temp files, the
 * previous pair intact, crash recovery in both directions, request errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/mman.h>

#include <squib/error.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>
#include "core/sysio.h"
#include "helpers.h"

#define PG 4096u
#define NPAGES 520u
#define SIZE ((size_t)NPAGES * PG)

struct fx {
	char *dir;
	char full[1100], diff[1100];
	uint8_t *region;
	struct sq_tracker *t;
	uint32_t rid;
	uint8_t *state;
	size_t state_len;
	uint64_t seed;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sq_microvm_state *vm;

	f->seed = sq_test_seed("snapshot/pair");
	f->dir = sq_test_tmpdir("pair");
	snprintf(f->full, sizeof(f->full), "%s/full.snap", f->dir);
	snprintf(f->diff, sizeof(f->diff), "%s/diff.snap", f->dir);
	f->region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!f->dir || f->region == MAP_FAILED || sq_tracker_create(NULL, &f->t) ||
	    sq_tracker_add_region(f->t, f->region, SIZE, 0, &f->rid) || sq_state_demo(&vm))
		return -1;
	if (sq_state_encode(vm, &f->state, &f->state_len))
		return -1;
	sq_state_destroy(vm);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sq_fault_set(NULL);
	sq_tracker_destroy(f->t);
	munmap(f->region, SIZE);
	free(f->state);
	sq_test_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void scribble(struct fx *f, uint32_t page, int zero)
{
	uint8_t *p = f->region + (size_t)page * PG;
	if (zero) {
		memset(p, 0, PG);
	} else {
		for (unsigned i = 0; i < PG; i += 8) {
			uint64_t v = sq_test_rand(&f->seed);
			memcpy(p + i, &v, 8);
		}
	}
	assert_int_equal(sq_tracker_mark(f->t, p), 0);
}

static int save(struct fx *f, const char *path, enum sq_snapshot_kind kind,
		struct sq_snapshot_report *rep)
{
	struct sq_mem_source src = { .base = f->region, .size = SIZE };
	struct sq_snapshot_id parent;
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .kind = kind, .state = f->state,
					  .state_len = f->state_len, .mem = &src,
					  .io = &(struct sq_writer_opts){ .size = sizeof(struct sq_writer_opts), .threads = 2 } };
	if (kind == SQ_SNAPSHOT_DIFF) {
		assert_int_equal(sq_snapshot_id_of(f->full, &parent), 0);
		q.parent = &parent;
	}
	return sq_snapshot_save_tracked(&q, f->t, f->rid, rep);
}

static uint64_t dirty(struct fx *f)
{
	uint64_t n = 0;
	assert_int_equal(sq_tracker_count(f->t, f->rid, &n), 0);
	return n;
}

/* The pair at @path (over full.snap when it is a diff) restores to @want. */
static void assert_pair_is_(struct fx *f, const char *path, const uint8_t *want, int line)
{
	const char *chain[2] = { f->full, path };
	size_t n = strcmp(path, f->full) ? 2 : 1;
	uint8_t *dst = aligned_alloc(PG, SIZE);
	struct sq_snapshot_loaded *l;

	assert_int_equal(sq_snapshot_load(path, 0, &l), 0);
	sq_snapshot_loaded_destroy(l);
	assert_int_equal(sq_restore_to_memory(chain, n, dst, SIZE, NULL, NULL), 0);
	if (memcmp(dst, want, SIZE))
		fprintf(stderr, "pair %s differs (checked at line %d)\n", path, line);
	assert_memory_equal(dst, want, SIZE);
	free(dst);
}

#define assert_pair_is(f, path, want) assert_pair_is_(f, path, want, __LINE__)

static void assert_no_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".tmp")) {
			fprintf(stderr, "leftover temp file %s\n", e->d_name);
			fail();
		}
	closedir(d);
}

static void full_resets_and_diff_takes_the_harvest(void **state)
{
	struct fx *f = *state;
	struct sq_writer_report wr = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wr };

	for (uint32_t p = 0; p < NPAGES; p += 3)
		scribble(f, p, 0);
	assert_int_equal(save(f, f->full, SQ_SNAPSHOT_FULL, &rep), 0);
	assert_int_equal(dirty(f), 0); /* the full snapshot reset the dirty log */
	assert_int_equal(wr.pages_written, (NPAGES + 2) / 3);
	assert_pair_is(f, f->full, f->region);

	scribble(f, 1, 0);
	scribble(f, 3, 1); /* was data, now zero: must be data in the diff */
	scribble(f, 400, 0);
	assert_int_equal(save(f, f->diff, SQ_SNAPSHOT_DIFF, &rep), 0);
	assert_int_equal(rep.pages_dirty, 3);
	assert_int_equal(wr.pages_written, 3);
	assert_int_equal(dirty(f), 0);
	assert_pair_is(f, f->diff, f->region);
	assert_no_temps(f->dir);

	/* an empty diff is a valid layer */
	char empty[1200];
	snprintf(empty, sizeof(empty), "%s/empty.snap", f->dir);
	assert_int_equal(save(f, empty, SQ_SNAPSHOT_DIFF, &rep), 0);
	assert_int_equal(wr.pages_written, 0);
}

/*
 * Every IO site of io/, snapshot/ and the atomic writer that a tracked diff
 * save reaches, with EIO and ENOSPC. diff.snap always holds every page
 * changed since full.snap: after each successful save the test marks those
 * pages again, so each new diff is complete relative to the full one.
 */
static uint32_t since_full[64];
static unsigned nsince;

static void remark(struct fx *f)
{
	for (unsigned i = 0; i < nsince; i++)
		assert_int_equal(sq_tracker_mark(f->t, f->region + (size_t)since_full[i] * PG), 0);
}

static void change(struct fx *f, uint32_t page, int zero)
{
	scribble(f, page, zero);
	for (unsigned i = 0; i < nsince; i++)
		if (since_full[i] == page)
			return;
	since_full[nsince++] = page;
}

static void faults_put_bits_back_and_keep_the_previous_pair(void **state)
{
	struct fx *f = *state;
	uint8_t *prev = malloc(SIZE);
	static const int errs[] = { EIO, ENOSPC };
	unsigned tried = 0;

	/* pages changed since full.snap by the first test */
	since_full[0] = 1;
	since_full[1] = 3;
	since_full[2] = 400;
	nsince = 3;
	remark(f);
	change(f, 10, 0);
	assert_int_equal(save(f, f->diff, SQ_SNAPSHOT_DIFF, NULL), 0);
	assert_pair_is(f, f->diff, f->region);
	memcpy(prev, f->region, SIZE);
	remark(f);
	for (int site = 0; site < SQ_SITE_COUNT; site++) {
		const char *name = sq_io_site_name(site);
		if (strncmp(name, "writer/", 7) && strncmp(name, "pair/", 5) &&
		    strncmp(name, "atomic/", 7))
			continue;
		for (size_t e = 0; e < 2; e++) {
			change(f, 20, 0);
			change(f, 21, 1);
			change(f, 300, 0);
			uint64_t before = dirty(f);
			struct sq_fault_plan plan = { .site = site, .error = errs[e] };
			sq_fault_set(&plan);
			int rc = save(f, f->diff, SQ_SNAPSHOT_DIFF, NULL);
			unsigned fired = sq_fault_fired();
			sq_fault_set(NULL);
			assert_no_temps(f->dir);
			if (rc == 0) {
				/* not reached by this save, or absorbed */
				assert_pair_is(f, f->diff, f->region);
				memcpy(prev, f->region, SIZE);
				remark(f);
				continue;
			}
			assert_true(fired > 0);
			tried++;
			if (errs[e] == ENOSPC)
				assert_int_equal(rc, SQ_E_NO_SPACE);
			assert_int_equal(sq_last_error_code(), rc);
			assert_int_equal(dirty(f), before); /* put back */
			struct sq_snapshot_loaded *l;
			if (!strcmp(name, "pair/dir_fsync") && sq_snapshot_load(f->diff, 0, &l) == 0 &&
			    memcmp(prev, f->region, SIZE)) {
				/* the final directory fsync failed after the renames */
				sq_snapshot_loaded_destroy(l);
			} else {
				assert_pair_is(f, f->diff, prev);
			}
			/* the bits that went back are written by the next save */
			assert_int_equal(save(f, f->diff, SQ_SNAPSHOT_DIFF, NULL), 0);
			assert_pair_is(f, f->diff, f->region);
			memcpy(prev, f->region, SIZE);
			remark(f);
		}
	}
	assert_true(tried >= 10);
	free(prev);
}

static void touch_file(const char *path, const char *text)
{
	assert_int_equal(sq_test_write_file(path, text, strlen(text)), 0);
}

/*
 * Crash states of the group commit (squib/atomic_file.h), resolved by
 * recovery: temps of a dead writer before the commit point are removed and
 * the old pair stays; a published record rolls the new pair forward; a
 * damaged record is refused, never guessed at.
 */
static void recovery_rolls_back_or_forward(void **state)
{
	struct fx *f = *state;
	static const char *const dead[] = { "diff.snap.4242.0123456789abcdef.tmp",
					    "diff.mem.4242.00000000000000ff.tmp",
					    "diff.manifest.1.fedcba9876543210.tmp" };
	char p[1200];
	uint8_t *old = malloc(SIZE);

	change(f, 30, 0);
	assert_int_equal(save(f, f->diff, SQ_SNAPSHOT_DIFF, NULL), 0);
	memcpy(old, f->region, SIZE);
	remark(f); /* each diff holds every page changed since full.snap */
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, dead[i]);
		touch_file(p, "garbage of a killed writer");
	}
	assert_pair_is(f, f->diff, old);
	assert_int_equal(sq_snapshot_recover(f->diff), 0);
	assert_no_temps(f->dir);

	/* the record is published, then every rename fails (twice): committed */
	change(f, 31, 0);
	struct sq_fault_plan plan = { .site = SQ_SITE_PAIR_RENAME, .error = EIO, .skip = 1 };
	sq_fault_set(&plan);
	int rc = save(f, f->diff, SQ_SNAPSHOT_DIFF, NULL);
	sq_fault_set(NULL);
	assert_int_equal(rc, SQ_E_ATOMIC_COMMIT_FAILED);
	snprintf(p, sizeof(p), "%s/diff.commit", f->dir);
	assert_true(sq_test_exists(p));
	assert_pair_is(f, f->diff, f->region); /* load rolled it forward */
	assert_false(sq_test_exists(p));
	assert_no_temps(f->dir);

	/* a damaged record: refused with a specific error, left for a person */
	touch_file(p, "not a commit record at all");
	struct sq_snapshot_loaded *l = NULL;
	assert_int_equal(sq_snapshot_load(f->diff, 0, &l), SQ_E_CORRUPT);
	assert_int_equal(sq_snapshot_recover(f->diff), SQ_E_CORRUPT);
	assert_int_equal(unlink(p), 0);
	assert_pair_is(f, f->diff, f->region);
	free(old);
}

static void request_errors(void **state)
{
	struct fx *f = *state;
	struct sq_mem_source src = { .base = f->region, .size = SIZE };
	char p[1200];
	snprintf(p, sizeof(p), "%s/x.snap", f->dir);
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = p, .kind = SQ_SNAPSHOT_DIFF,
					  .state = f->state, .state_len = f->state_len,
					  .mem = &src };
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_INVALID_PATH);
	q.kind = SQ_SNAPSHOT_FULL;
	uint8_t bad[16] = { 1, 2, 3 };
	q.state = bad;
	q.state_len = sizeof(bad);
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_CRC_MISMATCH);
	q.state_len = 4;
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_TOO_SHORT);
	assert_false(sq_test_exists(p));
	struct sq_snapshot_loaded *l;
	assert_int_equal(sq_snapshot_load(p, 0, &l), SQ_E_IO);
	assert_no_temps(f->dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_resets_and_diff_takes_the_harvest),
		cmocka_unit_test(faults_put_bits_back_and_keep_the_previous_pair),
		cmocka_unit_test(recovery_rolls_back_or_forward),
		cmocka_unit_test(request_errors),
	};
	return cmocka_run_group_tests_name("snapshot/pair", tests, setup, teardown);
}
