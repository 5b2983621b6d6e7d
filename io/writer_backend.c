/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/writer_backend.c - the writer's two backends: synchronous pwritev2 in
 * each worker thread, and one io_uring per worker with a bounded queue.
 *
 * Invariants:
 *  - A worker owns its ring, its requests and its staging buffers; nothing
 *    here is shared between workers, so no atomics are needed.
 *  - inflight counts queued plus submitted requests and never exceeds the
 *    ring size (qd), so io_uring_get_sqe() cannot fail in wb_write.
 *  - stage_refs[s] counts queued writes whose buffer is staging slot s; a
 *    slot is handed out again only when its count is 0.
 *  - A short io_uring write is completed with synchronous writes from the
 *    last 4 KiB boundary reached (rewriting the same bytes is harmless); a
 *    short synchronous write that leaves an unaligned remainder demotes
 *    the file to buffered IO (sq_dio_demote), which is always correct.
 *  - Every completion passes through sq_sys_complete() (fault injection).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "core/err.h"
#include "core/sysio.h"
#include "io/writer_internal.h"

static int sync_write(struct wr_worker *w, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int stalls = 0;

	while (done < len) {
		struct iovec iov = { .iov_base = (void *)(buf + done), .iov_len = len - done };
		ssize_t r = sq_sys_pwritev2(SQ_SITE_WRITER_PWRITE, w->job->fd, &iov, 1,
					    (off_t)(off + done), 0);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, (int)-r, "writing the memory file");
		if (r == 0 && ++stalls > 4)
			return sq_err(SQ_E_SHORT_IO,
				      "memory file I/O error: write made no progress at offset %llu",
				      (unsigned long long)(off + done));
		done += (size_t)r;
		/* An unaligned remainder cannot be written with O_DIRECT. */
		if (done < len && (done & (SQ_PAGE_SIZE - 1)) &&
		    atomic_load_explicit(&w->job->direct, memory_order_relaxed))
			sq_dio_demote(w->job->fd, &w->job->direct);
	}
	w->ios++;
	return 0;
}

#ifdef SQ_WITH_URING
static int complete_one(struct wr_worker *w, struct io_uring_cqe *cqe)
{
	struct wr_req *q = io_uring_cqe_get_data(cqe);
	ssize_t res = sq_sys_complete(SQ_SITE_WRITER_URING, cqe->res, q->len);
	int rc = 0;

	io_uring_cqe_seen(&w->ring, cqe);
	if (res == -EINTR || res == -EAGAIN) {
		rc = sync_write(w, q->buf, q->len, q->off);
	} else if (res < 0) {
		rc = sq_err_sys(SQ_E_MEMORY_IO, (int)-res, "writing the memory file (io_uring)");
	} else if ((size_t)res < q->len) {
		size_t done = (size_t)res & ~(size_t)(SQ_PAGE_SIZE - 1);
		rc = sync_write(w, q->buf + done, q->len - done, q->off + done);
	}
	if (q->slot >= 0)
		w->stage_refs[q->slot]--;
	q->next_free = w->free_reqs;
	w->free_reqs = q;
	w->inflight--;
	return rc;
}

/* Submit what is queued and reap at least @min completions. */
static int reap(struct wr_worker *w, unsigned min)
{
	struct sq_err_first first = { 0 };
	struct io_uring_cqe *cqe;

	if (w->unsubmitted) {
		int r = io_uring_submit_and_wait(&w->ring, min);
		if (r < 0 && r != -EINTR)
			return sq_err_sys(SQ_E_MEMORY_IO, -r, "io_uring_submit");
		if (r >= 0)
			w->unsubmitted -= (unsigned)r > w->unsubmitted ? w->unsubmitted : (unsigned)r;
	}
	while (min) {
		int r = io_uring_wait_cqe(&w->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, -r, "io_uring_wait_cqe");
		sq_err_first_keep(&first, complete_one(w, cqe));
		min--;
	}
	while (io_uring_peek_cqe(&w->ring, &cqe) == 0)
		sq_err_first_keep(&first, complete_one(w, cqe));
	return sq_err_first_result(&first);
}
#endif

int wb_init(struct wr_worker *w)
{
	struct wr_job *j = w->job;
	unsigned qd = j->backend == SQ_IO_URING ? j->qd : 1;

	w->use_uring = 0;
#ifdef SQ_WITH_URING
	if (j->backend == SQ_IO_URING) {
		if (io_uring_queue_init(qd, &w->ring, 0) == 0) {
			w->use_uring = 1;
		} else {
			atomic_store_explicit(&j->fell_back, 1, memory_order_relaxed);
			qd = 1;
		}
	}
#endif
	if (w->use_uring) {
		w->reqs = calloc(qd, sizeof(*w->reqs));
		if (!w->reqs)
			return sq_err(SQ_E_NOMEM, "out of memory");
		for (unsigned i = 0; i < qd; i++) {
			w->reqs[i].next_free = w->free_reqs;
			w->free_reqs = &w->reqs[i];
		}
	}
	if (j->staging) {
		/* Enough buffers to keep the ring busy while pieces are staged. */
		w->nstage = w->use_uring ? (qd < 4 ? qd : 4) : 1;
		w->stage = calloc(w->nstage, sizeof(*w->stage));
		w->stage_refs = calloc(w->nstage, sizeof(*w->stage_refs));
		if (!w->stage || !w->stage_refs)
			return sq_err(SQ_E_NOMEM, "out of memory");
		for (unsigned i = 0; i < w->nstage; i++) {
			w->stage[i] = sq_iobuf_alloc(WR_PIECE_BYTES);
			if (!w->stage[i])
				return sq_err(SQ_E_NOMEM, "out of memory (staging buffers)");
		}
	}
	return 0;
}

int wb_stage(struct wr_worker *w, int *slot)
{
	for (;;) {
		for (unsigned i = 0; i < w->nstage; i++) {
			if (w->stage_refs[i] == 0) {
				*slot = (int)i;
				return 0;
			}
		}
#ifdef SQ_WITH_URING
		int rc = reap(w, 1);
		if (rc)
			return rc;
#else
		return sq_err(SQ_E_INTERNAL, "no free staging buffer");
#endif
	}
}

int wb_write(struct wr_worker *w, const uint8_t *buf, size_t len, uint64_t off, int slot)
{
	w->bytes += len;
	w->pages += len / SQ_PAGE_SIZE;
#ifdef SQ_WITH_URING
	if (w->use_uring) {
		struct wr_req *q;
		struct io_uring_sqe *sqe;

		while (w->inflight >= w->job->qd) {
			int rc = reap(w, 1);
			if (rc)
				return rc;
		}
		q = w->free_reqs;
		w->free_reqs = q->next_free;
		*q = (struct wr_req){ .buf = buf, .len = len, .off = off, .slot = slot };
		sqe = io_uring_get_sqe(&w->ring);
		io_uring_prep_write(sqe, w->job->fd, buf, (unsigned)len, off);
		io_uring_sqe_set_data(sqe, q);
		if (slot >= 0)
			w->stage_refs[slot]++;
		w->inflight++;
		w->unsubmitted++;
		w->ios++;
		/* Submit in batches: a quarter of the ring at a time. */
		if (w->unsubmitted >= (w->job->qd + 3) / 4) {
			int r = io_uring_submit(&w->ring);
			if (r < 0 && r != -EINTR && r != -EAGAIN)
				return sq_err_sys(SQ_E_MEMORY_IO, -r, "io_uring_submit");
			if (r > 0)
				w->unsubmitted -= (unsigned)r > w->unsubmitted ? w->unsubmitted
									  : (unsigned)r;
		}
		return 0;
	}
#endif
	(void)slot;
	return sync_write(w, buf, len, off);
}

int wb_drain(struct wr_worker *w)
{
	struct sq_err_first first = { 0 };
#ifdef SQ_WITH_URING
	while (w->use_uring && w->inflight) {
		int r = reap(w, w->inflight);
		sq_err_first_keep(&first, r);
		if (r && w->unsubmitted)
			break; /* the ring itself failed; nothing more will complete */
	}
#else
	(void)w;
#endif
	return sq_err_first_result(&first);
}

void wb_fini(struct wr_worker *w)
{
#ifdef SQ_WITH_URING
	if (w->use_uring)
		io_uring_queue_exit(&w->ring);
#endif
	free(w->reqs);
	for (unsigned i = 0; w->stage && i < w->nstage; i++)
		if (w->stage[i])
			sq_iobuf_free(w->stage[i], WR_PIECE_BYTES);
	free(w->stage);
	free(w->stage_refs);
	w->reqs = NULL;
	w->stage = NULL;
	w->stage_refs = NULL;
}
