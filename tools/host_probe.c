/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/host_probe.c - the probes behind `squib-snap check`.
 *
 * Each probe exercises the feature the way the library uses it and reports
 * what failed with the system's error text; nothing is inferred from the
 * kernel version.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <squib/tracker.h>
#include <squib/writer.h>

#include "host_probe.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static void set(struct sq_probe_result *r, const char *name, const char *what, bool required)
{
	r->name = name;
	r->what = what;
	r->required = required;
	r->ok = false;
	r->detail[0] = '\0';
}

static bool fail(struct sq_probe_result *r, const char *step, int err)
{
	snprintf(r->detail, sizeof(r->detail), "%s: %s", step, strerror(err));
	return false;
}

/* A userfaultfd with the API handshake; -errno on failure. */
static int uffd_open(uint64_t features, uint64_t *got)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (got)
		*got = api.features;
	return fd;
}

/* Registering a private anonymous page for missing faults (lazy restore). */
static bool probe_uffd_missing(struct sq_probe_result *r)
{
	int fd = uffd_open(0, NULL);
	if (fd < 0)
		return fail(r, "userfaultfd", -fd);
	long pg = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok = false;
	if (p == MAP_FAILED) {
		fail(r, "mmap", errno);
	} else {
		struct uffdio_register reg = { .range = { (uintptr_t)p, (uint64_t)pg },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };
		ok = ioctl(fd, UFFDIO_REGISTER, &reg) == 0;
		if (!ok)
			fail(r, "UFFDIO_REGISTER (missing)", errno);
		else
			snprintf(r->detail, sizeof(r->detail), "UFFDIO_COPY %s, UFFDIO_ZEROPAGE %s",
				 (reg.ioctls & (1ull << _UFFDIO_COPY)) ? "yes" : "no",
				 (reg.ioctls & (1ull << _UFFDIO_ZEROPAGE)) ? "yes" : "no");
		munmap(p, (size_t)pg);
	}
	close(fd);
	return ok;
}

static bool probe_membarrier(struct sq_probe_result *r)
{
	long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
	if (q < 0)
		return fail(r, "membarrier(QUERY)", errno);
	if (!(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) {
		snprintf(r->detail, sizeof(r->detail),
			 "no PRIVATE_EXPEDITED: markers fall back to a full fence");
		return false;
	}
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) < 0)
		return fail(r, "membarrier(REGISTER_PRIVATE_EXPEDITED)", errno);
	snprintf(r->detail, sizeof(r->detail), "PRIVATE_EXPEDITED");
	return true;
}

/* A unique regular file in @dir, unlinked at once; -errno on failure. */
static int scratch_file(const char *dir, int extra_flags)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/.squib-check.%ld.XXXXXX", dir, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (extra_flags) {
		/* Reopen through /proc to add O_DIRECT to the same inode. */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		int fd2 = open(self, O_RDWR | O_CLOEXEC | extra_flags);
		int e = errno;
		close(fd);
		return fd2 < 0 ? -e : fd2;
	}
	return fd;
}

static bool probe_direct(struct sq_probe_result *r, const char *dir)
{
	int fd = scratch_file(dir, O_DIRECT);
	if (fd < 0)
		return fail(r, "open(O_DIRECT)", -fd);
	void *buf = NULL;
	bool ok = false;
	if (posix_memalign(&buf, 4096, 4096) == 0) {
		memset(buf, 0x5a, 4096);
		if (pwrite(fd, buf, 4096, 0) == 4096) {
			ok = true;
			snprintf(r->detail, sizeof(r->detail), "4096-byte aligned write");
		} else {
			fail(r, "pwrite(O_DIRECT)", errno);
		}
		free(buf);
	}
	close(fd);
	return ok;
}

static bool probe_tmpfile(struct sq_probe_result *r, const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(r, "open(O_TMPFILE)", errno);
	close(fd);
	snprintf(r->detail, sizeof(r->detail), "unnamed temp files, published with linkat");
	return true;
}

static bool probe_seek_data(struct sq_probe_result *r, const char *dir)
{
	int fd = scratch_file(dir, 0);
	if (fd < 0)
		return fail(r, "create", -fd);
	bool ok = false;
	char b = 1;
	/* A 2 MiB hole, then one byte of data: SEEK_DATA from 0 must skip it. */
	if (pwrite(fd, &b, 1, 2 << 20) != 1) {
		fail(r, "pwrite", errno);
	} else {
		off_t d = lseek(fd, 0, SEEK_DATA);
		if (d < 0)
			fail(r, "lseek(SEEK_DATA)", errno);
		else if (d == 0)
			snprintf(r->detail, sizeof(r->detail),
				 "SEEK_DATA works but reports no holes: files read in full");
		else
			ok = true;
		if (ok)
			snprintf(r->detail, sizeof(r->detail), "holes reported");
	}
	close(fd);
	return ok;
}

static bool probe_ktls(struct sq_probe_result *r)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int a = -1;
	bool ok = false;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	if (l < 0 || c < 0) {
		fail(r, "socket", errno);
		goto out;
	}
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fail(r, "loopback connection", errno);
		goto out;
	}
	a = accept(l, NULL, NULL);
	if (setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		fail(r, "setsockopt(TCP_ULP, \"tls\")", errno);
		goto out;
	}
	ok = true;
	snprintf(r->detail, sizeof(r->detail), "the tls ULP attaches to a TCP socket");
out:
	if (a >= 0)
		close(a);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	return ok;
}

int sq_host_probe(const char *dir, struct sq_probe_result out[SQ_PROBE_COUNT])
{
	struct stat st;
	int k = 0;

	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;

	unsigned kern = sq_tracker_kernel_support();
	struct sq_probe_result *r = &out[k++];
	set(r, "uffd_wp_async", "kernel write tracking without faults (WP_ASYNC + PAGEMAP_SCAN)", false);
	r->ok = kern & (1u << SQ_KERNEL_ASYNC);
	snprintf(r->detail, sizeof(r->detail), "%s", r->ok ? "Linux 6.7+ write tracking" :
		 "missing: sync write-protect faults or API marks are used");

	r = &out[k++];
	set(r, "uffd_wp_sync", "synchronous write-protect faults (fallback tracking, live snapshots)",
	    false);
	r->ok = kern & (1u << SQ_KERNEL_SYNC);
	snprintf(r->detail, sizeof(r->detail), "%s", r->ok ? "UFFD_FEATURE_PAGEFAULT_FLAG_WP" :
		 "missing: writes are reported through the API only");

	r = &out[k++];
	set(r, "pagemap_scan", "ioctl(PAGEMAP_SCAN) on /proc/self/pagemap", false);
	r->ok = kern & (1u << SQ_KERNEL_ASYNC);
	snprintf(r->detail, sizeof(r->detail), "%s",
		 r->ok ? "written pages harvested and re-protected in one walk" : "not usable");

	r = &out[k++];
	set(r, "uffd_missing", "userfaultfd missing-page faults (lazy restore)", false);
	r->ok = probe_uffd_missing(r);

	r = &out[k++];
	set(r, "io_uring", "io_uring page writer", false);
	r->ok = sq_io_uring_usable();
	snprintf(r->detail, sizeof(r->detail), "%s",
		 r->ok ? "io_uring_setup works" : "refused: the pwritev2 thread pool is used");

	r = &out[k++];
	set(r, "o_direct", "O_DIRECT writes in the directory", false);
	r->ok = probe_direct(r, dir);

	r = &out[k++];
	set(r, "o_tmpfile", "O_TMPFILE in the directory (unnamed temp files)", false);
	r->ok = probe_tmpfile(r, dir);

	r = &out[k++];
	set(r, "seek_data", "SEEK_DATA / SEEK_HOLE in the directory (sparse files)", false);
	r->ok = probe_seek_data(r, dir);

	r = &out[k++];
	set(r, "membarrier", "membarrier(PRIVATE_EXPEDITED) (harvest ordering)", false);
	r->ok = probe_membarrier(r);

	r = &out[k++];
	set(r, "ktls", "kernel TLS offload for migration", false);
	r->ok = probe_ktls(r);
	return 0;
}
