/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/file.c - saving and loading a state file.
 *
 * Save: validation first (nothing on disk is touched when it fails), then
 * the whole file is encoded in memory and written through the atomic
 * writer: "<path>.tmp", fsync, rename, directory fsync.
 * Load: a regular file only (a FIFO or device is refused at once, core's
 * sq_sys_open_input); at most SQ_STATE_SIZE_LIMIT + 1 bytes are read through
 * the IO seam (sites STATE_OPEN / STATE_READ) with sq_read_dense, so an
 * oversized file is reported as SizeLimitExceeded without being read whole
 * and the buffer never grows past that bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/state.h>

#include "core/err.h"
#include "core/input.h"
#include "core/sysio.h"
#include "state/state_internal.h"

int sq_state_save(const char *path, const struct sq_microvm_state *s)
{
	uint8_t *buf;
	size_t len;
	int rc;

	rc = sq_state_verify_compatible(s);
	if (rc)
		return rc;
	rc = sq_state_encode(s, &buf, &len);
	if (rc)
		return rc;
	rc = sq_atomic_write_file(path, buf, len, 0);
	free(buf);
	return rc;
}

int sq_state_read_file(const char *path, uint8_t **out, size_t *out_len)
{
	const uint64_t cap_max = (uint64_t)SQ_STATE_SIZE_LIMIT + 1;
	struct stat st;
	int fd, rc;

	*out = NULL;
	*out_len = 0;
	fd = sq_sys_open_input(SQ_SITE_STATE_OPEN, path, 0, &st);
	if (fd < 0)
		return fd == SQ_SYS_NOT_REGULAR ? sq_err_input(fd, SQ_E_IO, path)
						: sq_err_sys(SQ_E_IO, -fd, path);
	uint64_t size = (uint64_t)st.st_size < cap_max ? (uint64_t)st.st_size : cap_max;
	rc = sq_read_dense(SQ_SITE_STATE_READ, fd, size, 0, path, out);
	close(fd);
	if (!rc)
		*out_len = (size_t)size;
	return rc;
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
		sq_state_destroy(s);
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
