/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/temp_lock.c - writer locks, unique temp names, sweep of dead temps.
 *
 * Invariants:
 *  - A lock fd returned by sq_lock_acquire holds flock(LOCK_EX) on the
 *    file that is, at that moment, linked at the lock path (same dev and
 *    inode): a holder unlinks the path before it unlocks, so a waiter that
 *    wins the flock on an unlinked file sees the mismatch and retries.
 *  - Temp names carry the writer's pid and 64 random bits: two writers
 *    never pick one name (and O_EXCL would refuse it anyway).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/sysio.h"
#include "core/temp_lock.h"

char *sq_path_dir(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return NULL;
	char *d = strdup(dirname(copy));
	free(copy);
	return d;
}

char *sq_path_base(const char *path)
{
	char *copy = strdup(path);

	if (!copy)
		return NULL;
	char *b = strdup(basename(copy));
	free(copy);
	return b;
}

int sq_lock_acquire(const char *lock_path, int wait)
{
	return sq_lock_acquire_mode(lock_path, wait, LOCK_EX);
}

int sq_lock_acquire_mode(const char *lock_path, int wait, int mode)
{
	for (;;) {
		struct stat a, b;
		int fd = sq_sys_open(SQ_SITE_LOCK_OPEN, lock_path,
				     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd == -ELOOP && unlink(lock_path) == 0)
			continue; /* a planted symlink is never a lock: removed, not followed */
		if (fd < 0)
			return sq_err_sys(SQ_E_IO, -fd, lock_path);
		while (flock(fd, mode | (wait ? 0 : LOCK_NB)) < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK)
				return sq_err(SQ_E_OUTPUT_BUSY, "output is being written by another "
								  "process (%s is locked)", lock_path);
			return sq_err_sys(SQ_E_IO, e, lock_path);
		}
		if (fstat(fd, &a) == 0 && lstat(lock_path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return fd;
		close(fd); /* the previous holder removed it: lock the new one */
	}
}

void sq_lock_release_shared(int fd, const char *lock_path)
{
	if (fd < 0)
		return;
	/* The last holder removes the file: only when nobody else holds it
	 * (an exclusive lock taken without waiting) is unlinking safe. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		unlink(lock_path);
	close(fd);
}

void sq_lock_release(int fd, const char *lock_path)
{
	if (fd < 0)
		return;
	unlink(lock_path);
	close(fd);
}

char *sq_temp_name(const char *dir, const char *dest)
{
	unsigned long long r = 0;
	char *base = sq_path_base(dest), *own = dir ? NULL : sq_path_dir(dest), *out = NULL;

	if (base && (dir || own) && getrandom(&r, sizeof(r), 0) == (ssize_t)sizeof(r) &&
	    asprintf(&out, "%s/%s.%ld.%016llx.tmp", dir ? dir : own, base, (long)getpid(), r) < 0)
		out = NULL;
	free(base);
	free(own);
	return out;
}

int sq_temp_is_of(const char *name, const char *base)
{
	size_t n = strlen(base), i;

	if (strncmp(name, base, n) != 0 || name[n] != '.')
		return 0;
	name += n + 1;
	for (i = 0; name[i] >= '0' && name[i] <= '9'; i++)
		;
	if (i == 0 || i > 10 || name[i] != '.')
		return 0;
	name += i + 1;
	for (i = 0; i < 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return strcmp(name + 16, ".tmp") == 0;
}

int sq_temp_sweep(const char *dir, const char *base)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (sq_temp_is_of(e->d_name, base) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	closedir(d);
	return n;
}
