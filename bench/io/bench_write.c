/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory-file write benchmarks (manual time: the timed part is the write
 * of a fresh file up to and including its fdatasync / fsync).
 *
 *   io/raw/odirect_seq_write_limit  the device's limit: one buffer written
 *       sequentially with O_DIRECT, 1 MiB requests, io_uring, at the best
 *       queue depth of {4, 8, 16, 32, 64} (probed once, reported as "qd")
 *   io/full/4g_random               sq_memfile_write, full layout, of a
 *       region of random bytes (every page is data), default options
 *   io/full/firecracker_style_baseline  the original's way: one thread,
 *       buffered, one write per dirty run with seeks over clean runs, fsync
 *   io/full/4g_75pct_zero           full layout of a region where 3 of 4
 *       256 KiB chunks are zero (those pages stay holes)
 *   io/diff/1g_1pct_2m_blocks       a complete diff pair save (memory file,
 *       state file, manifest, commit) of 1 GiB with 1 % dirty as 2 MiB blocks
 *   io/diff/1g_1pct_scattered_4k    the same with 1 % dirty as single pages
 */
#include <liburing.h>

#include "io_bench.h"

static uint8_t *random_region;
static uint64_t random_size;

uint8_t *sq_iob_random_region(uint64_t size)
{
	if (random_region && random_size == size)
		return random_region;
	if (random_region)
		munmap(random_region, random_size);
	random_size = size;
	random_region = iob_region(size, NULL);
	return random_region;
}

/* Sequential O_DIRECT transfer of @size bytes at queue depth @qd. */
int sq_iob_raw_uring(int fd, uint8_t *buf, uint64_t size, unsigned qd, int write)
{
	const size_t bs = 1u << 20;
	struct io_uring r;
	struct io_uring_cqe *cqe;
	uint64_t off = 0, done = 0;
	unsigned inflight = 0;

	if (io_uring_queue_init(qd, &r, 0))
		return -1;
	while (done < size) {
		while (inflight < qd && off < size) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
			size_t n = size - off < bs ? (size_t)(size - off) : bs;
			if (write)
				io_uring_prep_write(sqe, fd, buf + off, (unsigned)n, off);
			else
				io_uring_prep_read(sqe, fd, buf + off, (unsigned)n, off);
			off += n;
			inflight++;
		}
		if (io_uring_submit_and_wait(&r, 1) < 0)
			break;
		while (io_uring_peek_cqe(&r, &cqe) == 0) {
			if (cqe->res <= 0) {
				io_uring_queue_exit(&r);
				return -1;
			}
			done += (uint64_t)cqe->res;
			inflight--;
			io_uring_cqe_seen(&r, cqe);
		}
	}
	io_uring_queue_exit(&r);
	return done == size ? 0 : -1;
}

/* One timed raw write of a fresh file: open, size, write, fdatasync. */
static double raw_write_once(const char *path, uint8_t *buf, uint64_t size, unsigned qd)
{
	double t0 = sq_clock_s();
	int fd = iob_fresh(path, O_DIRECT);
	if (fd < 0 || ftruncate(fd, (off_t)size) || sq_iob_raw_uring(fd, buf, size, qd, 1) ||
	    fdatasync(fd)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	double t = sq_clock_s() - t0;
	close(fd);
	unlink(path);
	return t;
}

unsigned sq_iob_best_qd(int write)
{
	static unsigned best[2];
	if (best[write])
		return best[write];
	uint64_t probe = iob_size(512);
	uint8_t *buf = sq_iob_random_region(iob_size(4096));
	char path[512];
	int fd = -1;
	double bt = 1e30;

	iob_path(path, sizeof(path), "probe");
	if (!write) {
		fd = iob_fresh(path, O_DIRECT);
		if (fd < 0 || ftruncate(fd, (off_t)probe) || sq_iob_raw_uring(fd, buf, probe, 16, 1) ||
		    fdatasync(fd))
			return 16;
	}
	/* Twice over the depths, keeping each depth's best time: the device is
	 * shared, and one disturbed probe must not pick a poor depth. */
	for (int pass = 0; pass < 2; pass++)
		for (unsigned qd = 4; qd <= 64; qd *= 2) {
			double t;
			if (write) {
				t = raw_write_once(path, buf, probe, qd);
			} else {
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
				double t0 = sq_clock_s();
				t = sq_iob_raw_uring(fd, buf, probe, qd, 0) ? -1 : sq_clock_s() - t0;
			}
			if (t > 0 && t < bt) {
				bt = t;
				best[write] = qd;
			}
		}
	if (fd >= 0)
		close(fd);
	unlink(path);
	if (!best[write])
		best[write] = 16;
	return best[write];
}

static void bm_raw_write(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	uint8_t *buf = sq_iob_random_region(size);
	char path[512], l[96];
	if (!buf) {
		sq_bench_skip(b, "cannot allocate the region");
		return;
	}
	unsigned qd = sq_iob_best_qd(1);
	iob_path(path, sizeof(path), "raw_write");
	while (sq_bench_running(b)) {
		double t = raw_write_once(path, buf, size, qd);
		if (t < 0) {
			sq_bench_skip(b, "O_DIRECT io_uring write failed here");
			return;
		}
		sq_bench_set_iteration_time(b, t);
	}
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "qd", qd);
	sq_bench_counter(b, "region_bytes", (double)size);
	snprintf(l, sizeof(l), "io_uring O_DIRECT 1MiB qd=%u size=%lluMiB", qd,
		 (unsigned long long)(size >> 20));
	sq_bench_label(b, l);
}

SQ_BENCH_DEF(.name = "io/raw/odirect_seq_write_limit", .fn = bm_raw_write, .manual_time = 1,
	     .iterations = 3)

static void run_full(struct sq_bench *b, uint8_t *region, uint64_t size, const char *tag)
{
	struct sq_mem_source src = { .base = region, .size = size };
	struct sq_writer_report rep = SQ_INIT(struct sq_writer_report);
	char path[512];

	iob_path(path, sizeof(path), tag);
	while (sq_bench_running(b)) {
		struct sq_manifest *m = NULL;
		double t0 = sq_clock_s();
		int fd = iob_fresh(path, 0);
		int rc = fd < 0 ? -1 : sq_memfile_write(fd, SQ_LAYOUT_FULL, &src, NULL, 0, NULL, &m,
							&rep);
		double t = sq_clock_s() - t0;
		if (fd >= 0)
			close(fd);
		unlink(path);
		sq_manifest_destroy(m);
		if (rc) {
			sq_bench_skip(b, sq_last_error());
			return;
		}
		sq_bench_set_iteration_time(b, t);
	}
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "bytes_written", (double)rep.bytes_written);
	sq_bench_counter(b, "written_fraction", (double)rep.bytes_written / (double)size);
	sq_bench_counter(b, "region_bytes", (double)size);
	iob_label(b, &rep, size);
}

static void bm_full_random(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	uint8_t *region = sq_iob_random_region(size);
	if (!region) {
		sq_bench_skip(b, "cannot allocate the region");
		return;
	}
	run_full(b, region, size, "full_random");
}

SQ_BENCH_DEF(.name = "io/full/4g_random", .fn = bm_full_random, .manual_time = 1,
	     .iterations = 3, .baseline = "io/raw/odirect_seq_write_limit")

static int quarter_data(uint64_t page)
{
	uint64_t s = page / 64; /* 256 KiB chunks */
	return sq_splitmix64(&s) % 4 == 0;
}

static void bm_full_75pct_zero(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	uint8_t *region = iob_region(size, quarter_data);
	if (!region) {
		sq_bench_skip(b, "cannot allocate the region");
		return;
	}
	run_full(b, region, size, "full_zero");
	munmap(region, size);
}

SQ_BENCH_DEF(.name = "io/full/4g_75pct_zero", .fn = bm_full_75pct_zero, .manual_time = 1,
	     .iterations = 3, .baseline = "io/full/4g_random")

/* One thread, buffered, a write per run (the whole region is one run for
 * a full snapshot), then fsync: the original's write path. */
static void bm_firecracker(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	uint8_t *region = sq_iob_random_region(size);
	char path[512];
	if (!region) {
		sq_bench_skip(b, "cannot allocate the region");
		return;
	}
	iob_path(path, sizeof(path), "fc");
	while (sq_bench_running(b)) {
		double t0 = sq_clock_s();
		int fd = iob_fresh(path, 0);
		int bad = fd < 0 || ftruncate(fd, (off_t)size) < 0 || lseek(fd, 0, SEEK_SET) != 0;
		for (uint64_t off = 0; !bad && off < size;) {
			ssize_t w = write(fd, region + off, size - off > (1u << 30) ? (1u << 30)
										   : size - off);
			if (w <= 0)
				bad = 1;
			else
				off += (uint64_t)w;
		}
		bad |= fd >= 0 && fsync(fd) < 0;
		double t = sq_clock_s() - t0;
		if (fd >= 0)
			close(fd);
		unlink(path);
		if (bad) {
			sq_bench_skip(b, "buffered write failed");
			return;
		}
		sq_bench_set_iteration_time(b, t);
	}
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "region_bytes", (double)size);
	sq_bench_label(b, "1 thread, buffered write per run, fsync");
}

SQ_BENCH_DEF(.name = "io/full/firecracker_style_baseline", .fn = bm_firecracker,
	     .manual_time = 1, .iterations = 2)

/* ---------------------------------------------------------------- diffs */

/* SQ_BENCH_IO_BUFFERED, SQ_BENCH_IO_QD, SQ_BENCH_IO_THREADS, SQ_BENCH_IO_BACKEND
 * (io_uring / pwritev2) override the writer's defaults, for exploring. */
static struct sq_writer_opts diff_opts(void)
{
	struct sq_writer_opts o = SQ_INIT(struct sq_writer_opts);
	const char *v;

	if (getenv("SQ_BENCH_IO_BUFFERED"))
		o.direct = -1;
	if ((v = getenv("SQ_BENCH_IO_QD")))
		o.queue_depth = (unsigned)atoi(v);
	if ((v = getenv("SQ_BENCH_IO_THREADS")))
		o.threads = (unsigned)atoi(v);
	if ((v = getenv("SQ_BENCH_IO_BACKEND")))
		o.backend = !strcmp(v, "pwritev2") ? SQ_IO_PWRITEV : SQ_IO_URING;
	return o;
}

static void run_diff(struct sq_bench *b, const struct sq_run *runs, size_t n, uint64_t size)
{
	uint8_t *region = sq_iob_random_region(size);
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;
	struct sq_snapshot_id parent;
	struct sq_writer_report wr = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wr };
	struct sq_writer_opts io = diff_opts();
	char path[512], stem[64];
	unsigned i = 0;

	if (!region || sq_state_demo(&vm) || sq_state_encode(vm, &st, &stlen)) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	sq_state_destroy(vm);
	sq_id_generate(&parent);
	struct sq_mem_source src = { .base = region, .size = size };
	/* Files stay until the end: deleting a many-extent file commits a large
	 * journal transaction that the next save's fsync would wait for. */
	sync();
	while (sq_bench_running(b)) {
		snprintf(stem, sizeof(stem), "diff%u.snap", i++);
		iob_path(path, sizeof(path), stem);
		struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path,
						  .kind = SQ_SNAPSHOT_DIFF,
						  .state = st, .state_len = stlen, .mem = &src,
						  .runs = runs, .nruns = n, .parent = &parent,
						  .io = &io };
		double t0 = sq_clock_s();
		int rc = sq_snapshot_save(&q, &rep);
		double t = sq_clock_s() - t0;
		if (rc) {
			sq_bench_skip(b, sq_last_error());
			break;
		}
		sq_bench_set_iteration_time(b, t);
	}
	for (unsigned k = 0; k < i; k++) {
		static const char *const ext[] = { "snap", "mem", "manifest" };
		for (int x = 0; x < 3; x++) {
			snprintf(stem, sizeof(stem), "diff%u.%s", k, ext[x]);
			iob_path(path, sizeof(path), stem);
			unlink(path);
		}
	}
	free(st);
	sq_bench_counter(b, "pages_written", (double)wr.pages_written);
	sq_bench_counter(b, "bytes_written", (double)wr.bytes_written);
	sq_bench_counter(b, "write_ms", wr.seconds * 1e3);
	sq_bench_counter(b, "region_bytes", (double)size);
	sq_bench_set_bytes(b, (double)wr.bytes_written);
	iob_label(b, &wr, size);
}

static void bm_diff_2m(struct sq_bench *b)
{
	uint64_t size = iob_size(1024), blocks = size / SQ_BLOCK_SIZE;
	uint64_t n = blocks / 100 ? blocks / 100 : 1, s = 7;
	struct sq_run *runs = calloc(n, sizeof(*runs));
	/* n distinct blocks, spread: one in each of n equal stretches */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t blk = i * (blocks / n) + sq_splitmix64(&s) % (blocks / n);
		runs[i] = (struct sq_run){ blk * SQ_PAGES_PER_BLOCK, SQ_PAGES_PER_BLOCK };
	}
	run_diff(b, runs, n, size);
	free(runs);
}

SQ_BENCH_DEF(.name = "io/diff/1g_1pct_2m_blocks", .fn = bm_diff_2m, .manual_time = 1,
	     .iterations = 20)

static void bm_diff_4k(struct sq_bench *b)
{
	uint64_t size = iob_size(1024), pages = size / SQ_PAGE_SIZE, n = pages / 100, s = 11;
	struct sq_run *runs = calloc(n, sizeof(*runs));
	size_t k = 0;
	/* one page at a random position in each of n equal stretches */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = i * (pages / n) + sq_splitmix64(&s) % (pages / n);
		if (k && runs[k - 1].first_page + runs[k - 1].npages == p)
			runs[k - 1].npages++;
		else
			runs[k++] = (struct sq_run){ p, 1 };
	}
	run_diff(b, runs, k, size);
	free(runs);
}

SQ_BENCH_DEF(.name = "io/diff/1g_1pct_scattered_4k", .fn = bm_diff_4k, .manual_time = 1,
	     .iterations = 20)
