/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/save_check.c - the validation a save runs before it touches the
 * disk, in the original save()'s order and with its texts.
 *
 * Invariant: nothing here creates, opens or changes a file; a request that
 * fails here leaves the directory exactly as it was.
 */
#include <squib/snapshot.h>
#include <squib/state.h>

#include "core/err.h"
#include "snapshot/pair_internal.h"

/*
 * Order: the request's shape; Diff without a dirty source (the original's
 * first InvalidPath text); dirty pages past the region (its write_diff
 * text, checked here before any file exists, where the original had
 * already written the state temp); the state bytes as a state file (envelope,
 * decode); Diff with vm_info.track_dirty_pages false (its second text,
 * invariant I-SNAP-6); verify_compatible; then the parent id, which only
 * this library's diffs carry.
 */
int sq_pair_check_request(const struct sq_snapshot_save_req *q)
{
	struct sq_microvm_state *vm = NULL;
	int rc;

	if (!q || !q->mem)
		return sq_err(SQ_E_INVAL, "save request or memory source missing");
	if (q->kind != SQ_SNAPSHOT_FULL && q->kind != SQ_SNAPSHOT_DIFF)
		return sq_err(SQ_E_INVAL, "unknown snapshot kind %d", (int)q->kind);
	int diff = q->kind == SQ_SNAPSHOT_DIFF;
	if (diff && !q->runs && q->nruns)
		return sq_err(SQ_E_INVAL, "diff request: %zu runs but no run array", q->nruns);
	if (diff && !q->runs)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: Diff snapshot requires "
						 "track_dirty_pages=true and a dirty bitmap");
	if (diff && q->nruns) {
		const struct sq_run *last = &q->runs[q->nruns - 1];
		uint64_t end = (last->first_page + last->npages) * SQ_PAGE_SIZE;
		/* A partial last 4 KiB page is a page of the region: it may be in a
		 * run, which then ends at the region's size rounded up. */
		uint64_t whole = (q->mem->size + SQ_PAGE_SIZE - 1) & ~(uint64_t)(SQ_PAGE_SIZE - 1);
		if (end > whole)
			return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: diff bitmap covers "
							 "%llu bytes, memory file expects %llu",
				      (unsigned long long)end, (unsigned long long)q->mem->size);
	}
	rc = sq_pair_check_state(q->state, q->state_len);
	if (!rc)
		rc = sq_state_decode(q->state, q->state_len, &vm, NULL);
	if (rc)
		return rc;
	if (diff && !vm->vm_info.track_dirty_pages)
		rc = sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: Diff snapshot requested but "
					       "vm_info.track_dirty_pages is false");
	if (!rc)
		rc = sq_state_verify_compatible(vm);
	sq_state_destroy(vm);
	if (!rc && diff && (!q->parent || sq_id_is_zero(q->parent)))
		rc = sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: Diff snapshot requires "
					       "the parent's id");
	return rc;
}
