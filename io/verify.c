/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/verify.c - a memory file against its manifest.
 *
 * What "matches" means: the file is exactly region-size bytes; every page
 * of every extent has the manifest's CRC-64; every byte outside the
 * extents reads as zero (holes, or data the filesystem chose to store).
 * The last check reads only the data ranges SEEK_DATA reports outside the
 * extents, so a sparse file costs nothing there.
 */
#include <errno.h>
#include <isa-l/mem_routines.h>
#include <stdlib.h>
#include <time.h>

#include <squib/atomic_file.h>
#include <squib/restore.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/progress.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "io/chain.h"
#include "io/io_internal.h"

/*
 * Data of @l outside @m's extents must be zero. @l's ext[] is SEEK_DATA's,
 * in 4 KiB pages; @m's pages are 4 to 64 KiB, each a whole number of
 * 4 KiB pages, so a 4 KiB page is inside or outside an extent as a whole.
 */
static int check_outside(struct sq_layer *l, const struct sq_manifest *m,
			 struct sq_verify_report *r)
{
	uint8_t *buf = sq_iobuf_alloc(SQ_PAGE_SIZE);
	unsigned k = sq_io_page_shift(m->page_size) - SQ_PAGE_SHIFT; /* 4 KiB pages per page */
	size_t e = 0;
	int rc = 0;

	if (!buf)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t i = 0; i < l->next && !rc; i++) {
		for (uint64_t p = l->ext[i].first_page;
		     p < l->ext[i].first_page + l->ext[i].npages && !rc; p++) {
			uint64_t mp = p >> k;
			while (e < m->nextents &&
			       m->extents[e].first_page + m->extents[e].npages <= mp)
				e++;
			if (e < m->nextents && m->extents[e].first_page <= mp)
				continue;
			size_t len = (size_t)sq_io_page_len(p, SQ_PAGE_SHIFT, l->size);
			rc = sq_sys_pread_all(SQ_SITE_MEMFILE_READ, l->fd, buf, len,
					      (off_t)(p << SQ_PAGE_SHIFT));
			if (rc) {
				rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, l->path);
				break;
			}
			r->bytes_read += len;
			if (isal_zero_detect(buf, len) != 0) {
				r->bad_page = mp;
				rc = sq_err(SQ_E_VERIFY, "memory file does not match its manifest: "
							 "page %llu holds data outside the listed extents",
					    (unsigned long long)mp);
			}
		}
	}
	sq_iobuf_free(buf, SQ_PAGE_SIZE);
	return rc;
}

int sq_memfile_verify(const char *mem_path, const struct sq_manifest *m, unsigned threads,
		      struct sq_verify_report *r)
{
	struct sq_verify_opts o = { .size = sizeof(o), .threads = threads };

	return sq_memfile_verify_ex(mem_path, m, &o, r);
}

int sq_memfile_verify_ex(const char *mem_path, const struct sq_manifest *m,
			 const struct sq_verify_opts *opts, struct sq_verify_report *r)
{
	struct sq_verify_opts o = SQ_INIT(struct sq_verify_opts);
	struct sq_verify_report rep = { .size = sizeof(rep) };
	struct sq_prog pg;
	struct sq_read_stats st = { 0 };
	struct sq_layer l;
	double t0 = sq_clock_s();
	int rc = sq_sized_check(r, SQ_V0_VERIFY_REPORT, "sq_verify_report");

	if (!rc)
		rc = SQ_SIZED_IN(o, opts, SQ_V0_VERIFY_OPTS, "sq_verify_opts");
	if (rc)
		return rc;
	struct sq_manifest *own = NULL;
	struct sq_atomic_group *g = NULL;
	if (!m) {
		/* The file and its manifest are read as one commit: the shared
		 * lock is taken before either is opened. */
		char rp[4096];
		rc = sq_commit_path(mem_path, rp, sizeof(rp));
		if (!rc)
			rc = sq_atomic_group_read(rp, &g);
		if (rc)
			return rc;
	}
	/* Extents from SEEK_DATA: what the outside-the-extents check walks. */
	rc = sq_layer_open(mem_path, -1, &l);
	if (rc) {
		sq_atomic_group_destroy(g);
		return rc;
	}
	if (!m) {
		char mp[4096];
		rc = sq_manifest_path(l.path, mp, sizeof(mp));
		if (!rc)
			rc = sq_manifest_load(mp, &own);
		if (rc)
			goto out;
		m = own;
	}
	if (!sq_io_page_shift(m->page_size)) {
		rc = sq_err(SQ_E_INVAL, "verify: manifest page size %u", m->page_size);
		goto out;
	}
	if (l.size != m->region_size) {
		rc = sq_err(SQ_E_VERIFY, "memory file does not match its manifest: %s is %llu "
					 "bytes, the manifest says %llu", l.path,
			    (unsigned long long)l.size, (unsigned long long)m->region_size);
		rep.bad_page = (l.size < m->region_size ? l.size : m->region_size) / m->page_size;
		goto out;
	}
	rc = sq_prog_begin(&pg, o.progress, o.progress_ctx, SQ_PROGRESS_VERIFY_READ, 0,
			   m->npages * m->page_size);
	if (!rc)
		rc = sq_read_extents(l.fd, m->extents, m->nextents, sq_io_page_shift(m->page_size),
				     l.size, m->crcs, NULL, o.threads, 0, &st, &pg);
	rep.pages_checked = st.pages;
	rep.bytes_read = st.bytes;
	rep.bad_page = st.bad_page;
	if (!rc)
		rc = check_outside(&l, m, &rep);
	if (!rc)
		rc = sq_prog_end(&pg);
out:
	rep.seconds = sq_clock_s() - t0;
	SQ_SIZED_OUT(r, rep);
	sq_manifest_destroy(own);
	sq_layer_close(&l);
	sq_atomic_group_destroy(g);
	return rc;
}

/* Up to @samples pages spread evenly over @m's data pages, as 1-page extents. */
static size_t pick_samples(const struct sq_manifest *m, unsigned samples, struct sq_run *ext,
			   uint64_t *crc)
{
	uint64_t n = m->npages < samples ? m->npages : samples;
	uint64_t base = 0;
	size_t e = 0, k = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t want = n > 1 ? i * (m->npages - 1) / (n - 1) : 0;
		while (want >= base + m->extents[e].npages) {
			base += m->extents[e].npages;
			e++;
		}
		uint64_t page = m->extents[e].first_page + (want - base);
		if (k && ext[k - 1].first_page == page)
			continue;
		ext[k] = (struct sq_run){ page, 1 };
		crc[k++] = m->crcs[want];
	}
	return k;
}

int sq_memfile_verify_sample(const char *mem_path, const struct sq_manifest *m, unsigned samples)
{
	struct sq_verify_report rep = SQ_INIT(struct sq_verify_report);
	struct sq_run *ext = NULL;
	uint64_t *crc = NULL;
	struct sq_layer l;
	int rc;

	if (!m || samples == 0 || samples > SQ_VERIFY_MAX_SAMPLES)
		return sq_err(SQ_E_INVAL, "verify: samples must be 1..%u and a manifest given",
			      SQ_VERIFY_MAX_SAMPLES);
	if (!sq_io_page_shift(m->page_size))
		return sq_err(SQ_E_INVAL, "verify: manifest page size %u", m->page_size);
	rc = sq_layer_open(mem_path, -1, &l);
	if (rc)
		return rc;
	if (l.size != m->region_size) {
		rc = sq_err(SQ_E_VERIFY, "memory file does not match its manifest: %s is %llu "
					 "bytes, the manifest says %llu", l.path,
			    (unsigned long long)l.size, (unsigned long long)m->region_size);
		goto out;
	}
	ext = malloc(samples * sizeof(*ext));
	crc = malloc(samples * sizeof(*crc));
	if (!ext || !crc) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto out;
	}
	size_t k = pick_samples(m, samples, ext, crc);
	rc = sq_read_extents(l.fd, ext, k, sq_io_page_shift(m->page_size), l.size, crc, NULL, 1, -1,
			     NULL, NULL);
	if (!rc)
		rc = check_outside(&l, m, &rep);
out:
	free(ext);
	free(crc);
	sq_layer_close(&l);
	return rc;
}
