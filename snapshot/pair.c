/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/pair.c - save of a snapshot pair and its commit protocol.
 *
 * Invariants (the commit order is in squib/snapshot.h):
 *  - Before the commit point (rename of <stem>.manifest.tmp) the previous
 *    pair's names are untouched; every failure there removes all temps.
 *  - <stem>.manifest.tmp exists on disk only before the commit point, and
 *    the state and memory temps are complete and fsynced before it. Its
 *    presence means "roll back"; without it, a temp is rolled forward only
 *    if it is exactly what the committed manifest names (a crash while
 *    the memory temp is written leaves a partial temp and no manifest.tmp
 *    yet: it fails that check and is discarded).
 *  - The .prev.tmp hard links name the previous state file and manifest
 *    from before the commit point until the end of the save, so an
 *    in-call failure after the commit point can put them back.
 *  - The memory file is renamed last, so it never needs a backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/restore.h>
#include <squib/snapshot.h>

#include "core/err.h"
#include "core/sysio.h"
#include "snapshot/live_internal.h"
#include "snapshot/pair_internal.h"

#define STATE_LIMIT 10000000u

int sq_pair_paths_init(struct sq_pair_paths *p, const char *state_path)
{
	size_t n;
	int w = 0;

	memset(p, 0, sizeof(*p));
	if (!state_path || !*state_path)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: empty state path");
	n = strlen(state_path);
	if (n > 5 && strcmp(state_path + n - 5, ".snap") == 0)
		n -= 5;
	if (n + 32 > sizeof(p->state))
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s",
			      state_path);
	w |= snprintf(p->state, sizeof(p->state), "%s", state_path) < 0;
	w |= snprintf(p->mem, sizeof(p->mem), "%.*s.mem", (int)n, state_path) < 0;
	w |= snprintf(p->manifest, sizeof(p->manifest), "%.*s.manifest", (int)n, state_path) < 0;
	w |= snprintf(p->state_tmp, sizeof(p->state_tmp), "%s.tmp", p->state) < 0;
	w |= snprintf(p->mem_tmp, sizeof(p->mem_tmp), "%s.tmp", p->mem) < 0;
	w |= snprintf(p->manifest_tmp, sizeof(p->manifest_tmp), "%s.tmp", p->manifest) < 0;
	w |= snprintf(p->state_prev, sizeof(p->state_prev), "%.*s.snap.prev.tmp", (int)n,
		      state_path) < 0;
	w |= snprintf(p->manifest_prev, sizeof(p->manifest_prev), "%.*s.manifest.prev.tmp",
		      (int)n, state_path) < 0;
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", state_path);
	w |= snprintf(p->dir, sizeof(p->dir), "%s", dirname(copy)) < 0;
	if (w)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: %s", state_path);
	return 0;
}

int sq_pair_dir_sync(const struct sq_pair_paths *p)
{
	int fd = sq_sys_open(SQ_SITE_PAIR_DIROPEN, p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return sq_err_sys(SQ_E_IO, -fd, p->dir);
	r = sq_sys_fsync(SQ_SITE_PAIR_DIRFSYNC, fd);
	close(fd);
	return r < 0 ? sq_err_sys(SQ_E_IO, -r, p->dir) : 0;
}

int sq_pair_rename(const char *from, const char *to)
{
	int r = sq_sys_rename(SQ_SITE_PAIR_RENAME, from, to);

	return r < 0 ? sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, to) : 0;
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

void sq_pair_remove_temps(const struct sq_pair_paths *p)
{
	unlink(p->state_tmp);
	unlink(p->mem_tmp);
	unlink(p->manifest_tmp);
	unlink(p->state_prev);
	unlink(p->manifest_prev);
}

/* @dest := the file @prev names (unlink + link: no rename, so it cannot fail
 * through the IO seam while undoing a failed rename). */
static void relink(const char *prev, const char *dest)
{
	unlink(dest);
	if (link(prev, dest) == 0)
		unlink(prev);
}

/* 1 when the state file at @path has the size and CRC trailer @m names. */
static int state_matches(const char *path, const struct sq_manifest *m)
{
	uint8_t t[8];
	struct stat st;
	uint64_t v = 0;
	int ok = 0, fd = sq_sys_open(SQ_SITE_PAIR_STATE_OPEN, path, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size >= 8 && (uint64_t)st.st_size == m->state_size &&
	    sq_sys_pread_all(SQ_SITE_PAIR_STATE_READ, fd, t, 8, st.st_size - 8) == 0) {
		for (int i = 7; i >= 0; i--)
			v = v << 8 | t[i];
		ok = v == m->state_crc;
	}
	close(fd);
	return ok;
}

int sq_snapshot_recover(const char *state_path)
{
	struct sq_pair_paths p;
	int rc = sq_pair_paths_init(&p, state_path);

	if (rc)
		return rc;
	if (exists(p.manifest_tmp)) {
		/* R1: before the commit point; the previous pair is intact. */
		sq_pair_remove_temps(&p);
		return 0;
	}
	if (!exists(p.manifest) && exists(p.manifest_prev)) {
		/* R2: a roll-back was interrupted: finish it. */
		unlink(p.state_tmp);
		unlink(p.mem_tmp);
		if (exists(p.state_prev))
			relink(p.state_prev, p.state);
		relink(p.manifest_prev, p.manifest);
		sq_pair_remove_temps(&p);
		return 0;
	}
	if (exists(p.manifest) && (exists(p.state_tmp) || exists(p.mem_tmp))) {
		/*
		 * R3: temps beside a manifest are the new pair's files only if the
		 * crash came after the commit point; before it (manifest.tmp not
		 * yet created) they are partial. The committed manifest decides:
		 * a temp is rolled forward only when it is exactly what the
		 * manifest names (state: size and CRC trailer; memory: size and
		 * every page's CRC), else it is discarded.
		 */
		struct sq_manifest *m = NULL;
		rc = sq_manifest_load(p.manifest, &m);
		if (rc == SQ_E_MANIFEST || rc == SQ_E_NOT_FOUND)
			rc = 0; /* nothing to roll forward against */
		if (!rc && m && exists(p.state_tmp) && state_matches(p.state_tmp, m))
			rc = sq_pair_rename(p.state_tmp, p.state);
		if (!rc && m && exists(p.mem_tmp) && sq_memfile_verify(p.mem_tmp, m, 0, NULL) == 0)
			rc = sq_pair_rename(p.mem_tmp, p.mem);
		sq_manifest_free(m);
		if (rc)
			return rc;
	}
	sq_pair_remove_temps(&p);
	return 0;
}

/* Validate the state bytes as a state file envelope (length, limit, CRC). */
int sq_pair_check_state(const void *buf, size_t len)
{
	/* The original's texts, as the state decoder writes them. */
	if (len > STATE_LIMIT)
		return sq_err(SQ_E_SIZE_LIMIT, "snapshot exceeds %u byte deserialization limit",
			      STATE_LIMIT);
	if (len < 8)
		return sq_err(SQ_E_TOO_SHORT, "snapshot file is too short to contain a CRC trailer");
	if (sq_crc64(buf, len) != 0)
		return sq_err(SQ_E_CRC_MISMATCH, "snapshot CRC64 mismatch");
	return 0;
}

uint64_t sq_pair_state_crc(const void *buf, size_t len)
{
	const uint8_t *t = (const uint8_t *)buf + len - 8;
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | t[i];
	return v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Steps 2-4 of the commit. After a failed rename past the commit point the
 * previous names come back in an order recovery can finish from any
 * point: new manifest removed, temps removed, state back, manifest back.
 */
static int commit(const struct sq_pair_paths *p)
{
	int had_state = exists(p->state), had_manifest = exists(p->manifest);
	char msg[512];
	int rc;

	if ((had_state && link(p->state, p->state_prev) < 0) ||
	    (had_manifest && link(p->manifest, p->manifest_prev) < 0))
		return sq_err_sys(SQ_E_IO, errno, "linking the previous pair");
	rc = sq_pair_dir_sync(p);
	if (rc)
		return rc;
	rc = sq_pair_rename(p->manifest_tmp, p->manifest); /* commit point */
	if (rc)
		return rc;
	rc = sq_pair_rename(p->state_tmp, p->state);
	int state_renamed = !rc;
	if (!rc)
		rc = sq_pair_rename(p->mem_tmp, p->mem);
	if (!rc)
		return sq_pair_dir_sync(p);
	snprintf(msg, sizeof(msg), "%s", sq_last_error());
	unlink(p->manifest);
	unlink(p->state_tmp);
	unlink(p->mem_tmp);
	if (state_renamed) {
		if (had_state)
			relink(p->state_prev, p->state);
		else
			unlink(p->state);
	}
	if (had_manifest)
		relink(p->manifest_prev, p->manifest);
	sq_pair_dir_sync(p);
	return sq_err(rc, "%s", msg);
}

static int write_state(const struct sq_pair_paths *p, const void *buf, size_t len,
		       struct sq_atomic_file **f)
{
	int rc = sq_atomic_open(p->state, NULL, f);

	if (!rc)
		rc = sq_atomic_write(*f, buf, len, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_sync(*f);
	return rc;
}

static int write_manifest(const struct sq_pair_paths *p, const struct sq_manifest *m,
			  struct sq_atomic_file **f)
{
	void *buf;
	size_t len;
	int rc = sq_manifest_encode(m, &buf, &len);

	if (rc)
		return rc;
	rc = sq_atomic_open(p->manifest, NULL, f);
	if (!rc)
		rc = sq_atomic_write(*f, buf, len, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_sync(*f);
	free(buf);
	return rc;
}

int sq_snapshot_save(const struct sq_snapshot_save_req *q, struct sq_snapshot_report *r)
{
	struct sq_atomic_file *fm = NULL, *fs = NULL, *fmf = NULL;
	struct sq_snapshot_report rep = { 0 };
	struct sq_manifest *m = NULL;
	struct sq_pair_paths p;
	double t0 = now_s();
	int rc;

	rc = sq_pair_check_request(q); /* snapshot/save_check.c */
	if (!rc && q->live)
		return sq_live_save(q, NULL, 0, r);
	if (!rc)
		rc = sq_pair_paths_init(&p, q->state_path);
	if (!rc)
		rc = sq_snapshot_recover(q->state_path);
	if (!rc)
		rc = sq_id_generate(&rep.id);
	if (rc)
		return rc;
	/* 1. the three temps */
	/* runs == NULL means "every page" to the writer; an empty diff is not that. */
	static const struct sq_run none;
	const struct sq_run *runs = q->runs;
	if (q->kind == SQ_SNAPSHOT_DIFF && (!runs || q->nruns == 0))
		runs = &none;
	rc = sq_atomic_open(p.mem, NULL, &fm);
	if (!rc)
		rc = sq_memfile_write(sq_atomic_fd(fm),
				      q->kind == SQ_SNAPSHOT_DIFF ? SQ_LAYOUT_DIFF : SQ_LAYOUT_FULL,
				      q->mem, runs, runs ? q->nruns : 0, &q->io, &m, &rep.io);
	if (!rc)
		rc = sq_atomic_sync(fm);
	if (!rc)
		rc = write_state(&p, q->state, q->state_len, &fs);
	if (!rc) {
		m->id = rep.id;
		if (q->kind == SQ_SNAPSHOT_DIFF)
			m->parent = *q->parent;
		m->state_size = q->state_len;
		m->state_crc = sq_pair_state_crc(q->state, q->state_len);
		rc = write_manifest(&p, m, &fmf);
	}
	/* 2-4. commit */
	if (!rc)
		rc = commit(&p);
	sq_pair_remove_temps(&p);
	sq_atomic_close(fm);
	sq_atomic_close(fs);
	sq_atomic_close(fmf);
	rep.pages_dirty = rep.io.pages_in;
	rep.seconds = now_s() - t0;
	if (!rc && r)
		*r = rep;
	sq_manifest_free(m);
	return rc;
}

int sq_snapshot_id_of(const char *state_path, struct sq_snapshot_id *id)
{
	struct sq_pair_paths p;
	struct sq_manifest *m;
	int rc = sq_pair_paths_init(&p, state_path);

	if (!rc)
		rc = sq_manifest_load(p.manifest, &m);
	if (rc)
		return rc;
	*id = m->id;
	sq_manifest_free(m);
	return 0;
}
