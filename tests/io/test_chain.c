/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chains: verify, restore (eager, lazy, without manifests), merge (new
 * file and in place), order enforcement, zeroed dirty pages, corruption
 * and truncation detection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/mman.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include "helpers.h"
#include "io/chain_build.h"

#define PG 4096u
#define NPAGES 700u
#define SIZE ((size_t)NPAGES * PG)

static char *dir;
static uint8_t *region;
static uint8_t *gen_copy[3]; /* the region at each snapshot */
static char snap[3][1024], mem[3][1024];
static uint64_t seed;

static void randomize(uint32_t first, uint32_t n)
{
	chain_randomize(region, &seed, first, n);
}

static void save(unsigned gen, const struct sq_run *runs, size_t n)
{
	chain_save(snap[gen], gen ? snap[gen - 1] : NULL, gen, region, SIZE, runs, n);
	gen_copy[gen] = malloc(SIZE);
	memcpy(gen_copy[gen], region, SIZE);
}

static int setup(void **state)
{
	(void)state;
	seed = sq_test_seed("io/chain");
	dir = sq_test_tmpdir("chain");
	region = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!dir || region == MAP_FAILED)
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(snap[i], sizeof(snap[i]), "%s/s%d.snap", dir, i);
		snprintf(mem[i], sizeof(mem[i]), "%s/s%d.mem", dir, i);
	}
	/* gen 0: a full snapshot with zero pages 0-9 and 300-599 */
	randomize(10, 290);
	randomize(600, 100);
	save(0, NULL, 0);
	/* gen 1: pages 3 (was zero, now data), 20-29 zeroed, 650 changed */
	randomize(3, 1);
	memset(region + 20 * PG, 0, 10 * PG);
	randomize(650, 1);
	struct sq_run r1[] = { { 3, 1 }, { 20, 10 }, { 650, 1 } };
	save(1, r1, 3);
	/* gen 2: page 21 gets data again, 100-355 rewritten */
	randomize(21, 1);
	randomize(100, 256);
	struct sq_run r2[] = { { 21, 1 }, { 100, 256 } };
	save(2, r2, 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(region, SIZE);
	for (int i = 0; i < 3; i++)
		free(gen_copy[i]);
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

static void verify_accepts_each_layer(void **state)
{
	(void)state;
	struct sq_verify_report r = SQ_INIT(struct sq_verify_report);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sq_memfile_verify(mem[i], NULL, 2, &r), 0);
	assert_int_equal(r.pages_checked, 257);
}

static void restore_chain_eager_and_lazy(void **state)
{
	(void)state;
	const char *chain[3] = { snap[0], snap[1], snap[2] };
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sq_restore_report rep = SQ_INIT(struct sq_restore_report);
	struct sq_restore_opts o = { .size = sizeof(o), .threads = 3, .verify = 1 };

	for (size_t n = 1; n <= 3; n++) {
		memset(dst, 0xee, SIZE); /* holes of the full file must be cleared */
		assert_int_equal(sq_restore_to_memory(chain, n, dst, SIZE, &o, &rep), 0);
		assert_memory_equal(dst, gen_copy[n - 1], SIZE);
		void *lazy;
		assert_int_equal(sq_restore_map(chain, n, SIZE, &lazy), 0);
		assert_memory_equal(lazy, gen_copy[n - 1], SIZE);
		sq_restore_unmap(lazy, SIZE);
	}
	/* the zeroed dirty pages restore to zeros */
	for (size_t i = 0; i < 10 * PG; i++)
		if (i / PG != 1)
			assert_int_equal(dst[20 * PG + i], 0);
	munmap(dst, SIZE);
}

/* Files without a manifest: extents from SEEK_DATA / SEEK_HOLE. The
 * manifests are moved aside (copying the files could turn written zero
 * pages into holes, which is exactly what a diff must not lose). */
static void restore_without_manifests(void **state)
{
	(void)state;
	char mf[3][1100], aside[3][1100];
	const char *chain[3] = { mem[0], mem[1], mem[2] };
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	for (int i = 0; i < 3; i++) {
		snprintf(mf[i], sizeof(mf[i]), "%s/s%d.manifest", dir, i);
		snprintf(aside[i], sizeof(aside[i]), "%s/s%d.aside", dir, i);
		assert_int_equal(rename(mf[i], aside[i]), 0);
	}
	struct sq_restore_opts o = { .size = sizeof(o), .threads = 2, .dest_zeroed = 1 };
	int rc = sq_restore_to_memory(chain, 3, dst, SIZE, &o, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rename(aside[i], mf[i]), 0);
	assert_int_equal(rc, 0);
	assert_memory_equal(dst, gen_copy[2], SIZE);
	munmap(dst, SIZE);
}

static void merge_squashes_with_manifest(void **state)
{
	(void)state;
	const char *chain[3] = { snap[0], snap[1], snap[2] };
	char out[1100];
	struct sq_merge_report rep = SQ_INIT(struct sq_merge_report);
	unsigned char *buf = NULL;
	size_t len;

	snprintf(out, sizeof(out), "%s/merged.mem", dir);
	assert_int_equal(sq_merge_chain(chain, 3, out, NULL, &rep), 0);
	assert_int_equal(sq_test_read_file(out, &buf, &len), 0);
	assert_int_equal(len, SIZE);
	assert_memory_equal(buf, gen_copy[2], SIZE);
	free(buf);
	assert_int_equal(sq_memfile_verify(out, NULL, 0, NULL), 0);
	/* the squashed file restores alone and pairs with the last state */
	struct sq_manifest *m;
	char mp[1100];
	snprintf(mp, sizeof(mp), "%s/merged.manifest", dir);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	struct sq_snapshot_id last;
	assert_int_equal(sq_snapshot_id_of(snap[2], &last), 0);
	assert_memory_equal(&m->id, &last, sizeof(last));
	assert_int_equal(m->kind, SQ_SNAPSHOT_FULL);
	sq_manifest_destroy(m);
	assert_false(sq_test_exists(strcat(strcpy(mp, out), ".tmp")));
}

static void merge_order_is_enforced(void **state)
{
	(void)state;
	char out[1100];
	snprintf(out, sizeof(out), "%s/bad.mem", dir);
	const char *swapped[3] = { snap[0], snap[2], snap[1] };
	const char *skipped[2] = { snap[0], snap[2] };
	const char *nobase[2] = { snap[1], snap[2] };
	assert_int_equal(sq_merge_chain(swapped, 3, out, NULL, NULL), SQ_E_CHAIN);
	assert_int_equal(sq_merge_chain(skipped, 2, out, NULL, NULL), SQ_E_CHAIN);
	assert_int_equal(sq_merge_chain(nobase, 2, out, NULL, NULL), SQ_E_CHAIN);
	assert_false(sq_test_exists(out));
	uint8_t *dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_int_equal(sq_restore_to_memory(swapped, 3, dst, SIZE, NULL, NULL), SQ_E_CHAIN);
	munmap(dst, SIZE);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void verify_detects_corruption(void **state)
{
	(void)state;
	char bad[1100], badm[1100], mp[1100];
	struct sq_verify_report r = SQ_INIT(struct sq_verify_report);

	snprintf(bad, sizeof(bad), "%s/bad.mem", dir);
	snprintf(badm, sizeof(badm), "%s/bad.manifest", dir);
	snprintf(mp, sizeof(mp), "%s/s0.manifest", dir);
	copy_file(mem[0], bad);
	copy_file(mp, badm);
	assert_int_equal(sq_memfile_verify(bad, NULL, 1, NULL), 0);

	/* a flipped byte in a data page */
	int fd = open(bad, O_RDWR);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 123 * PG + 77), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, 123 * PG + 77), 1);
	assert_int_equal(sq_memfile_verify(bad, NULL, 2, &r), SQ_E_VERIFY);
	assert_int_equal(r.bad_page, 123);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, 123 * PG + 77), 1);
	assert_int_equal(sq_memfile_verify(bad, NULL, 2, &r), 0);
	/* data where the manifest has a hole */
	b = 1;
	assert_int_equal(pwrite(fd, &b, 1, 400 * PG + 5), 1);
	assert_int_equal(sq_memfile_verify(bad, NULL, 2, &r), SQ_E_VERIFY);
	assert_int_equal(r.bad_page, 400);
	/* truncation */
	assert_int_equal(ftruncate(fd, SIZE - PG), 0);
	assert_int_equal(sq_memfile_verify(bad, NULL, 2, &r), SQ_E_VERIFY);
	close(fd);
	/* a corrupted manifest */
	fd = open(badm, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 60), 1);
	close(fd);
	assert_int_equal(sq_memfile_verify(bad, NULL, 2, &r), SQ_E_MANIFEST);
}

static void load_refuses_wrong_pairing(void **state)
{
	(void)state;
	struct sq_snapshot_loaded *l;
	char s[1100], m[1100], mf[1100], mf0[1100];

	for (int i = 0; i < 3; i++) {
		assert_int_equal(sq_snapshot_load(snap[i], 0, &l), 0);
		assert_int_equal(l->manifest->kind, i ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL);
		assert_int_equal(l->vm->n_vcpus, i + 1);
		sq_snapshot_loaded_destroy(l);
		assert_int_equal(sq_snapshot_load(snap[i], SQ_LOAD_QUICK, &l), 0);
		sq_snapshot_loaded_destroy(l);
	}
	/* s0's state and manifest with s2's memory file (same size) */
	snprintf(s, sizeof(s), "%s/w.snap", dir);
	snprintf(m, sizeof(m), "%s/w.mem", dir);
	snprintf(mf, sizeof(mf), "%s/w.manifest", dir);
	snprintf(mf0, sizeof(mf0), "%s/s0.manifest", dir);
	copy_file(snap[0], s);
	copy_file(mf0, mf);
	copy_file(mem[2], m);
	assert_int_equal(sq_snapshot_load(s, 0, &l), SQ_E_PAIR_MISMATCH);
	assert_int_equal(sq_snapshot_load(s, SQ_LOAD_QUICK, &l), SQ_E_PAIR_MISMATCH);
	/* s1's state with s0's manifest and memory file */
	copy_file(mem[0], m);
	copy_file(snap[1], s);
	assert_int_equal(sq_snapshot_load(s, 0, &l), SQ_E_PAIR_MISMATCH);
	/* a damaged state file */
	copy_file(snap[0], s);
	int fd = open(s, O_RDWR);
	assert_int_equal(pwrite(fd, "Z", 1, 3), 1);
	close(fd);
	assert_int_equal(sq_snapshot_load(s, 0, &l), SQ_E_CRC_MISMATCH);
	assert_null(l);
}

static void merge_in_place(void **state)
{
	(void)state;
	char b[1100], bm[1100], mp[1100];
	snprintf(b, sizeof(b), "%s/s0.mem", dir);
	snprintf(bm, sizeof(bm), "%s/s0.manifest", dir);
	/* work on copies named like a chain: base.mem + s1/s2 diffs */
	snprintf(mp, sizeof(mp), "%s/base.mem", dir);
	copy_file(b, mp);
	snprintf(mp, sizeof(mp), "%s/base.manifest", dir);
	copy_file(bm, mp);
	snprintf(mp, sizeof(mp), "%s/base.mem", dir);
	const char *chain[3] = { mp, snap[1], snap[2] };
	struct sq_merge_opts o = { .size = sizeof(o), .in_place = 1 };
	assert_int_equal(sq_merge_chain(chain, 3, NULL, &o, NULL), 0);
	unsigned char *buf = NULL;
	size_t len;
	assert_int_equal(sq_test_read_file(mp, &buf, &len), 0);
	assert_int_equal(len, SIZE);
	assert_memory_equal(buf, gen_copy[2], SIZE);
	free(buf);
	assert_int_equal(sq_memfile_verify(mp, NULL, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verify_accepts_each_layer),
		cmocka_unit_test(restore_chain_eager_and_lazy),
		cmocka_unit_test(restore_without_manifests),
		cmocka_unit_test(merge_squashes_with_manifest),
		cmocka_unit_test(merge_order_is_enforced),
		cmocka_unit_test(verify_detects_corruption),
		cmocka_unit_test(load_refuses_wrong_pairing),
		cmocka_unit_test(merge_in_place),
	};
	return cmocka_run_group_tests_name("io/chain", tests, setup, teardown);
}
