/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state/envelope_compat.c - the original envelope module's small public
 * items: arch_magic() and Crc64Writer over a file descriptor.
 *
 * Invariant: a writer's crc is the CRC-64/Jones of exactly the bytes the
 * descriptor accepted through sq_crc64_writer_write (never the trailer).
 */
#include <errno.h>

#include <squib/compat.h>
#include <squib/crc64.h>

#include "core/endian.h"
#include "core/err.h"
#include "core/sysio.h"

uint64_t sq_arch_magic(void)
{
	return SQ_SNAPSHOT_MAGIC_AARCH64;
}

void sq_crc64_writer_init(struct sq_crc64_writer *w, int fd)
{
	w->fd = fd;
	w->crc = 0;
	w->bytes = 0;
}

/* write(2) all of @buf; *@done counts what was accepted, even on failure. */
static int write_all(int fd, const uint8_t *buf, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = sq_sys_write(SQ_SITE_STATE_CRC_WRITE, fd, buf + *done, len - *done);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return sq_err_sys(SQ_E_IO, (int)-n, "Crc64Writer");
		if (n == 0)
			return sq_err(SQ_E_IO, "snapshot I/O error: failed to write whole buffer");
		*done += (size_t)n;
	}
	return 0;
}

int sq_crc64_writer_write(struct sq_crc64_writer *w, const void *buf, size_t len)
{
	size_t done;
	int rc = write_all(w->fd, buf, len, &done);

	w->crc = sq_crc64_update(w->crc, buf, done);
	w->bytes += done;
	return rc;
}

uint64_t sq_crc64_writer_crc(const struct sq_crc64_writer *w)
{
	return w->crc;
}

int sq_crc64_writer_trailer(struct sq_crc64_writer *w)
{
	uint8_t t[8];
	size_t done;

	sq_le_put64(t, w->crc);
	return write_all(w->fd, t, sizeof(t), &done);
}
