/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pairs written the way the original crate writes them (ref_writer.h: a
 * full dense image, then diffs as sparse files of ram_size bytes, with 4,
 * 16 and 64 KiB pages, a 2 MiB bitmap over 4 KiB file pages, and ram sizes
 * that end in a partial page) are described, loaded, restored (eager and
 * lazy) and merged byte-exact against the region; manifests built for them
 * at 4 KiB or at the file's page size make every check apply (load
 * pairing, CRC-verified restore, chain order); a chain of mixed page sizes
 * restores and merges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/foreign.h>
#include <squib/lazy.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>

#include "helpers.h"
#include "ref_writer.h"

#define GENS 3

/* The geometry of a chain: how the files were written and described. */
struct geom {
	uint64_t ram;         /* ram_size: not always a whole number of pages */
	uint64_t file_page;   /* the memory file's page (ref_writer) */
	uint64_t bitmap_page; /* the diffs' dirty bitmap page */
	uint32_t man_page;    /* page size of the manifests built for them */
};

struct fx {
	struct geom g;
	uint64_t size;
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

/* Random (or zero) bytes for [off, off + len), clipped to the region. */
static void fill_page(struct fx *f, uint64_t off, uint64_t len, int zero)
{
	if (off >= f->size)
		return;
	if (len > f->size - off)
		len = f->size - off;
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v = zero ? 0 : sq_test_rand(&f->seed) | 1;
		memcpy(f->ram + off + i, &v, len - i < 8 ? len - i : 8);
	}
}

static void write_state(struct fx *f, unsigned g)
{
	struct sq_microvm_state *vm;
	uint8_t *buf;
	size_t len;

	assert_int_equal(sq_x_state_demo_vcpus(g + 1, &vm), 0);
	assert_int_equal(sq_state_encode(vm, &buf, &len), 0);
	assert_int_equal(ref_write_bytes(f->snap[g], buf, len), 0);
	free(buf);
	sq_state_destroy(vm);
}

/*
 * Generation 0: a full image (a third of its pages zero). Generations 1, 2:
 * diffs of random dirty bitmap pages, some rewritten with zeros (a dirty
 * zero page must replace the data below it), written with @file_page over a
 * bitmap of @bitmap_page.
 */
static struct fx *make_chain(struct geom geo)
{
	struct fx *f = calloc(1, sizeof(*f));
	const uint64_t ram_size = geo.ram, file_page = geo.file_page, bitmap_page = geo.bitmap_page;
	uint64_t nbits = (ram_size + bitmap_page - 1) / bitmap_page;

	f->g = geo;
	f->size = ram_size;
	f->dir = sq_test_tmpdir("foreign");
	f->seed = sq_test_seed("foreign chain");
	f->ram = malloc(ram_size);
	for (unsigned g = 0; g < GENS; g++)
		path(f, g);
	for (uint64_t off = 0; off < ram_size; off += 4096)
		fill_page(f, off, 4096, sq_test_rand(&f->seed) % 3 == 0);
	assert_int_equal(ref_write_full(f->mem[0], f->ram, ram_size, file_page), 0);
	write_state(f, 0);
	f->image[0] = malloc(ram_size);
	memcpy(f->image[0], f->ram, ram_size);
	for (unsigned g = 1; g < GENS; g++) {
		uint8_t dirty[(8u << 20) / 4096 / 8] = { 0 };
		for (uint64_t b = 0; b < nbits; b++) {
			if (nbits > 2 ? sq_test_rand(&f->seed) % 5 : b != g - 1)
				continue;
			dirty[b / 8] |= (uint8_t)(1u << (b % 8));
			fill_page(f, b * bitmap_page, bitmap_page, sq_test_rand(&f->seed) % 4 == 0);
		}
		assert_int_equal(ref_write_diff(f->mem[g], f->ram, ram_size, file_page, dirty,
						bitmap_page), 0);
		write_state(f, g);
		f->image[g] = malloc(ram_size);
		memcpy(f->image[g], f->ram, ram_size);
	}
	/* The filesystem must report the diffs' holes, or no diff can be read. */
	int fd = open(f->mem[1], O_RDONLY | O_CLOEXEC);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	close(fd);
	if (h >= (off_t)(ram_size & ~(uint64_t)4095)) {
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
	const uint64_t ram_size = f->size;
	uint64_t cap = (ram_size + 65535) & ~(uint64_t)65535;
	uint8_t *dst = aligned_alloc(4096, cap);
	struct sq_restore_opts o = { .size = sizeof(o), .verify = verify, .threads = 2 };

	memset(dst, 0xee, cap);
	int rc = sq_restore_to_memory(chain, n, dst, ram_size, &o, NULL);
	if (rc)
		fprintf(stderr, "restore: %s: %s\n", sq_error_name(rc), sq_last_error());
	assert_int_equal(rc, 0);
	assert_memory_equal(dst, want, ram_size);
	for (uint64_t i = ram_size; i < cap; i++) /* nothing written past the region */
		assert_int_equal(dst[i], 0xee);
	free(dst);
	/* the lazy restore reads the same bytes; it maps whole 4 KiB pages,
	 * the rest of a partial last one reads as zeros */
	struct sq_lazy *l = NULL;
	struct sq_lazy_opts lo = SQ_INIT(struct sq_lazy_opts);
	rc = sq_lazy_start(chain, n, ram_size, &lo, &l);
	if (rc == SQ_E_UNSUPPORTED)
		return; /* no userfaultfd here: the eager restore above is the check */
	assert_int_equal(rc, 0);
	uint8_t *map = sq_lazy_addr(l);
	assert_int_equal(sq_lazy_finish(l, NULL), 0);
	assert_memory_equal(map, want, ram_size);
	for (uint64_t i = ram_size; i % 4096; i++)
		assert_int_equal(map[i], 0);
	munmap(map, ram_size);
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
	assert_int_equal(len, f->size);
	assert_memory_equal(got, want, f->size);
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
	assert_int_equal(d->inferred_memory_size, f->size);
	sq_state_description_destroy(d);
	assert_int_equal(sq_snapshot_load(f->snap[1], 0, &l), SQ_E_NOT_FOUND);
	assert_int_equal(sq_snapshot_load(f->snap[1], SQ_LOAD_FOREIGN, &l), 0);
	assert_null(l->manifest);
	assert_int_equal(l->vm->n_vcpus, 2);
	assert_string_equal(l->mem_path, f->mem[1]);
	sq_snapshot_loaded_destroy(l);
}

static void build_manifests_then_everything_applies(struct fx *f)
{
	struct sq_snapshot_id id[GENS];
	struct sq_snapshot_loaded *l;
	const uint32_t mp_size = f->g.man_page;
	const uint64_t ram_size = f->size;

	assert_int_equal(sq_manifest_build_save_paged(f->mem[0], SQ_SNAPSHOT_FULL, mp_size,
						      f->snap[0], NULL, 0, &id[0]), 0);
	for (unsigned g = 1; g < GENS; g++)
		assert_int_equal(sq_manifest_build_save_paged(f->mem[g], SQ_SNAPSHOT_DIFF, mp_size,
							      f->snap[g], &id[g - 1], 0, &id[g]),
				 0);
	/* not replaced by accident */
	assert_int_equal(sq_manifest_build_save(f->mem[0], SQ_SNAPSHOT_FULL, f->snap[0], NULL, 0,
						NULL), SQ_E_EXISTS);
	for (unsigned g = 0; g < GENS; g++) {
		struct sq_snapshot_id got;
		assert_int_equal(sq_snapshot_load(f->snap[g], 0, &l), 0);
		assert_non_null(l->manifest);
		assert_int_equal(l->manifest->page_size, mp_size);
		assert_int_equal(l->manifest->region_size, ram_size);
		sq_snapshot_loaded_destroy(l);
		assert_int_equal(sq_snapshot_id_of(f->snap[g], &got), 0);
		assert_memory_equal(&got, &id[g], sizeof(got));
		assert_int_equal(sq_memfile_verify(f->mem[g], NULL, 2, NULL), 0);
	}
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };
	restore_is(f, chain, GENS, 1, f->image[GENS - 1]);
	merge_is(f, chain, GENS, f->image[GENS - 1]);
	/* the order is checked now */
	const char *bad[GENS] = { f->mem[0], f->mem[2], f->mem[1] };
	uint8_t *dst = aligned_alloc(4096, (ram_size + 65535) & ~(uint64_t)65535);
	assert_int_equal(sq_restore_to_memory(bad, GENS, dst, ram_size, NULL, NULL), SQ_E_CHAIN);
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
	/* the last byte of the last data page: the partial one, if the file has it */
	const struct sq_run *last = &m->extents[m->nextents - 1];
	uint64_t end = (last->first_page + last->npages) * m->page_size;
	uint8_t x;
	if (end > ram_size)
		end = ram_size;
	assert_int_equal(pread(fd, &x, 1, (off_t)(end - 1)), 1);
	x ^= 0x5a;
	assert_int_equal(pwrite(fd, &x, 1, (off_t)(end - 1)), 1);
	close(fd);
	sq_manifest_destroy(m);
	struct sq_restore_opts o = { .size = sizeof(o), .verify = 1 };
	assert_int_equal(sq_restore_to_memory(chain, GENS, dst, ram_size, &o, NULL), SQ_E_VERIFY);
	free(dst);
}

static void chain_with(struct geom geo)
{
	struct fx *f = make_chain(geo);
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

#define MIB4 (4u << 20) /* 4 MiB: two 2 MiB blocks */

static void pages_4k(void **state)
{
	(void)state;
	chain_with((struct geom){ MIB4, 4096, 4096, 4096 });
}

/* The original's own platform: 16 KiB pages (file and bitmap), described in
 * 4 KiB pages (the default) and in the file's 16 KiB pages. */
static void pages_16k(void **state)
{
	(void)state;
	chain_with((struct geom){ MIB4, 16384, 16384, 4096 });
	chain_with((struct geom){ MIB4, 16384, 16384, 16384 });
}

/* arm64 hosts with 64 KiB kernels. */
static void pages_64k(void **state)
{
	(void)state;
	chain_with((struct geom){ MIB4, 65536, 65536, 65536 });
}

/* The original's coarse test: a 2 MiB bitmap over 4 KiB file pages. */
static void coarse_bitmap(void **state)
{
	(void)state;
	chain_with((struct geom){ MIB4, 4096, 2u << 20, 4096 });
}

/*
 * A ram_size that ends in a partial page, as the original writes it: the
 * last chunk of the full image and of each diff is the bytes up to
 * ram_size. Described at 4 KiB and at the file's page, with a tail shorter
 * than 4 KiB and one longer than 4 KiB.
 */
static void partial_trailing_page(void **state)
{
	(void)state;
	chain_with((struct geom){ MIB4 - 4096 + 100, 4096, 4096, 4096 });
	chain_with((struct geom){ MIB4 - 16384 + 5000, 16384, 16384, 16384 });
	chain_with((struct geom){ MIB4 - 16384 + 5000, 16384, 16384, 4096 });
	chain_with((struct geom){ MIB4 + 12345, 65536, 65536, 65536 });
}

/*
 * Layers described at different page sizes: a restore reads each in its
 * own pages; a merge writes the region in the finest of them (4 KiB).
 */
static void mixed_page_sizes(void **state)
{
	struct fx *f = make_chain((struct geom){ MIB4 - 16384 + 5000, 16384, 16384, 16384 });
	struct sq_snapshot_id id[GENS];
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };

	(void)state;
	assert_int_equal(sq_manifest_build_save_paged(f->mem[0], SQ_SNAPSHOT_FULL, 16384,
						      f->snap[0], NULL, 0, &id[0]), 0);
	for (unsigned g = 1; g < GENS; g++)
		assert_int_equal(sq_manifest_build_save(f->mem[g], SQ_SNAPSHOT_DIFF, f->snap[g],
							&id[g - 1], 0, &id[g]), 0);
	restore_is(f, chain, GENS, 1, f->image[GENS - 1]);
	merge_is(f, chain, GENS, f->image[GENS - 1]);
	free_chain(f);
}

/* An in-place merge onto a base without a manifest leaves the final region and
 * a manifest that the file verifies against. */
static void merge_in_place(void **state)
{
	struct fx *f = make_chain((struct geom){ MIB4, 4096, 4096, 4096 });
	const char *chain[GENS] = { f->mem[0], f->mem[1], f->mem[2] };
	struct sq_merge_opts o = { .size = sizeof(o), .in_place = 1 };
	unsigned char *got = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(sq_merge_chain(chain, GENS, NULL, &o, NULL), 0);
	assert_int_equal(sq_test_read_file(f->mem[0], &got, &len), 0);
	assert_int_equal(len, f->size);
	assert_memory_equal(got, f->image[GENS - 1], f->size);
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
	struct fx *f = make_chain((struct geom){ MIB4, 4096, 4096, 4096 });
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
	sq_manifest_destroy(m);
	int rc = sq_state_load(f->snap[0], &vm, NULL);
	assert_true(rc < 0 && rc != SQ_E_INTERNAL && rc != SQ_E_CRC_MISMATCH);
	assert_null(vm);
	const char *chain[1] = { f->mem[0] };
	restore_is(f, chain, 1, 1, f->image[0]);
	free_chain(f);
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
	assert_int_equal(sq_manifest_build_paged(mem, SQ_SNAPSHOT_FULL, 8192 + 4096, NULL, NULL,
						 &m), SQ_E_INVAL);
	assert_int_equal(sq_manifest_build_paged(mem, SQ_SNAPSHOT_FULL, 2048, NULL, NULL, &m),
			 SQ_E_INVAL);
	assert_int_equal(sq_manifest_build_paged(mem, SQ_SNAPSHOT_FULL, 131072, NULL, NULL, &m),
			 SQ_E_INVAL);
	assert_null(m);
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
		cmocka_unit_test(pages_64k),
		cmocka_unit_test(coarse_bitmap),
		cmocka_unit_test(partial_trailing_page),
		cmocka_unit_test(mixed_page_sizes),
		cmocka_unit_test(merge_in_place),
		cmocka_unit_test(firecracker_state_binds),
		cmocka_unit_test(build_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
