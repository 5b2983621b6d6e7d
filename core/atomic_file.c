/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/atomic_file.c - exclusive temp file, write, fsync, rename, directory
 * fsync.
 *
 * Invariants:
 *  - From a successful open until close, the handle holds the lock
 *    "<dest>.lock" (core/temp_lock.h), unless a group holds it for it. So at
 *    most one writer per destination exists, and every temp name of the
 *    destination that a lock holder finds belongs to a dead writer.
 *  - The temp is anonymous (O_TMPFILE) where the filesystem allows, else
 *    the unique name f->temp created with O_EXCL | O_NOFOLLOW. An
 *    anonymous temp gets that unique name (linkat) only just before the
 *    rename; no other process can open or publish it.
 *  - The destination is touched only by rename(2) of our own temp.
 *  - f->temp_live == 1 from a successful open until the temp is published
 *    or removed; every failing step removes the temp before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "core/atomic_internal.h"
#include "core/temp_lock.h"

int sq_x_derive_temp_path(const char *dest, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s", dest, SQ_TEMP_SUFFIX);

	if (n < 0 || (size_t)n >= len)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: path too long: %s", dest);
	return 0;
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

int sq_x_check_same_filesystem(const char *dest, const char *temp)
{
	char *dd = sq_path_dir(dest), *td = sq_path_dir(temp);
	int rc;

	if (!dd || !td)
		rc = sq_err(SQ_E_NOMEM, "out of memory");
	else
		rc = check_dirs(dest, dd, td);
	free(dd);
	free(td);
	return rc;
}

int sq_atomic_dir_sync(int open_site, int fsync_site, const char *dir)
{
	int dfd = sq_sys_open(open_site, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int r;

	if (dfd < 0)
		return sq_err_sys(SQ_E_IO, -dfd, dir);
	r = sq_sys_fsync(fsync_site, dfd);
	close(dfd);
	return r < 0 ? sq_err_sys(SQ_E_IO, -r, dir) : 0;
}

static void unlink_temp(struct sq_atomic_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->temp_live && !f->anon)
		unlink(f->temp);
	f->temp_live = 0;
}

static void free_handle(struct sq_atomic_file *f)
{
	if (f->lock)
		sq_lock_release(f->lock_fd, f->lock);
	free(f->dest);
	free(f->temp);
	free(f->dir);
	free(f->lock);
	free(f);
}

/* The temp: anonymous in @dir when the filesystem can, else f->temp. */
static int create_temp(struct sq_atomic_file *f, const char *dir, int extra, mode_t mode)
{
	int fd;

	if (!(f->flags & SQ_ATOMIC_NAMED_TEMP)) {
		fd = sq_sys_open(SQ_SITE_ATOMIC_OPEN, dir, O_TMPFILE | O_RDWR | O_CLOEXEC | extra,
				 mode);
		if (fd >= 0) {
			f->fd = fd;
			f->anon = 1;
			f->temp_live = 1;
			(void)fchmod(fd, mode); /* exactly @mode, whatever the umask */
			return 0;
		}
		if (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL)
			return sq_err_sys(SQ_E_IO, -fd, dir);
	}
	fd = sq_sys_open(SQ_SITE_ATOMIC_OPEN, f->temp,
			 O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra, mode);
	if (fd < 0)
		return sq_err_sys(SQ_E_IO, -fd, f->temp);
	f->fd = fd;
	f->temp_live = 1;
	(void)fchmod(fd, mode);
	return 0;
}

int sq_atomic_open_ex(const char *dest, const struct sq_atomic_opts *opts, unsigned iflags,
		      struct sq_atomic_file **out)
{
	struct sq_atomic_opts o = SQ_INIT(struct sq_atomic_opts);
	struct sq_atomic_file *f;
	int rc;

	*out = NULL;
	rc = SQ_SIZED_IN(o, opts, SQ_V0_ATOMIC_OPTS, "sq_atomic_opts");
	if (rc)
		return rc;
	if (!dest || !*dest)
		return sq_err(SQ_E_INVALID_PATH, "invalid snapshot path: empty destination path");
	f = calloc(1, sizeof(*f));
	if (!f)
		return sq_err(SQ_E_NOMEM, "out of memory");
	f->fd = -1;
	f->lock_fd = -1;
	f->flags = o.flags | iflags;
	f->dest = strdup(dest);
	f->dir = sq_path_dir(dest);
	f->temp = sq_temp_name(o.temp_dir, dest);
	if (!(iflags & SQ_ATOMIC_I_NOLOCK) && asprintf(&f->lock, "%s%s", dest, SQ_LOCK_SUFFIX) < 0)
		f->lock = NULL;
	if (!f->dest || !f->dir || !f->temp || (!(iflags & SQ_ATOMIC_I_NOLOCK) && !f->lock)) {
		free_handle(f);
		return sq_err(SQ_E_NOMEM, "out of memory");
	}
	rc = check_dirs(dest, f->dir, o.temp_dir ? o.temp_dir : f->dir);
	if (!rc && f->lock) {
		rc = sq_lock_acquire(f->lock, (f->flags & SQ_ATOMIC_WAIT) != 0);
		if (rc >= 0) {
			f->lock_fd = rc;
			rc = 0;
		}
	}
	if (rc) {
		free(f->lock); /* not ours: never unlink another writer's lock */
		f->lock = NULL;
		free_handle(f);
		return rc;
	}
	/* Every writer of @dest holds its lock while its temps exist: any
	 * temp name of @dest found now was left by a dead writer. */
	char *base = sq_path_base(dest);
	if (base) {
		sq_temp_sweep(f->dir, base);
		if (o.temp_dir)
			sq_temp_sweep(o.temp_dir, base);
		free(base);
	}
	rc = create_temp(f, o.temp_dir ? o.temp_dir : f->dir, o.extra_flags,
			 o.mode ? (mode_t)o.mode : 0600);
	if (rc) {
		free_handle(f);
		return rc;
	}
	*out = f;
	return 0;
}

int sq_atomic_open(const char *dest, const struct sq_atomic_opts *opts,
		   struct sq_atomic_file **out)
{
	return sq_atomic_open_ex(dest, opts, 0, out);
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

int sq_atomic_link_temp(struct sq_atomic_file *f)
{
	char proc[64];
	int r;

	if (!f->anon)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	r = sq_sys_linkat(SQ_SITE_ATOMIC_RENAME, AT_FDCWD, proc, AT_FDCWD, f->temp,
			  AT_SYMLINK_FOLLOW);
	if (r == -ENOENT && access("/proc/self/fd", F_OK) < 0) /* no /proc mounted */
		r = sq_sys_linkat(SQ_SITE_ATOMIC_RENAME, f->fd, "", AT_FDCWD, f->temp,
				  AT_EMPTY_PATH);
	if (r < 0) {
		unlink_temp(f);
		return sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, f->temp);
	}
	f->anon = 0;
	return 0;
}

int sq_atomic_publish(struct sq_atomic_file *f)
{
	if (!f->temp_live)
		return sq_err(SQ_E_INVAL, "atomic file is no longer open for writing");
	if (f->flags & SQ_ATOMIC_I_MEMBER)
		return sq_err(SQ_E_INVAL, "a group member is published by sq_atomic_group_commit");
	int rc = sq_atomic_link_temp(f);
	if (rc)
		return rc;
	close(f->fd);
	f->fd = -1;
	int r = sq_sys_rename(SQ_SITE_ATOMIC_RENAME, f->temp, f->dest);
	if (r < 0) {
		unlink_temp(f);
		return sq_err_sys(SQ_E_ATOMIC_COMMIT_FAILED, -r, NULL);
	}
	f->temp_live = 0;
	f->published = 1;
	return sq_atomic_dir_sync(SQ_SITE_ATOMIC_DIROPEN, SQ_SITE_ATOMIC_DIRFSYNC, f->dir);
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

void sq_atomic_destroy(struct sq_atomic_file *f)
{
	if (!f)
		return;
	unlink_temp(f);
	free_handle(f);
}

int sq_atomic_sweep(const char *dest)
{
	char *lock = NULL, *dir = sq_path_dir(dest), *base = sq_path_base(dest);
	int n = 0, fd;

	if (dir && base && asprintf(&lock, "%s%s", dest, SQ_LOCK_SUFFIX) >= 0) {
		fd = sq_lock_acquire(lock, 0);
		if (fd >= 0) {
			n = sq_temp_sweep(dir, base);
			sq_lock_release(fd, lock);
		} else if (fd != SQ_E_OUTPUT_BUSY) {
			n = fd;
		}
	}
	free(lock);
	free(dir);
	free(base);
	return n;
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
int sq_derive_temp_path(const char *dest, char *buf, size_t len)
{
	return sq_x_derive_temp_path(dest, buf, len);
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
int sq_check_same_filesystem(const char *dest, const char *temp)
{
	return sq_x_check_same_filesystem(dest, temp);
}

/* The name published with libsquib.so.2 before the naming rule (docs/ARCHITECTURE.md, "ABI"). */
void sq_atomic_close(struct sq_atomic_file *f)
{
	sq_atomic_destroy(f);
}
