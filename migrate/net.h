/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/net.h - TCP helpers of the migration stream (internal).
 *
 * Every transfer goes through sq_sys_send / sq_sys_recv with the caller's
 * IO site, so tests can inject drops and short transfers. Results are 0 or
 * an SQ_E_* code with the message recorded: a reset or broken pipe is
 * SQ_E_DISCONNECTED, an expired socket timeout SQ_E_TIMEOUT.
 */
#ifndef SQ_MIGRATE_NET_H
#define SQ_MIGRATE_NET_H

#include <stddef.h>

#include "core/clock.h"

/* Connect to "HOST:PORT"; TCP_NODELAY and the timeouts are set. */
int sq_mig_connect(const char *hostport, int timeout_ms, int *fd);
/* SO_RCVTIMEO / SO_SNDTIMEO of @ms (0 = none). */
void sq_mig_set_timeouts(int fd, int timeout_ms);
/* Accept one connection, waiting at most @timeout_ms. */
int sq_mig_accept(int listen_fd, int timeout_ms, int *fd);

/* Send all of @buf (retrying EINTR and short sends). @more: MSG_MORE. */
int sq_mig_send_all(int site, int fd, const void *buf, size_t len, int more);

/*
 * sq_mig_recv_exact() - read exactly @len bytes.
 * Returns 0; 1 when the peer closed the connection first (*got = bytes
 * read, may be 0; no message recorded, the caller names the error); or
 * SQ_E_DISCONNECTED / SQ_E_TIMEOUT / SQ_E_IO.
 */
int sq_mig_recv_exact(int site, int fd, void *buf, size_t len, size_t *got);

/*
 * sq_mig_recv_some() - one read of at most @len bytes (EINTR retried).
 * Returns the byte count, 0 when the peer closed the connection, or
 * SQ_E_DISCONNECTED / SQ_E_TIMEOUT / SQ_E_IO.
 */
long sq_mig_recv_some(int site, int fd, void *buf, size_t len);

/*
 * sq_mig_deadline() - call before a blocking read on @fd that must finish by
 * @deadline (monotonic seconds, 0 = none). Returns SQ_E_TIMEOUT ("the @what
 * deadline passed") when it has; otherwise 0, after lowering the socket
 * timeouts to what is left when that is less than @timeout_ms, so the read
 * cannot outlast the deadline. sq_mig_deadline_error() - after a read
 * failed with @rc: SQ_E_TIMEOUT naming the deadline when it has passed,
 * else @rc with its message kept.
 */
int sq_mig_deadline(int fd, double deadline, int timeout_ms, const char *what);
int sq_mig_deadline_error(int rc, double deadline, const char *what);

/* Monotonic clock in seconds (core/clock.h). */
#define sq_mig_now() sq_clock_s()

#endif /* SQ_MIGRATE_NET_H */
