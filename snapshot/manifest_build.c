/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/manifest_build.c - the manifest of a pair written without one (the
 * original's or Firecracker's), bound to its state file.
 *
 * Invariants: nothing is written unless the whole manifest was built; it
 * is written through the atomic writer (sq_manifest_save), so a reader
 * sees the old state (no manifest) or the complete new one; an existing
 * manifest is replaced only on request.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/foreign.h>

#include "core/err.h"
#include "snapshot/pair_internal.h"

static int bind_state(struct sq_manifest *m, const char *state_path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = sq_pair_read_state(state_path, &buf, &len);

	if (!rc)
		rc = sq_pair_check_state(buf, len);
	if (!rc) {
		m->state_size = len;
		m->state_crc = sq_pair_state_crc(buf, len);
	}
	free(buf);
	return rc;
}

int sq_manifest_build_paged(const char *mem_path, enum sq_snapshot_kind kind, uint32_t page_size,
			    const char *state_path, const struct sq_snapshot_id *parent,
			    struct sq_manifest **out)
{
	int has_parent = parent && !sq_id_is_zero(parent);
	int rc;

	*out = NULL;
	if (!mem_path || !*mem_path)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: no memory file");
	if (kind != SQ_SNAPSHOT_FULL && kind != SQ_SNAPSHOT_DIFF)
		return sq_err(SQ_E_INVAL, "unknown snapshot kind %d", (int)kind);
	if (kind == SQ_SNAPSHOT_FULL && has_parent)
		return sq_err(SQ_E_INVAL, "a full memory file has no parent");
	if (kind == SQ_SNAPSHOT_DIFF && !has_parent)
		return sq_err(SQ_E_INVAL, "a diff needs its parent's id (the manifest of the "
					  "layer below it)");
	rc = sq_manifest_scan_paged(mem_path, kind, page_size, out);
	if (!rc && has_parent)
		(*out)->parent = *parent;
	if (!rc && state_path)
		rc = bind_state(*out, state_path);
	if (rc) {
		sq_manifest_destroy(*out);
		*out = NULL;
	}
	return rc;
}

int sq_manifest_build(const char *mem_path, enum sq_snapshot_kind kind, const char *state_path,
		      const struct sq_snapshot_id *parent, struct sq_manifest **out)
{
	return sq_manifest_build_paged(mem_path, kind, SQ_PAGE_SIZE, state_path, parent, out);
}

int sq_manifest_build_save_paged(const char *mem_path, enum sq_snapshot_kind kind,
				 uint32_t page_size, const char *state_path,
				 const struct sq_snapshot_id *parent, int replace,
				 struct sq_snapshot_id *id)
{
	struct sq_manifest *m = NULL;
	char mpath[SQ_PAIR_PATH_MAX];
	int rc = sq_manifest_path(mem_path ? mem_path : "", mpath, sizeof(mpath));

	if (rc)
		return rc;
	if (!replace && access(mpath, F_OK) == 0)
		return sq_err(SQ_E_EXISTS, "%s already exists (replace it on purpose only: the "
					   "diffs above it name its id)", mpath);
	rc = sq_manifest_build_paged(mem_path, kind, page_size, state_path, parent, &m);
	if (!rc)
		rc = sq_manifest_save(mpath, m);
	if (!rc && m && id)
		*id = m->id;
	sq_manifest_destroy(m);
	return rc;
}

int sq_manifest_build_save(const char *mem_path, enum sq_snapshot_kind kind,
			   const char *state_path, const struct sq_snapshot_id *parent, int replace,
			   struct sq_snapshot_id *id)
{
	return sq_manifest_build_save_paged(mem_path, kind, SQ_PAGE_SIZE, state_path, parent,
					    replace, id);
}

int sq_pair_check_foreign_memory(const char *mem_path)
{
	struct stat st;

	if (stat(mem_path, &st) < 0)
		return errno == ENOENT ? sq_err(SQ_E_NOT_FOUND, "memory file %s does not exist",
						mem_path)
				       : sq_err_sys(SQ_E_MEMORY_IO, errno, mem_path);
	if (!S_ISREG(st.st_mode))
		return sq_err(SQ_E_MEMORY_IO, "memory file I/O error: %s is not a regular file",
			      mem_path);
	return 0;
}
