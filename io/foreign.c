/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/foreign.c - manifests for memory files written without one.
 *
 * Invariants: a built manifest lists exactly the layer's data extents
 * (SEEK_DATA / SEEK_HOLE, whole 4 KiB pages) and the CRC-64 of every page
 * in them as read now; it passes sq_manifest_encode's checks, so it can be
 * saved, and sq_memfile_verify accepts the file it was built from.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/manifest.h>

#include "core/err.h"
#include "core/sysio.h"
#include "io/foreign.h"
#include "io/io_internal.h"

#define CRC_CHUNK_PAGES 256u /* 1 MiB per read */

static int page_crcs(const struct sq_layer *l, uint64_t *crcs)
{
	uint8_t *buf = sq_iobuf_alloc((size_t)CRC_CHUNK_PAGES * SQ_PAGE_SIZE);
	uint64_t k = 0;
	int rc = 0;

	if (!buf)
		return sq_err(SQ_E_NOMEM, "out of memory");
	for (size_t e = 0; e < l->next && !rc; e++) {
		uint64_t p = l->ext[e].first_page, end = p + l->ext[e].npages;
		while (p < end && !rc) {
			uint64_t np = end - p < CRC_CHUNK_PAGES ? end - p : CRC_CHUNK_PAGES;
			rc = sq_sys_pread_all(SQ_SITE_MEMFILE_READ, l->fd, buf,
					      (size_t)np * SQ_PAGE_SIZE, (off_t)(p * SQ_PAGE_SIZE));
			if (rc) {
				rc = sq_err_sys(SQ_E_MEMORY_IO, -rc, l->path);
				break;
			}
			for (uint64_t i = 0; i < np; i++)
				crcs[k++] = sq_crc64(buf + i * SQ_PAGE_SIZE, SQ_PAGE_SIZE);
			p += np;
		}
	}
	sq_iobuf_free(buf, (size_t)CRC_CHUNK_PAGES * SQ_PAGE_SIZE);
	return rc;
}

int sq_layer_manifest(const struct sq_layer *l, enum sq_snapshot_kind kind,
		      struct sq_manifest **out)
{
	struct sq_manifest *m;
	uint64_t np = 0;
	int rc;

	*out = NULL;
	if (l->size == 0 || l->size % SQ_PAGE_SIZE)
		return sq_err(SQ_E_ALIGN, "memory file %s is %llu bytes, not a whole number of "
					  "4 KiB pages (pages are 4 KiB here: a partial trailing "
					  "page cannot be described)",
			      l->path, (unsigned long long)l->size);
	if (l->size > SQ_MANIFEST_MAX_REGION)
		return sq_err(SQ_E_ALIGN, "memory file %s is %llu bytes, more than a manifest "
					  "describes", l->path, (unsigned long long)l->size);
	for (size_t e = 0; e < l->next; e++)
		np += l->ext[e].npages;
	m = calloc(1, sizeof(*m));
	if (!m)
		return sq_err(SQ_E_NOMEM, "out of memory");
	m->extents = malloc((l->next ? l->next : 1) * sizeof(*m->extents));
	m->crcs = malloc((np ? np : 1) * sizeof(*m->crcs));
	if (!m->extents || !m->crcs) {
		sq_manifest_free(m);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	if (l->next)
		memcpy(m->extents, l->ext, l->next * sizeof(*m->extents));
	m->nextents = l->next;
	m->npages = np;
	m->kind = (uint32_t)kind;
	m->page_size = SQ_PAGE_SIZE;
	m->region_size = l->size;
	rc = sq_id_generate(&m->id);
	if (!rc)
		rc = page_crcs(l, m->crcs);
	if (rc) {
		sq_manifest_free(m);
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
		int rc = sq_layer_manifest(&ls[i], i ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL, &m);
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

int sq_manifest_scan(const char *mem_path, enum sq_snapshot_kind kind, struct sq_manifest **out)
{
	struct sq_layer l;
	int rc;

	*out = NULL;
	rc = sq_layer_open(mem_path, -1, &l);
	if (rc)
		return rc;
	rc = sq_layer_manifest(&l, kind, out);
	sq_layer_close(&l);
	return rc;
}
