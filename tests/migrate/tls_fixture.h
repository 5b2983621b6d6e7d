/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/migrate/tls_fixture.h - keys and certificates made at test time
 * with OpenSSL: two independent CAs, leaf certificates signed by either
 * with any validity window, pre-shared key files, all in a mkdtemp
 * directory (key files 0600 unless asked otherwise) removed at the end;
 * link options for them; a probe for kernel TLS; a receiver of exactly one
 * loopback connection (sq_migrate_recv_fds, so a refused handshake is its
 * result).
 */
#ifndef SQ_TESTS_MIGRATE_TLS_FIXTURE_H
#define SQ_TESTS_MIGRATE_TLS_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <squib/error.h>
#include <squib/migrate.h>

#include "migrate/net.h"
#include "workload.h"

struct tls_fx {
	char dir[64];
	char paths[16][128];
	unsigned npaths;
};

static inline const char *fx_path(struct tls_fx *fx, const char *name)
{
	char *p = fx->paths[fx->npaths++];
	size_t n = strlen(fx->dir);

	memcpy(p, fx->dir, n);
	p[n] = '/';
	snprintf(p + n + 1, sizeof(fx->paths[0]) - n - 1, "%s", name);
	return p;
}

static inline int fx_init(struct tls_fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/sq-tls-XXXXXX");
	return mkdtemp(fx->dir) ? 0 : -1;
}

static inline void fx_fini(struct tls_fx *fx)
{
	for (unsigned i = 0; i < fx->npaths; i++)
		unlink(fx->paths[i]);
	rmdir(fx->dir);
}

/* Write @len bytes to a new file of @mode. */
static inline int fx_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int ok = write(fd, buf, len) == (ssize_t)len && fchmod(fd, mode) == 0;
	close(fd);
	return ok ? 0 : -1;
}

static inline int fx_key_file(const char *path, EVP_PKEY *k, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		return -1;
	int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fclose(f) == 0 && ok;
	return ok && chmod(path, mode) == 0 ? 0 : -1;
}

static inline int fx_cert_file(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = PEM_write_X509(f, x) == 1;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * A certificate for @key named @cn, valid from now + @from_s to now + @to_s
 * seconds, signed by @ca / @ca_key (NULL: self-signed CA).
 */
static inline X509 *fx_cert(EVP_PKEY *key, const char *cn, long from_s, long to_s, X509 *ca,
			    EVP_PKEY *ca_key)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
	X509_NAME_free(n);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
						  ca ? "critical,CA:FALSE" : "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, ca ? ca_key : key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

struct fx_ca {
	EVP_PKEY *key;
	X509 *cert;
	const char *cert_path;
};

static inline int fx_ca_make(struct tls_fx *fx, struct fx_ca *ca, const char *name)
{
	char file[64];
	ca->key = EVP_EC_gen("P-256");
	ca->cert = ca->key ? fx_cert(ca->key, name, -3600, 86400L * 30, NULL, NULL) : NULL;
	snprintf(file, sizeof(file), "%s.pem", name);
	ca->cert_path = fx_path(fx, file);
	return ca->cert ? fx_cert_file(ca->cert_path, ca->cert) : -1;
}

static inline void fx_ca_free(struct fx_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
}

/* A leaf "<name>.crt" + "<name>.key" (mode @key_mode) signed by @ca. */
static inline int fx_leaf(struct tls_fx *fx, struct fx_ca *ca, const char *name, long from_s,
			  long to_s, mode_t key_mode, const char **cert_path, const char **key_path)
{
	char file[64];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = k ? fx_cert(k, name, from_s, to_s, ca->cert, ca->key) : NULL;
	int rc = x ? 0 : -1;

	snprintf(file, sizeof(file), "%s.crt", name);
	*cert_path = fx_path(fx, file);
	snprintf(file, sizeof(file), "%s.key", name);
	*key_path = fx_path(fx, file);
	if (!rc)
		rc = fx_cert_file(*cert_path, x) || fx_key_file(*key_path, k, key_mode) ? -1 : 0;
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* A PSK file of 64 random hex characters (mode @mode). */
static inline const char *fx_psk(struct tls_fx *fx, const char *name, mode_t mode)
{
	unsigned char raw[32];
	char hex[65];
	const char *path = fx_path(fx, name);

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return fx_write(path, hex, 64, mode) ? NULL : path;
}

static inline struct sq_migrate_link_opts fx_cert_link(const char *crt, const char *key,
							const char *cafile)
{
	return (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_CERT, .cert_file = crt,
					      .key_file = key, .ca_file = cafile };
}

static inline struct sq_migrate_link_opts fx_psk_link(const char *file)
{
	return (struct sq_migrate_link_opts){ .size = sizeof(struct sq_migrate_link_opts),
					.tls = SQ_MIGRATE_TLS_PSK, .psk_file = file };
}

/*
 * Whether the kernel offers TLS offload: the "tls" upper-layer protocol
 * attaches to an established loopback TCP connection. Returns 1, or 0
 * with the reason in @why.
 */
static inline int fx_kernel_tls(char *why, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s = -1, ok = 0;

	snprintf(why, len, "cannot set up a loopback connection");
	if (l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    listen(l, 1) == 0 && getsockname(l, (struct sockaddr *)&a, &al) == 0 &&
	    connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    (s = accept(l, NULL, NULL)) >= 0) {
		ok = setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
		if (!ok)
			snprintf(why, len, "TCP_ULP \"tls\": %s", strerror(errno));
	}
	if (s >= 0)
		close(s);
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	return ok;
}

/* The thread of a receiver of exactly one loopback connection
 * (workload.h's struct rx_thread; join with rx_thread_join). */
static inline void *rx_one_main(void *arg)
{
	struct rx_thread *x = arg;
	int fd = -1;

	x->rc = sq_mig_accept(x->lfd, 5000, &fd);
	if (!x->rc)
		x->rc = sq_migrate_recv_fds(x->r, &fd, 1);
	if (x->rc)
		snprintf(x->msg, sizeof(x->msg), "%s", sq_last_error());
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Listen on 127.0.0.1:0 and start; @region NULL: the receiver's own mapping. */
static inline int rx_one_start(struct rx_thread *x, const struct sq_migrate_link_opts *link,
			       void *region, size_t size)
{
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .region = region, .region_size = size,
					  .mem_fd = -1,
					  .timeout_ms = 5000 };

	memset(x, 0, sizeof(*x));
	if (sq_migrate_listen("127.0.0.1:0", &x->lfd, &x->port) ||
	    sq_migrate_recv_create(&o, &x->r) ||
	    (link && sq_migrate_recv_set_link(x->r, link)))
		return -1;
	snprintf(x->addr, sizeof(x->addr), "127.0.0.1:%u", x->port);
	return pthread_create(&x->thr, NULL, rx_one_main, x);
}

#endif /* SQ_TESTS_MIGRATE_TLS_FIXTURE_H */
