/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/foreign.c - manifests for memory files written without one.
 *
 * Invariants: a built manifest lists exactly the layer's data extents
 * (SEEK_DATA / SEEK_HOLE), rounded out to whole pages of its page size
 * (a partial last page included), and the CRC-64 of every page in them as
 * read now (of the bytes the file has); it passes sq_manifest_encode's
 * checks, so it can be saved, and sq_memfile_verify accepts the file it
 * was built from. Rounding out to a page larger than the writer's takes
 * the holes beside data in that page for zero data: exact for a full
 * image, not for a diff (a hole there means "unchanged"), which is why the
 * default page is 4 KiB and a larger one is the caller's statement.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/manifest.h>

#include "core/err.h"
#include "core/sysio.h"
#include "io/foreign.h"
#include "io/io_internal.h"

#define CRC_CHUNK (1u << 20) /* bytes per read: whole pages of any page size */

static int page_crcs(const struct sq_layer *l, const struct sq_manifest *m, unsigned shift)
{
	uint8_t *buf = sq_iobuf_alloc(CRC_CHUNK);
	const uint64_t per = CRC_CHUNK >> shift;
	uint64_t k = 0;
	int rc = 0;

	if (!buf)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t e = 0; e < m->nextents && !rc; e++) {
		uint64_t p = m->extents[e].first_page, end = p + m->extents[e].npages;
		while (p < end && !rc) {
			uint64_t np = end - p < per ? end - p : per;
			uint64_t off = p << shift, len = (np << shift);
			if (len > l->size - off)
				len = l->size - off; /* the partial last page */
			rc = sq_sys_pread_all(SQ_SITE_MEMFILE_READ, l->fd, buf, (size_t)len,
					      (off_t)off);
			if (rc) {
				rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, l->path);
				break;
			}
			for (uint64_t i = 0; i < np; i++)
				m->crcs[k++] = sq_crc64(buf + (i << shift),
							(size_t)sq_io_page_len(p + i, shift, l->size));
			p += np;
		}
	}
	sq_iobuf_free(buf, CRC_CHUNK);
	return rc;
}

/* @l's 4 KiB extents rounded out to pages of 1 << @shift bytes, merged. */
static size_t round_out(const struct sq_layer *l, unsigned shift, struct sq_run *out,
			uint64_t *npages)
{
	unsigned k = shift - l->shift;
	size_t n = 0;

	*npages = 0;
	for (size_t e = 0; e < l->next; e++) {
		uint64_t a = l->ext[e].first_page >> k;
		/* ceil: ceil(ceil(size / 4096) / 2^k) = ceil(size / page), in range */
		uint64_t b = (l->ext[e].first_page + l->ext[e].npages + ((1ull << k) - 1)) >> k;
		if (n && out[n - 1].first_page + out[n - 1].npages >= a) {
			uint64_t end = out[n - 1].first_page + out[n - 1].npages;
			if (b > end) {
				out[n - 1].npages += b - end;
				*npages += b - end;
			}
			continue;
		}
		out[n++] = (struct sq_run){ a, b - a };
		*npages += b - a;
	}
	return n;
}

int sq_layer_manifest(const struct sq_layer *l, enum sq_snapshot_kind kind, uint32_t page_size,
		      struct sq_manifest **out)
{
	unsigned shift = sq_io_page_shift(page_size);
	struct sq_manifest *m;
	int rc;

	*out = NULL;
	if (!shift)
		return sq_err(SQ_E_INVAL, "page size %u is not a power of two from %u to %u",
			      page_size, SQ_PAGE_SIZE_MIN, SQ_PAGE_SIZE_MAX);
	if (l->m || l->shift != SQ_PAGE_SHIFT)
		return sq_err(SQ_E_INTERNAL, "%s: a layer described by a manifest", l->path);
	if (l->size == 0)
		return sq_err(SQ_E_ALIGN, "memory file %s is empty", l->path);
	if (l->size > SQ_MANIFEST_MAX_REGION)
		return sq_err(SQ_E_ALIGN, "memory file %s is %llu bytes, more than a manifest "
					  "describes", l->path, (unsigned long long)l->size);
	m = calloc(1, sizeof(*m));
	if (!m)
		return sq_err(SQ_E_NOMEM, "out of memory");
	m->extents = malloc((l->next ? l->next : 1) * sizeof(*m->extents));
	if (!m->extents) {
		sq_manifest_destroy(m);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	m->nextents = round_out(l, shift, m->extents, &m->npages);
	m->crcs = malloc((m->npages ? m->npages : 1) * sizeof(*m->crcs));
	if (!m->crcs) {
		sq_manifest_destroy(m);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	m->kind = (uint32_t)kind;
	m->page_size = page_size;
	m->region_size = l->size;
	rc = sq_id_generate(&m->id);
	if (!rc)
		rc = page_crcs(l, m, shift);
	if (rc) {
		sq_manifest_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

int sq_chain_fill_manifests(struct sq_layer *ls, size_t n, size_t *nforeign)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct sq_manifest *m = NULL;
		if (ls[i].m)
			continue;
		int rc = sq_layer_manifest(&ls[i], i ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
					   SQ_PAGE_SIZE, &m);
		if (rc || !m)
			return rc ? rc : sq_err(SQ_E_INTERNAL, "no manifest built for %s", ls[i].path);
		/* The layer's scanned ext[] is replaced by the manifest's copy. */
		free(ls[i].ext);
		ls[i].m = m;
		ls[i].ext = m->extents;
		ls[i].next = m->nextents;
		k++;
	}
	if (nforeign)
		*nforeign = k;
	return 0;
}

int sq_manifest_scan_paged(const char *mem_path, enum sq_snapshot_kind kind, uint32_t page_size,
			   struct sq_manifest **out)
{
	struct sq_layer l;
	int rc;

	*out = NULL;
	if (!sq_io_page_shift(page_size))
		return sq_err(SQ_E_INVAL, "page size %u is not a power of two from %u to %u",
			      page_size, SQ_PAGE_SIZE_MIN, SQ_PAGE_SIZE_MAX);
	rc = sq_layer_open(mem_path, -1, &l);
	if (rc)
		return rc;
	rc = sq_layer_manifest(&l, kind, page_size, out);
	sq_layer_close(&l);
	return rc;
}

int sq_manifest_scan(const char *mem_path, enum sq_snapshot_kind kind, struct sq_manifest **out)
{
	return sq_manifest_scan_paged(mem_path, kind, SQ_PAGE_SIZE, out);
}
