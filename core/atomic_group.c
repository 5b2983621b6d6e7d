/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_group.c - several files replaced as one unit: commit record
 * and roll-forward recovery (protocol in squib/atomic_file.h).
 *
 * Record layout (little-endian): magic "SQCOMMT1"; u32 count; count x
 * { u32 len, temp name; u32 len, destination name } (names relative to
 * the record's directory, no '/'); u64 CRC-64/Jones of every preceding
 * byte. At most SQ_GROUP_MAX entries and RECORD_MAX bytes.
 *
 * Invariants:
 *  - The group lock "<record>.lock" is held from group_open to close and
 *    during every recovery: one committer or recoverer per record.
 *  - Before the record is published every member temp is synced and
 *    named, and the directory is synced; the record's publication is the
 *    commit point. After it, member temps are never removed by this code,
 *    only renamed over their destinations (by commit or recovery).
 *  - A temp listed in a record and missing was already renamed: temp names
 *    are unique, nothing else renames them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/crc64.h>

#include "core/endian.h"
#include "core/err.h"
#include "core/input.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "core/atomic_internal.h"
#include "core/temp_lock.h"

#define SQ_GROUP_MAX 8
#define RECORD_MAX 65536u
#define RECORD_MAGIC "SQCOMMT1"

struct sq_atomic_group {
	char *record, *dir, *lock;
	int lock_fd;
	int shared; /* a reader's hold (sq_atomic_group_read) */
	size_t n;
	struct sq_atomic_file *m[SQ_GROUP_MAX];
};

static int valid_name(const char *s, size_t len)
{
	if (len == 0 || len > 255 || memchr(s, '/', len) || memchr(s, 0, len))
		return 0;
	return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static char *join(const char *dir, const char *name, size_t len)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%.*s", dir, (int)len, name) < 0)
		return NULL;
	return p;
}

/* Read the whole record (bounded) into *buf; 0, 1 when absent, or error. */
static int read_record(const char *record, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = sq_sys_open_input(SQ_SITE_GROUP_RECORD_OPEN, record, O_NOFOLLOW, &st);
	int rc = 0;

	*buf = NULL;
	if (fd == -ENOENT)
		return 1;
	if (fd == SQ_SYS_NOT_REGULAR)
		return sq_err(SQ_E_CORRUPT, "commit record %s is not a regular file", record);
	if (fd < 0)
		return sq_err_sys(SQ_E_IO, -fd, record);
	if (st.st_size < 20 || (uint64_t)st.st_size > RECORD_MAX) {
		rc = sq_err(SQ_E_CORRUPT, "commit record %s: bad size %lld", record,
			    (long long)st.st_size);
	} else {
		rc = sq_read_dense(SQ_SITE_GROUP_RECORD_READ, fd, (uint64_t)st.st_size, SQ_E_CORRUPT,
				   record, buf);
		*len = (size_t)st.st_size;
	}
	close(fd);
	return rc;
}

struct entry {
	const char *temp, *dest;
	uint32_t tlen, dlen;
};

static int parse_record(const char *record, const uint8_t *b, size_t len, struct entry *e,
			size_t *n)
{
	size_t off = 12;
	uint32_t count;

	if (!b || len < 12 + 8 || memcmp(b, RECORD_MAGIC, 8) || sq_crc64(b, len) != 0)
		return sq_err(SQ_E_CORRUPT, "commit record %s: bad magic or CRC", record);
	count = sq_le_get32(b + 8);
	if (count == 0 || count > SQ_GROUP_MAX)
		return sq_err(SQ_E_CORRUPT, "commit record %s: %u entries", record, count);
	for (uint32_t i = 0; i < count; i++) {
		for (int k = 0; k < 2; k++) {
			if (off + 4 > len - 8)
				return sq_err(SQ_E_CORRUPT, "commit record %s: truncated", record);
			uint32_t l = sq_le_get32(b + off);
			off += 4;
			if (l > len - 8 - off || !valid_name((const char *)b + off, l))
				return sq_err(SQ_E_CORRUPT, "commit record %s: bad name", record);
			if (k == 0) {
				e[i].temp = (const char *)b + off;
				e[i].tlen = l;
			} else {
				e[i].dest = (const char *)b + off;
				e[i].dlen = l;
			}
			off += l;
		}
		/* The temp must be one of this destination's temp names. */
		char t[256], d[256];
		memcpy(t, e[i].temp, e[i].tlen);
		t[e[i].tlen] = 0;
		memcpy(d, e[i].dest, e[i].dlen);
		d[e[i].dlen] = 0;
		if (!sq_temp_is_of(t, d))
			return sq_err(SQ_E_CORRUPT, "commit record %s: %s is not a temp of %s", record,
				      t, d);
	}
	if (off != len - 8)
		return sq_err(SQ_E_CORRUPT, "commit record %s: trailing bytes", record);
	*n = count;
	return 0;
}

/* With the group lock held: roll a committed record forward. */
static int roll_forward(const char *record, const char *dir)
{
	struct entry e[SQ_GROUP_MAX];
	uint8_t *b;
	size_t len = 0, n = 0;
	int rc = read_record(record, &b, &len);

	if (rc == 1)
		return 0;
	if (rc)
		return rc;
	rc = parse_record(record, b, len, e, &n);
	for (size_t i = 0; i < n && !rc; i++) {
		char *t = join(dir, e[i].temp, e[i].tlen), *d = join(dir, e[i].dest, e[i].dlen);
		struct stat st;
		if (!t || !d)
			rc = sq_err(SQ_E_NOMEM, "out of memory");
		else if (lstat(t, &st) == 0) {
			int r = sq_sys_rename(SQ_SITE_PAIR_RENAME, t, d);
			if (r < 0)
				rc = sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, d);
		}
		free(t);
		free(d);
	}
	free(b);
	if (!rc)
		rc = sq_atomic_dir_sync(SQ_SITE_PAIR_DIROPEN, SQ_SITE_PAIR_DIRFSYNC, dir);
	if (!rc && unlink(record) < 0 && errno != ENOENT)
		rc = sq_err_sys(SQ_E_IO, errno, record);
	if (!rc)
		rc = sq_atomic_dir_sync(SQ_SITE_PAIR_DIROPEN, SQ_SITE_PAIR_DIRFSYNC, dir);
	return rc;
}

/* A handle for @record, its names set, not locked yet; NULL (SQ_E_NOMEM
 * recorded) on failure. */
static struct sq_atomic_group *group_alloc(const char *record, int shared)
{
	struct sq_atomic_group *g = calloc(1, sizeof(*g));

	if (!g) {
		sq_err(SQ_E_NOMEM, "out of memory");
		return NULL;
	}
	g->lock_fd = -1;
	g->shared = shared;
	g->record = strdup(record);
	g->dir = sq_path_dir(record);
	if (asprintf(&g->lock, "%s%s", record, SQ_LOCK_SUFFIX) < 0)
		g->lock = NULL;
	if (!g->record || !g->dir || !g->lock) {
		sq_atomic_group_destroy(g);
		sq_err(SQ_E_NOMEM, "out of memory");
		return NULL;
	}
	return g;
}

int sq_atomic_group_open(const char *record, int wait, struct sq_atomic_group **out)
{
	struct sq_atomic_group *g;
	int rc;

	*out = NULL;
	if (!(g = group_alloc(record, 0)))
		return sq_err_keep(SQ_E_NOMEM);
	rc = sq_lock_acquire(g->lock, wait);
	if (rc < 0) {
		free(g->lock);
		g->lock = NULL;
		sq_atomic_group_destroy(g);
		return rc;
	}
	g->lock_fd = rc;
	rc = roll_forward(g->record, g->dir);
	if (rc) {
		sq_atomic_group_destroy(g);
		return rc;
	}
	*out = g;
	return 0;
}

static int same_dir(const char *a, const char *b)
{
	struct stat x, y;

	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

int sq_atomic_group_add(struct sq_atomic_group *g, const char *dest,
			const struct sq_atomic_opts *opts, struct sq_atomic_file **out)
{
	struct sq_atomic_opts o = SQ_INIT(struct sq_atomic_opts);
	char *dir;
	int ok, rc;

	*out = NULL;
	rc = SQ_SIZED_IN(o, opts, SQ_V0_ATOMIC_OPTS, "sq_atomic_opts");
	if (rc)
		return rc;
	if (g->n == SQ_GROUP_MAX)
		return sq_err(SQ_E_INVAL, "a group commit takes at most %d files", SQ_GROUP_MAX);
	dir = sq_path_dir(dest);
	ok = dir && same_dir(dir, g->dir);
	free(dir);
	if (!ok || o.temp_dir)
		return sq_err(SQ_E_INVAL, "group member %s is not in the directory of %s", dest,
			      g->record);
	rc = sq_atomic_open_ex(dest, &o, SQ_ATOMIC_I_MEMBER, &g->m[g->n]);
	if (rc)
		return rc;
	*out = g->m[g->n++];
	return 0;
}

static int encode_record(const struct sq_atomic_group *g, uint8_t **bufp, size_t *lenp)
{
	size_t len = 12 + 8;
	char *names[2 * SQ_GROUP_MAX] = { 0 };
	int rc = 0;

	for (size_t i = 0; i < g->n; i++) {
		names[2 * i] = sq_path_base(g->m[i]->temp);
		names[2 * i + 1] = sq_path_base(g->m[i]->dest);
		if (!names[2 * i] || !names[2 * i + 1])
			rc = sq_err(SQ_E_NOMEM, "out of memory");
		else
			len += 8 + strlen(names[2 * i]) + strlen(names[2 * i + 1]);
	}
	uint8_t *b = rc ? NULL : malloc(len), *p = b;
	if (!rc && !b)
		rc = sq_err(SQ_E_NOMEM, "out of memory");
	if (!rc && p) {
		memcpy(p, RECORD_MAGIC, 8);
		sq_le_put32(p + 8, (uint32_t)g->n);
		p += 12;
		for (size_t i = 0; i < 2 * g->n; i++) {
			size_t l = strlen(names[i]);
			sq_le_put32(p, (uint32_t)l);
			memcpy(p + 4, names[i], l);
			p += 4 + l;
		}
		sq_le_put64(p, sq_crc64(b, len - 8));
		*bufp = b;
		*lenp = len;
	}
	for (size_t i = 0; i < 2 * g->n; i++)
		free(names[i]);
	return rc;
}

static void abort_members(struct sq_atomic_group *g)
{
	for (size_t i = 0; i < g->n; i++)
		sq_atomic_abort(g->m[i]);
}

/* Steps before the commit point: members synced and named, record built. */
static int prepare(struct sq_atomic_group *g, uint8_t **rec, size_t *len)
{
	int rc = g->n ? 0 : sq_err(SQ_E_INVAL, "empty group commit");

	for (size_t i = 0; i < g->n && !rc; i++) {
		rc = sq_atomic_sync(g->m[i]);
		if (!rc)
			rc = sq_atomic_link_temp(g->m[i]);
	}
	if (!rc)
		rc = encode_record(g, rec, len);
	if (!rc)
		rc = sq_atomic_dir_sync(SQ_SITE_PAIR_DIROPEN, SQ_SITE_PAIR_DIRFSYNC, g->dir);
	return rc;
}

int sq_atomic_group_commit_point(struct sq_atomic_group *g)
{
	struct sq_atomic_file *rf = NULL;
	uint8_t *rec = NULL;
	size_t len = 0;
	int rc = prepare(g, &rec, &len);

	if (!rc)
		rc = sq_atomic_open_ex(g->record, NULL, SQ_ATOMIC_I_NOLOCK, &rf);
	if (!rc)
		rc = sq_atomic_write(rf, rec, len, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_sync(rf);
	if (!rc)
		rc = sq_atomic_link_temp(rf);
	if (!rc) {
		close(rf->fd);
		rf->fd = -1;
		int r = sq_sys_rename(SQ_SITE_PAIR_RENAME, rf->temp, g->record);
		rc = r < 0 ? sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, g->record) : 0;
		if (!rc)
			rf->temp_live = 0; /* the commit point */
	}
	sq_atomic_destroy(rf);
	free(rec);
	if (rc) {
		abort_members(g);
		return rc;
	}
	/* Committed: the temps now belong to the record. */
	for (size_t i = 0; i < g->n; i++) {
		if (g->m[i]->fd >= 0)
			close(g->m[i]->fd);
		g->m[i]->fd = -1;
		g->m[i]->temp_live = 0;
		g->m[i]->published = 1;
	}
	return 0;
}

int sq_atomic_group_commit(struct sq_atomic_group *g)
{
	int rc = sq_atomic_group_commit_point(g);

	if (rc)
		return rc;
	for (size_t i = 0; i < g->n && !rc; i++) {
		int r = sq_sys_rename(SQ_SITE_PAIR_RENAME, g->m[i]->temp, g->m[i]->dest);
		if (r < 0)
			rc = sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, g->m[i]->dest);
	}
	if (rc) {
		/* One retry through the record; if it fails too, the record
		 * stays and the next recovery completes the commit. */
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", sq_last_error());
		if (roll_forward(g->record, g->dir))
			return sq_err(rc, "%s (committed: the next recovery completes it)", msg);
		return 0;
	}
	rc = sq_atomic_dir_sync(SQ_SITE_PAIR_DIROPEN, SQ_SITE_PAIR_DIRFSYNC, g->dir);
	/* A record whose temps are all gone is inert (recovery only removes
	 * it), so its removal needs no directory fsync of its own. */
	if (!rc && unlink(g->record) < 0)
		rc = sq_err_sys(SQ_E_IO, errno, g->record);
	return rc;
}

void sq_atomic_group_destroy(struct sq_atomic_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		sq_atomic_destroy(g->m[i]);
	if (g->lock && g->shared)
		sq_lock_release_shared(g->lock_fd, g->lock);
	else if (g->lock)
		sq_lock_release(g->lock_fd, g->lock);
	free(g->record);
	free(g->dir);
	free(g->lock);
	free(g);
}

int sq_atomic_group_recover(const char *record, int wait)
{
	struct sq_atomic_group *g;
	int rc;

	if (access(record, F_OK) < 0 && errno == ENOENT)
		return 0;
	rc = sq_atomic_group_open(record, wait, &g);
	sq_atomic_group_destroy(g);
	return rc;
}

int sq_atomic_group_read(const char *record, struct sq_atomic_group **out)
{
	struct sq_atomic_group *g;
	int rc;

	*out = NULL;
	rc = sq_atomic_group_recover(record, 1);
	if (rc)
		return rc;
	if (!(g = group_alloc(record, 1)))
		return sq_err_keep(SQ_E_NOMEM);
	rc = sq_lock_acquire_mode(g->lock, 1, LOCK_SH);
	if (rc < 0) {
		free(g->lock);
		g->lock = NULL;
		sq_atomic_group_destroy(g);
		/* A directory we may not write has no writer either. */
		if (rc == SQ_E_IO && access(record, F_OK) < 0 && errno == ENOENT)
			return 0;
		return rc;
	}
	g->lock_fd = rc;
	/* A commit may have been published between the recovery and the lock. */
	rc = access(record, F_OK) == 0 ? sq_err(SQ_E_OUTPUT_BUSY, "%s: a commit is pending", record)
				       : 0;
	if (rc) {
		sq_atomic_group_destroy(g);
		return sq_atomic_group_read(record, out);
	}
	*out = g;
	return 0;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_atomic_group_close(struct sq_atomic_group *g)
{
	sq_atomic_group_destroy(g);
}
