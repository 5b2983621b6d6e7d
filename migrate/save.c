/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/save.c - write what a receiver got as a sparse memory file and a
 * state file, or a snapshot pair; the commit step that does so before the
 * sender is told the session is done, and its up-front checks.
 *
 * Invariants:
 *  - Only a complete (verified) session in memory is saved.
 *  - Both layouts write the memory through io's page writer
 *    (sq_memfile_write, full layout): offset in file = offset in region,
 *    all-zero pages are holes, one CRC-64 per data page in the manifest.
 *    The memory file can be mapped directly and a VMM sees the region.
 *  - In a region the receiver owns, chunks where no data page was received
 *    are zeros and are not even read: the writer is given only the runs of
 *    chunks that hold data, so saving costs what was received.
 *  - Files are 0600 whatever the umask.
 *  - A directory save commits memory, its manifest and the state as one
 *    unit (group commit, record DIR/memory.commit): the destination names
 *    hold either the previous contents or the complete new ones, and no
 *    temp file is left on any failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/manifest.h>
#include <squib/migrate.h>
#include <squib/snapshot.h>
#include <squib/types.h>
#include <squib/writer.h>

#include "core/err.h"
#include "core/first_error.h"
#include "migrate/recv_internal.h"
#include "migrate/stream.h"

/* 0600 whatever the umask: the files hold another host's memory. */
static int private_mode(int fd)
{
	if (fchmod(fd, 0600))
		return sq_err_sys(SQ_E_IO, errno, "migration: setting the mode of a saved file");
	return 0;
}

/*
 * The runs of tag chunks where a data page was received (a region the
 * receiver owns), or NULL and 0 for the whole region (a caller's region,
 * whose bytes were there before). *@out is malloc'ed. Returns 0 or
 * SQ_E_NOMEM.
 */
static int received_runs(const struct sq_migrate_recv *r, struct sq_run **out, size_t *n)
{
	uint64_t npages = (r->size + SQ_PAGE_SIZE - 1) >> SQ_PAGE_SHIFT;
	struct sq_run *runs = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!r->own_region)
		return 0;
	for (uint64_t p = 0; p < npages; p += SQ_MIG_TAG_CHUNK) {
		uint64_t end = p + SQ_MIG_TAG_CHUNK < npages ? p + SQ_MIG_TAG_CHUNK : npages;
		if (!sq_mig_tags_dirty(&r->tags, p, p + 1))
			continue; /* no data page received there: zeros */
		if (*n && runs[*n - 1].first_page + runs[*n - 1].npages == p) {
			runs[*n - 1].npages += end - p;
			continue;
		}
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct sq_run *t = realloc(runs, ncap * sizeof(*t));
			if (!t) {
				free(runs);
				return sq_err(SQ_E_NOMEM, "migration: the runs of the saved memory");
			}
			runs = t;
			cap = ncap;
		}
		runs[(*n)++] = (struct sq_run){ .first_page = p, .npages = end - p };
	}
	*out = runs;
	return 0;
}

/*
 * The received region into the temp of @f through io's page writer; the
 * manifest of what was written in *@m (caller frees). Returns 0 or the
 * writer's code (SQ_E_NO_SPACE, SQ_E_MEMORY_IO, ...).
 */
static int write_memory(const struct sq_migrate_recv *r, struct sq_atomic_file *f,
			struct sq_manifest **m)
{
	struct sq_mem_source src = { .base = r->region, .size = r->size, .live = false };
	struct sq_writer_opts wo = SQ_INIT(struct sq_writer_opts);
	struct sq_run *runs = NULL;
	size_t nruns = 0;
	int rc = private_mode(sq_atomic_fd(f));

	if (!rc)
		rc = received_runs(r, &runs, &nruns);
	/* A region of ours where only zeros were received: no run at all (a
	 * file of holes, a manifest without extents), not the whole region. */
	static const struct sq_run none = { 0, 0 };
	const struct sq_run *w = r->own_region && nruns == 0 ? &none : runs;
	if (!rc)
		rc = sq_memfile_write(sq_atomic_fd(f), SQ_LAYOUT_FULL, &src, w, nruns, &wo, m,
				      NULL);
	free(runs);
	return rc;
}

/* Add @path to @g as a 0600 member and write the @len bytes at @buf (NULL:
 * nothing yet) to it; *@out (may be NULL) receives its handle. */
static int add_member(struct sq_atomic_group *g, const char *path, const void *buf, size_t len,
		      struct sq_atomic_file **out)
{
	struct sq_atomic_file *f = NULL;
	int rc = sq_atomic_group_add(g, path, NULL, &f);

	if (!rc)
		rc = private_mode(sq_atomic_fd(f));
	if (!rc && buf)
		rc = sq_atomic_write(f, buf, len, SQ_E_IO);
	if (out)
		*out = f;
	return rc;
}

int sq_migrate_recv_save(const struct sq_migrate_recv *r, const char *dir)
{
	char mem[4096], man[4096], rec[4096], st[4096];
	struct sq_atomic_group *g = NULL;
	struct sq_atomic_file *fm = NULL;
	struct sq_manifest *m = NULL;
	void *mbuf = NULL;
	size_t mlen = 0;

	if (!r || !dir)
		return sq_err(SQ_E_INVAL, "migration: nothing to save");
	if (!r->complete || !r->region)
		return sq_err(SQ_E_INVAL,
			      "migration: only a complete session received into memory can be saved");
	if ((size_t)snprintf(mem, sizeof(mem), "%s/memory", dir) >= sizeof(mem) - 16)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s", dir);
	snprintf(st, sizeof(st), "%s/state", dir);
	int rc = sq_manifest_path(mem, man, sizeof(man));
	if (!rc)
		rc = sq_commit_path(mem, rec, sizeof(rec));
	if (!rc)
		rc = sq_atomic_group_open(rec, 0, &g);
	if (!rc)
		rc = add_member(g, mem, NULL, 0, &fm);
	if (!rc)
		rc = write_memory(r, fm, &m);
	if (!rc)
		rc = sq_id_generate(&m->id);
	if (!rc)
		rc = sq_manifest_encode(m, &mbuf, &mlen);
	if (!rc)
		rc = add_member(g, man, mbuf, mlen, NULL);
	if (!rc)
		rc = add_member(g, st, r->state, r->state_len, NULL);
	if (!rc)
		rc = sq_atomic_group_commit(g);
	/* Closing removes every uncommitted temp; it cannot replace rc's
	 * message, which the failing step recorded. */
	struct sq_err_first first = { 0 };
	sq_err_first_keep(&first, rc);
	sq_atomic_group_destroy(g);
	sq_manifest_destroy(m);
	free(mbuf);
	return sq_err_first_result(&first);
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
