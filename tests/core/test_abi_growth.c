/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The growth rule of the option and report structs (docs/ARCHITECTURE.md
 * "ABI"): a caller's struct is read and written only within its size, the
 * fields past it take their defaults, and a size of 0 or below the first
 * layout fails with SQ_E_INVAL before anything happens.
 *
 * Each caller struct here is heap-allocated to exactly the size it
 * declares, so an access past it is a heap overflow under ASan; the
 * sentinel checks hold the same without ASan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>
#include <squib/writer.h>
#include "core/sized.h"
#include "helpers.h"

#define PG 4096u
#define NPAGES 64u
#define SIZE ((size_t)NPAGES * PG)

/* A struct as a later release has it: `added` was appended after the
 * first layout (which ended at `flag`). */
struct grown {
	uint32_t size;
	int32_t value;
	bool flag;
	uint64_t added; /* default 42 */
};
#define GROWN_V0 SQ_SIZE_THROUGH(struct grown, flag)

/* @n bytes set to 0xa5, with @size in the first 4 bytes. */
static void *sized_alloc(size_t n, uint32_t size)
{
	unsigned char *p = malloc(n);

	assert_non_null(p);
	memset(p, 0xa5, n);
	memcpy(p, &size, sizeof(size));
	return p;
}

/* A caller's struct of exactly @n bytes: the first @n bytes of @full, with
 * size @n (what a program built against that layout passes). */
static void *exact(const void *full, size_t n)
{
	void *p = sized_alloc(n, (uint32_t)n);

	memcpy((char *)p + 4, (const char *)full + 4, n - 4);
	return p;
}

/* Read back the @n bytes of the caller's struct @p into @full; free @p. */
static void take(void *full, void *p, size_t n)
{
	memcpy(full, p, n);
	free(p);
}

static void old_caller_gets_defaults_and_nothing_past_its_size(void **state)
{
	(void)state;
	struct grown v0 = { .value = -7, .flag = true, .added = 1000 };
	void *old = exact(&v0, GROWN_V0);
	struct grown local = { .size = sizeof(local), .added = 42 };

	assert_int_equal(SQ_SIZED_IN(local, old, GROWN_V0, "grown"), 0);
	assert_int_equal(local.size, sizeof(local));
	assert_int_equal(local.value, -7);
	assert_true(local.flag);
	assert_int_equal(local.added, 42); /* past the caller's size: the default */

	/* Out: only the fields within the caller's size are written. */
	struct grown full = { .size = sizeof(full), .value = 5, .flag = false, .added = 99 };
	unsigned char *rep = sized_alloc(sizeof(struct grown), (uint32_t)GROWN_V0);
	SQ_SIZED_OUT(rep, full);
	struct grown seen;
	memcpy(&seen, rep, GROWN_V0);
	assert_int_equal(seen.size, GROWN_V0); /* the caller's size stays */
	assert_int_equal(seen.value, 5);
	for (size_t i = GROWN_V0; i < sizeof(struct grown); i++)
		assert_int_equal(rep[i], 0xa5);
	free(rep);
	rep = sized_alloc(GROWN_V0, (uint32_t)GROWN_V0); /* exactly: ASan sees any overflow */
	SQ_SIZED_OUT(rep, full);
	free(rep);
	free(old);
}

static void newer_caller_is_read_to_our_size(void **state)
{
	(void)state;
	size_t n = sizeof(struct grown) + 16;
	struct grown *newer = sized_alloc(n, (uint32_t)n);
	struct grown local = { .size = sizeof(local), .added = 42 };

	newer->value = 3;
	newer->flag = false;
	newer->added = 7;
	assert_int_equal(SQ_SIZED_IN(local, newer, GROWN_V0, "grown"), 0);
	assert_int_equal(local.size, sizeof(local));
	assert_int_equal(local.added, 7);
	free(newer);
}

static void bad_sizes_are_refused_by_name(void **state)
{
	(void)state;
	struct grown local = { .size = sizeof(local) };
	struct grown *zero = sized_alloc(sizeof(struct grown), 0);
	struct grown *small = sized_alloc(sizeof(struct grown), (uint32_t)GROWN_V0 - 1);

	assert_int_equal(SQ_SIZED_IN(local, zero, GROWN_V0, "grown"), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct grown: size is 0"));
	assert_int_equal(sq_sized_check(small, GROWN_V0, "grown"), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "smaller than its first layout"));
	assert_int_equal(sq_sized_check(NULL, GROWN_V0, "grown"), 0);
	free(zero);
	free(small);
}

/* --------------------------------------------- the library's entry points */

static char *dir;
static uint8_t *region;
static char snap[1024], memf[1024];

static int setup(void **state)
{
	(void)state;
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;

	dir = sq_test_tmpdir("abi_growth");
	region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!dir || region == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < SIZE; i += PG / 2)
		region[i] = (uint8_t)(i / PG + 1);
	snprintf(snap, sizeof(snap), "%s/a.snap", dir);
	snprintf(memf, sizeof(memf), "%s/a.mem", dir);
	if (sq_state_demo(&vm) || sq_state_encode(vm, &st, &stlen))
		return -1;
	sq_state_destroy(vm);

	/* Every struct of the save at exactly its first-layout size. */
	struct sq_mem_source src = { .base = region, .size = SIZE };
	struct sq_writer_opts io = { .threads = 2 };
	void *io_x = exact(&io, SQ_V0_WRITER_OPTS);
	struct sq_snapshot_save_req q = { .state_path = snap, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = stlen, .mem = &src,
					  .io = io_x };
	void *q_x = exact(&q, SQ_V0_SNAPSHOT_SAVE_REQ);
	struct sq_writer_report wr = { 0 };
	void *wr_x = exact(&wr, SQ_V0_WRITER_REPORT);
	struct sq_snapshot_report r = { .io = wr_x };
	void *r_x = exact(&r, SQ_V0_SNAPSHOT_REPORT);
	int rc = sq_snapshot_save(q_x, r_x);
	take(&wr, wr_x, SQ_V0_WRITER_REPORT);
	take(&r, r_x, SQ_V0_SNAPSHOT_REPORT);
	if (!rc && (wr.pages_in != NPAGES || r.pages_dirty != NPAGES || wr.threads == 0 ||
		    wr.size != SQ_V0_WRITER_REPORT))
		rc = -1;
	free(st);
	free(io_x);
	free(q_x);
	return rc;
}

static int teardown(void **state)
{
	(void)state;
	if (region && region != MAP_FAILED)
		munmap(region, SIZE);
	if (dir)
		sq_test_rmrf(dir);
	free(dir);
	return 0;
}

static void save_refuses_bad_sizes_before_touching_disk(void **state)
{
	(void)state;
	struct sq_mem_source src = { .base = region, .size = SIZE };
	char other[1100];
	uint8_t *st = NULL;
	size_t stlen = 0;
	struct sq_microvm_state *vm;

	assert_int_equal(sq_state_demo(&vm), 0);
	assert_int_equal(sq_state_encode(vm, &st, &stlen), 0);
	sq_state_destroy(vm);
	snprintf(other, sizeof(other), "%s/b.snap", dir);
	struct sq_snapshot_save_req q = { .state_path = other, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = stlen, .mem = &src };
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_INVAL); /* size 0 */
	assert_non_null(strstr(sq_last_error(), "struct sq_snapshot_save_req: size is 0"));

	q.size = sizeof(q);
	struct sq_writer_opts io = { .size = (uint32_t)SQ_V0_WRITER_OPTS - 1 };
	q.io = &io;
	assert_int_equal(sq_snapshot_save(&q, NULL), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_writer_opts: size"));

	q.io = NULL;
	struct sq_writer_report wr = { .size = 0 };
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wr };
	assert_int_equal(sq_snapshot_save(&q, &rep), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_writer_report: size is 0"));
	assert_false(sq_test_exists(other));
	free(st);
}

static void verify_restore_merge_at_first_layout(void **state)
{
	(void)state;
	const char *chain[1] = { snap };
	char out[1100];
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(dst != MAP_FAILED);

	struct sq_verify_report vr = { 0 };
	void *vr_x = exact(&vr, SQ_V0_VERIFY_REPORT);
	assert_int_equal(sq_memfile_verify(memf, NULL, 2, vr_x), 0);
	take(&vr, vr_x, SQ_V0_VERIFY_REPORT);
	assert_int_equal(vr.pages_checked, NPAGES);

	struct sq_restore_opts ro = { .verify = true };
	struct sq_restore_report rr = { 0 };
	void *ro_x = exact(&ro, SQ_V0_RESTORE_OPTS), *rr_x = exact(&rr, SQ_V0_RESTORE_REPORT);
	assert_int_equal(sq_restore_to_memory(chain, 1, dst, SIZE, ro_x, rr_x), 0);
	take(&rr, rr_x, SQ_V0_RESTORE_REPORT);
	free(ro_x);
	assert_memory_equal(dst, region, SIZE);
	assert_int_equal(rr.layers, 1);
	assert_int_equal(rr.pages_read, NPAGES);

	struct sq_merge_opts mo = { .threads = 1 };
	struct sq_merge_report mr = { 0 };
	void *mo_x = exact(&mo, SQ_V0_MERGE_OPTS), *mr_x = exact(&mr, SQ_V0_MERGE_REPORT);
	snprintf(out, sizeof(out), "%s/merged.mem", dir);
	assert_int_equal(sq_merge_chain(chain, 1, out, mo_x, mr_x), 0);
	take(&mr, mr_x, SQ_V0_MERGE_REPORT);
	free(mo_x);
	assert_int_equal(mr.layers, 1);
	assert_int_equal(mr.pages_out, NPAGES);

	struct sq_restore_opts bad = { .size = 0 };
	assert_int_equal(sq_restore_to_memory(chain, 1, dst, SIZE, &bad, NULL), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_restore_opts: size is 0"));
	struct sq_merge_report badr = { .size = 3 };
	assert_int_equal(sq_merge_chain(chain, 1, out, NULL, &badr), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_merge_report: size 3"));
	munmap(dst, SIZE);
}

static void tracker_and_atomic_at_first_layout(void **state)
{
	(void)state;
	struct sq_tracker_opts to = { .granule = SQ_GRANULE_FIXED_4K };
	void *to_x = exact(&to, SQ_V0_TRACKER_OPTS);
	struct sq_tracker *t;
	uint32_t id;

	assert_int_equal(sq_tracker_create(to_x, &t), 0);
	free(to_x);
	assert_int_equal(sq_tracker_add_region(t, region, SIZE, 0, &id), 0);
	assert_int_equal(sq_tracker_mark(t, region + 3 * PG), 0);
	struct sq_dirty_stats ds = { 0 };
	void *ds_x = exact(&ds, SQ_V0_DIRTY_STATS);
	assert_int_equal(sq_tracker_stats(t, id, ds_x), 0);
	take(&ds, ds_x, SQ_V0_DIRTY_STATS);
	assert_int_equal(ds.npages, NPAGES);
	struct sq_dirty_stats zero = { .size = 0 };
	assert_int_equal(sq_tracker_stats(t, id, &zero), SQ_E_INVAL);
	/* region options: read within their size, 0 and short sizes refused */
	struct sq_region_opts ro = { .page_size = 16384 };
	void *ro_x = exact(&ro, SQ_V0_REGION_OPTS);
	uint32_t id2;
	assert_int_equal(sq_tracker_add_region_opts(t, region + SIZE / 2, SIZE / 2, ro_x, &id2),
			 SQ_E_OVERLAP);
	assert_int_equal(sq_tracker_remove_region(t, id), 0);
	assert_int_equal(sq_tracker_add_region_opts(t, region, SIZE, ro_x, &id2), 0);
	free(ro_x);
	struct sq_dirty_set *set;
	assert_int_equal(sq_tracker_mark(t, region + 5 * PG), 0);
	assert_int_equal(sq_tracker_harvest(t, id2, &set), 0);
	assert_int_equal(sq_dirty_set_page_size(set), 16384);
	assert_int_equal(sq_dirty_set_runs(set)[0].first_page, 1);
	sq_dirty_set_destroy(set);
	struct sq_region_opts ro_zero = { .size = 0, .page_size = 16384 };
	assert_int_equal(sq_tracker_add_region_opts(t, region, SIZE, &ro_zero, &id2), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_region_opts"));
	struct sq_region_opts ro_short = { .size = 4 };
	assert_int_equal(sq_tracker_add_region_opts(t, region, SIZE, &ro_short, &id2), SQ_E_INVAL);
	sq_tracker_destroy(t);

	struct sq_tracker_opts small = { .size = 4 };
	assert_int_equal(sq_tracker_create(&small, &t), SQ_E_INVAL);
	assert_non_null(strstr(sq_last_error(), "struct sq_tracker_opts: size 4"));

	char dest[1100];
	struct sq_atomic_file *f;
	struct sq_atomic_opts ao = { .flags = SQ_ATOMIC_NAMED_TEMP };
	void *ao_x = exact(&ao, SQ_V0_ATOMIC_OPTS);
	snprintf(dest, sizeof(dest), "%s/atomic.out", dir);
	assert_int_equal(sq_atomic_open(dest, ao_x, &f), 0);
	assert_int_equal(sq_atomic_write(f, "x", 1, SQ_E_IO), 0);
	assert_int_equal(sq_atomic_commit(f), 0);
	sq_atomic_destroy(f);
	assert_true(sq_test_exists(dest));
	free(ao_x);
	struct sq_atomic_opts zao = { .size = 0 };
	assert_int_equal(sq_atomic_open(dest, &zao, &f), SQ_E_INVAL);
	assert_null(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(old_caller_gets_defaults_and_nothing_past_its_size),
		cmocka_unit_test(newer_caller_is_read_to_our_size),
		cmocka_unit_test(bad_sizes_are_refused_by_name),
		cmocka_unit_test(save_refuses_bad_sizes_before_touching_disk),
		cmocka_unit_test(verify_restore_merge_at_first_layout),
		cmocka_unit_test(tracker_and_atomic_at_first_layout),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
