/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/input.c - reading input files the same way in every layer: the
 * error of a refused input open, and a bounded whole-file read whose
 * memory follows what the file really stores.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/error.h>

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
