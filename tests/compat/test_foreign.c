/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pairs written the way the original crate writes them (ref_writer.h: a
 * full dense image, then diffs as sparse files of ram_size bytes, with 4 KiB
 * and 16 KiB pages and a 2 MiB bitmap over 4 KiB file pages) are described,
 * loaded, restored and merged byte-exact against the region; manifests
 * built for them make every check apply (load pairing, CRC-verified
 * restore, chain order); a partial trailing page is refused, not dropped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <sys/stat.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/foreign.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "ref_writer.h"

#define RAM (4u << 20) /* 4 MiB: two 2 MiB blocks */
#define GENS 3

struct fx {
	char *dir;
	char snap[GENS][1100], mem[GENS][1100];
	uint8_t *ram;          /* the region now (after the last generation) */
	uint8_t *image[GENS];  /* the region at each generation */
	uint64_t seed;
};

static void path(struct fx *f, unsigned g)
{
	snprintf(f->snap[g], sizeof(f->snap[g]), "%s/g%u.snap", f->dir, g);
	snprintf(f->mem[g], sizeof(f->mem[g]), "%s/g%u.mem", f->dir, g);
}

static void fill_page(struct fx *f, uint64_t off, uint64_t len, int zero)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v = zero ? 0 : sq_test_rand(&f->seed) | 1;
		memcpy(f->ram + off + i, &v, 8);
	}
}

static void write_state(struct fx *f, unsigned g)
{
	struct sq_microvm_state *vm;
	uint8_t *buf;
	size_t len;

	assert_int_equal(sq_state_demo_vcpus(g + 1, &vm), 0);
	assert_int_equal(sq_state_encode(vm, &buf, &len), 0);
	assert_int_equal(ref_write_bytes(f->snap[g], buf, len), 0);
	free(buf);
	sq_state_free(vm);
}

/*
 * Generation 0: a full image (a third of its pages zero). Generations 1, 2:
 * diffs of random dirty bitmap pages, some rewritten with zeros (a dirty
 * zero page must replace the data below it), written with @file_page over a
 * bitmap of @bitmap_page.
 */
static struct fx *make_chain(uint64_t file_page, uint64_t bitmap_page)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint64_t nbits = RAM / bitmap_page;

	f->dir = sq_test_tmpdir("foreign");
	f->seed = sq_test_seed("foreign chain");
	f->ram = malloc(RAM);
	for (unsigned g = 0; g < GENS; g++)
		path(f, g);
	for (uint64_t off = 0; off < RAM; off += 4096)
		fill_page(f, off, 4096, sq_test_rand(&f->seed) % 3 == 0);
	assert_int_equal(ref_write_full(f->mem[0], f->ram, RAM, file_page), 0);
	write_state(f, 0);
	f->image[0] = malloc(RAM);
	memcpy(f->image[0], f->ram, RAM);
	for (unsigned g = 1; g < GENS; g++) {
		uint8_t dirty[(RAM / 4096) / 8] = { 0 };
		for (uint64_t b = 0; b < nbits; b++) {
			if (nbits > 2 ? sq_test_rand(&f->seed) % 5 : b != g - 1)
				continue;
			dirty[b / 8] |= (uint8_t)(1u << (b % 8));
			fill_page(f, b * bitmap_page, bitmap_page, sq_test_rand(&f->seed) % 4 == 0);
		}
		assert_int_equal(ref_write_diff(f->mem[g], f->ram, RAM, file_page, dirty,
						bitmap_page), 0);
		write_state(f, g);
		f->image[g] = malloc(RAM);
		memcpy(f->image[g], f->ram, RAM);
	}
	/* The filesystem must report the diffs' holes, or no diff can be read. */
	int fd = open(f->mem[1], O_RDONLY | O_CLOEXEC);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	close(fd);
	if (h >= (off_t)RAM) {
		sq_test_rmrf(f->dir);
		skip();
	}
	return f;
}

static void free_chain(struct fx *f)
{
	for (unsigned g = 0; g < GENS; g++)
		free(f->image[g]);
	free(f->ram);
	sq_test_rmrf(f->dir);
	free(f->dir);
	free(f);
}

static void restore_is(struct fx *f, const char *const *chain, size_t n, int verify,
		       const uint8_t *want)
{
	uint8_t *dst = aligned_alloc(4096, RAM);
	struct sq_restore_opts o = { .verify = verify, .threads = 2 };

	memset(dst, 0xee, RAM);
	int rc = sq_restore_to_memory(chain, n, dst, RAM, &o, NULL);
	if (rc)
		fprintf(stderr, "restore: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_memory_equal(dst, want, RAM);
	free(dst);
	(void)f;
}

static void merge_is(struct fx *f, const char *const *chain, size_t n, const uint8_t *want)
{
	char out[1200];
	unsigned char *got = NULL;
	size_t len = 0;

	snprintf(out, sizeof(out), "%s/merged.mem", f->dir);
	int rc = sq_merge_chain(chain, n, out, NULL, NULL);
	if (rc)
		fprintf(stderr, "merge: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(sq_test_read_file(out, &got, &len), 0);
	assert_int_equal(len, RAM);
	assert_memory_equal(got, want, RAM);
	free(got);
	assert_int_equal(sq_memfile_verify(out, NULL, 2, NULL), 0);
	unlink(out);
	snprintf(out, sizeof(out), "%s/merged.manifest", f->dir);
	unlink(out);
}

static void describe_and_load_without_manifest(struct fx *f)
{
	struct sq_state_description *d;
	struct sq_snapshot_loaded *l;

	assert_int_equal(sq_state_describe(f->snap[2], &d), 0);
	assert_true(d->crc_ok);
	assert_int_equal(d->vcpu_count, 3);
	assert_string_equal(d->inferred_memory_path, f->mem[2]);
	assert_true(d->inferred_memory_exists);
	assert_int_equal(d->inferred_memory_size, RAM);
	sq_state_description_free(d);
	assert_int_equal(sq_snapshot_load(f->snap[1], 0, &l), SQ_E_NOT_FOUND);
	assert_int_equal(sq_snapshot_load(f->snap[1], SQ_LOAD_FOREIGN, &l), 0);
	assert_null(l->manifest);
	assert_int_equal(l->vm->n_vcpus, 2);
	assert_string_equal(l->mem_path, f->mem[1]);
	sq_snapshot_loaded_free(l);
}

static void build_manifests_then_everything_applies(struct fx *f)
{
	struct sq_snapshot_id id[GENS];
	struct sq_snapshot_loaded *l;

	assert_int_equal(sq_manifest_build_save(f->mem[0], SQ_SNAPSHOT_FULL, f->snap[0], NULL, 0,
						&id[0]), 0);
	for (unsigned g = 1; g < GENS; g++)
		assert_int_equal(sq_manifest_build_save(f->mem[g], SQ_SNAPSHOT_DIFF, f->snap[g],
							&id[g - 1], 0, &id[g]), 0);
	/* not replaced by accident */
	assert_int_equal(sq_manifest_build_save(f->mem[0], SQ_SNAPSHOT_FULL, f->snap[0], NULL, 0,
						NULL), SQ_E_EXISTS);
	for (unsigned g = 0; g < GENS; g++) {
		struct sq_snapshot_id got;
		assert_int_equal(sq_snapshot_load(f->snap[g], 0, &l), 0);
		assert_non_null(l->manifest);
		sq_snapshot_loaded_free(l);
		assert_int_equal(sq_snapshot_id_of(f->snap[g], &got), 0);
		assert_memory_equal(&got, &id[g], sizeof(got));
		assert_int_equal(sq_memfile_verify(f->mem[g], NULL, 2, NULL), 0);
	}
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };
	restore_is(f, chain, GENS, 1, f->image[GENS - 1]);
	merge_is(f, chain, GENS, f->image[GENS - 1]);
	/* the order is checked now */
	const char *bad[GENS] = { f->mem[0], f->mem[2], f->mem[1] };
	uint8_t *dst = aligned_alloc(4096, RAM);
	assert_int_equal(sq_restore_to_memory(bad, GENS, dst, RAM, NULL, NULL), SQ_E_CHAIN);
	/* a state file of another generation does not pair with this memory file */
	unsigned char *s0 = NULL;
	size_t n0 = 0;
	assert_int_equal(sq_test_read_file(f->snap[0], &s0, &n0), 0);
	assert_int_equal(ref_write_bytes(f->snap[1], s0, n0), 0);
	assert_int_equal(sq_snapshot_load(f->snap[1], 0, &l), SQ_E_PAIR_MISMATCH);
	free(s0);
	/* and a page changed after the build is caught by the CRCs */
	int fd = open(f->mem[1], O_RDWR | O_CLOEXEC);
	struct sq_manifest *m;
	char mp[1200];
	assert_int_equal(sq_manifest_path(f->mem[1], mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	assert_true(m->nextents > 0);
	uint8_t x = 0x5a;
	assert_int_equal(pwrite(fd, &x, 1, (off_t)(m->extents[0].first_page * 4096 + 7)), 1);
	close(fd);
	sq_manifest_free(m);
	struct sq_restore_opts o = { .verify = 1 };
	assert_int_equal(sq_restore_to_memory(chain, GENS, dst, RAM, &o, NULL), SQ_E_VERIFY);
	free(dst);
}

static void chain_with_pages(uint64_t file_page, uint64_t bitmap_page)
{
	struct fx *f = make_chain(file_page, bitmap_page);
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };

	describe_and_load_without_manifest(f);
	/* manifest-less, directly: every prefix of the chain */
	for (size_t n = 1; n <= GENS; n++) {
		restore_is(f, chain, n, 0, f->image[n - 1]);
		merge_is(f, chain, n, f->image[n - 1]);
	}
	/* .snap arguments stand for their .mem files */
	const char *snaps[GENS] = { f->snap[0], f->snap[1], f->snap[2] };
	restore_is(f, snaps, GENS, 0, f->image[GENS - 1]);
	build_manifests_then_everything_applies(f);
	free_chain(f);
}

static void pages_4k(void **state)
{
	(void)state;
	chain_with_pages(4096, 4096);
}

/* The original's own platform: 16 KiB pages (file and bitmap). */
static void pages_16k(void **state)
{
	(void)state;
	chain_with_pages(16384, 16384);
}

/* The original's coarse test: a 2 MiB bitmap over 4 KiB file pages. */
static void coarse_bitmap(void **state)
{
	(void)state;
	chain_with_pages(4096, 2u << 20);
}

/* An in-place merge onto a base without a manifest leaves the final region and
 * a manifest that the file verifies against. */
static void merge_in_place(void **state)
{
	struct fx *f = make_chain(4096, 4096);
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };
	struct sq_merge_opts o = { .in_place = 1 };
	unsigned char *got = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(sq_merge_chain(chain, GENS, NULL, &o, NULL), 0);
	assert_int_equal(sq_test_read_file(f->mem[0], &got, &len), 0);
	assert_int_equal(len, RAM);
	assert_memory_equal(got, f->image[GENS - 1], RAM);
	free(got);
	assert_int_equal(sq_memfile_verify(f->mem[0], NULL, 2, NULL), 0);
	free_chain(f);
}

/*
 * A Firecracker pair: the same envelope (bitcode body + CRC-64 trailer) with
 * another schema. Its manifest binds the state file by size and CRC; the
 * state decoder refuses the body with a specific error; the memory file
 * restores.
 */
static void firecracker_state_binds(void **state)
{
	struct fx *f = make_chain(4096, 4096);
	uint8_t body[300];
	uint64_t seed = 99;
	struct sq_microvm_state *vm = NULL;
	struct sq_manifest *m;
	char mp[1200];

	(void)state;
	for (size_t i = 0; i < sizeof(body) - 8; i++)
		body[i] = (uint8_t)sq_test_rand(&seed);
	uint64_t crc = sq_crc64(body, sizeof(body) - 8);
	for (int i = 0; i < 8; i++)
		body[sizeof(body) - 8 + i] = (uint8_t)(crc >> (8 * i));
	assert_int_equal(ref_write_bytes(f->snap[0], body, sizeof(body)), 0);
	assert_int_equal(sq_manifest_build_save(f->mem[0], SQ_SNAPSHOT_FULL, f->snap[0], NULL, 0,
						NULL), 0);
	assert_int_equal(sq_manifest_path(f->mem[0], mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	assert_int_equal(m->state_size, sizeof(body));
	assert_true(m->state_crc == crc);
	sq_manifest_free(m);
	int rc = sq_state_load(f->snap[0], &vm, NULL);
	assert_true(rc < 0 && rc != SQ_E_INTERNAL && rc != SQ_E_CRC_MISMATCH);
	assert_null(vm);
	const char *chain[1] = { f->mem[0] };
	restore_is(f, chain, 1, 1, f->image[0]);
	free_chain(f);
}

/* ram_size not a multiple of 4 KiB: refused with a reason, never truncated. */
static void partial_trailing_page(void **state)
{
	char *dir = sq_test_tmpdir("foreign-partial");
	char mem[1100];
	uint64_t size = 5 * 4096 + 100;
	uint8_t *ram = malloc(size);
	struct sq_manifest *m = NULL;

	(void)state;
	memset(ram, 0x42, size);
	snprintf(mem, sizeof(mem), "%s/p.mem", dir);
	assert_int_equal(ref_write_full(mem, ram, size, 4096), 0);
	struct stat st;
	assert_int_equal(stat(mem, &st), 0);
	assert_int_equal(st.st_size, size); /* the partial last chunk is there */
	assert_int_equal(sq_manifest_build(mem, SQ_SNAPSHOT_FULL, NULL, NULL, &m), SQ_E_ALIGN);
	assert_non_null(strstr(sq_last_error(), "partial trailing page"));
	assert_null(m);
	const char *chain[1] = { mem };
	char out[1200];
	snprintf(out, sizeof(out), "%s/o.mem", dir);
	assert_int_equal(sq_merge_chain(chain, 1, out, NULL, NULL), SQ_E_ALIGN);
	assert_false(sq_test_exists(out));
	uint8_t *dst = aligned_alloc(4096, 6 * 4096);
	assert_int_equal(sq_restore_to_memory(chain, 1, dst, 6 * 4096, NULL, NULL), SQ_E_ALIGN);
	free(dst);
	free(ram);
	sq_test_rmrf(dir);
	free(dir);
}

/* Build-time errors: kinds and parents, a missing file, a bad state file. */
static void build_errors(void **state)
{
	char *dir = sq_test_tmpdir("foreign-errors");
	char mem[1100], snap[1100];
	uint8_t ram[4 * 4096];
	struct sq_snapshot_id some;
	struct sq_manifest *m = NULL;

	(void)state;
	memset(ram, 1, sizeof(ram));
	memset(&some, 7, sizeof(some));
	snprintf(mem, sizeof(mem), "%s/e.mem", dir);
	snprintf(snap, sizeof(snap), "%s/e.snap", dir);
	assert_int_equal(sq_manifest_build(mem, SQ_SNAPSHOT_FULL, NULL, NULL, &m), SQ_E_NOT_FOUND);
	assert_int_equal(ref_write_full(mem, ram, sizeof(ram), 4096), 0);
	assert_int_equal(sq_manifest_build(mem, SQ_SNAPSHOT_FULL, NULL, &some, &m), SQ_E_INVAL);
	assert_int_equal(sq_manifest_build(mem, SQ_SNAPSHOT_DIFF, NULL, NULL, &m), SQ_E_INVAL);
	assert_int_equal(ref_write_bytes(snap, "not a state file", 16), 0);
	assert_int_equal(sq_manifest_build_save(mem, SQ_SNAPSHOT_FULL, snap, NULL, 0, NULL),
			 SQ_E_CRC_MISMATCH);
	char mp[1200];
	snprintf(mp, sizeof(mp), "%s/e.manifest", dir);
	assert_false(sq_test_exists(mp));
	free(m);
	sq_test_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pages_4k),
		cmocka_unit_test(pages_16k),
		cmocka_unit_test(coarse_bitmap),
		cmocka_unit_test(merge_in_place),
		cmocka_unit_test(firecracker_state_binds),
		cmocka_unit_test(partial_trailing_page),
		cmocka_unit_test(build_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
