/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: bulk import of a KVM-style dirty bitmap.
 *
 * Input: 2 bytes (little-endian) = region size in pages minus one (1 ..
 * 65536 pages), 1 byte = word-count skew (skew % 3 is added to
 * the right count; 0 = the right count), 1 byte =
 * flags (bit 0: FIXED_2M granule, bit 1: import twice, bits 2-3: the
 * region's page size, 4, 16, 64 or 8 KiB: one bitmap bit per page), then the bitmap
 * words (missing bytes are zero). The import must either succeed and the
 * harvest return exactly the set bits (their blocks when coarse), or fail
 * with the specific code for a wrong size or bits past the end and leave
 * nothing marked. Any mismatch aborts.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/squib.h>

#define BASE ((uintptr_t)1 << 44)

static int bit(const uint64_t *w, uint64_t p)
{
	return (int)((w[p / 64] >> (p % 64)) & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint64_t npages = (uint64_t)(data[0] | data[1] << 8) + 1;
	int skew = (int8_t)data[2];
	unsigned flags = data[3];
	size_t need = (size_t)((npages + 63) / 64);
	long nw = (long)need + skew % 3; /* need - 2 .. need + 2 */
	size_t nwords = nw > 0 ? (size_t)nw : need + 1;
	uint64_t *w = calloc(nwords, sizeof(uint64_t));
	if (!w)
		return 0;
	size_t avail = size - 4 < nwords * 8 ? size - 4 : nwords * 8;
	memcpy(w, data + 4, avail);

	struct sq_tracker_opts o = { .size = sizeof(o), .granule = (flags & 1) ? SQ_GRANULE_FIXED_2M : SQ_GRANULE_FIXED_4K };
	struct sq_tracker *t;
	struct sq_region_opts ro = SQ_INIT(struct sq_region_opts);
	static const unsigned shifts[4] = { 12, 14, 16, 13 };
	unsigned shift = shifts[(flags >> 2) & 3];
	uint32_t id;
	ro.page_size = 1u << shift;
	if (sq_tracker_create(&o, &t) ||
	    sq_tracker_add_region_opts(t, (void *)BASE, npages << shift, &ro, &id))
		abort();

	int rc = sq_tracker_import_bitmap(t, id, w, nwords);
	if (rc == 0 && (flags & 2))
		rc = sq_tracker_import_bitmap(t, id, w, nwords);
	int tail = (npages % 64) && nwords == need && (w[need - 1] >> (npages % 64));
	if (nwords != need && rc != SQ_E_SIZE_MISMATCH)
		abort();
	if (nwords == need && tail && rc != SQ_E_INVAL)
		abort();
	if (nwords == need && !tail && rc != 0)
		abort();

	struct sq_dirty_set *s;
	if (sq_tracker_harvest(t, id, &s))
		abort();
	uint64_t p = 0, pages = 0;
	for (size_t i = 0; i < sq_dirty_set_nruns(s); i++) {
		const struct sq_run *r = &sq_dirty_set_runs(s)[i];
		if (r->npages == 0 || r->first_page < p || r->first_page + r->npages > npages)
			abort();
		if (i && r->first_page == p)
			abort(); /* adjacent runs must be merged */
		for (; p < r->first_page; p++)
			if (rc == 0 && bit(w, p))
				abort(); /* a set bit was not reported */
		for (; p < r->first_page + r->npages; p++) {
			if (rc != 0)
				abort(); /* a failed import marked something */
			if (!(flags & 1) && !bit(w, p))
				abort(); /* reported a clear bit */
		}
		pages += r->npages;
	}
	for (; p < npages; p++)
		if (rc == 0 && bit(w, p))
			abort();
	if (pages != sq_dirty_set_pages(s))
		abort();
	sq_dirty_set_destroy(s);
	sq_tracker_destroy(t);
	free(w);
	return 0;
}
