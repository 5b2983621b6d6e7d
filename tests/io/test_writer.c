/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page-copy writer: layouts, holes, zero pages in diffs, byte equality
 * across thread counts and backends, staging and page-reader sources, the
 * manifest it produces, the tmpfs (no O_DIRECT) path, and a region that
 * ends in a partial page (written with exactly its bytes, as the original).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/manifest.h>
#include <squib/restore.h>
#include <squib/writer.h>
#include "helpers.h"

#define PG 4096u
#define NPAGES 1500u /* not a multiple of 256: the last piece is partial */

static char *dir;
static uint8_t *region;
static uint64_t seed;

/* Page p: zero when p % 4 == 1, else pseudo-random bytes. */
static void fill_region(void)
{
	uint64_t s = seed;
	for (uint32_t p = 0; p < NPAGES; p++) {
		uint64_t *w = (uint64_t *)(region + (size_t)p * PG);
		for (unsigned i = 0; i < PG / 8; i++)
			w[i] = p % 4 == 1 ? 0 : sq_test_rand(&s);
	}
}

static int setup(void **state)
{
	(void)state;
	seed = sq_test_seed("io/writer");
	dir = sq_test_tmpdir("writer");
	region = mmap(NULL, (size_t)NPAGES * PG, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!dir || region == MAP_FAILED)
		return -1;
	fill_region();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(region, (size_t)NPAGES * PG);
	sq_test_rmrf(dir);
	free(dir);
	return 0;
}

static int write_one(const char *name, enum sq_mem_layout layout, const struct sq_mem_source *src,
		     const struct sq_run *runs, size_t n, const struct sq_writer_opts *o,
		     struct sq_manifest **m, struct sq_writer_report *rep, char *path)
{
	sprintf(path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	int rc = sq_memfile_write(fd, layout, src, runs, n, o, m, rep);
	close(fd);
	return rc;
}

static int reader_cb(void *ctx, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, (uint8_t *)ctx + off, len);
	return 0;
}

static void full_layout_holes_and_crcs(void **state)
{
	(void)state;
	struct sq_mem_source src = { .base = region, .size = (uint64_t)NPAGES * PG };
	struct sq_manifest *m;
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	char path[1024];
	unsigned char *buf = NULL;
	size_t len;

	assert_int_equal(write_one("full.mem", SQ_LAYOUT_FULL, &src, NULL, 0, NULL, &m, &rep, path), 0);
	assert_int_equal(sq_test_read_file(path, &buf, &len), 0);
	assert_int_equal(len, (size_t)NPAGES * PG);
	assert_memory_equal(buf, region, len);
	free(buf);
	assert_int_equal(rep.pages_zero, NPAGES / 4 + (NPAGES % 4 > 1));
	assert_int_equal(rep.pages_written + rep.pages_zero, NPAGES);
	assert_int_equal(m->npages, rep.pages_written);
	assert_int_equal(m->kind, SQ_SNAPSHOT_FULL);
	/* zero pages are holes: SEEK_HOLE finds page 1 */
	int fd = open(path, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), PG);
	close(fd);
	/* one CRC per data page, in order */
	uint64_t k = 0;
	for (size_t e = 0; e < m->nextents; e++)
		for (uint64_t p = 0; p < m->extents[e].npages; p++, k++)
			assert_true(m->crcs[k] ==
				    sq_crc64(region + (m->extents[e].first_page + p) * PG, PG));
	assert_int_equal(k, m->npages);
	sq_manifest_destroy(m);
}

/* Same file and manifest for every thread count, backend and source kind. */
static void bytes_independent_of_threads_and_backend(void **state)
{
	(void)state;
	struct sq_run runs[] = { { 0, 3 }, { 7, 300 }, { 600, 1 }, { 900, 600 } };
	unsigned char *ref = NULL, *buf = NULL;
	size_t reflen = 0, len;
	void *refm = NULL, *mb;
	size_t refml = 0, ml;
	char path[1024];

	for (int layout = 0; layout < 2; layout++) {
		free(ref);
		free(refm);
		ref = NULL;
		refm = NULL;
		for (int be = SQ_IO_URING; be <= SQ_IO_PWRITEV; be++)
			for (unsigned t = 1; t <= 4; t *= 2)
				for (int kind = 0; kind < 3; kind++) {
					struct sq_mem_source src = { .size = (uint64_t)NPAGES * PG };
					if (kind == 2) {
						src.read = reader_cb;
						src.ctx = region;
					} else {
						src.base = region;
						src.live = kind;
					}
					struct sq_writer_opts o = { .size = sizeof(o), .threads = t, .backend = be,
								    .queue_depth = 4 };
					struct sq_manifest *m;
					struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
					assert_int_equal(write_one("eq.mem", layout, &src, runs, 4, &o,
								   &m, &rep, path), 0);
					if (be == SQ_IO_URING && sq_io_uring_usable())
						assert_int_equal(rep.backend, SQ_IO_URING);
					assert_int_equal(rep.backend == SQ_IO_PWRITEV ||
							 rep.backend == SQ_IO_URING, 1);
					assert_int_equal(sq_test_read_file(path, &buf, &len), 0);
					assert_int_equal(sq_manifest_encode(m, &mb, &ml), 0);
					if (!ref) {
						ref = buf;
						reflen = len;
						refm = mb;
						refml = ml;
					} else {
						assert_int_equal(len, reflen);
						assert_memory_equal(buf, ref, len);
						assert_int_equal(ml, refml);
						assert_memory_equal(mb, refm, ml);
						free(buf);
						free(mb);
					}
					sq_manifest_destroy(m);
				}
		/* the content is the source's on the runs, zero elsewhere */
		for (uint32_t p = 0; p < NPAGES; p++) {
			int in = 0;
			for (int r = 0; r < 4; r++)
				in |= p >= runs[r].first_page &&
				      p < runs[r].first_page + runs[r].npages;
			if (in)
				assert_memory_equal(ref + (size_t)p * PG, region + (size_t)p * PG, PG);
			else
				assert_true(ref[(size_t)p * PG] == 0 &&
					    !memcmp(ref + (size_t)p * PG, ref + (size_t)p * PG + 1,
						    PG - 1));
		}
	}
	free(ref);
	free(refm);
}

/* A diff writes dirty zero pages as data: the manifest lists them. */
static void diff_keeps_zero_pages_as_data(void **state)
{
	(void)state;
	struct sq_mem_source src = { .base = region, .size = (uint64_t)NPAGES * PG };
	struct sq_run runs[] = { { 1, 1 }, { 5, 4 } }; /* pages 1, 5 are zero */
	struct sq_manifest *m;
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	char path[1024];

	assert_int_equal(write_one("diff.mem", SQ_LAYOUT_DIFF, &src, runs, 2, NULL, &m, &rep, path), 0);
	assert_int_equal(rep.pages_written, 5);
	assert_int_equal(rep.pages_zero, 0);
	assert_int_equal(m->kind, SQ_SNAPSHOT_DIFF);
	assert_int_equal(m->nextents, 2);
	assert_int_equal(m->npages, 5);
	int fd = open(path, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), PG); /* page 1 is data, not a hole */
	close(fd);
	sq_manifest_destroy(m);
	/* the same runs in a full layout leave the zero pages as holes */
	assert_int_equal(write_one("full2.mem", SQ_LAYOUT_FULL, &src, runs, 2, NULL, &m, &rep, path), 0);
	assert_int_equal(rep.pages_written, 3);
	sq_manifest_destroy(m);
}

static void bad_arguments(void **state)
{
	(void)state;
	struct sq_mem_source src = { .base = region, .size = (uint64_t)NPAGES * PG };
	struct sq_run unsorted[] = { { 10, 2 }, { 5, 1 } };
	struct sq_run outside[] = { { NPAGES - 1, 2 } };
	char path[1024];

	assert_int_equal(write_one("x.mem", SQ_LAYOUT_DIFF, &src, unsorted, 2, NULL, NULL, NULL, path),
			 SQ_E_INVAL);
	assert_int_equal(write_one("x.mem", SQ_LAYOUT_DIFF, &src, outside, 1, NULL, NULL, NULL, path),
			 SQ_E_RANGE);
	src.size = 0;
	assert_int_equal(write_one("x.mem", SQ_LAYOUT_FULL, &src, NULL, 0, NULL, NULL, NULL, path),
			 SQ_E_ALIGN);
	src.size = SQ_MANIFEST_MAX_REGION + 1;
	assert_int_equal(write_one("x.mem", SQ_LAYOUT_FULL, &src, NULL, 0, NULL, NULL, NULL, path),
			 SQ_E_ALIGN);
	/* a partial last page is page 4 of a 4-page-and-1000-byte region, not 5 */
	src.size = 4 * PG + 1000;
	struct sq_run past[] = { { 4, 2 } };
	assert_int_equal(write_one("x.mem", SQ_LAYOUT_DIFF, &src, past, 1, NULL, NULL, NULL, path),
			 SQ_E_RANGE);
}

/*
 * A region of 700 pages and 1000 bytes (the original's ram_size need not be
 * a page multiple): full and diff, from the mapping, through a staging copy
 * and through a page reader, O_DIRECT and buffered. The file is exactly
 * the region's size and bytes, the partial page is one data page whose CRC
 * covers its 1000 bytes, and the file verifies against the manifest.
 */
static void partial_last_page(void **state)
{
	const uint64_t size = 700ull * PG + 1000;
	struct sq_run runs[] = { { 3, 2 }, { 698, 3 } }; /* to the partial page */
	char path[1024];

	(void)state;
	for (int variant = 0; variant < 4; variant++) {
		struct sq_mem_source src = { .base = region, .size = size };
		struct sq_writer_opts o = { .size = sizeof(struct sq_writer_opts), .threads = 2, .direct = variant & 1 ? -1 : 0 };
		struct sq_manifest *m;
		struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
		unsigned char *got = NULL;
		size_t len = 0;
		if (variant == 2)
			src.live = 1;
		if (variant == 3)
			src = (struct sq_mem_source){ .read = reader_cb, .ctx = region, .size = size };
		/* full */
		assert_int_equal(write_one("pf.mem", SQ_LAYOUT_FULL, &src, NULL, 0, &o, &m, &rep,
					   path), 0);
		assert_int_equal(sq_test_read_file(path, &got, &len), 0);
		assert_int_equal(len, size);
		assert_memory_equal(got, region, size);
		free(got);
		assert_int_equal(m->region_size, size);
		const struct sq_run *e = &m->extents[m->nextents - 1];
		assert_int_equal(e->first_page + e->npages, 701);
		assert_true(m->crcs[m->npages - 1] == sq_crc64(region + 700ull * PG, 1000));
		assert_int_equal(rep.pages_in, 701);
		assert_int_equal(sq_memfile_verify(path, m, 2, NULL), 0);
		sq_manifest_destroy(m);
		/* diff: runs 3-4 and 698-700, the last one partial */
		assert_int_equal(write_one("pd.mem", SQ_LAYOUT_DIFF, &src, runs, 2, &o, &m, &rep,
					   path), 0);
		assert_int_equal(rep.pages_written, 5);
		assert_int_equal(rep.bytes_written, 4 * PG + 1000);
		assert_int_equal(m->nextents, 2);
		assert_int_equal(m->extents[1].first_page, 698);
		assert_int_equal(m->extents[1].npages, 3);
		assert_int_equal(sq_test_read_file(path, &got, &len), 0);
		assert_int_equal(len, size);
		assert_memory_equal(got + 698 * PG, region + 698 * PG, 2 * PG + 1000);
		assert_memory_equal(got + 3 * PG, region + 3 * PG, 2 * PG);
		for (size_t i = 5 * PG; i < 698 * PG; i++)
			assert_int_equal(got[i], 0);
		free(got);
		assert_int_equal(sq_memfile_verify(path, m, 2, NULL), 0);
		sq_manifest_destroy(m);
	}
	/* a zero partial page in a full layout is a hole */
	uint8_t *zr = calloc(1, 2 * PG);
	struct sq_mem_source zs = { .base = zr, .size = PG + 10 };
	struct sq_manifest *m;
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	assert_int_equal(write_one("pz.mem", SQ_LAYOUT_FULL, &zs, NULL, 0, NULL, &m, &rep, path),
			 0);
	assert_int_equal(rep.pages_written, 0);
	assert_int_equal(rep.pages_zero, 2);
	assert_int_equal(m->nextents, 0);
	sq_manifest_destroy(m);
	free(zr);
}

/* tmpfs refuses O_DIRECT: buffered writes + fdatasync, reported. */
static void tmpfs_falls_back_to_buffered(void **state)
{
	(void)state;
	char tpl[] = "/dev/shm/squib-writer.XXXXXX", path[1100];
	if (!mkdtemp(tpl))
		SQ_TEST_SKIP("no /dev/shm");
	snprintf(path, sizeof(path), "%s/t.mem", tpl);
	struct sq_mem_source src = { .base = region, .size = (uint64_t)NPAGES * PG };
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(sq_memfile_write(fd, SQ_LAYOUT_FULL, &src, NULL, 0, NULL, NULL, &rep), 0);
	close(fd);
	int dfd = open(path, O_RDONLY | O_DIRECT);
	if (dfd < 0)
		assert_int_equal(rep.direct, 0);
	else
		close(dfd);
	unsigned char *buf = NULL;
	size_t len;
	assert_int_equal(sq_test_read_file(path, &buf, &len), 0);
	assert_int_equal(len, (size_t)NPAGES * PG);
	assert_memory_equal(buf, region, len);
	free(buf);
	sq_test_rmrf(tpl);
}

/* io_uring refused (as by seccomp or kernel.io_uring_disabled): the
 * automatic choice falls back to pwritev2 and says so; same bytes. */
static void uring_refused_falls_back(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof(path), "%s/noring.mem", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = 4, .filter = f };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(77);
		struct sq_mem_source src = { .base = region, .size = (uint64_t)NPAGES * PG };
		struct sq_writer_opts o = { .size = sizeof(o), .threads = 2, .backend = SQ_IO_AUTO };
		struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || sq_memfile_write(fd, SQ_LAYOUT_FULL, &src, NULL, 0, &o, NULL, &rep))
			_exit(1);
		close(fd);
		_exit(rep.backend == SQ_IO_PWRITEV ? 0 : 2);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		return; /* no seccomp here: nothing to check */
	assert_int_equal(WEXITSTATUS(st), 0);
	unsigned char *buf = NULL;
	size_t len = 0;
	assert_int_equal(sq_test_read_file(path, &buf, &len), 0);
	assert_int_equal(len, (size_t)NPAGES * PG);
	assert_memory_equal(buf, region, len);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_layout_holes_and_crcs),
		cmocka_unit_test(bytes_independent_of_threads_and_backend),
		cmocka_unit_test(diff_keeps_zero_pages_as_data),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(partial_last_page),
		cmocka_unit_test(tmpfs_falls_back_to_buffered),
		cmocka_unit_test(uring_refused_falls_back),
	};
	return cmocka_run_group_tests_name("io/writer", tests, setup, teardown);
}
