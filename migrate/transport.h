/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/transport.h - byte transfers of a migration connection, plaintext
 * or TLS (internal).
 *
 * A connection is its socket @fd and, when the link is secured, its TLS
 * state @tls (NULL = plaintext). Plaintext transfers go through net.c (the
 * sysio seam, with its fault-injection sites); TLS transfers through
 * tls.c (OpenSSL on the same socket, kernel TLS when offloaded). Results
 * follow net.h: 0 or an SQ_E_* code with the message recorded.
 */
#ifndef SQ_MIGRATE_TRANSPORT_H
#define SQ_MIGRATE_TRANSPORT_H

#include <stddef.h>

#include "migrate/net.h"
#include "migrate/tls.h"

/* Send all of @buf; @more: more follows at once (MSG_MORE, plaintext). */
static inline int sq_mig_io_send(int site, int fd, struct sq_mig_tls *tls, const void *buf,
				 size_t len, int more)
{
	return tls ? sq_mig_tls_write(tls, buf, len) : sq_mig_send_all(site, fd, buf, len, more);
}

/* One read: bytes, 0 at the end of the stream, or a negative SQ_E_* code. */
static inline long sq_mig_io_recv_some(int site, int fd, struct sq_mig_tls *tls, void *buf,
				       size_t len)
{
	return tls ? sq_mig_tls_read(tls, buf, len) : sq_mig_recv_some(site, fd, buf, len);
}

/* Exactly @len bytes: 0; 1 when the stream ends first (*got = bytes read); or a code. */
static inline int sq_mig_io_recv_exact(int site, int fd, struct sq_mig_tls *tls, void *buf,
				       size_t len, size_t *got)
{
	char *p = buf;
	size_t done = 0;

	if (!tls)
		return sq_mig_recv_exact(site, fd, buf, len, got);
	while (done < len) {
		long n = sq_mig_tls_read(tls, p + done, len - done);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return done < len;
}

#endif /* SQ_MIGRATE_TRANSPORT_H */
