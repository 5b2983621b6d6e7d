/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tls.c - TLS 1.3 contexts, handshakes and transfers (OpenSSL 3).
 *
 * Invariants:
 *  - TLS 1.3 only (min = max = TLS1_3_VERSION), AEAD suites only, no
 *    session tickets, no renegotiation (TLS 1.3 has none): every
 *    connection is a full handshake authenticated by the configured key.
 *  - Certificates: both sides present one and verify the peer's against
 *    the CA file (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
 *    External PSK: the key file's bytes are hashed (SHA-256, with a label)
 *    into a TLS 1.3 resumption-style session offered by the client and
 *    looked up by the server; a wrong key fails the binder check. The
 *    (EC)DHE mode is kept, so a stolen PSK does not open recorded sessions.
 *  - Key files are opened once, checked with fstat on the open descriptor
 *    (regular file, no group/other bits: SQ_E_KEY_PERMS), read, and the
 *    copies wiped (OPENSSL_cleanse) once loaded. No message contains key
 *    bytes.
 *  - The server peeks at the first byte before the handshake: anything but
 *    a TLS handshake record (0x16) is a plaintext peer, refused with
 *    SQ_E_TLS_REQUIRED; nothing of it is consumed or parsed as a frame.
 *  - An end of stream without close_notify reads as an end of stream
 *    (SSL_OP_IGNORE_UNEXPECTED_EOF): the migration stream's own final frame
 *    and totals detect truncation, as they do without TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <squib/error.h>

#include "core/err.h"
#include "core/sysio.h"
#include "migrate/net.h"
#include "migrate/tls.h"

#define PSK_ID "squib-migrate-psk"
#define PSK_LABEL "squib-migrate psk v1"
#define PSK_MIN 32u
#define PSK_FILE_MAX 4096u
#define READ_BUFFER (256u << 10) /* OpenSSL's read-ahead buffer */
#define WRITE_BUFFER (256u << 10) /* records gathered into one send */
#define SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct sq_mig_tls_ctx {
	SSL_CTX *ctx;
	int psk_mode;
	unsigned char psk[32]; /* SHA-256(label || key) */
};

struct sq_mig_tls {
	SSL *ssl;
	int fd;
	int psk_mode;
	int gathered;            /* writes go through a buffer BIO: flush them */
	enum sq_mig_tls_kind kind;
};

/* The last OpenSSL error as text (never contains key bytes). */
static const char *ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no detail";
	ERR_error_string_n(e, buf, len);
	return buf;
}

static int tls_fail(int code, const char *what)
{
	char r[256];
	int rc = sq_err(code, "migration TLS: %s: %s", what, ossl_reason(r, sizeof(r)));

	ERR_clear_error();
	return rc;
}

/*
 * Open @path for reading a key: a regular file with no group or other
 * permission bits, checked on the open descriptor. Returns 0 and *out (the
 * caller frees it), or SQ_E_IO / SQ_E_INVAL / SQ_E_KEY_PERMS naming @path.
 */
static int open_key(const char *path, const char *what, BIO **out)
{
	struct stat st;
	FILE *fp = NULL;
	BIO *f = NULL;

	errno = 0;
	f = BIO_new_file(path, "re");
	if (!f) {
		char r[256];
		int e = errno;
		ossl_reason(r, sizeof(r));
		ERR_clear_error();
		return sq_err(SQ_E_IO, "migration TLS: cannot open the %s file %s: %s", what, path,
			      e ? strerror(e) : r);
	}
	BIO_get_fp(f, &fp);
	if (!fp || fstat(fileno(fp), &st) || !S_ISREG(st.st_mode)) {
		BIO_free(f);
		return sq_err(SQ_E_INVAL, "migration TLS: the %s file %s is not a regular file", what,
			      path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		BIO_free(f);
		return sq_err(SQ_E_KEY_PERMS,
			      "migration TLS: the %s file %s has mode %04o: it must not be "
			      "accessible to group or others (chmod 600)",
			      what, path, (unsigned)(st.st_mode & 07777));
	}
	*out = f;
	return 0;
}

/* The last OpenSSL error about @file as SQ_E_TLS, the file named. */
static int file_fail(const char *what, const char *file)
{
	char r[256];
	int rc = sq_err(SQ_E_TLS, "migration TLS: cannot load the %s file %s: %s", what, file,
			ossl_reason(r, sizeof(r)));

	ERR_clear_error();
	return rc;
}

static int load_cert_key(SSL_CTX *ctx, const struct sq_migrate_link_opts *o)
{
	BIO *f = NULL;
	int rc;

	if (!o->cert_file || !o->key_file || !o->ca_file)
		return sq_err(SQ_E_INVAL, "migration TLS: certificates need a certificate, a key "
					  "and a CA file");
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
		return file_fail("certificate", o->cert_file);
	rc = open_key(o->key_file, "private key", &f);
	if (rc)
		return rc;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(f, NULL, NULL, NULL);
	BIO_free(f);
	if (!k)
		return file_fail("private key", o->key_file);
	rc = SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	if (!rc)
		return file_fail("private key (it does not match the certificate)", o->key_file);
	if (SSL_CTX_load_verify_file(ctx, o->ca_file) != 1)
		return file_fail("CA", o->ca_file);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static int load_psk(struct sq_mig_tls_ctx *c, const struct sq_migrate_link_opts *o)
{
	unsigned char raw[PSK_FILE_MAX];
	const unsigned char *key = o->psk;
	size_t len = o->psk_len;
	int rc = 0;

	if (o->psk_file) {
		BIO *f = NULL;
		rc = open_key(o->psk_file, "pre-shared key", &f);
		if (rc)
			return rc;
		len = 0;
		for (;;) {
			int n = BIO_read(f, raw + len, (int)(sizeof(raw) - len));
			if (n < 0)
				rc = sq_err(SQ_E_IO, "migration TLS: reading the pre-shared key file %s "
						     "failed", o->psk_file);
			if (n <= 0 || (len += (size_t)n) == sizeof(raw))
				break;
		}
		BIO_free(f);
		if (!rc && len == sizeof(raw))
			rc = sq_err(SQ_E_INVAL, "migration TLS: the pre-shared key file %s is larger "
						"than %u bytes", o->psk_file, PSK_FILE_MAX - 1);
		key = raw;
	}
	if (!rc && (!key || len < PSK_MIN))
		rc = sq_err(SQ_E_INVAL, "migration TLS: the pre-shared key has %zu bytes, at least %u "
					"are needed", key ? len : 0, PSK_MIN);
	if (!rc) {
		EVP_MD_CTX *h = EVP_MD_CTX_new();
		unsigned int out = 0;
		if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL) ||
		    !EVP_DigestUpdate(h, PSK_LABEL, sizeof(PSK_LABEL) - 1) ||
		    !EVP_DigestUpdate(h, key, len) || !EVP_DigestFinal_ex(h, c->psk, &out))
			rc = tls_fail(SQ_E_TLS, "cannot derive the pre-shared key");
		EVP_MD_CTX_free(h);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* A TLS 1.3 session carrying the derived PSK, for either side's callback. */
static SSL_SESSION *psk_session(SSL *ssl)
{
	const struct sq_mig_tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	static const unsigned char aes128gcm[2] = { 0x13, 0x01 };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s = SSL_SESSION_new();

	if (!s || !cipher || !SSL_SESSION_set1_master_key(s, c->psk, sizeof(c->psk)) ||
	    !SSL_SESSION_set_cipher(s, cipher) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	SSL_SESSION *s = psk_session(ssl);

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if (!s)
		return 0;
	/* After a HelloRetryRequest the suite's hash is fixed: offer the PSK only if it fits. */
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);
		return 1;
	}
	*sess = s;
	*id = (const unsigned char *)PSK_ID;
	*idlen = sizeof(PSK_ID) - 1;
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	*sess = NULL;
	if (idlen != sizeof(PSK_ID) - 1 || memcmp(id, PSK_ID, idlen))
		return 1; /* unknown identity: no PSK, the handshake fails */
	*sess = psk_session(ssl);
	return *sess ? 1 : 0;
}

int sq_mig_tls_ctx_new(const struct sq_migrate_link_opts *o, int server,
		       struct sq_mig_tls_ctx **out)
{
	*out = NULL;
	if (!o || o->tls == SQ_MIGRATE_PLAINTEXT)
		return 0;
	if (o->tls != SQ_MIGRATE_TLS_CERT && o->tls != SQ_MIGRATE_TLS_PSK)
		return sq_err(SQ_E_INVAL, "migration TLS: unknown mode %d", (int)o->tls);
	struct sq_mig_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return sq_err(SQ_E_NOMEM, "migration TLS: out of memory");
	int rc = 0;
	c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c->ctx || SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(c->ctx, SUITES) != 1 || SSL_CTX_set_num_tickets(c->ctx, 0) != 1)
		rc = tls_fail(SQ_E_TLS, "cannot create a TLS 1.3 context");
	if (!rc) {
		uint64_t opts = SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF;
#ifdef SSL_OP_ENABLE_KTLS
		if (!o->no_ktls)
			opts |= SSL_OP_ENABLE_KTLS;
#endif
		SSL_CTX_set_options(c->ctx, opts);
		/* Bulk transfers: one read takes in many records (fewer syscalls). */
		SSL_CTX_set_read_ahead(c->ctx, 1);
		SSL_CTX_set_default_read_buffer_len(c->ctx, READ_BUFFER);
		SSL_CTX_set_app_data(c->ctx, c);
		if (o->tls == SQ_MIGRATE_TLS_CERT) {
			rc = load_cert_key(c->ctx, o);
		} else {
			c->psk_mode = 1;
			rc = load_psk(c, o);
			if (server)
				SSL_CTX_set_psk_find_session_callback(c->ctx, psk_find);
			else
				SSL_CTX_set_psk_use_session_callback(c->ctx, psk_use);
		}
	}
	if (rc) {
		sq_mig_tls_ctx_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void sq_mig_tls_ctx_free(struct sq_mig_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
	free(c);
}

/* Name the failure of an SSL call that returned @ret. */
static int map_error(struct sq_mig_tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret), sys = errno;
	unsigned long code = ERR_peek_last_error();
	int reason = ERR_GET_REASON(code);
	long vr = SSL_get_verify_result(t->ssl);
	char r[256];
	int rc;

	ossl_reason(r, sizeof(r));
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
		int expired = vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID;
		rc = sq_err(expired ? SQ_E_CERT_EXPIRED : SQ_E_CERT_UNTRUSTED,
			    "migration TLS: %s: the peer's certificate was refused: %s", what,
			    X509_verify_cert_error_string(vr));
	} else if (reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) {
		rc = sq_err(SQ_E_CERT_EXPIRED, "migration TLS: %s: the peer refused our certificate "
					       "as expired (%s)", what, r);
	} else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
		   reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
		   reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
		rc = sq_err(SQ_E_CERT_UNTRUSTED, "migration TLS: %s: the peer does not trust our "
						 "certificate (%s)", what, r);
	} else if (reason == SSL_R_BINDER_DOES_NOT_VERIFY ||
		   reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR ||
		   (t->psk_mode && reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER)) {
		/* A server whose binder check fails answers "illegal parameter". */
		rc = sq_err(SQ_E_TLS_AUTH, "migration TLS: %s: the pre-shared keys differ (%s)", what, r);
	} else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		rc = sq_err(SQ_E_TIMEOUT, "migration TLS: %s timed out", what);
	} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		rc = sq_err(SQ_E_DISCONNECTED, "migration peer disconnected (TLS %s: %s)", what,
			    sys ? strerror(sys) : "end of stream");
	} else {
		rc = sq_err(SQ_E_TLS, "migration TLS: %s failed: %s", what, r);
	}
	ERR_clear_error();
	return rc;
}

static const unsigned char accepted = 0x01;

/*
 * After an SSL call on the non-blocking socket returned @ret: wait until it
 * can go on (0), or the code of its failure or of the deadline.
 */
static int wait_io(struct sq_mig_tls *t, int ret, double deadline, const char *what)
{
	int e = SSL_get_error(t->ssl, ret);

	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return map_error(t, ret, what);
	ERR_clear_error();
	double left_ms = (deadline - sq_mig_now()) * 1000.0;
	if (left_ms <= 0)
		return sq_err(SQ_E_TIMEOUT, "migration TLS: %s: the handshake deadline passed", what);
	struct pollfd p = { .fd = t->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT };
	if (poll(&p, 1, (int)left_ms + 1) < 0 && errno != EINTR)
		return sq_err_sys(SQ_E_IO, errno, "migration TLS: waiting for the peer");
	return 0;
}

/* The handshake, then the server's one-byte confirmation, by @deadline. */
static int handshake(struct sq_mig_tls *t, int server, double deadline)
{
	const char *what = server ? "accepting a connection" : "connecting";
	unsigned char b = 0;
	size_t n = 0;
	int rc = 0, ret;

	do {
		ERR_clear_error();
		errno = 0;
		ret = server ? SSL_accept(t->ssl) : SSL_connect(t->ssl);
	} while (ret != 1 && (rc = wait_io(t, ret, deadline, what)) == 0);
	/*
	 * TLS 1.3 clients finish before the server has judged their
	 * certificate: the server confirms with one byte, so that a client
	 * the server refused learns why (the alert) before it sends a frame.
	 */
	while (!rc && server) {
		ERR_clear_error();
		errno = 0;
		ret = SSL_write_ex(t->ssl, &accepted, 1, &n);
		if (ret == 1)
			break;
		rc = wait_io(t, ret, deadline, "confirming the handshake");
	}
	while (!rc && !server) {
		ERR_clear_error();
		errno = 0;
		ret = SSL_read_ex(t->ssl, &b, 1, &n);
		if (ret == 1) {
			if (b != accepted)
				rc = sq_err(SQ_E_TLS, "migration TLS: unexpected confirmation byte 0x%02x", b);
			break;
		}
		int e = SSL_get_error(t->ssl, ret);
		if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
			ERR_clear_error();
			rc = sq_err(SQ_E_DISCONNECTED, "migration TLS: the receiver closed the "
						       "connection after the handshake");
			break;
		}
		rc = wait_io(t, ret, deadline, "waiting for the receiver's confirmation");
	}
	return rc;
}

/*
 * User-space TLS writes each record (at most 16 KiB) with its own send; a
 * buffer in front of the socket gathers them into sends of WRITE_BUFFER
 * bytes, flushed at the end of every sq_mig_tls_write. (Kernel TLS writes
 * straight to the socket and needs none.)
 */
static int gather_writes(struct sq_mig_tls *t)
{
	BIO *sock = SSL_get_wbio(t->ssl);
	BIO *buf = BIO_new(BIO_f_buffer());

	if (!buf || BIO_set_write_buffer_size(buf, WRITE_BUFFER) != 1 || !BIO_up_ref(sock)) {
		BIO_free(buf);
		return -1;
	}
	BIO_push(buf, sock);
	SSL_set0_wbio(t->ssl, buf); /* the chain now holds the reference taken above */
	t->gathered = 1;
	return 0;
}

static int start(struct sq_mig_tls_ctx *ctx, int fd, int server, double deadline,
		 struct sq_mig_tls **out)
{
	struct sq_mig_tls *t = calloc(1, sizeof(*t));
	int rc = 0, fl = -1;

	*out = NULL;
	if (!t)
		return sq_err(SQ_E_NOMEM, "migration TLS: out of memory");
	t->fd = fd;
	t->psk_mode = ctx->psk_mode;
	ERR_clear_error();
	t->ssl = SSL_new(ctx->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1)
		rc = tls_fail(SQ_E_TLS, "cannot create a connection");
	if (!rc) {
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			rc = sq_err_sys(SQ_E_IO, errno, "migration TLS: socket flags");
	}
	if (!rc)
		rc = handshake(t, server, deadline);
	if (fl >= 0 && fcntl(fd, F_SETFL, fl) < 0 && !rc)
		rc = sq_err_sys(SQ_E_IO, errno, "migration TLS: socket flags");
	if (rc) {
		sq_mig_tls_free(t);
		return rc;
	}
	int ktls = BIO_get_ktls_send(SSL_get_wbio(t->ssl)) || BIO_get_ktls_recv(SSL_get_rbio(t->ssl));
	t->kind = ktls ? SQ_MIG_TLS_KTLS : SQ_MIG_TLS_USER;
	if (!ktls && gather_writes(t)) {
		sq_mig_tls_free(t);
		return sq_err(SQ_E_NOMEM, "migration TLS: out of memory");
	}
	*out = t;
	return 0;
}

int sq_mig_tls_connect(struct sq_mig_tls_ctx *ctx, int fd, double deadline,
		       struct sq_mig_tls **out)
{
	return start(ctx, fd, 0, deadline, out);
}

int sq_mig_tls_accept(struct sq_mig_tls_ctx *ctx, int fd, double deadline,
		      struct sq_mig_tls **out)
{
	unsigned char first = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	*out = NULL;
	for (;;) {
		double left_ms = (deadline - sq_mig_now()) * 1000.0;
		if (left_ms <= 0)
			return sq_err(SQ_E_TIMEOUT, "migration TLS: the handshake deadline passed "
						    "before the peer's first byte");
		int k = poll(&p, 1, (int)left_ms + 1);
		if (k < 0 && errno != EINTR)
			return sq_err_sys(SQ_E_IO, errno, "migration TLS: waiting for the handshake");
		if (k <= 0)
			continue;
		n = sq_sys_recv(SQ_SITE_MIG_RX_RECV, fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n != -EINTR && n != -EAGAIN && n != -EWOULDBLOCK)
			break;
	}
	if (n < 0)
		return sq_err_sys(SQ_E_DISCONNECTED, (int)-n, "migration TLS: waiting for the handshake");
	if (n == 0)
		return sq_err(SQ_E_DISCONNECTED, "migration peer disconnected before its TLS handshake");
	if (first != 0x16) /* TLS record type "handshake" */
		return sq_err(SQ_E_TLS_REQUIRED,
			      "migration TLS: the peer sent plaintext (first byte 0x%02x); this "
			      "receiver requires TLS",
			      first);
	return start(ctx, fd, 1, deadline, out);
}

void sq_mig_tls_free(struct sq_mig_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
}

enum sq_mig_tls_kind sq_mig_tls_kind(const struct sq_mig_tls *t)
{
	return t ? t->kind : SQ_MIG_TLS_OFF;
}

const char *sq_mig_tls_kind_name(enum sq_mig_tls_kind k)
{
	return k == SQ_MIG_TLS_KTLS ? "ktls" : k == SQ_MIG_TLS_USER ? "user" : "off";
}

int sq_mig_tls_write(struct sq_mig_tls *t, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		size_t n = 0;
		ERR_clear_error();
		errno = 0;
		int ret = SSL_write_ex(t->ssl, p, len, &n);
		if (ret != 1)
			return map_error(t, ret, "send");
		p += n;
		len -= n;
	}
	if (t->gathered) {
		errno = 0;
		if (BIO_flush(SSL_get_wbio(t->ssl)) != 1) {
			int e = errno;
			ERR_clear_error();
			if (e == EAGAIN || e == EWOULDBLOCK)
				return sq_err(SQ_E_TIMEOUT, "migration TLS: send timed out");
			return sq_err(SQ_E_DISCONNECTED, "migration peer disconnected (TLS send: %s)",
				      e ? strerror(e) : "short write");
		}
	}
	return 0;
}

long sq_mig_tls_read(struct sq_mig_tls *t, void *buf, size_t len)
{
	size_t n = 0;

	ERR_clear_error();
	errno = 0;
	int ret = SSL_read_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (long)n;
	int e = SSL_get_error(t->ssl, ret);
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
		ERR_clear_error();
		return 0;
	}
	return map_error(t, ret, "recv");
}

long sq_mig_tls_peek_nowait(struct sq_mig_tls *t, void *buf, size_t len)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	size_t n = 0;

	if (!SSL_has_pending(t->ssl) && poll(&p, 1, 0) <= 0)
		return 0;
	int fl = fcntl(t->fd, F_GETFL);
	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return 0;
	ERR_clear_error();
	int ret = SSL_peek_ex(t->ssl, buf, len, &n);
	fcntl(t->fd, F_SETFL, fl);
	ERR_clear_error();
	return ret == 1 ? (long)n : 0;
}
