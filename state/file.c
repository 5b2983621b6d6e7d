/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/file.c - saving and loading a state file.
 *
 * Save: validation first (nothing on disk is touched when it fails), then
 * the whole file is encoded in memory and written through the atomic
 * writer: "<path>.tmp", fsync, rename, directory fsync.
 * Load: at most SQ_STATE_SIZE_LIMIT + 1 bytes are read through the IO seam
 * (sites STATE_OPEN / STATE_READ), so an oversized file is reported as
 * SizeLimitExceeded without being read whole; the buffer never grows past
 * that bound whatever fstat() said.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/state.h>

#include "core/err.h"
#include "core/sysio.h"
#include "state/state_internal.h"

int sq_state_save(const char *path, const struct sq_microvm_state *s)
{
	struct sq_atomic_file *f = NULL;
	uint8_t *buf;
	size_t len;
	int rc;

	rc = sq_state_verify_compatible(s);
	if (rc)
		return rc;
	rc = sq_state_encode(s, &buf, &len);
	if (rc)
		return rc;
	rc = sq_atomic_open(path, NULL, &f);
	if (!rc)
		rc = sq_atomic_write(f, buf, len, SQ_E_IO);
	if (!rc)
		rc = sq_atomic_commit(f);
	sq_atomic_close(f);
	free(buf);
	return rc;
}

int sq_state_read_file(const char *path, uint8_t **out, size_t *out_len)
{
	const size_t cap_max = (size_t)SQ_STATE_SIZE_LIMIT + 1;
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, len = 0;
	int fd, rc = 0;

	*out = NULL;
	*out_len = 0;
	fd = sq_sys_open(SQ_SITE_STATE_OPEN, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return sq_err_sys(SQ_E_IO, -fd, path);
	cap = 64 * 1024;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0)
		cap = (uint64_t)st.st_size + 1 < cap_max ? (size_t)st.st_size + 1 : cap_max;
	buf = malloc(cap);
	if (!buf) {
		rc = sq_err(SQ_E_NOMEM, "out of memory");
		goto out;
	}
	while (len < cap_max) {
		if (len == cap) {
			size_t ncap = cap * 2 < cap_max ? cap * 2 : cap_max;
			uint8_t *p = realloc(buf, ncap);

			if (!p) {
				rc = sq_err(SQ_E_NOMEM, "out of memory");
				goto out;
			}
			buf = p;
			cap = ncap;
		}
		ssize_t r = sq_sys_read(SQ_SITE_STATE_READ, fd, buf + len, cap - len);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			rc = sq_err_sys(SQ_E_IO, (int)-r, path);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
out:
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int sq_state_load(const char *path, struct sq_microvm_state **out, struct sq_state_header *hdr)
{
	struct sq_microvm_state *s;
	struct sq_state_header h;
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	if (hdr)
		hdr->version = NULL;
	rc = sq_state_read_file(path, &buf, &len);
	if (rc)
		return rc;
	rc = sq_state_decode(buf, len, &s, &h);
	free(buf);
	if (rc)
		return rc;
	rc = sq_state_verify_compatible(s);
	if (rc) {
		sq_state_free(s);
		sq_state_header_release(&h);
		return rc;
	}
	*out = s;
	if (hdr)
		*hdr = h;
	else
		sq_state_header_release(&h);
	return 0;
}
