/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib/foreign.h - memory files written without a manifest: by the
 * original squib-snapshot 0.2.0 (full: a dense image; diff: a sparse file
 * of ram_size bytes whose written pages are the dirty ones, zero pages
 * included) and by Firecracker (the same two layouts).
 *
 *   sq_manifest_build      the manifest such a file would have had: extents
 *                          from SEEK_DATA / SEEK_HOLE, a CRC-64 per page of
 *                          what is there, bound to its state file
 *   sq_manifest_build_save the same, written atomically beside the file
 *
 * After that, every operation of a pair applies (load, verify, restore
 * with CRCs, merge, chains checked by parent id). Restore and merge also
 * take such files directly (squib/restore.h, squib/merge.h), without the
 * checks a manifest makes possible.
 *
 * What a built manifest cannot know: a diff's holes are taken as
 * "unchanged" (the original writes every dirty page, so a hole is a page
 * that was not dirty, unless a tool later punched holes into written
 * zeros, e.g. cp --sparse=always); the CRCs are of the file as it is now,
 * so corruption that happened before the build is not detected.
 *
 * Page size: a file is described in 4 KiB pages unless a page size is
 * given (_paged: 4 to 64 KiB, the size the file was written with or a
 * smaller one; see sq_manifest_scan_paged). Any file size is described: a
 * partial trailing page, as the original writes for a ram_size that is
 * not a whole number of pages, is a page of its own bytes. All functions:
 * any thread.
 */
#ifndef SQUIB_FOREIGN_H
#define SQUIB_FOREIGN_H

#include <squib/export.h>
#include <squib/manifest.h>

SQ_BEGIN_DECLS

/**
 * sq_manifest_build() - describe the memory file @mem_path.
 * @kind:       what the file is (a full image or a diff).
 * @state_path: its state file, or NULL for none. Only the envelope is
 *              checked (size limit, length, CRC-64), so a Firecracker state
 *              file binds as well as one of the original; the manifest
 *              records its size and CRC trailer.
 * @parent:     a diff's parent id (the manifest id of the layer below, see
 *              sq_snapshot_id_of); NULL or zero for a full file.
 * @out:        receives the manifest (sq_manifest_destroy), with a new id.
 * Returns 0; SQ_E_INVAL (a full file with a parent, a diff without one);
 * SQ_E_NOT_FOUND (no memory file); SQ_E_ALIGN (the file is empty, or
 * larger than SQ_MANIFEST_MAX_REGION); SQ_E_MEMORY_IO; the state file's
 * SQ_E_IO / SQ_E_TOO_SHORT / SQ_E_CRC_MISMATCH / SQ_E_SIZE_LIMIT; SQ_E_NOMEM.
 */
SQ_API int sq_manifest_build(const char *mem_path, enum sq_snapshot_kind kind,
			     const char *state_path, const struct sq_snapshot_id *parent,
			     struct sq_manifest **out);

/**
 * sq_manifest_build_paged() - sq_manifest_build in pages of @page_size (a
 * power of two from 4096 to 65536, else SQ_E_INVAL; see
 * sq_manifest_scan_paged for which size to give). sq_manifest_build is
 * this with 4096.
 */
SQ_API int sq_manifest_build_paged(const char *mem_path, enum sq_snapshot_kind kind,
				   uint32_t page_size, const char *state_path,
				   const struct sq_snapshot_id *parent, struct sq_manifest **out);

/**
 * sq_manifest_build_save() - sq_manifest_build, then write the manifest to
 * sq_manifest_path(@mem_path) atomically (temp, fsync, rename, directory
 * fsync). Refuses to replace an existing manifest (SQ_E_EXISTS) unless
 * @replace. @id (may be NULL) receives the new manifest's id.
 * Returns 0, the build's errors, SQ_E_EXISTS, or the atomic writer's. On
 * failure the older manifest (or none) is left as it was and no temp file
 * remains, except SQ_E_IO / SQ_E_NO_SPACE from the final directory fsync,
 * after which the new manifest is in place but its durability unknown.
 */
SQ_API int sq_manifest_build_save(const char *mem_path, enum sq_snapshot_kind kind,
				  const char *state_path, const struct sq_snapshot_id *parent,
				  int replace, struct sq_snapshot_id *id);

/** sq_manifest_build_save_paged() - sq_manifest_build_save in pages of @page_size. */
SQ_API int sq_manifest_build_save_paged(const char *mem_path, enum sq_snapshot_kind kind,
					uint32_t page_size, const char *state_path,
					const struct sq_snapshot_id *parent, int replace,
					struct sq_snapshot_id *id);

SQ_END_DECLS

#endif /* SQUIB_FOREIGN_H */
