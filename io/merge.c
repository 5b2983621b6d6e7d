/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/merge.c - squash a chain into one full memory file.
 *
 * Invariants:
 *  - Pages are of the chain's finest page size. owner[p] is 0 (hole) or
 *    1 + the index of the last layer holding page p; crc[p] is that
 *    layer's CRC for it when its pages are the output's, so a one-size
 *    chain's output manifest costs no read of page data. A page cut from
 *    a coarser layer page gets the CRC of its own bytes, computed after
 *    that layer page is checked against its own CRC (derive_crcs).
 *  - Output extents are the maximal runs of owned pages; copies are the
 *    maximal runs with one owner, each page read once, moved with
 *    copy_file_range at the same offset (a hole stays a hole), in file
 *    order behind a readahead window.
 *  - The output (memory file, manifest, and the last layer's state file
 *    when it is the one the manifest names) is one group commit through
 *    "<out stem>.commit" (squib/atomic_file.h): after a crash at any
 *    instant, recovery leaves the complete old or the complete new output.
 *    In-place mode is the same commit with the base as destination.
 *  - The output's files are compared with every input's memory file and
 *    manifest by device and inode, under the output's lock: an output that
 *    is an input (other than the base of an in-place merge) is refused
 *    before anything is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/merge.h>

#include "core/clock.h"
#include "core/endian.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/foreign.h"
#include "io/io_internal.h"

#define FALLBACK_CHUNK (1u << 20)

/* copy_file_range refused (other filesystem, tmpfs, ...): read and write. */
static int copy_plain(int in, int out, off_t off, uint64_t len)
{
	uint8_t *buf = malloc(FALLBACK_CHUNK);
	int rc = 0;

	if (!buf)
		return sq_err(SQ_E_NOMEM, "out of memory");
	while (len && !rc) {
		size_t chunk = len > FALLBACK_CHUNK ? FALLBACK_CHUNK : (size_t)len;
		int r = sq_sys_pread_all(SQ_SITE_MEMFILE_READ, in, buf, chunk, off);
		if (r == -EIO)
			rc = sq_err(SQ_E_VERIFY, "memory file is truncated at offset %lld",
				    (long long)off);
		else if (r < 0)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -r, "read");
		else if ((r = sq_sys_pwrite_all(SQ_SITE_MERGE_COPY, out, buf, chunk, off)) < 0)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -r, "write");
		off += (off_t)chunk;
		len -= chunk;
	}
	free(buf);
	return rc;
}

static int copy_range(int in, int out, uint64_t off, uint64_t len)
{
	off_t a = (off_t)off, b = (off_t)off;

	while (len) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t r = sq_sys_copy_file_range(SQ_SITE_MERGE_COPY, in, &a, out, &b, chunk);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r == -EXDEV || r == -EOPNOTSUPP || r == -EINVAL || r == -ENOSYS)
			return copy_plain(in, out, a, len);
		if (r < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, (int)-r, "copy_file_range");
		if (r == 0)
			return sq_err(SQ_E_VERIFY, "memory file is truncated at offset %lld",
				      (long long)a);
		len -= (uint64_t)r;
	}
	return 0;
}

struct plan {
	uint8_t *owner;   /* 0 = none, else layer + 1 (at most 255 layers) */
	uint8_t *derived; /* 1: owner's pages are coarser, crc[] is its page's CRC */
	uint64_t *crc;
	uint64_t pages; /* of 1 << shift bytes, the last one possibly partial */
	uint64_t size;  /* bytes */
	unsigned shift;
};

/*
 * The output's page size is the finest of the chain: every layer's page is
 * then a whole number of output pages (page sizes are powers of two), so a
 * byte belongs to the newest layer whose extents cover it. A page whose
 * owner has the output's page size takes over its CRC; a page cut from a
 * coarser owner page is marked derived (derive_crcs).
 */
static int make_plan(struct sq_layer *ls, size_t n, struct plan *pl)
{
	pl->shift = ls[0].shift;
	for (size_t i = 1; i < n; i++)
		if (ls[i].shift < pl->shift)
			pl->shift = ls[i].shift;
	pl->size = ls[0].size;
	pl->pages = sq_io_pages(ls[0].size, pl->shift);
	pl->owner = calloc(pl->pages ? pl->pages : 1, 1);
	pl->derived = calloc(pl->pages ? pl->pages : 1, 1);
	pl->crc = malloc((pl->pages ? pl->pages : 1) * sizeof(*pl->crc));
	if (!pl->owner || !pl->derived || !pl->crc)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct sq_manifest *m = ls[i].m;
		const unsigned k = ls[i].shift - pl->shift;
		uint64_t c = 0;
		for (size_t e = 0; e < m->nextents; e++)
			for (uint64_t p = 0; p < m->extents[e].npages; p++, c++) {
				uint64_t a = (m->extents[e].first_page + p) << k;
				uint64_t b = a + ((uint64_t)1 << k);
				for (uint64_t q = a; q < b && q < pl->pages; q++) {
					pl->owner[q] = (uint8_t)(i + 1);
					pl->derived[q] = k != 0;
					pl->crc[q] = m->crcs[c];
				}
			}
	}
	return 0;
}

/*
 * The CRCs of the derived pages: each owner page they are cut from is read
 * once, checked against the owner's manifest CRC (a damaged page is
 * refused, never given a fresh CRC), and each output page of it that the
 * owner still holds gets the CRC of its own bytes.
 */
static int derive_crcs(struct sq_layer *ls, struct plan *pl)
{
	uint8_t *buf = NULL;
	int rc = 0;

	for (uint64_t p = 0; p < pl->pages && !rc; p++) {
		if (!pl->derived[p])
			continue;
		const struct sq_layer *l = &ls[pl->owner[p] - 1];
		const unsigned k = l->shift - pl->shift;
		const uint64_t cp = p >> k, first = cp << k;
		const uint64_t off = cp << l->shift, len = sq_io_page_len(cp, l->shift, pl->size);
		if (!buf && !(buf = malloc(SQ_PAGE_SIZE_MAX)))
			return sq_err(SQ_E_NOMEM, "out of memory");
		int r = sq_sys_pread_all(SQ_SITE_MEMFILE_READ, l->fd, buf, (size_t)len, (off_t)off);
		if (r == -EIO)
			rc = sq_err(SQ_E_VERIFY, "%s is truncated at offset %llu", l->path,
				    (unsigned long long)off);
		else if (r < 0)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -r, l->path);
		else if (sq_crc64(buf, (size_t)len) != pl->crc[p])
			rc = sq_err(SQ_E_VERIFY, "%s: page %llu (%u bytes) does not match its "
						 "manifest CRC", l->path, (unsigned long long)cp,
				    1u << l->shift);
		for (uint64_t q = p; q < first + ((uint64_t)1 << k) && q < pl->pages && !rc; q++) {
			if (!pl->derived[q] || pl->owner[q] != pl->owner[p])
				continue;
			uint64_t a = (q - first) << pl->shift;
			pl->crc[q] = sq_crc64(buf + a, (size_t)sq_io_page_len(q, pl->shift, pl->size));
			pl->derived[q] = 0;
		}
	}
	free(buf);
	return rc;
}

/* Next run [*s, *e) of pages with one owner >= @min_owner, from *p on. */
static int next_run(const struct plan *pl, uint64_t *p, uint8_t min_owner, uint64_t *s,
		    uint64_t *e)
{
	while (*p < pl->pages) {
		uint8_t o = pl->owner[*p];
		*s = *p;
		while (*p < pl->pages && pl->owner[*p] == o)
			(*p)++;
		*e = *p;
		if (o >= min_owner)
			return o;
	}
	return 0;
}

#define MERGE_WINDOW_BYTES (64ull << 20) /* readahead ahead of the copy */
#define MERGE_SLICE_BYTES (64ull << 20)  /* workers take 64 MiB slices of the region */

struct apply_job {
	struct sq_layer *ls;
	const struct plan *pl;
	uint8_t min_owner;
	int out;
	atomic_uint_fast64_t next_slice;
	atomic_uint_fast64_t extents, bytes;
	struct sq_first_err err;
	struct sq_prog *pg; /* reported by worker 0, the calling thread */
};

/*
 * Copy the runs inside pages [p, end) to their owners' content. Each
 * copy_file_range reads its source synchronously, so small runs would wait
 * for the device one by one: a readahead hint (posix_fadvise WILLNEED, no
 * data moves) runs a 64 MiB window ahead of the copies.
 */
static int apply_slice(struct apply_job *j, uint64_t p, uint64_t end, int reporter)
{
	const struct plan *pl = j->pl;
	uint64_t hint = p, hs, he, s, e;
	const uint64_t window = MERGE_WINDOW_BYTES >> pl->shift;
	int rc = 0, o;

	while (!rc && p < end && (o = next_run(pl, &p, j->min_owner, &s, &e))) {
		if (s >= end)
			break;
		if (e > end) {
			p = e = end;
		}
		while (hint < end && hint < s + window) {
			int ho = next_run(pl, &hint, j->min_owner, &hs, &he);
			if (!ho || hs >= end)
				break;
			if (he > end)
				he = end;
			posix_fadvise(j->ls[ho - 1].fd, (off_t)(hs << pl->shift),
				      (off_t)((he - hs) << pl->shift), POSIX_FADV_WILLNEED);
		}
		/* The run's bytes, up to the end of a partial last page. */
		uint64_t a = s << pl->shift, b = e << pl->shift;
		if (b > pl->size)
			b = pl->size;
		rc = copy_range(j->ls[o - 1].fd, j->out, a, b - a);
		if (!rc) {
			atomic_fetch_add_explicit(&j->extents, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&j->bytes, b - a, memory_order_relaxed);
			sq_prog_add(j->pg, b - a);
		}
		if (!rc && reporter)
			rc = sq_prog_poll(j->pg);
	}
	return rc;
}

static void apply_worker(void *arg, unsigned wi)
{
	struct apply_job *j = arg;
	const uint64_t per = MERGE_SLICE_BYTES >> j->pl->shift;
	uint64_t nslices = (j->pl->pages + per - 1) / per;

	while (!sq_first_err_failed(&j->err)) {
		/* Relaxed: the counter only hands out slice numbers. */
		uint64_t sl = atomic_fetch_add_explicit(&j->next_slice, 1, memory_order_relaxed);
		if (sl >= nslices)
			break;
		uint64_t a = sl * per, b = a + per;
		/* sq_par_run runs worker 0 on the calling thread: it reports. */
		int rc = apply_slice(j, a, b < j->pl->pages ? b : j->pl->pages, wi == 0);
		if (rc) {
			sq_first_err_set(&j->err, rc);
			break;
		}
	}
}

/*
 * Copy every owner run (in place: only the diffs' runs) with @threads
 * workers, each on 64 MiB slices of the region, so several reads are in
 * flight at once. A run that crosses a slice boundary is copied in two
 * parts, by whichever workers take the slices; the result is the same.
 */
static int apply(struct sq_layer *ls, const struct plan *pl, int with_base, int out,
		 const struct sq_merge_opts *o, struct sq_merge_report *rep)
{
	struct apply_job j = { .ls = ls, .pl = pl, .min_owner = with_base ? 1 : 2, .out = out };
	const uint64_t per = MERGE_SLICE_BYTES >> pl->shift;
	uint64_t nslices = (pl->pages + per - 1) / per;
	unsigned threads = o->threads;
	uint64_t copy_pages = 0;
	struct sq_prog pg;
	int rc;

	for (uint64_t p = 0; p < pl->pages; p++)
		copy_pages += pl->owner[p] >= j.min_owner;
	rc = sq_prog_begin(&pg, o->progress, o->progress_ctx, SQ_PROGRESS_MERGE_COPY, 0,
			   copy_pages << pl->shift);
	if (rc)
		return rc;
	j.pg = &pg;

	atomic_init(&j.next_slice, 0);
	atomic_init(&j.extents, 0);
	atomic_init(&j.bytes, 0);
	sq_first_err_init(&j.err);
	if (!threads)
		threads = sq_online_cpus();
	if (threads > nslices)
		threads = nslices ? (unsigned)nslices : 1;
	rc = sq_par_run(threads, apply_worker, &j);
	if (!rc)
		rc = sq_first_err_raise(&j.err);
	if (!rc)
		rc = sq_prog_end(&pg);
	rep->extents_copied += atomic_load_explicit(&j.extents, memory_order_relaxed);
	rep->bytes_copied += atomic_load_explicit(&j.bytes, memory_order_relaxed);
	sq_first_err_destroy(&j.err);
	return rc;
}

static int out_manifest(const struct sq_layer *ls, size_t n, const struct plan *pl,
			struct sq_manifest **out)
{
	struct sq_manifest *m = calloc(1, sizeof(*m));
	const struct sq_manifest *last = ls[n - 1].m;
	size_t ne = 0;
	uint64_t np = 0;

	if (!m)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (uint64_t p = 0; p < pl->pages; p++) {
		if (!pl->owner[p])
			continue;
		np++;
		if (p == 0 || !pl->owner[p - 1])
			ne++;
	}
	m->extents = malloc((ne ? ne : 1) * sizeof(*m->extents));
	m->crcs = malloc((np ? np : 1) * sizeof(*m->crcs));
	if (!m->extents || !m->crcs) {
		sq_manifest_destroy(m);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	for (uint64_t p = 0; p < pl->pages; p++) {
		if (!pl->owner[p])
			continue;
		if (p == 0 || !pl->owner[p - 1])
			m->extents[m->nextents++] = (struct sq_run){ p, 0 };
		m->extents[m->nextents - 1].npages++;
		m->crcs[m->npages++] = pl->crc[p];
	}
	m->id = last->id;
	m->kind = SQ_SNAPSHOT_FULL;
	m->page_size = 1u << pl->shift;
	m->region_size = ls[0].size;
	m->state_size = last->state_size;
	m->state_crc = last->state_crc;
	*out = m;
	return 0;
}

/* 1 when the file at @path exists and is the file @st describes. */
static int same_file(const char *path, const struct stat *st)
{
	struct stat o;

	return stat(path, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

/* Refuse an output file (@outs[0..k)) that is a layer's memory file or manifest. */
static int check_not_input(const struct sq_layer *ls, size_t n, int in_place,
			   char outs[][4096], size_t k)
{
	for (size_t i = in_place ? 1 : 0; i < n; i++) {
		struct stat mem, man;
		char mp[4096];
		int has_man = !sq_manifest_path(ls[i].path, mp, sizeof(mp)) && stat(mp, &man) == 0;

		if (fstat(ls[i].fd, &mem) < 0)
			return sq_err_sys(SQ_E_MEMORY_IO, errno, ls[i].path);
		for (size_t j = 0; j < k; j++)
			if (same_file(outs[j], &mem) || (has_man && same_file(outs[j], &man)))
				return sq_err(SQ_E_OUTPUT_IS_INPUT, "output %s is the input %s: "
								    "write the merge to a new path",
					      outs[j], ls[i].path);
	}
	return 0;
}

/* The last layer's state file, when it is the one @m names; else *len = 0. */
static int last_state(const struct sq_layer *l, const struct sq_manifest *m, uint8_t **buf,
		      size_t *len)
{
	char sp[4096];
	struct stat st;
	size_t n = strlen(l->path);
	int fd;

	*buf = NULL;
	*len = 0;
	if (n <= 4 || strcmp(l->path + n - 4, ".mem") || m->state_size < 8 ||
	    m->state_size > 10000000u)
		return 0;
	snprintf(sp, sizeof(sp), "%.*s.snap", (int)(n - 4), l->path);
	fd = sq_sys_open_input(SQ_SITE_MERGE_OPEN, sp, 0, &st);
	if (fd < 0)
		return 0; /* no state file beside the layer: the output has none */
	int rc = 0;
	if ((uint64_t)st.st_size == m->state_size)
		rc = sq_read_dense(SQ_SITE_MEMFILE_READ, fd, m->state_size, SQ_E_CORRUPT, sp, buf);
	close(fd);
	if (rc || !*buf)
		return rc;
	if (sq_le_get64(*buf + m->state_size - 8) != m->state_crc || sq_crc64(*buf, m->state_size) != 0) {
		free(*buf);
		*buf = NULL;
		return 0;
	}
	*len = m->state_size;
	return 0;
}

/*
 * Write the output as one group commit: the memory file (@out), its
 * manifest and, when the last layer has the state file the manifest names,
 * a copy of it as "<out stem>.snap".
 */
static int merge_commit(struct sq_layer *ls, size_t n, const struct plan *pl,
			const struct sq_manifest *m, const char *out, int in_place,
			const struct sq_merge_opts *o, struct sq_merge_report *rep)
{
	char outs[3][4096], rec[4096];
	struct sq_atomic_group *g = NULL;
	struct sq_atomic_file *fm = NULL, *f;
	uint8_t *state = NULL, *mbuf = NULL;
	size_t slen = 0, mlen = 0, k = 2;
	size_t on;
	int rc;

	if (!out)
		return sq_err(SQ_E_INVAL, "merge: no output path");
	if (!m)
		return sq_err(SQ_E_INTERNAL, "merge: no output manifest");
	on = strlen(out);

	snprintf(outs[0], sizeof(outs[0]), "%s", out);
	rc = sq_manifest_path(out, outs[1], sizeof(outs[1]));
	if (!rc)
		rc = sq_commit_path(out, rec, sizeof(rec));
	if (!rc)
		rc = last_state(&ls[n - 1], m, &state, &slen);
	if (!rc && slen && on > 4 && !strcmp(out + on - 4, ".mem"))
		snprintf(outs[k++], sizeof(outs[2]), "%.*s.snap", (int)(on - 4), out);
	if (!rc)
		rc = sq_atomic_group_open(rec, 0, &g);
	if (!rc)
		rc = check_not_input(ls, n, in_place, outs, k);
	if (!rc)
		rc = sq_atomic_group_add(g, outs[0], NULL, &fm);
	if (!rc) {
		rc = sq_sys_ftruncate(SQ_SITE_MERGE_TRUNCATE, sq_atomic_fd(fm), (off_t)ls[0].size);
		if (rc)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, sq_atomic_temp_path(fm));
	}
	if (!rc)
		rc = apply(ls, pl, 1, sq_atomic_fd(fm), o, rep);
	if (!rc && (rc = sq_sys_fsync(SQ_SITE_MERGE_FSYNC, sq_atomic_fd(fm))) < 0)
		rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, sq_atomic_temp_path(fm));
	if (!rc)
		rc = sq_manifest_encode(m, (void **)&mbuf, &mlen);
	if (!rc)
		rc = sq_atomic_group_add(g, outs[1], NULL, &f);
	if (!rc)
		rc = sq_atomic_write(f, mbuf, mlen, SQ_E_IO);
	if (!rc && k == 3)
		rc = sq_atomic_group_add(g, outs[2], NULL, &f);
	if (!rc && k == 3)
		rc = sq_atomic_write(f, state, slen, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_group_commit(g);
	sq_atomic_group_destroy(g);
	free(mbuf);
	free(state);
	return rc;
}

int sq_merge_chain(const char *const *paths, size_t n, const char *out,
		   const struct sq_merge_opts *opts, struct sq_merge_report *r)
{
	struct sq_merge_report rep = { .size = sizeof(rep), .layers = (unsigned)n };
	struct sq_merge_opts o = SQ_INIT(struct sq_merge_opts);
	struct sq_manifest *m = NULL;
	struct plan pl = { 0 };
	struct sq_layer *ls;
	char *dest = NULL;
	double t0 = sq_clock_s();
	int rc = SQ_SIZED_IN(o, opts, SQ_V0_MERGE_OPTS, "sq_merge_opts");

	if (!rc)
		rc = sq_sized_check(r, SQ_V0_MERGE_REPORT, "sq_merge_report");
	if (rc)
		return rc;
	bool in_place = o.in_place;
	if (n == 0 || n > 255)
		return sq_err(SQ_E_INVAL, "a merge takes 1 to 255 layers, not %zu", n);
	if (!in_place && (!out || !*out))
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: no output path");
	rc = sq_chain_open(paths, n, 0, &ls);
	if (rc)
		return rc;
	/* Layers without a manifest (the original's, Firecracker's): io/foreign.c */
	rc = sq_chain_fill_manifests(ls, n, NULL);
	if (!rc)
		rc = make_plan(ls, n, &pl);
	if (!rc)
		rc = derive_crcs(ls, &pl);
	if (!rc)
		rc = out_manifest(ls, n, &pl, &m);
	if (!rc && !(dest = sq_mem_path_of(in_place ? ls[0].path : out)))
		rc = sq_err(SQ_E_NOMEM, "out of memory");
	if (!rc)
		rc = merge_commit(ls, n, &pl, m, dest, in_place, &o, &rep);
	free(dest);
	rep.pages_out = m ? m->npages : 0;
	rep.seconds = sq_clock_s() - t0;
	if (!rc)
		SQ_SIZED_OUT(r, rep);
	sq_manifest_destroy(m);
	free(pl.owner);
	free(pl.derived);
	free(pl.crc);
	sq_chain_close(ls, n);
	return rc;
}
