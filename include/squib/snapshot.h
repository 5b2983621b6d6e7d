/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/snapshot.h - save and load of a snapshot pair.
 *
 *   sq_snapshot_save          state file + memory file + manifest, full or diff
 *   sq_snapshot_save_tracked  the same, with the pages harvested from a
 *                             tracker region (put back on failure)
 *   sq_snapshot_load          validate a pair: state file, pairing, sizes,
 *                             memory file content
 *   sq_snapshot_recover       finish or undo a save interrupted by a crash
 *   sq_snapshot_id_of         the id recorded in a pair's manifest
 *
 * A pair "<stem>.snap" has its memory file "<stem>.mem" and its manifest
 * "<stem>.manifest" beside it. Commit order (docs/ARCHITECTURE.md, IO):
 *
 *   1. <stem>.mem.tmp, <stem>.snap.tmp, <stem>.manifest.tmp written and
 *      fsynced; hard links <stem>.snap.prev.tmp / .manifest.prev.tmp to
 *      the previous pair's files; directory fsynced
 *   2. rename manifest.tmp -> manifest      (the commit point)
 *   3. rename snap.tmp -> snap, mem.tmp -> mem, directory fsynced
 *   4. the .prev.tmp links removed
 *
 * A failure before 2 removes the temps (the previous pair is untouched); a
 * failure in 3 renames the previous manifest and state back. After a
 * crash, sq_snapshot_recover (run by save and load) rolls back when
 * manifest.tmp still exists, and otherwise rolls a temp forward only when
 * it is exactly what the committed manifest names (state: size and CRC;
 * memory: size and every page's CRC), discarding it otherwise: either the
 * previous complete pair or the new complete pair is visible, never a mix.
 *
 * Live saves (req->live): the workload runs while the memory file is
 * written; see squib/live.h.
 *
 * Calling context: one save or load per stem at a time (the caller
 * serializes); different stems are independent. Any thread.
 */
#ifndef SQUIB_SNAPSHOT_H
#define SQUIB_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <squib/export.h>
#include <squib/types.h>
#include <squib/manifest.h>
#include <squib/writer.h>

SQ_BEGIN_DECLS

struct sq_tracker;
struct sq_live_opts;

struct sq_snapshot_save_req {
	uint32_t size; /* sizeof(struct sq_snapshot_save_req): SQ_INIT (squib/types.h) */
	const char *state_path;           /* "<stem>.snap" */
	enum sq_snapshot_kind kind;
	const void *state;                /* the complete state file (sq_state_encode) */
	size_t state_len;
	const struct sq_mem_source *mem;
	const struct sq_run *runs;        /* diff: the dirty 4 KiB pages (required: NULL is
					   * "no dirty source"; an empty diff is a
					   * non-NULL array with nruns 0); full: NULL (all) */
	size_t nruns;
	const struct sq_snapshot_id *parent; /* diff: the parent's id (sq_snapshot_id_of) */
	const struct sq_writer_opts *io; /* NULL = defaults */
	const struct sq_live_opts *live;  /* NULL = paused save; else live (squib/live.h) */
};

struct sq_snapshot_report {
	uint32_t size; /* sizeof(struct sq_snapshot_report): SQ_INIT (squib/types.h) */
	struct sq_snapshot_id id;
	uint64_t pages_dirty;             /* pages handed to the writer */
	struct sq_writer_report *io;      /* the memory file write, filled when not
					   * NULL (its size set by the caller) */
	double seconds;                   /* whole save, commit included */
};

/**
 * sq_snapshot_save() - write a pair. On success the new pair is complete
 * and durable. Before any file is touched, as the original's save(): a
 * diff without runs fails with SQ_E_INVALID_PATH "invalid snapshot path:
 * Diff snapshot requires track_dirty_pages=true and a dirty bitmap"; runs
 * past the region with "... diff bitmap covers N bytes, memory file
 * expects M"; the state bytes must be a state file (SQ_E_TOO_SHORT /
 * SQ_E_CRC_MISMATCH / SQ_E_SIZE_LIMIT / the decoder's errors); a diff of a
 * state whose vm_info.track_dirty_pages is false fails with "invalid
 * snapshot path: Diff snapshot requested but vm_info.track_dirty_pages is
 * false"; sq_state_verify_compatible (SQ_E_INCOMPATIBLE); a diff without
 * a parent id: "... Diff snapshot requires the parent's id". Returns 0,
 * those, bad path (SQ_E_INVALID_PATH); the writer's
 * and atomic writer's errors (SQ_E_NO_SPACE, SQ_E_MEMORY_IO, SQ_E_IO,
 * SQ_E_ATOMIC_COMMIT_FAILED). On failure no temp file is left and the
 * previous pair is intact, except SQ_E_IO from the final directory fsync,
 * after which the new pair is in place but its durability is unknown.
 */
SQ_API int sq_snapshot_save(const struct sq_snapshot_save_req *req, struct sq_snapshot_report *r);

/**
 * sq_snapshot_save_tracked() - harvest region @region of @t (get and
 * clear), then save: a diff gets the harvested runs, a full snapshot all
 * pages (its harvest resets the dirty log, so the next diff is relative to
 * it). On any failure the harvested set is put back into the tracker
 * before returning. On success the write costs are reported to the
 * tracker (sq_tracker_note_io). @req->runs is ignored. A region of
 * larger pages (sq_tracker_add_region_opts) is saved in the memory file's
 * 4 KiB pages: each harvested page becomes its 4 KiB pages, the partial
 * last one clipped to the memory's size.
 */
SQ_API int sq_snapshot_save_tracked(const struct sq_snapshot_save_req *req, struct sq_tracker *t,
				    uint32_t region, struct sq_snapshot_report *r);

struct sq_microvm_state;

struct sq_snapshot_loaded {
	struct sq_microvm_state *vm; /* the decoded state (squib/state.h) */
	uint8_t *state;             /* the state file's bytes (validated) */
	size_t state_len;
	char *mem_path;             /* "<stem>.mem" */
	struct sq_manifest *manifest;
};

enum {
	/*
	 * Compare the CRCs of at most 64 data pages, spread evenly over the
	 * manifest's extents, instead of every data page. NOT checked in this
	 * mode: the content of the other data pages (a memory file whose
	 * unsampled pages were changed or belong to another snapshot passes).
	 * Still checked: the state file, its binding to the manifest, the
	 * memory file's size, and that it holds no data where the manifest
	 * says hole.
	 */
	SQ_LOAD_SAMPLE_CRCS = 1u,
	SQ_LOAD_QUICK = SQ_LOAD_SAMPLE_CRCS, /* the former name of SQ_LOAD_SAMPLE_CRCS */
	SQ_LOAD_FOREIGN = 2u, /* accept a pair without a manifest, as the original
			       * crate and Firecracker write them (squib/foreign.h):
			       * the state file is checked as always and the memory
			       * file must exist, but nothing pairs them and no size
			       * or CRC can be checked; ->manifest is NULL */
};

/**
 * sq_snapshot_load() - load and validate a pair. Checks, in order: the
 * state file (sq_state_decode: size limit, length, CRC-64, encoding, magic,
 * version; then sq_state_verify_compatible); the manifest; that the manifest
 * names this state file (size and CRC); the memory file's size; its pages'
 * CRCs (all, or a sample of 64 with SQ_LOAD_SAMPLE_CRCS); that every byte
 * it stores outside the manifest's extents is zero (SEEK_DATA/SEEK_HOLE,
 * so this costs what that data costs). Holds the pair's lock while it
 * reads (waiting for a save in progress), after finishing an interrupted
 * commit (sq_snapshot_recover).
 * Returns 0 and *@out (sq_snapshot_loaded_destroy); SQ_E_IO; SQ_E_TOO_SHORT,
 * SQ_E_CRC_MISMATCH, SQ_E_SIZE_LIMIT, SQ_E_BITCODE, SQ_E_MAGIC_MISMATCH,
 * SQ_E_VERSION_MISMATCH, SQ_E_INCOMPATIBLE; SQ_E_MANIFEST / SQ_E_NOT_FOUND;
 * SQ_E_PAIR_MISMATCH (state or memory file from another snapshot);
 * SQ_E_SIZE_MISMATCH; SQ_E_MEMORY_IO; SQ_E_NOT_REGULAR (a member is a
 * FIFO, socket, device or directory); SQ_E_CORRUPT (a state file with
 * holes, or a damaged commit record).
 * Without a manifest: SQ_E_NOT_FOUND, or with SQ_LOAD_FOREIGN only the
 * state checks and that the memory file exists.
 */
SQ_API int sq_snapshot_load(const char *state_path, unsigned flags,
			    struct sq_snapshot_loaded **out);
SQ_API void sq_snapshot_loaded_destroy(struct sq_snapshot_loaded *l);

/**
 * sq_snapshot_recover() - complete or undo an interrupted save of the pair
 * at @state_path (see the commit order above). Returns 0 (also when there
 * was nothing to do) or SQ_E_IO / SQ_E_ATOMIC_COMMIT_FAILED.
 */
SQ_API int sq_snapshot_recover(const char *state_path);

/** sq_snapshot_id_of() - the id in the manifest beside @state_path. */
SQ_API int sq_snapshot_id_of(const char *state_path, struct sq_snapshot_id *id);

/* Names published before the naming rule (docs/ARCHITECTURE.md, "ABI"); same behaviour. */
SQ_API void sq_snapshot_loaded_free(struct sq_snapshot_loaded *l)
	SQ_DEPRECATED("use sq_snapshot_loaded_destroy");

SQ_END_DECLS

#endif /* SQUIB_SNAPSHOT_H */
