/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/io/io_bench.h - shared set-up of the IO benchmarks.
 *
 * Environment:
 *   SQ_BENCH_DIR       directory for the files (default /var/tmp; must be a
 *                      disk filesystem for O_DIRECT figures)
 *   SQ_BENCH_IO_SCALE  multiplies every region size (default 1: the sizes
 *                      in the names, 4 GiB and 1 GiB); e.g. 0.25 on a small
 *                      machine. The bytes actually used are reported in the
 *                      "region_bytes" counter.
 */
#ifndef SQ_BENCH_IO_H
#define SQ_BENCH_IO_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/squib.h>

#include "harness.h"
#include "core/splitmix.h"
#include "core/clock.h"

static inline uint64_t iob_size(uint64_t mib)
{
	const char *s = getenv("SQ_BENCH_IO_SCALE");
	double k = s ? atof(s) : 1.0;
	uint64_t b = (uint64_t)((double)(mib << 20) * (k > 0 ? k : 1.0));

	b &= ~(uint64_t)(SQ_BLOCK_SIZE - 1);
	return b ? b : SQ_BLOCK_SIZE;
}

static inline const char *iob_dir(void)
{
	const char *d = getenv("SQ_BENCH_DIR");
	return d ? d : "/var/tmp";
}

static inline void iob_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/squib-bench-%d-%s", iob_dir(), (int)getpid(), name);
}

/* An anonymous, populated region; random bytes in the pages keep(p) says. */
static inline uint8_t *iob_region(uint64_t size, int (*keep)(uint64_t page))
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t s = 0x5eed;

	if (p == MAP_FAILED)
		return NULL;
	for (uint64_t pg = 0; pg < size / SQ_PAGE_SIZE; pg++) {
		if (keep && !keep(pg))
			continue;
		uint64_t *w = (uint64_t *)(p + pg * SQ_PAGE_SIZE);
		for (unsigned i = 0; i < SQ_PAGE_SIZE / 8; i++)
			w[i] = sq_splitmix64(&s);
	}
	return p;
}

/* A new empty file (O_RDWR); the caller closes and unlinks it. */
static inline int iob_fresh(const char *path, int flags)
{
	unlink(path);
	return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | flags, 0600);
}

/* Drop a file's pages from the page cache (after it was synced). */
static inline void iob_evict(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Label with what ran: backend, queue depth, threads, O_DIRECT, size. */
static inline void iob_label(struct sq_bench *b, const struct sq_writer_report *r, uint64_t size)
{
	char l[160];
	snprintf(l, sizeof(l), "backend=%s qd=%u threads=%u direct=%d size=%lluMiB",
		 sq_io_backend_name(r->backend), r->queue_depth, r->threads, r->direct,
		 (unsigned long long)(size >> 20));
	sq_bench_label(b, l);
}

/* bench_write.c: the shared random region (kept for the run), a raw
 * sequential O_DIRECT io_uring transfer, and the best queue depth of it. */
uint8_t *sq_iob_random_region(uint64_t size);
int sq_iob_raw_uring(int fd, uint8_t *buf, uint64_t size, unsigned qd, int write);
unsigned sq_iob_best_qd(int write);

#endif /* SQ_BENCH_IO_H */
