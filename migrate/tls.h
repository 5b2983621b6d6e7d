/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tls.h - TLS 1.3 for the migration connections (internal).
 *
 *   sq_mig_tls_ctx_new     keys and trust from the link options (one per side)
 *   sq_mig_tls_connect     client handshake on a connected socket
 *   sq_mig_tls_accept      server handshake; plaintext peers refused first
 *   sq_mig_tls_write/read  whole-buffer write, one read
 *   sq_mig_tls_peek_nowait what is pending, without blocking
 *
 * A context is shared read-only by the connections of a session; each
 * connection (struct sq_mig_tls) is used by one thread at a time, like the
 * socket under it (a hand-over between threads needs the usual
 * happens-before: a join, a mutex). Kernel TLS is switched on when the
 * kernel and OpenSSL offer it (SSL_OP_ENABLE_KTLS) and detected per
 * connection afterwards. Errors are SQ_E_* codes with the reason recorded;
 * key bytes never reach a message.
 */
#ifndef SQ_MIGRATE_TLS_H
#define SQ_MIGRATE_TLS_H

#include <stddef.h>

#include <squib/migrate.h>

struct sq_mig_tls_ctx;
struct sq_mig_tls;

enum sq_mig_tls_kind { SQ_MIG_TLS_OFF = 0, SQ_MIG_TLS_USER = 1, SQ_MIG_TLS_KTLS = 2 };

/*
 * sq_mig_tls_ctx_new() - a context for @server or client use. *out is NULL
 * (and 0 returned) for a plaintext link. Returns SQ_E_INVAL (missing or
 * short key), SQ_E_KEY_PERMS, SQ_E_IO (unreadable file), SQ_E_TLS.
 */
int sq_mig_tls_ctx_new(const struct sq_migrate_link_opts *o, int server,
		       struct sq_mig_tls_ctx **out);
void sq_mig_tls_ctx_free(struct sq_mig_tls_ctx *ctx);

/*
 * Handshakes on a connected blocking socket, finished by @deadline
 * (monotonic seconds, sq_mig_now) or SQ_E_TIMEOUT; the socket is
 * non-blocking only during the call. It stays the caller's; *out is NULL
 * on failure. Errors: SQ_E_TLS_REQUIRED (server: the peer's first byte is
 * not a TLS handshake record; only that byte was peeked), SQ_E_TLS_AUTH,
 * SQ_E_CERT_UNTRUSTED, SQ_E_CERT_EXPIRED, SQ_E_TIMEOUT, SQ_E_DISCONNECTED,
 * SQ_E_TLS.
 */
int sq_mig_tls_connect(struct sq_mig_tls_ctx *ctx, int fd, double deadline,
		       struct sq_mig_tls **out);
int sq_mig_tls_accept(struct sq_mig_tls_ctx *ctx, int fd, double deadline,
		      struct sq_mig_tls **out);
void sq_mig_tls_free(struct sq_mig_tls *t);

/* SQ_MIG_TLS_OFF for NULL; SQ_MIG_TLS_KTLS when the kernel carries the
 * records of either direction; else SQ_MIG_TLS_USER. */
enum sq_mig_tls_kind sq_mig_tls_kind(const struct sq_mig_tls *t);
const char *sq_mig_tls_kind_name(enum sq_mig_tls_kind k);

/* On the blocking socket, bounded by its timeouts (SO_SNDTIMEO/SO_RCVTIMEO):
 * sq_mig_tls_write() - all of @buf: 0, SQ_E_DISCONNECTED, SQ_E_TIMEOUT, SQ_E_TLS.
 * sq_mig_tls_read() - one read: bytes (> 0), 0 at the end of the stream
 * (with or without close_notify), or a negative code. */
int sq_mig_tls_write(struct sq_mig_tls *t, const void *buf, size_t len);
long sq_mig_tls_read(struct sq_mig_tls *t, void *buf, size_t len);
/* Plaintext bytes readable now (peeked, not consumed), 0 if none or on any
 * error; never blocks. */
long sq_mig_tls_peek_nowait(struct sq_mig_tls *t, void *buf, size_t len);

#endif /* SQ_MIGRATE_TLS_H */
