/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/sysio.c - the IO seam (see core/sysio.h) and its fault injector.
 *
 * The plan is published with a release store and read with an acquire load
 * so a reader that sees the pointer sees the plan's fields. Plans are set
 * by tests between operations, never concurrently with a running one, so
 * the plan storage itself is a static copy, not reference counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sysio.h"

static const char *const site_names[] = {
#define SQ_IO_SITE(name, str, kind) str,
#include "core/io_sites.def"
#undef SQ_IO_SITE
};

static const enum sq_io_kind site_kinds[] = {
#define SQ_IO_SITE(name, str, kind) SQ_IOK_##kind,
#include "core/io_sites.def"
#undef SQ_IO_SITE
};

static struct sq_fault_plan plan_storage;
static _Atomic(struct sq_fault_plan *) plan_ptr;
static atomic_uint plan_seen;  /* matching calls seen */
static atomic_uint plan_fired; /* injections made */
static atomic_uint site_calls[SQ_SITE_COUNT];

void sq_fault_set(const struct sq_fault_plan *plan)
{
	atomic_store_explicit(&plan_ptr, NULL, memory_order_release);
	atomic_store_explicit(&plan_seen, 0, memory_order_relaxed);
	atomic_store_explicit(&plan_fired, 0, memory_order_relaxed);
	for (int i = 0; i < SQ_SITE_COUNT; i++)
		atomic_store_explicit(&site_calls[i], 0, memory_order_relaxed);
	if (plan) {
		plan_storage = *plan;
		/* Release: the fields above are visible to any acquirer. */
		atomic_store_explicit(&plan_ptr, &plan_storage, memory_order_release);
	}
}

unsigned sq_fault_fired(void)
{
	return atomic_load_explicit(&plan_fired, memory_order_relaxed);
}

unsigned sq_fault_calls(int site)
{
	if (site < 0 || site >= SQ_SITE_COUNT)
		return 0;
	return atomic_load_explicit(&site_calls[site], memory_order_relaxed);
}

const char *sq_io_site_name(int site)
{
	if (site < 0 || site >= SQ_SITE_COUNT)
		return "?";
	return site_names[site];
}

enum sq_io_kind sq_io_site_kind(int site)
{
	if (site < 0 || site >= SQ_SITE_COUNT)
		return SQ_IOK_OTHER;
	return site_kinds[site];
}

int sq_fault_check(int site)
{
	/* Acquire pairs with the release in sq_fault_set. */
	struct sq_fault_plan *p = atomic_load_explicit(&plan_ptr, memory_order_acquire);

	if (__builtin_expect(p == NULL, 1))
		return 0;
	if (site >= 0 && site < SQ_SITE_COUNT)
		atomic_fetch_add_explicit(&site_calls[site], 1, memory_order_relaxed);
	if (p->site != -1 && p->site != site)
		return 0;
	unsigned n = atomic_fetch_add_explicit(&plan_seen, 1, memory_order_relaxed);
	if (n < p->skip)
		return 0;
	if (p->times && n - p->skip >= p->times)
		return 0;
	atomic_fetch_add_explicit(&plan_fired, 1, memory_order_relaxed);
	return p->error;
}

static size_t shorten(size_t len)
{
	return len > 1 ? len / 2 : len;
}

int sq_sys_open(int site, const char *path, int flags, mode_t mode)
{
	return sq_sys_openat(site, AT_FDCWD, path, flags, mode);
}

int sq_sys_openat(int site, int dirfd, const char *path, int flags, mode_t mode)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	int fd = openat(dirfd, path, flags, mode);
	return fd < 0 ? -errno : fd;
}

int sq_sys_open_input(int site, const char *path, int flags, struct stat *st)
{
	struct stat own;
	int fd = sq_sys_open(site, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | flags, 0);

	if (fd < 0)
		return fd;
	if (!st)
		st = &own;
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return SQ_SYS_NOT_REGULAR;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int sq_sys_linkat(int site, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  int flags)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return linkat(olddirfd, oldpath, newdirfd, newpath, flags) < 0 ? -errno : 0;
}

ssize_t sq_sys_read(int site, int fd, void *buf, size_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = read(fd, buf, len);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_pread(int site, int fd, void *buf, size_t len, off_t off)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = pread(fd, buf, len, off);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_write(int site, int fd, const void *buf, size_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = write(fd, buf, len);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_pwrite(int site, int fd, const void *buf, size_t len, off_t off)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = pwrite(fd, buf, len, off);
	return r < 0 ? -errno : r;
}

static int iov_shorten(int iovcnt)
{
	/* A short vectored transfer: drop the second half of the vector, or
	 * half of a single element is not expressible without copying, so a
	 * single element is left whole and the caller sees a full transfer
	 * of fewer elements only when there are several. */
	return iovcnt > 1 ? iovcnt / 2 : iovcnt;
}

ssize_t sq_sys_pwritev2(int site, int fd, const struct iovec *iov, int iovcnt, off_t off,
			int flags)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT && iovcnt == 1) {
		ssize_t r = pwrite(fd, iov[0].iov_base, shorten(iov[0].iov_len), off);
		return r < 0 ? -errno : r;
	}
	if (f == SQ_FAULT_SHORT)
		iovcnt = iov_shorten(iovcnt);
	ssize_t r = pwritev2(fd, iov, iovcnt, off, flags);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_preadv2(int site, int fd, const struct iovec *iov, int iovcnt, off_t off,
		       int flags)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT && iovcnt == 1) {
		ssize_t r = pread(fd, iov[0].iov_base, shorten(iov[0].iov_len), off);
		return r < 0 ? -errno : r;
	}
	if (f == SQ_FAULT_SHORT)
		iovcnt = iov_shorten(iovcnt);
	ssize_t r = preadv2(fd, iov, iovcnt, off, flags);
	return r < 0 ? -errno : r;
}

int sq_sys_fsync(int site, int fd)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return fsync(fd) < 0 ? -errno : 0;
}

int sq_sys_fdatasync(int site, int fd)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return fdatasync(fd) < 0 ? -errno : 0;
}

int sq_sys_rename(int site, const char *from, const char *to)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return rename(from, to) < 0 ? -errno : 0;
}

int sq_sys_ftruncate(int site, int fd, off_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

int sq_sys_fallocate(int site, int fd, int mode, off_t off, off_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

ssize_t sq_sys_copy_file_range(int site, int fd_in, off_t *off_in, int fd_out, off_t *off_out,
			       size_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = copy_file_range(fd_in, off_in, fd_out, off_out, len, 0);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_send(int site, int fd, const void *buf, size_t len, int flags)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = send(fd, buf, len, flags | MSG_NOSIGNAL);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_recv(int site, int fd, void *buf, size_t len, int flags)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT)
		len = shorten(len);
	ssize_t r = recv(fd, buf, len, flags);
	return r < 0 ? -errno : r;
}

ssize_t sq_sys_complete(int site, ssize_t res, size_t len)
{
	int f = sq_fault_check(site);

	if (f > 0)
		return -f;
	if (f == SQ_FAULT_SHORT && res > 0 && (size_t)res == len && len > 1)
		return (ssize_t)(len / 2);
	return res;
}

int sq_sys_pwrite_all(int site, int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t r = sq_sys_pwrite(site, fd, p, len, off);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

int sq_sys_pread_all(int site, int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t r = sq_sys_pread(site, fd, p, len, off);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

int sq_sys_write_all(int site, int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = sq_sys_write(site, fd, p, len);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}
