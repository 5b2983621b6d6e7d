/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/writer.c - the parallel page-copy writer: pieces, the one-pass
 * zero-check + CRC + write, and the manifest built from the results.
 *
 * Invariants:
 *  - Pieces are the input runs cut at every 1 MiB boundary of the region,
 *    in region order; piece i covers input pages [idx, idx + npages) of
 *    the per-page arrays crc[] and zero[]. Workers take pieces through an
 *    atomic counter (relaxed: it only hands out indices; the results are
 *    read after the join, which orders them).
 *  - Each page is zero-checked and checksummed exactly once, on the bytes
 *    that are written (the staging copy when the source is live).
 *  - The manifest is built after the join from pieces in region order, so
 *    it and the file's bytes depend only on content, runs and layout.
 *  - The file is truncated to 0 and then to the region size before any
 *    write, so no write extends it and stale content cannot survive.
 *  - A region whose size is not a multiple of 4 KiB ends in a partial
 *    page (the original's ram_size allows one). It is never a worker's:
 *    it is the job's last piece, kept out of the parallel pass and written
 *    after the join, buffered, with exactly its bytes (its zero check sees
 *    the rest of its 4 KiB as zero, its CRC covers its bytes only).
 */
#include <errno.h>
#include <fcntl.h>
#include <isa-l/mem_routines.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <squib/crc64.h>
#include <squib/writer.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "io/writer_internal.h"

static atomic_int uring_state; /* 0 unknown, 1 usable, 2 refused */

int sq_io_uring_usable(void)
{
	int s = atomic_load_explicit(&uring_state, memory_order_relaxed);
#ifdef SQ_WITH_URING
	if (s == 0) {
		struct io_uring r;
		s = io_uring_queue_init(2, &r, 0) == 0 ? 1 : 2;
		if (s == 1)
			io_uring_queue_exit(&r);
		/* Relaxed: a racing probe computes the same answer. */
		atomic_store_explicit(&uring_state, s, memory_order_relaxed);
	}
#else
	s = 2;
#endif
	return s == 1;
}

const char *sq_io_backend_name(enum sq_io_backend b)
{
	switch (b) {
	case SQ_IO_URING:
		return "io_uring";
	case SQ_IO_PWRITEV:
		return "pwritev2";
	default:
		return "auto";
	}
}

static int do_piece(struct wr_worker *w, const struct wr_piece *pc)
{
	struct wr_job *j = w->job;
	uint64_t off = pc->first_page << SQ_PAGE_SHIFT;
	size_t len = (size_t)pc->npages << SQ_PAGE_SHIFT;
	uint64_t *crc = j->crc + pc->idx;
	uint8_t *zero = j->zero ? j->zero + pc->idx : NULL;
	const uint8_t *data;
	int slot = -1, rc;
	uint32_t start = UINT32_MAX;

	if (j->staging) {
		rc = wb_stage(w, &slot);
		if (rc)
			return rc;
		uint8_t *buf = w->stage[slot];
		if (j->src->base) {
			memcpy(buf, (const uint8_t *)j->src->base + off, len);
		} else {
			rc = j->src->read(j->src->ctx, off, buf, len);
			if (rc)
				return rc < 0 ? rc : sq_err(SQ_E_MEMORY_IO, "page reader failed");
		}
		data = buf;
	} else {
		data = (const uint8_t *)j->src->base + off;
	}
	for (uint32_t p = 0; p <= pc->npages; p++) {
		int is_data = 0;

		if (p < pc->npages) {
			const uint8_t *pg = data + ((size_t)p << SQ_PAGE_SHIFT);
			/* Zero check first: it pulls the page into L1 for the CRC. */
			is_data = !zero || isal_zero_detect((void *)pg, SQ_PAGE_SIZE) != 0;
			if (zero)
				zero[p] = !is_data;
			if (is_data)
				crc[p] = sq_crc64(pg, SQ_PAGE_SIZE);
		}
		if (is_data && start == UINT32_MAX) {
			start = p;
		} else if (!is_data && start != UINT32_MAX) {
			rc = wb_write(w, data + ((size_t)start << SQ_PAGE_SHIFT),
				      (size_t)(p - start) << SQ_PAGE_SHIFT,
				      off + ((uint64_t)start << SQ_PAGE_SHIFT), slot);
			if (rc)
				return rc;
			start = UINT32_MAX;
		}
	}
	return 0;
}

static void worker_main(void *arg, unsigned i)
{
	struct wr_job *j = arg;
	struct wr_worker *w = &j->workers[i];
	int rc;

	w->job = j;
	rc = wb_init(w);
	while (!rc && !sq_first_err_failed(&j->err)) {
		size_t n = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
		if (n >= j->npieces)
			break;
		rc = do_piece(w, &j->pieces[n]);
	}
	/* A failed drain after a failed piece keeps the piece's error. */
	struct sq_err_first first = { 0 };
	sq_err_first_keep(&first, rc);
	sq_err_first_keep(&first, wb_drain(w));
	wb_fini(w);
	sq_first_err_set(&j->err, sq_err_first_result(&first));
}

static int check_runs(const struct sq_run *runs, size_t nruns, uint64_t npages, uint64_t *total)
{
	uint64_t end = 0, sum = 0;

	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].npages == 0 || runs[i].first_page < end)
			return sq_err(SQ_E_INVAL, "runs must be sorted, non-empty and disjoint "
						  "(run %zu)", i);
		if (runs[i].first_page > npages || runs[i].npages > npages - runs[i].first_page)
			return sq_err(SQ_E_RANGE, "run %zu (pages %llu+%llu) is outside the "
						  "region of %llu pages", i,
				      (unsigned long long)runs[i].first_page,
				      (unsigned long long)runs[i].npages,
				      (unsigned long long)npages);
		end = runs[i].first_page + runs[i].npages;
		sum += runs[i].npages;
	}
	*total = sum;
	return 0;
}

static int make_pieces(struct wr_job *j, const struct sq_run *runs, size_t nruns)
{
	size_t n = 0;

	for (size_t i = 0; i < nruns; i++) {
		uint64_t a = runs[i].first_page, e = a + runs[i].npages;
		n += (size_t)((e - 1) / WR_PIECE_PAGES - a / WR_PIECE_PAGES + 1);
	}
	j->pieces = malloc((n + 1) * sizeof(*j->pieces)); /* + 1: a split tail */
	if (!j->pieces)
		return sq_err(SQ_E_NOMEM, "out of memory");
	uint64_t idx = 0;
	n = 0;
	for (size_t i = 0; i < nruns; i++) {
		uint64_t p = runs[i].first_page, e = p + runs[i].npages;
		while (p < e) {
			uint64_t ce = (p / WR_PIECE_PAGES + 1) * WR_PIECE_PAGES;
			if (ce > e)
				ce = e;
			j->pieces[n++] = (struct wr_piece){ .first_page = p, .idx = idx,
							    .npages = (uint32_t)(ce - p) };
			idx += ce - p;
			p = ce;
		}
	}
	j->npieces = n;
	return 0;
}

/*
 * Take the partial last page (@npages - 1) out of the pieces the workers
 * get: 1 and *@tail when the runs include it, else 0.
 */
static int split_tail(struct wr_job *j, uint64_t npages, struct wr_piece *tail)
{
	struct wr_piece *last = j->npieces ? &j->pieces[j->npieces - 1] : NULL;

	if (!last || last->first_page + last->npages != npages)
		return 0;
	*tail = (struct wr_piece){ .first_page = npages - 1,
				   .idx = last->idx + last->npages - 1, .npages = 1 };
	if (--last->npages == 0)
		j->npieces--;
	return 1;
}

/*
 * The partial last page: @len bytes at piece @pc, read, zero-checked (full
 * layout), checksummed and written (buffered: the caller has cleared
 * O_DIRECT) after the parallel pass. Adds to *@pages / *@bytes.
 */
static int write_tail(struct wr_job *j, const struct wr_piece *pc, size_t len, uint64_t *pages,
		      uint64_t *bytes)
{
	uint8_t buf[SQ_PAGE_SIZE];
	uint64_t off = pc->first_page << SQ_PAGE_SHIFT;
	int rc = 0;

	memset(buf, 0, sizeof(buf));
	if (j->src->base)
		memcpy(buf, (const uint8_t *)j->src->base + off, len);
	else if ((rc = j->src->read(j->src->ctx, off, buf, len)) != 0)
		return rc < 0 ? rc : sq_err(SQ_E_MEMORY_IO, "page reader failed");
	int is_data = !j->zero || isal_zero_detect(buf, sizeof(buf)) != 0;
	if (j->zero)
		j->zero[pc->idx] = !is_data;
	if (!is_data)
		return 0;
	j->crc[pc->idx] = sq_crc64(buf, len);
	rc = sq_sys_pwrite_all(SQ_SITE_WRITER_PWRITE, j->fd, buf, len, (off_t)off);
	if (rc)
		return sq_err_sys(SQ_E_MEMORY_IO, -rc, "writing the memory file");
	(*pages)++;
	*bytes += len;
	return 0;
}

/* Extents = maximal runs of written pages; CRCs compacted in place. */
static int build_manifest(struct wr_job *j, enum sq_mem_layout layout, uint64_t size,
			  struct sq_manifest **out)
{
	struct sq_manifest *m = calloc(1, sizeof(*m));
	size_t next = 0, cap = 0;
	uint64_t w = 0, prev_end = UINT64_MAX;

	if (!m)
		return sq_err(SQ_E_NOMEM, "out of memory");
	m->kind = layout == SQ_LAYOUT_DIFF ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL;
	m->page_size = SQ_PAGE_SIZE;
	m->region_size = size;
	for (size_t i = 0; i < j->npieces; i++) {
		const struct wr_piece *pc = &j->pieces[i];
		for (uint32_t p = 0; p < pc->npages; p++) {
			uint64_t r = pc->idx + p, page = pc->first_page + p;
			if (j->zero && j->zero[r])
				continue;
			j->crc[w++] = j->crc[r];
			if (page == prev_end) {
				m->extents[next - 1].npages++;
			} else {
				if (next == cap) {
					size_t nc = cap ? cap * 2 : 64;
					void *e = realloc(m->extents, nc * sizeof(*m->extents));
					if (!e) {
						sq_manifest_destroy(m);
						return sq_err(SQ_E_NOMEM, "out of memory");
					}
					m->extents = e;
					cap = nc;
				}
				m->extents[next++] = (struct sq_run){ .first_page = page, .npages = 1 };
			}
			prev_end = page + 1;
		}
	}
	m->nextents = next;
	m->npages = w;
	m->crcs = j->crc; /* ownership moves to the manifest */
	j->crc = NULL;
	*out = m;
	return 0;
}

int sq_memfile_write(int fd, enum sq_mem_layout layout, const struct sq_mem_source *src,
		     const struct sq_run *runs, size_t nruns, const struct sq_writer_opts *opts,
		     struct sq_manifest **mout, struct sq_writer_report *rep)
{
	struct sq_writer_opts o = SQ_INIT(struct sq_writer_opts);
	struct wr_job j = { 0 };
	struct sq_run whole;
	struct wr_piece tail;
	uint64_t npages, total = 0, tail_pages = 0, tail_bytes = 0;
	int has_tail = 0;
	unsigned nthreads;
	int rc, oldfl = -1;
	double t0 = sq_clock_s();

	if (mout)
		*mout = NULL;
	rc = SQ_SIZED_IN(o, opts, SQ_V0_WRITER_OPTS, "sq_writer_opts");
	if (!rc)
		rc = sq_sized_check(rep, SQ_V0_WRITER_REPORT, "sq_writer_report");
	if (rc)
		return rc;
	if (!src || (!src->base && !src->read) || (layout != SQ_LAYOUT_FULL &&
						   layout != SQ_LAYOUT_DIFF))
		return sq_err(SQ_E_INVAL, "memory source or layout missing");
	if (src->size == 0 || src->size > SQ_MANIFEST_MAX_REGION)
		return sq_err(SQ_E_ALIGN, "region size %llu is not from 1 byte to 16 TiB",
			      (unsigned long long)src->size);
	npages = sq_io_pages(src->size, SQ_PAGE_SHIFT); /* a partial last page included */
	if (!runs) {
		whole = (struct sq_run){ .first_page = 0, .npages = npages };
		runs = &whole;
		nruns = 1;
	}
	rc = check_runs(runs, nruns, npages, &total);
	if (rc)
		return rc;

	j.fd = fd;
	j.layout = layout;
	j.src = src;
	j.qd = o.queue_depth ? o.queue_depth : 32;
	j.backend = o.backend;
	if (j.backend == SQ_IO_AUTO || j.backend == SQ_IO_URING)
		j.backend = sq_io_uring_usable() ? SQ_IO_URING : SQ_IO_PWRITEV;
	sq_first_err_init(&j.err);
	atomic_init(&j.next, 0);
	atomic_init(&j.fell_back, 0);

	rc = sq_sys_ftruncate(SQ_SITE_WRITER_TRUNCATE, fd, 0);
	if (!rc)
		rc = sq_sys_ftruncate(SQ_SITE_WRITER_TRUNCATE, fd, (off_t)src->size);
	if (rc) {
		rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, "sizing the memory file");
		goto out;
	}
	int direct = o.direct >= 0 ? sq_dio_enable(fd, &oldfl) : 0;
	atomic_init(&j.direct, direct);
	j.staging = src->live || !src->base ||
		    (direct && ((uintptr_t)src->base & (SQ_PAGE_SIZE - 1)));
	rc = make_pieces(&j, runs, nruns);
	if (rc)
		goto out;
	if (src->size % SQ_PAGE_SIZE)
		has_tail = split_tail(&j, npages, &tail);
	j.crc = malloc((total ? total : 1) * sizeof(*j.crc));
	if (layout == SQ_LAYOUT_FULL)
		j.zero = malloc(total ? total : 1);
	if (!j.crc || (layout == SQ_LAYOUT_FULL && !j.zero)) {
		rc = sq_err(SQ_E_NOMEM, "out of memory (%llu page checksums)",
			    (unsigned long long)total);
		goto out;
	}
	nthreads = o.threads ? o.threads : sq_online_cpus();
	if (nthreads > j.npieces)
		nthreads = j.npieces ? (unsigned)j.npieces : 1;
	j.workers = calloc(nthreads, sizeof(*j.workers));
	if (!j.workers) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto out;
	}
	rc = sq_par_run(nthreads, worker_main, &j);
	if (!rc)
		rc = sq_first_err_raise(&j.err);
	if (!rc && has_tail) {
		if (oldfl >= 0)
			sq_dio_restore(fd, oldfl); /* a partial block: buffered */
		oldfl = -1;
		rc = write_tail(&j, &tail, (size_t)(src->size % SQ_PAGE_SIZE), &tail_pages,
				&tail_bytes);
		j.pieces[j.npieces++] = tail; /* for the manifest, in region order */
	}
	if (!rc && !o.no_sync) {
		rc = sq_sys_fdatasync(SQ_SITE_WRITER_FDATASYNC, fd);
		if (rc)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, "fdatasync of the memory file");
	}
	if (rc)
		goto out;
	struct sq_writer_report r = { .size = sizeof(r), .pages_in = total, .threads = nthreads,
				      .pages_written = tail_pages, .bytes_written = tail_bytes,
				      .io_ops = tail_pages };
	r.direct = atomic_load_explicit(&j.direct, memory_order_relaxed);
	for (unsigned i = 0; i < nthreads; i++) {
		r.pages_written += j.workers[i].pages;
		r.bytes_written += j.workers[i].bytes;
		r.io_ops += j.workers[i].ios;
	}
	r.pages_zero = total - r.pages_written;
	r.backend = atomic_load_explicit(&j.fell_back, memory_order_relaxed) ? SQ_IO_PWRITEV
									     : j.backend;
	r.queue_depth = r.backend == SQ_IO_URING ? j.qd : 1;
	if (mout)
		rc = build_manifest(&j, layout, src->size, mout);
	r.seconds = sq_clock_s() - t0;
	if (!rc)
		SQ_SIZED_OUT(rep, r);
out:
	if (oldfl >= 0)
		sq_dio_restore(fd, oldfl);
	sq_first_err_destroy(&j.err);
	free(j.workers);
	free(j.pieces);
	free(j.crc);
	free(j.zero);
	return rc;
}
