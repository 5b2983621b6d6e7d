/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/save.c - write what a receiver got as a sparse memory file and a
 * state file, or a snapshot pair; the commit step that does so before the
 * sender is told the session is done, and its up-front checks.
 *
 * Invariants:
 *  - Only a complete (verified) session in memory is saved.
 *  - In a region the receiver owns, chunks where no data page was received
 *    are zeros and are not even read: saving costs what was received.
 *  - Files are 0600 whatever the umask.
 *  - memory: offset in file = offset in region; all-zero pages are holes
 *    (the file is sized first, then only non-zero runs are written), so
 *    the file can be mapped directly and a VMM sees the region's bytes.
 *  - Both files go through the atomic writer: the destination names hold
 *    either the previous contents or the complete new ones.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/migrate.h>
#include <squib/snapshot.h>
#include <squib/types.h>

#include "core/atomic_write.h"
#include "core/err.h"
#include "core/sysio.h"
#include "migrate/recv_internal.h"
#include "migrate/stream.h"

#define SAVE_MAX_RUN (8u << 20) /* bytes per pwrite */

/* 0600 whatever the umask: the files hold another host's memory. */
static int private_mode(int fd)
{
	if (fchmod(fd, 0600))
		return sq_err_sys(SQ_E_IO, errno, "migration: setting the mode of a saved file");
	return 0;
}

static int write_memory(const struct sq_migrate_recv *r, const char *path)
{
	struct sq_atomic_file *f = NULL;
	int rc = sq_atomic_open(path, NULL, &f);

	if (rc)
		return rc;
	int fd = sq_atomic_fd(f);
	rc = private_mode(fd);
	int e = rc ? 0 : sq_sys_ftruncate(SQ_SITE_MIG_SAVE_TRUNC, fd, (off_t)r->size);
	if (e)
		rc = sq_err_sys(SQ_E_MEMORY_IO, -e, "migration: sizing the saved memory file");
	size_t npages = r->size >> SQ_PAGE_SHIFT;
	for (size_t p = 0; !rc && p < npages;) {
		if (r->own_region && p % SQ_MIG_TAG_CHUNK == 0 &&
		    !sq_mig_tags_dirty(&r->tags, p, p + 1)) {
			p += SQ_MIG_TAG_CHUNK; /* no data page received there: zeros */
			continue;
		}
		if (sq_mig_page_zero(r->region + (p << SQ_PAGE_SHIFT))) {
			p++;
			continue;
		}
		size_t q = p + 1;
		while (q < npages && ((q - p) << SQ_PAGE_SHIFT) < SAVE_MAX_RUN &&
		       !sq_mig_page_zero(r->region + (q << SQ_PAGE_SHIFT)))
			q++;
		e = sq_sys_pwrite_all(SQ_SITE_MIG_SAVE_WRITE, fd, r->region + (p << SQ_PAGE_SHIFT),
				      (q - p) << SQ_PAGE_SHIFT, (off_t)(p << SQ_PAGE_SHIFT));
		if (e)
			rc = sq_err_sys(SQ_E_MEMORY_IO, -e, "migration: writing the saved memory file");
		p = q;
	}
	if (!rc)
		rc = sq_atomic_commit(f);
	sq_atomic_close(f);
	return rc;
}

int sq_migrate_recv_save(const struct sq_migrate_recv *r, const char *dir)
{
	char path[4096];

	if (!r || !dir)
		return sq_err(SQ_E_INVAL, "migration: nothing to save");
	if (!r->complete || !r->region)
		return sq_err(SQ_E_INVAL,
			      "migration: only a complete session received into memory can be saved");
	if ((size_t)snprintf(path, sizeof(path), "%s/memory", dir) >= sizeof(path))
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s", dir);
	int rc = write_memory(r, path);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/state", dir);
	return sq_atomic_write_file(path, r->state, r->state_len, 0600);
}

int sq_migrate_recv_save_pair(const struct sq_migrate_recv *r, const char *state_path,
			      struct sq_snapshot_report *rep)
{
	struct sq_writer_report wlocal = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report local = { .size = sizeof(local), .io = &wlocal };

	if (!r || !state_path)
		return sq_err(SQ_E_INVAL, "migration: nothing to save");
	if (!r->complete || !r->region)
		return sq_err(SQ_E_INVAL,
			      "migration: only a complete session received into memory can be saved");
	struct sq_mem_source mem = { .base = r->region, .size = r->size, .live = false };
	struct sq_snapshot_save_req req = { .size = sizeof(req),
					    .state_path = state_path, .kind = SQ_SNAPSHOT_FULL,
					    .state = r->state, .state_len = r->state_len,
					    .mem = &mem };
	return sq_snapshot_save(&req, rep ? rep : &local);
}

/* ------------------------------------------------------ the commit step */

/* The commit step's destination @path must be creatable: its directory
 * exists, is one, and is writable; @path itself is not a directory. */
static int check_dest_dir(const char *dir, const char *what)
{
	char ctx[600];
	struct stat st;

	if (stat(dir, &st)) {
		snprintf(ctx, sizeof(ctx), "migration: %s directory %s", what, dir);
		return sq_err_sys(SQ_E_IO, errno, ctx);
	}
	if (!S_ISDIR(st.st_mode))
		return sq_err(SQ_E_IO, "migration: %s %s is not a directory", what, dir);
	if (access(dir, W_OK | X_OK)) {
		snprintf(ctx, sizeof(ctx), "migration: %s directory %s is not writable", what, dir);
		return sq_err_sys(SQ_E_IO, errno, ctx);
	}
	return 0;
}

int sq_mig_check_commit_dests(const struct sq_migrate_recv_opts *o)
{
	if ((o->save_dir || o->save_pair) && (o->region || o->mem_fd >= 0))
		return sq_err(SQ_E_INVAL,
			      "migration: saving needs a receiver that owns its memory region");
	if (o->save_dir) {
		int rc = check_dest_dir(o->save_dir, "output");
		if (rc)
			return rc;
	}
	if (o->save_pair) {
		char dir[4096];
		struct stat st;
		size_t n = strlen(o->save_pair);
		if (n == 0 || n >= sizeof(dir) || o->save_pair[n - 1] == '/')
			return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: %s", o->save_pair);
		memcpy(dir, o->save_pair, n + 1);
		char *slash = strrchr(dir, '/');
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
		int rc = check_dest_dir(dir, "snapshot pair");
		if (rc)
			return rc;
		if (stat(o->save_pair, &st) == 0 && S_ISDIR(st.st_mode))
			return sq_err(SQ_E_IO, "migration: snapshot pair %s is a directory",
				      o->save_pair);
	}
	return 0;
}

/*
 * What the receiver was asked to keep, durably, before the sender hears that
 * the session is done. A pair needs a state file as its blob: an empty blob
 * is refused here, anything else by the state decoder in the save.
 */
int sq_mig_commit_step(struct sq_migrate_recv *r)
{
	int rc = 0;

	if (r->o.save_dir)
		rc = sq_migrate_recv_save(r, r->o.save_dir);
	if (!rc && r->o.save_pair) {
		if (r->state_len == 0)
			rc = sq_err(SQ_E_TOO_SHORT,
				    "migration: no state blob was received; the snapshot pair %s "
				    "needs a state file",
				    r->o.save_pair);
		else
			rc = sq_migrate_recv_save_pair(r, r->o.save_pair, NULL);
	}
	if (!rc && r->o.commit)
		rc = r->o.commit(r->o.commit_ctx, r);
	return rc;
}
