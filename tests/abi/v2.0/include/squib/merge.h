/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/merge.h - applying diffs to a base, and squashing a chain.
 *
 *   sq_merge_chain  paths[0] (full) + diffs paths[1..n) -> one full file
 *                   with a manifest (new file, atomic), or in place onto
 *                   paths[0]
 *
 * The output manifest is assembled from the layers' manifests (extents
 * and CRCs) without reading any page. A layer without one (written by the
 * original crate or Firecracker, squib/foreign.h) is described from the
 * file itself: extents from SEEK_DATA / SEEK_HOLE (a diff's holes are
 * "unchanged"), CRCs read now; its order in the chain cannot be checked.
 * Each page comes from the last layer that holds it; extents are moved
 * with copy_file_range (the filesystem may reflink them). Order is
 * enforced through parent ids where both layers have a manifest.
 */
#ifndef SQUIB_MERGE_H
#define SQUIB_MERGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/progress.h>
#include <squib/types.h>

SQ_BEGIN_DECLS

struct sq_merge_opts {
	uint32_t size; /* sizeof(struct sq_merge_opts): SQ_INIT (squib/types.h) */
	bool in_place; /* true = the output replaces paths[0] (its memory file and
		       * manifest): written as a new file and committed as one
		       * unit, like any output, so a crash leaves the old or
		       * the new base */
	unsigned threads; /* copy workers; 0 = online CPUs */
	/* Optional progress reports and cancellation (squib/progress.h):
	 * phase SQ_PROGRESS_MERGE_COPY, total = the bytes of page data the
	 * output gets. A cancel returns SQ_E_CANCELED before the commit: the
	 * previous output is intact and no temp file is left. */
	sq_progress_fn progress;
	void *progress_ctx;
};

struct sq_merge_report {
	uint32_t size; /* sizeof(struct sq_merge_report): SQ_INIT (squib/types.h) */
	unsigned layers;
	uint64_t extents_copied;
	uint64_t bytes_copied;
	uint64_t pages_out;   /* data pages in the result */
	double seconds;
};

/**
 * sq_merge_chain() - squash @paths[0..n) into @out (ignored with
 * opts->in_place). The result is a full memory file whose manifest has
 * the id and state binding of the last layer, so it pairs with the last
 * snapshot's state file. @out (a ".snap" path stands for its ".mem"), its
 * manifest and, when the last layer has the state file that manifest
 * names and @out ends in ".mem", a copy of that state file as
 * "<out stem>.snap", are committed as one unit (group commit through
 * "<out stem>.commit", squib/atomic_file.h): after a crash at any instant
 * recovery leaves the complete old or the complete new output.
 * When the last layer has no manifest, the output binds no state file
 * (state size 0): bind it with sq_manifest_build_save(..., replace = 1).
 * Returns 0; SQ_E_CHAIN (order, kinds, sizes); SQ_E_MANIFEST (a
 * manifest is malformed); SQ_E_NOT_FOUND (a memory file is missing);
 * SQ_E_ALIGN (a file without a manifest is not whole 4 KiB pages); SQ_E_OUTPUT_IS_INPUT (an output
 * file is an input's memory file or manifest, by device and inode);
 * SQ_E_OUTPUT_BUSY (another process writes the output); SQ_E_NOT_REGULAR
 * (an input is a FIFO, socket, device or directory); SQ_E_NO_SPACE;
 * SQ_E_MEMORY_IO / SQ_E_IO; SQ_E_INVAL; SQ_E_CANCELED (the progress
 * callback asked to stop). On failure no temp file is left
 * and the previous output is intact. Any thread.
 */
SQ_API int sq_merge_chain(const char *const *paths, size_t n, const char *out,
			  const struct sq_merge_opts *opts, struct sq_merge_report *r);

SQ_END_DECLS

#endif /* SQUIB_MERGE_H */
