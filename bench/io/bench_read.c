/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-side benchmarks: restore and merge against the device's limits
 * (manual time; source files are evicted from the page cache before each
 * iteration, so every variant reads from the device).
 *
 *   io/raw/odirect_read_limit    a 4 GiB file read sequentially with
 *       O_DIRECT, 1 MiB requests, io_uring at the best queue depth
 *   io/restore/4g                sq_restore_to_memory of a 4 GiB full memory
 *       file (every page data) into a populated region
 *   io/raw/copy_file_range_limit one copy_file_range of a 1 GiB file into a
 *       new file, then fsync
 *   io/merge/1g_10pct            sq_merge_chain of a 1 GiB full file and a
 *       diff with 10 % of the pages (64 KiB runs) into a new file with its
 *       manifest, fsync included
 */
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <squib/merge.h>

#include "io_bench.h"

/* JSON context: where the files go, which device backs them, which backend
 * the writer picks by default here. */
__attribute__((constructor)) static void io_context(void)
{
	const char *dir = iob_dir();
	struct stat st;
	struct statfs fs;
	char path[128], line[256], dev[64] = "unknown", type[32] = "unknown";

	sq_bench_context("io_dir", dir);
	if (stat(dir, &st) == 0) {
		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(st.st_dev),
			 minor(st.st_dev));
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "DEVNAME=", 8)) {
				snprintf(dev, sizeof(dev), "%.*s", (int)strcspn(line + 8, "\n"),
					 line + 8);
				break;
			}
		if (f)
			fclose(f);
	}
	if (statfs(dir, &fs) == 0)
		snprintf(type, sizeof(type), "%s", fs.f_type == 0xEF53 ? "ext4"
						   : fs.f_type == 0x01021994 ? "tmpfs"
						   : fs.f_type == 0x58465342 ? "xfs"
						   : fs.f_type == 0x9123683E ? "btrfs" : "other");
	sq_bench_context("io_device", dev);
	sq_bench_context("io_filesystem", type);
	sq_bench_context("io_writer_backend", sq_io_uring_usable() ? "io_uring" : "pwritev2");
}

static char full_path[512]; /* the 4 GiB full file, written once */
static uint64_t full_size;

struct merge_set {
	char base[512], diff[512], out[512];
	uint64_t size;
};

static struct merge_set ms;

/* The set-up files live for the whole run; remove them at exit. */
static void remove_setup_files(void)
{
	char mp[600];

	if (full_path[0])
		unlink(full_path);
	if (ms.size) {
		const char *files[2] = { ms.base, ms.diff };
		for (int i = 0; i < 2; i++) {
			unlink(files[i]);
			if (!sq_manifest_path(files[i], mp, sizeof(mp)))
				unlink(mp);
		}
	}
}

__attribute__((constructor)) static void register_cleanup(void)
{
	atexit(remove_setup_files);
}

static const char *full_file(uint64_t size)
{
	if (full_path[0] && full_size == size)
		return full_path;
	uint8_t *region = sq_iob_random_region(size);
	struct sq_mem_source src = { .base = region, .size = size };
	iob_path(full_path, sizeof(full_path), "restore.mem");
	int fd = iob_fresh(full_path, 0);
	if (!region || fd < 0 || sq_memfile_write(fd, SQ_LAYOUT_FULL, &src, NULL, 0, NULL, NULL,
						  NULL)) {
		if (fd >= 0)
			close(fd);
		full_path[0] = 0;
		return NULL;
	}
	close(fd);
	full_size = size;
	return full_path;
}

static void bm_raw_read(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	const char *path = full_file(size);
	uint8_t *dst = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	char l[96];
	if (!path || dst == MAP_FAILED) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	unsigned qd = sq_iob_best_qd(0);
	while (sq_bench_running(b)) {
		iob_evict(path);
		double t0 = sq_clock_s();
		int fd = open(path, O_RDONLY | O_DIRECT);
		int rc = fd < 0 ? -1 : sq_iob_raw_uring(fd, dst, size, qd, 0);
		double t = sq_clock_s() - t0;
		if (fd >= 0)
			close(fd);
		if (rc) {
			sq_bench_skip(b, "O_DIRECT io_uring read failed here");
			break;
		}
		sq_bench_set_iteration_time(b, t);
	}
	munmap(dst, size);
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "qd", qd);
	sq_bench_counter(b, "region_bytes", (double)size);
	snprintf(l, sizeof(l), "io_uring O_DIRECT 1MiB qd=%u size=%lluMiB", qd,
		 (unsigned long long)(size >> 20));
	sq_bench_label(b, l);
}

SQ_BENCH_DEF(.name = "io/raw/odirect_read_limit", .fn = bm_raw_read, .manual_time = 1,
	     .iterations = 3)

static void bm_restore(struct sq_bench *b)
{
	uint64_t size = iob_size(4096);
	const char *path = full_file(size);
	uint8_t *dst = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	struct sq_restore_report r = SQ_INIT(struct sq_restore_report);
	char l[128];
	if (!path || dst == MAP_FAILED) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	const char *chain[1] = { path };
	while (sq_bench_running(b)) {
		iob_evict(path);
		double t0 = sq_clock_s();
		int rc = sq_restore_to_memory(chain, 1, dst, size, NULL, &r);
		double t = sq_clock_s() - t0;
		if (rc) {
			sq_bench_skip(b, sq_last_error());
			break;
		}
		sq_bench_set_iteration_time(b, t);
	}
	munmap(dst, size);
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "region_bytes", (double)size);
	snprintf(l, sizeof(l), "direct=%d size=%lluMiB", r.direct, (unsigned long long)(size >> 20));
	sq_bench_label(b, l);
}

SQ_BENCH_DEF(.name = "io/restore/4g", .fn = bm_restore, .manual_time = 1, .iterations = 3,
	     .baseline = "io/raw/odirect_read_limit")

/* ---------------------------------------------------------------- merge */

static int write_layer(const char *path, enum sq_mem_layout layout, const uint8_t *region,
		       uint64_t size, const struct sq_run *runs, size_t n,
		       const struct sq_snapshot_id *id, const struct sq_snapshot_id *parent)
{
	struct sq_mem_source src = { .base = region, .size = size };
	struct sq_manifest *m = NULL;
	char mp[600];
	int fd = iob_fresh(path, 0);
	int rc = fd < 0 ? -1 : sq_memfile_write(fd, layout, &src, runs, n, NULL, &m, NULL);
	if (fd >= 0)
		close(fd);
	if (!rc) {
		m->id = *id;
		if (parent)
			m->parent = *parent;
		rc = sq_manifest_path(path, mp, sizeof(mp));
		if (!rc)
			rc = sq_manifest_save(mp, m);
	}
	sq_manifest_destroy(m);
	return rc;
}

static const struct merge_set *merge_files(uint64_t size)
{
	if (ms.size == size)
		return &ms;
	uint8_t *region = sq_iob_random_region(iob_size(4096));
	uint64_t pages = size / SQ_PAGE_SIZE, n = pages / 160, s = 3;
	struct sq_run *runs = calloc(n ? n : 1, sizeof(*runs));
	struct sq_snapshot_id a, c;
	if (!region || !runs || size * 2 > iob_size(4096))
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		runs[i] = (struct sq_run){ i * 160 + sq_splitmix64(&s) % 144, 16 };
	iob_path(ms.base, sizeof(ms.base), "merge-base.mem");
	iob_path(ms.diff, sizeof(ms.diff), "merge-diff.mem");
	iob_path(ms.out, sizeof(ms.out), "merge-out.mem");
	sq_id_generate(&a);
	sq_id_generate(&c);
	/* the diff's pages come from the second half of the random region */
	if (write_layer(ms.base, SQ_LAYOUT_FULL, region, size, NULL, 0, &a, NULL) ||
	    write_layer(ms.diff, SQ_LAYOUT_DIFF, region + size, size, runs, n, &c, &a)) {
		free(runs);
		return NULL;
	}
	free(runs);
	ms.size = size;
	return &ms;
}

static void bm_raw_copy(struct sq_bench *b)
{
	uint64_t size = iob_size(1024);
	const struct merge_set *m = merge_files(size);
	if (!m) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	while (sq_bench_running(b)) {
		iob_evict(m->base);
		double t0 = sq_clock_s();
		int in = open(m->base, O_RDONLY), out = iob_fresh(m->out, 0), bad = in < 0 || out < 0;
		off_t a = 0, c = 0;
		while (!bad && (uint64_t)a < size) {
			ssize_t r = copy_file_range(in, &a, out, &c, size - (uint64_t)a, 0);
			if (r <= 0)
				bad = 1;
		}
		bad |= out >= 0 && fsync(out) < 0;
		double t = sq_clock_s() - t0;
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		unlink(m->out);
		if (bad) {
			sq_bench_skip(b, "copy_file_range failed");
			return;
		}
		sq_bench_set_iteration_time(b, t);
	}
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "region_bytes", (double)size);
}

SQ_BENCH_DEF(.name = "io/raw/copy_file_range_limit", .fn = bm_raw_copy, .manual_time = 1,
	     .iterations = 3)

static void bm_merge(struct sq_bench *b)
{
	uint64_t size = iob_size(1024);
	const struct merge_set *m = merge_files(size);
	struct sq_merge_report r = SQ_INIT(struct sq_merge_report);
	char mp[600];
	if (!m) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	const char *chain[2] = { m->base, m->diff };
	sq_manifest_path(m->out, mp, sizeof(mp));
	while (sq_bench_running(b)) {
		iob_evict(m->base);
		iob_evict(m->diff);
		double t0 = sq_clock_s();
		int rc = sq_merge_chain(chain, 2, m->out, NULL, &r);
		double t = sq_clock_s() - t0;
		unlink(m->out);
		unlink(mp);
		if (rc) {
			sq_bench_skip(b, sq_last_error());
			return;
		}
		sq_bench_set_iteration_time(b, t);
	}
	sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, "extents_copied", (double)r.extents_copied);
	sq_bench_counter(b, "bytes_copied", (double)r.bytes_copied);
	sq_bench_counter(b, "region_bytes", (double)size);
}

SQ_BENCH_DEF(.name = "io/merge/1g_10pct", .fn = bm_merge, .manual_time = 1, .iterations = 3,
	     .baseline = "io/raw/copy_file_range_limit")
