/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/atomic_file.c - temp file, write, fsync, rename, directory fsync.
 *
 * Invariants:
 *  - f->fd >= 0 and f->temp_live == 1 from a successful open until the
 *    temp is published or unlinked; every failing step unlinks the temp
 *    before returning, so no failure leaves a temp file behind.
 *  - The destination is touched only by rename(2) in sq_atomic_publish.
 *  - The temp file is created with O_EXCL | O_NOFOLLOW after unlinking any
 *    stale temp (unlink never follows symlinks), so a planted symlink or a
 *    leftover from a crash is replaced, never written through.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>

#include "core/err.h"
#include "core/sysio.h"

struct sq_atomic_file {
	int fd;
	int temp_live;
	int published;
	char *dest;
	char *temp;
	char *dir; /* destination's directory, for the directory fsync */
};

int sq_derive_temp_path(const char *dest, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", dest, SQ_TEMP_SUFFIX);

	if (n < 0 || (size_t)n >= len)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s", dest);
	return 0;
}

/* Parent directory of @path as a new string; "" becomes ".". */
static char *parent_of(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return NULL;
	char *d = strdup(dirname(copy));
	free(copy);
	return d;
}

/* Rust's Debug rendering of a path: double quotes, escaped. */
static void debug_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			out[0] = 0;
		return;
	}
	out[o++] = '"';
	for (; *s && o + 6 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\u{%x}", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = 0;
}

static int check_dirs(const char *dest, const char *dest_dir, const char *temp_dir)
{
	struct stat a, b;

	if (stat(dest_dir, &a) < 0)
		return sq_err_sys(SQ_E_IO, errno, dest_dir);
	if (stat(temp_dir, &b) < 0)
		return sq_err_sys(SQ_E_IO, errno, temp_dir);
	if (a.st_dev != b.st_dev) {
		char qd[1024], qt[1024];

		debug_quote(dest, qd, sizeof(qd));
		debug_quote(temp_dir, qt, sizeof(qt));
		return sq_err(SQ_E_ATOMIC_COMMIT_CROSS_FS,
			      "snapshot temp-file path is on a different filesystem from the "
			      "destination (dest=%s, temp_dir=%s); rename(2) cannot be atomic "
			      "across mounts",
			      qd, qt);
	}
	return 0;
}

int sq_check_same_filesystem(const char *dest, const char *temp)
{
	char *dd = parent_of(dest), *td = parent_of(temp);
	int rc;

	if (!dd || !td)
		rc = sq_err(SQ_E_NOMEM, "out of memory");
	else
		rc = check_dirs(dest, dd, td);
	free(dd);
	free(td);
	return rc;
}

static void unlink_temp(struct sq_atomic_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->temp_live) {
		unlink(f->temp);
		f->temp_live = 0;
	}
}

int sq_atomic_open(const char *dest, const struct sq_atomic_opts *opts,
		   struct sq_atomic_file **out)
{
	struct sq_atomic_opts o = { 0 };
	struct sq_atomic_file *f;
	int rc;

	*out = NULL;
	if (opts)
		o = *opts;
	if (!dest || !*dest)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: empty destination path");
	f = calloc(1, sizeof(*f));
	if (!f)
		return sq_err(SQ_E_NOMEM, "out of memory");
	f->fd = -1;
	f->dest = strdup(dest);
	f->dir = parent_of(dest);
	if (o.temp_dir) {
		char *copy = strdup(dest);
		if (copy && asprintf(&f->temp, "%s/%s%s", o.temp_dir, basename(copy),
				     SQ_TEMP_SUFFIX) < 0)
			f->temp = NULL;
		free(copy);
	} else if (asprintf(&f->temp, "%s%s", dest, SQ_TEMP_SUFFIX) < 0) {
		f->temp = NULL;
	}
	if (!f->dest || !f->dir || !f->temp) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto fail;
	}
	rc = check_dirs(dest, f->dir, o.temp_dir ? o.temp_dir : f->dir);
	if (rc)
		goto fail;
	/* A stale temp (crash, or a planted symlink) is removed, not followed. */
	if (unlink(f->temp) < 0 && errno != ENOENT) {
		rc = sq_err_sys(SQ_E_IO, errno, f->temp);
		goto fail;
	}
	int fd = sq_sys_open(SQ_SITE_ATOMIC_OPEN, f->temp,
			     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | o.extra_flags,
			     o.mode ? (mode_t)o.mode : 0600);
	if (fd < 0) {
		rc = sq_err_sys(SQ_E_IO, -fd, f->temp);
		goto fail;
	}
	f->fd = fd;
	f->temp_live = 1;
	*out = f;
	return 0;
fail:
	free(f->dest);
	free(f->temp);
	free(f->dir);
	free(f);
	return rc;
}

int sq_atomic_fd(const struct sq_atomic_file *f)
{
	return f->fd;
}

const char *sq_atomic_temp_path(const struct sq_atomic_file *f)
{
	return f->temp;
}

const char *sq_atomic_dest_path(const struct sq_atomic_file *f)
{
	return f->dest;
}

int sq_atomic_write(struct sq_atomic_file *f, const void *buf, size_t len, int err_class)
{
	if (!f->temp_live)
		return sq_err(SQ_E_INVAL, "atomic file is no longer open for writing");
	int r = sq_sys_write_all(SQ_SITE_ATOMIC_WRITE, f->fd, buf, len);
	if (r < 0) {
		unlink_temp(f);
		return sq_err_sys(err_class, -r, NULL);
	}
	return 0;
}

int sq_atomic_sync(struct sq_atomic_file *f)
{
	if (!f->temp_live)
		return sq_err(SQ_E_INVAL, "atomic file is no longer open for writing");
	int r = sq_sys_fsync(SQ_SITE_ATOMIC_FSYNC, f->fd);
	if (r < 0) {
		unlink_temp(f);
		return sq_err_sys(SQ_E_IO, -r, NULL);
	}
	return 0;
}

int sq_atomic_publish(struct sq_atomic_file *f)
{
	if (!f->temp_live)
		return sq_err(SQ_E_INVAL, "atomic file is no longer open for writing");
	close(f->fd);
	f->fd = -1;
	int r = sq_sys_rename(SQ_SITE_ATOMIC_RENAME, f->temp, f->dest);
	if (r < 0) {
		unlink_temp(f);
		return sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, NULL);
	}
	f->temp_live = 0;
	f->published = 1;
	int dfd = sq_sys_open(SQ_SITE_ATOMIC_DIROPEN, f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return sq_err_sys(SQ_E_IO, -dfd, f->dir);
	r = sq_sys_fsync(SQ_SITE_ATOMIC_DIRFSYNC, dfd);
	close(dfd);
	if (r < 0)
		return sq_err_sys(SQ_E_IO, -r, f->dir);
	return 0;
}

int sq_atomic_commit(struct sq_atomic_file *f)
{
	int rc = sq_atomic_sync(f);

	return rc ? rc : sq_atomic_publish(f);
}

void sq_atomic_abort(struct sq_atomic_file *f)
{
	if (f)
		unlink_temp(f);
}

void sq_atomic_close(struct sq_atomic_file *f)
{
	if (!f)
		return;
	unlink_temp(f);
	free(f->dest);
	free(f->temp);
	free(f->dir);
	free(f);
}
