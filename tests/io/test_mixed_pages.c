/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chains whose layers have different page sizes (4, 16 and 64 KiB) and a
 * region size that is not a multiple of 64 KiB (often not of 4 KiB): merge
 * and restore (eager, mapped, lazy) give exactly the bytes of a naive
 * model that applies each layer's pages in chain order. The merge output
 * (a new file, or the base in place) has the chain's finest page size, one extent page per page any layer
 * covers, and CRCs that verify; a damaged page of a coarse layer that the
 * output cuts into finer pages is refused (SQ_E_VERIFY), not given a fresh
 * CRC. Layers are written directly (sparse files, manifests by hand) so
 * data pages may be zero, written or left as holes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <linux/userfaultfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/lazy.h>
#include <squib/manifest.h>
#include <squib/merge.h>
#include <squib/restore.h>

#include "helpers.h"

#define MAX_LAYERS 5
#define ROUNDS 40

static unsigned force_density; /* 1..4 quarters of the pages held; 0 = random */

struct chain {
	char *dir;
	char paths[MAX_LAYERS][4200];
	const char *p[MAX_LAYERS];
	size_t n;
	uint64_t size;
	unsigned min_shift;
	uint8_t *model;   /* the expected region */
	uint8_t *covered; /* per 4 KiB page: held by some layer */
};

static uint64_t page_len(uint64_t p, unsigned shift, uint64_t size)
{
	uint64_t off = p << shift;

	return size - off < (1ull << shift) ? size - off : 1ull << shift;
}

/* Write layer @i of @c: pages of 1 << @shift bytes, each picked one held
 * with random or zero bytes (a zero page written or left a hole). */
static void write_layer(struct chain *c, size_t i, unsigned shift, uint64_t *seed,
			struct sq_snapshot_id *id)
{
	const uint64_t pages = (c->size >> shift) + !!(c->size & ((1ull << shift) - 1));
	struct sq_manifest m = { .kind = i ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
				 .page_size = 1u << shift, .region_size = c->size };
	uint8_t *buf = malloc(1u << shift);
	char mp[4300];
	int fd;

	assert_non_null(buf);
	snprintf(c->paths[i], sizeof(c->paths[i]), "%s/l%zu.mem", c->dir, i);
	c->p[i] = c->paths[i];
	fd = open(c->paths[i], O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)c->size), 0);
	m.extents = calloc(pages, sizeof(*m.extents));
	m.crcs = calloc(pages, sizeof(*m.crcs));
	assert_non_null(m.extents);
	assert_non_null(m.crcs);
	if (i == 0)
		memset(c->model, 0, c->size);
	unsigned density = 1 + (unsigned)(sq_test_rand(seed) % 4); /* in quarters */
	if (force_density)
		density = force_density;
	for (uint64_t p = 0; p < pages; p++) {
		if (sq_test_rand(seed) % 4 >= density)
			continue;
		uint64_t len = page_len(p, shift, c->size), kind = sq_test_rand(seed) % 5;
		if (kind < 3)
			for (uint64_t b = 0; b < len; b++)
				buf[b] = (uint8_t)sq_test_rand(seed);
		else
			memset(buf, 0, len);
		if (kind != 4) /* kind 4: a zero page left a hole */
			assert_int_equal(pwrite(fd, buf, len, (off_t)(p << shift)), (ssize_t)len);
		memcpy(c->model + (p << shift), buf, len);
		for (uint64_t q = (p << shift) >> 12; q < ((p << shift) + len + 4095) >> 12; q++)
			c->covered[q] = 1;
		if (m.nextents && m.extents[m.nextents - 1].first_page +
					  m.extents[m.nextents - 1].npages == p)
			m.extents[m.nextents - 1].npages++;
		else
			m.extents[m.nextents++] = (struct sq_run){ p, 1 };
		m.crcs[m.npages++] = sq_crc64(buf, len);
	}
	close(fd);
	if (i)
		m.parent = *id;
	assert_int_equal(sq_id_generate(&m.id), 0);
	*id = m.id;
	assert_int_equal(sq_manifest_path(c->paths[i], mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_save(mp, &m), 0);
	free(m.extents);
	free(m.crcs);
	free(buf);
}

/* A random chain of 1 to 5 layers of 4, 16 or 64 KiB pages; @partial: the
 * region size is not a multiple of 4 KiB. */
static void make_chain(struct chain *c, uint64_t *seed, int partial)
{
	static const unsigned shifts[] = { 12, 14, 16 };
	struct sq_snapshot_id id = { 0 };

	memset(c, 0, sizeof(*c));
	c->dir = sq_test_tmpdir("mixed-pages");
	assert_non_null(c->dir);
	do {
		c->size = (1 + sq_test_rand(seed) % 6) * 65536 + sq_test_rand(seed) % 65536;
	} while (!(c->size % 65536) || (partial && !(c->size % 4096)));
	c->n = 1 + sq_test_rand(seed) % MAX_LAYERS;
	c->model = malloc(c->size);
	c->covered = calloc((c->size + 4095) / 4096, 1);
	assert_non_null(c->model);
	assert_non_null(c->covered);
	c->min_shift = 16;
	for (size_t i = 0; i < c->n; i++) {
		unsigned s = shifts[sq_test_rand(seed) % 3];
		if (i == 1 && c->n > 1 && s == c->min_shift) /* at least two sizes */
			s = s == 16 ? 12 : 16;
		write_layer(c, i, s, seed, &id);
		if (s < c->min_shift)
			c->min_shift = s;
	}
}

static void drop_chain(struct chain *c)
{
	sq_test_rmrf(c->dir);
	free(c->dir);
	free(c->model);
	free(c->covered);
}

static void check_merge(struct chain *c)
{
	struct sq_merge_opts o = SQ_INIT(struct sq_merge_opts);
	struct sq_merge_report r = SQ_INIT(struct sq_merge_report);
	struct sq_verify_report vr = SQ_INIT(struct sq_verify_report);
	struct sq_manifest *m = NULL;
	char out[4300], mp[4400];
	unsigned char *got = NULL;
	size_t len = 0;

	o.threads = 2;
	snprintf(out, sizeof(out), "%s/merged.mem", c->dir);
	assert_int_equal(sq_merge_chain(c->p, c->n, out, &o, &r), 0);
	assert_int_equal(sq_test_read_file(out, &got, &len), 0);
	assert_int_equal(len, c->size);
	assert_memory_equal(got, c->model, c->size);
	free(got);
	assert_int_equal(sq_manifest_path(out, mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	assert_int_equal(m->page_size, 1u << c->min_shift);
	assert_int_equal(m->region_size, c->size);
	assert_int_equal(m->kind, SQ_SNAPSHOT_FULL);
	/* One output page per page of the finest size that any layer covers. */
	const unsigned k = c->min_shift - 12;
	uint64_t want = 0, e = 0;
	for (uint64_t q = 0; q < (c->size + 4095) / 4096; q += 1ull << k)
		if (c->covered[q]) {
			want++;
			while (e < m->nextents &&
			       m->extents[e].first_page + m->extents[e].npages <= q >> k)
				e++;
			assert_true(e < m->nextents && m->extents[e].first_page <= q >> k);
		}
	assert_int_equal(m->npages, want);
	assert_int_equal(r.pages_out, want);
	assert_int_equal(sq_memfile_verify(out, m, 1, &vr), 0);
	sq_manifest_destroy(m);
}

/* In place: the base becomes the merge, in the chain's finest pages. */
static void check_merge_in_place(struct chain *c)
{
	struct sq_merge_opts o = SQ_INIT(struct sq_merge_opts);
	struct sq_verify_report vr = SQ_INIT(struct sq_verify_report);
	struct sq_manifest *m = NULL;
	unsigned char *got = NULL;
	char mp[4400];
	size_t len = 0;

	o.in_place = true;
	assert_int_equal(sq_merge_chain(c->p, c->n, NULL, &o, NULL), 0);
	assert_int_equal(sq_test_read_file(c->p[0], &got, &len), 0);
	assert_int_equal(len, c->size);
	assert_memory_equal(got, c->model, c->size);
	free(got);
	assert_int_equal(sq_manifest_path(c->p[0], mp, sizeof(mp)), 0);
	assert_int_equal(sq_manifest_load(mp, &m), 0);
	assert_int_equal(m->page_size, 1u << c->min_shift);
	assert_int_equal(sq_memfile_verify(c->p[0], m, 1, &vr), 0);
	sq_manifest_destroy(m);
}

static void check_restore(struct chain *c)
{
	struct sq_restore_opts o = SQ_INIT(struct sq_restore_opts);
	struct sq_restore_report r = SQ_INIT(struct sq_restore_report);
	size_t maplen = (c->size + 4095) & ~(size_t)4095;
	uint8_t *dest = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	void *lazy = NULL;

	assert_true(dest != MAP_FAILED);
	memset(dest, 0xa5, maplen); /* holes of the full file must be cleared */
	o.verify = true;
	o.threads = 2;
	assert_int_equal(sq_restore_to_memory(c->p, c->n, dest, c->size, &o, &r), 0);
	assert_memory_equal(dest, c->model, c->size);
	munmap(dest, maplen);
	assert_int_equal(sq_restore_map(c->p, c->n, c->size, &lazy), 0);
	assert_memory_equal(lazy, c->model, c->size);
	sq_restore_unmap(lazy, c->size);
}

static void random_chains(void **state)
{
	uint64_t seed = sq_test_seed("mixed pages");

	(void)state;
	for (int i = 0; i < ROUNDS; i++) {
		struct chain c;
		make_chain(&c, &seed, i % 2);
		check_restore(&c);
		check_merge(&c);
		if (i % 3 == 0)
			check_merge_in_place(&c);
		drop_chain(&c);
	}
}

/* A damaged byte in a 64 KiB page that the merge cuts into 4 KiB pages. */
static void damaged_coarse_page(void **state)
{
	uint64_t seed = sq_test_seed("mixed pages damage");
	struct sq_snapshot_id id = { 0 };
	struct sq_merge_opts o = SQ_INIT(struct sq_merge_opts);
	struct sq_merge_report r = SQ_INIT(struct sq_merge_report);
	struct chain c;
	char out[4300];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.dir = sq_test_tmpdir("mixed-pages");
	assert_non_null(c.dir);
	c.size = 3 * 65536 + 1000;
	c.n = 2;
	c.model = malloc(c.size);
	c.covered = calloc((c.size + 4095) / 4096, 1);
	force_density = 4; /* every base page held, a quarter of them changed */
	write_layer(&c, 0, 16, &seed, &id);
	force_density = 1;
	write_layer(&c, 1, 12, &seed, &id);
	force_density = 0;
	/* Flip a byte in every 64 KiB page of the base: some of them are held. */
	int fd = open(c.paths[0], O_RDWR);
	assert_true(fd >= 0);
	for (uint64_t off = 7; off < c.size; off += 65536) {
		uint8_t b = 0x5a;
		assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	}
	close(fd);
	snprintf(out, sizeof(out), "%s/merged.mem", c.dir);
	int rc = sq_merge_chain(c.p, c.n, out, &o, &r);
	assert_int_equal(rc, SQ_E_VERIFY);
	assert_non_null(strstr(sq_last_error(), "l0.mem"));
	assert_false(sq_test_exists(out));
	drop_chain(&c);
}

/* Lazy restore of a chain whose region ends in a partial 4 KiB page. */
static void lazy_partial_page(void **state)
{
	uint64_t seed = sq_test_seed("mixed pages lazy");

	(void)state;
	for (int i = 0; i < 6; i++) {
		struct sq_lazy_opts o = SQ_INIT(struct sq_lazy_opts);
		struct sq_lazy_report r = SQ_INIT(struct sq_lazy_report);
		struct sq_lazy *l = NULL;
		struct chain c;

		make_chain(&c, &seed, 1);
		o.no_fill = i % 2 == 0; /* faults only: the touches below place the pages */
		o.batch_pages = 4;
		int rc = sq_lazy_start(c.p, c.n, c.size, &o, &l);
		if (rc == SQ_E_UNSUPPORTED) {
			drop_chain(&c);
			skip(); /* no userfaultfd here: nothing to test */
		}
		assert_int_equal(rc, 0);
		volatile uint8_t *a = sq_lazy_addr(l);
		/* Touch the last byte first, then pages in a random order. */
		uint8_t last = a[c.size - 1];
		assert_int_equal(last, c.model[c.size - 1]);
		for (uint64_t t = 0; t < (c.size + 4095) / 4096; t++) {
			uint64_t off = sq_test_rand(&seed) % c.size;
			assert_int_equal(a[off], c.model[off]);
		}
		for (uint64_t off = 0; off < c.size; off += 4096)
			(void)a[off];
		assert_int_equal(sq_lazy_finish(l, &r), 0);
		assert_memory_equal((const void *)a, c.model, c.size);
		/* The rest of the last 4 KiB page reads as zeros. */
		for (uint64_t off = c.size; off & 4095; off++)
			assert_int_equal(a[off], 0);
		munmap((void *)a, c.size);
		drop_chain(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_chains),
		cmocka_unit_test(damaged_coarse_page),
		cmocka_unit_test(lazy_partial_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
