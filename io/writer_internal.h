/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/writer_internal.h - the writer's job, its workers and the two write
 * backends (io/writer_backend.c) behind one small interface:
 *
 *   wb_init     per worker: ring (io_uring) or nothing (pwritev2)
 *   wb_stage    a free staging buffer (waits for in-flight writes)
 *   wb_write    queue or perform one write; the buffer stays untouched
 *               until the write completes (slot refcount)
 *   wb_drain    wait for every queued write of this worker
 *   wb_fini     release the ring and buffers
 */
#ifndef SQ_IO_WRITER_INTERNAL_H
#define SQ_IO_WRITER_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <squib/writer.h>

#include "io/io_internal.h"

#ifdef SQ_WITH_URING
#include <liburing.h>
#endif

#define WR_PIECE_PAGES 256u /* pieces never cross a 1 MiB boundary of the region */
#define WR_PIECE_BYTES ((size_t)WR_PIECE_PAGES * SQ_PAGE_SIZE)

struct wr_piece {
	uint64_t first_page;
	uint64_t idx; /* index of its first page in the job's per-page arrays */
	uint32_t npages;
};

struct wr_job {
	int fd;
	atomic_int direct;       /* O_DIRECT in effect (demoted on unaligned short IO) */
	int staging;
	enum sq_mem_layout layout;
	enum sq_io_backend backend;
	unsigned qd;
	const struct sq_mem_source *src;
	struct wr_piece *pieces;
	size_t npieces;
	atomic_size_t next;      /* next piece to take (relaxed: work counter) */
	atomic_int fell_back;    /* a worker could not create its ring */
	uint64_t *crc;           /* per input page */
	uint8_t *zero;           /* per input page: 1 = zero page, left a hole */
	struct sq_first_err err;
	struct wr_worker *workers;
};

struct wr_req {
	const uint8_t *buf;
	size_t len;
	uint64_t off;
	int slot;
	struct wr_req *next_free;
};

struct wr_worker {
	struct wr_job *job;
	int use_uring;
#ifdef SQ_WITH_URING
	struct io_uring ring;
#endif
	struct wr_req *reqs;
	struct wr_req *free_reqs;
	unsigned inflight;
	unsigned unsubmitted;
	unsigned nstage;
	void **stage;
	unsigned *stage_refs;
	uint64_t pages, bytes, ios;
};

int wb_init(struct wr_worker *w);
int wb_stage(struct wr_worker *w, int *slot);
int wb_write(struct wr_worker *w, const uint8_t *buf, size_t len, uint64_t off, int slot);
int wb_drain(struct wr_worker *w);
void wb_fini(struct wr_worker *w);

#endif /* SQ_IO_WRITER_INTERNAL_H */
