/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/sysio.h - the IO seam: wrappers for every file and socket system call.
 *
 * Each wrapper takes the call site (core/io_sites.def) first, consults the
 * fault injector, then makes the real call. Return convention (liburing's):
 * the result (fd, byte count, 0) on success, -errno on failure; errno is
 * not to be read by callers. EINTR is returned to the caller as -EINTR: the
 * caller decides whether to retry (all library callers do).
 *
 * The injector costs one relaxed load of a global when idle. It is an
 * internal (hidden) interface, reachable only from code linked into the
 * library or the static test archive.
 */
#ifndef SQ_CORE_SYSIO_H
#define SQ_CORE_SYSIO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum sq_io_site {
#define SQ_IO_SITE(name, str, kind) SQ_SITE_##name,
#include "core/io_sites.def"
#undef SQ_IO_SITE
	SQ_SITE_COUNT
};

enum sq_io_kind { SQ_IOK_OPEN, SQ_IOK_WRITE, SQ_IOK_READ, SQ_IOK_SYNC, SQ_IOK_RENAME,
		  SQ_IOK_COPY, SQ_IOK_SEND, SQ_IOK_RECV, SQ_IOK_TRUNC, SQ_IOK_OTHER };

/* Fault-injection plan (tests only). */
#define SQ_FAULT_SHORT (-1000) /* transfer half the bytes (at least 1 fewer) */
struct sq_fault_plan {
	int site;         /* enum sq_io_site, or -1 for any site */
	int error;        /* positive errno to inject, or SQ_FAULT_SHORT */
	unsigned skip;    /* let this many matching calls pass first */
	unsigned times;   /* inject this many times, 0 = forever */
};

/* Install (or with NULL remove) a plan for the whole process. */
void sq_fault_set(const struct sq_fault_plan *plan);
/* How many times a plan fired since it was set. */
unsigned sq_fault_fired(void);
/* Calls seen per site since the last sq_fault_set (for coverage checks). */
unsigned sq_fault_calls(int site);
const char *sq_io_site_name(int site);
enum sq_io_kind sq_io_site_kind(int site);

/*
 * sq_fault_check() - 0 to proceed, a positive errno to fail with, or
 * SQ_FAULT_SHORT. Used by the wrappers and by code that completes IO
 * asynchronously (io_uring CQEs).
 */
int sq_fault_check(int site);

int sq_sys_open(int site, const char *path, int flags, mode_t mode);
/*
 * sq_sys_open_input() - open an existing file for reading without blocking:
 * O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | @flags, then fstat. A
 * FIFO, socket, device or directory is closed again at once and
 * SQ_SYS_NOT_REGULAR is returned (a FIFO with no writer never blocks the
 * open). On success O_NONBLOCK is cleared again and the fd is returned;
 * otherwise -errno. *@st (may be NULL) receives the fstat result.
 */
#define SQ_SYS_NOT_REGULAR (-4096)
struct stat;
int sq_sys_open_input(int site, const char *path, int flags, struct stat *st);
int sq_sys_linkat(int site, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  int flags);
int sq_sys_openat(int site, int dirfd, const char *path, int flags, mode_t mode);
ssize_t sq_sys_read(int site, int fd, void *buf, size_t len);
ssize_t sq_sys_pread(int site, int fd, void *buf, size_t len, off_t off);
ssize_t sq_sys_write(int site, int fd, const void *buf, size_t len);
ssize_t sq_sys_pwrite(int site, int fd, const void *buf, size_t len, off_t off);
ssize_t sq_sys_pwritev2(int site, int fd, const struct iovec *iov, int iovcnt, off_t off,
			int flags);
ssize_t sq_sys_preadv2(int site, int fd, const struct iovec *iov, int iovcnt, off_t off,
		       int flags);
int sq_sys_fsync(int site, int fd);
int sq_sys_fdatasync(int site, int fd);
int sq_sys_rename(int site, const char *from, const char *to);
int sq_sys_ftruncate(int site, int fd, off_t len);
int sq_sys_fallocate(int site, int fd, int mode, off_t off, off_t len);
ssize_t sq_sys_copy_file_range(int site, int fd_in, off_t *off_in, int fd_out, off_t *off_out,
			       size_t len);
ssize_t sq_sys_send(int site, int fd, const void *buf, size_t len, int flags);
ssize_t sq_sys_recv(int site, int fd, void *buf, size_t len, int flags);
/*
 * sq_sys_complete() - apply the injector to an asynchronous completion
 * result @res (bytes or -errno) for a request of @len bytes.
 */
ssize_t sq_sys_complete(int site, ssize_t res, size_t len);

/* Full-transfer helpers: retry on EINTR and short transfers; 0 or -errno
 * (-EIO for an unexpected end of file on read). */
int sq_sys_pwrite_all(int site, int fd, const void *buf, size_t len, off_t off);
int sq_sys_pread_all(int site, int fd, void *buf, size_t len, off_t off);
int sq_sys_write_all(int site, int fd, const void *buf, size_t len);

#endif /* SQ_CORE_SYSIO_H */
