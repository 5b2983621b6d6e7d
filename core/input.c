/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/input.c - reading input files the same way in every layer: the
 * error of a refused input open, a bounded whole-file read whose memory
 * follows what the file really stores, and the public sq_file_read (the
 * same read for programs, squib/file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/file.h>

#include "core/err.h"
#include "core/input.h"
#include "core/sysio.h"

int sq_err_input(int r, int cls, const char *path)
{
	if (r == SQ_SYS_NOT_REGULAR)
		return sq_err(SQ_E_NOT_REGULAR, "%s is not a regular file (a FIFO, socket, device "
						"or directory is never read)", path);
	if (r == -ENOENT)
		return sq_err(SQ_E_NOT_FOUND, "%s: %s", path, strerror(ENOENT));
	return sq_err_sys(cls, -r, path);
}

#define DENSE_STEP (1u << 20)

int sq_read_dense(int site, int fd, uint64_t size, int sparse_code, const char *path,
		  uint8_t **out)
{
	uint8_t *buf = NULL;
	uint64_t got = 0;

	*out = NULL;
	if (size && sparse_code) {
		off_t h = lseek(fd, 0, SEEK_HOLE);
		if (h >= 0 && (uint64_t)h < size)
			return sq_err(sparse_code, "%s has a hole at offset %lld: this file is never "
						   "sparse", path, (long long)h);
	}
	while (got < size || !buf) {
		uint64_t step = size - got < DENSE_STEP ? size - got : DENSE_STEP;
		uint8_t *nb = realloc(buf, (size_t)(got + step) + 1);
		if (!nb) {
			free(buf);
			return sq_err(SQ_E_NOMEM, "out of memory");
		}
		buf = nb;
		if (!step)
			break;
		int r = sq_sys_pread_all(site, fd, buf + got, (size_t)step, (off_t)got);
		if (r < 0) {
			free(buf);
			return sq_err_sys(SQ_E_IO, -r, path);
		}
		got += step;
	}
	*out = buf;
	return 0;
}

int sq_file_read(const char *path, size_t max, void **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!path || !out || !len)
		return sq_err(SQ_E_INVAL, "sq_file_read: path, out and len are required");
	int fd = sq_sys_open_input(SQ_SITE_FILE_OPEN, path, 0, &st);
	if (fd < 0)
		return sq_err_input(fd, SQ_E_IO, path);
	if ((uint64_t)st.st_size > (uint64_t)max) {
		close(fd);
		return sq_err(SQ_E_SIZE_LIMIT, "%s is %lld bytes, more than the %zu allowed", path,
			      (long long)st.st_size, max);
	}
	int rc = sq_read_dense(SQ_SITE_FILE_READ, fd, (uint64_t)st.st_size, 0, path, &buf);
	close(fd);
	if (rc)
		return rc;
	buf[st.st_size] = 0;
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}
