/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the manifest decoder (io/manifest.c).
 *
 * The input is decoded twice: as given (mostly CRC failures) and with its
 * own CRC-64 appended, so the structural checks behind the CRC are
 * reached. Properties, any violation aborts:
 *  - a failure returns SQ_E_MANIFEST or SQ_E_NOMEM and leaves *out NULL;
 *  - a success satisfies the invariants (sorted, merged, in-range extents
 *    whose lengths sum to npages; a full manifest has no parent) and
 *    encodes back to exactly the bytes decoded.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/crc64.h>
#include <squib/squib.h>

static void check(const uint8_t *buf, size_t len)
{
	struct sq_manifest *m = (struct sq_manifest *)1;
	int rc = sq_manifest_decode(buf, len, &m);

	if (rc) {
		if (m || (rc != SQ_E_MANIFEST && rc != SQ_E_NOMEM))
			abort();
		return;
	}
	/* Any power-of-two page size from 4 to 64 KiB; a partial last page
	 * still counts as a page (docs/FORMAT.md). */
	uint32_t ps = m->page_size;
	if (ps < 4096 || ps > 65536 || (ps & (ps - 1)) || !m->region_size)
		abort();
	uint64_t pages = m->region_size / ps + (m->region_size % ps != 0), sum = 0, end = 0;
	if (m->kind == SQ_SNAPSHOT_FULL && !sq_id_is_zero(&m->parent))
		abort();
	for (size_t i = 0; i < m->nextents; i++) {
		const struct sq_run *e = &m->extents[i];
		if (!e->npages || (i && e->first_page <= end) ||
		    e->first_page + e->npages > pages)
			abort();
		end = e->first_page + e->npages;
		sum += e->npages;
	}
	if (sum != m->npages)
		abort();
	void *out;
	size_t olen;
	if (sq_manifest_encode(m, &out, &olen) || olen != len || memcmp(out, buf, len))
		abort();
	free(out);
	sq_manifest_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *withcrc;

	check(data, size);
	if (size > (1u << 20))
		return 0;
	withcrc = malloc(size + 8);
	if (!withcrc)
		return 0;
	memcpy(withcrc, data, size);
	uint64_t c = sq_crc64(data, size);
	for (int i = 0; i < 8; i++)
		withcrc[size + (size_t)i] = (uint8_t)(c >> (8 * i));
	check(withcrc, size + 8);
	free(withcrc);
	return 0;
}
