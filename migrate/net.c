/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/net.c - address parsing, listen, connect, accept, full transfers.
 *
 * Invariants:
 *  - Sockets are created SOCK_CLOEXEC; sends use MSG_NOSIGNAL (added by
 *    the seam), so a dead peer is an error code, never SIGPIPE.
 *  - Timeouts come from SO_RCVTIMEO / SO_SNDTIMEO: an expired one surfaces
 *    as EAGAIN from the seam and is reported as SQ_E_TIMEOUT.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <squib/migrate.h>

#include "core/err.h"
#include "core/sysio.h"
#include "migrate/net.h"

/* Split "HOST:PORT" / "[V6]:PORT" and resolve it (numeric port). */
static int resolve(const char *hostport, int passive, struct addrinfo **res)
{
	char host[256];
	const char *colon, *port;
	size_t hlen;

	if (!hostport || !*hostport)
		return sq_err(SQ_E_INVAL, "migration: empty address");
	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');
		if (!end || end[1] != ':')
			return sq_err(SQ_E_INVAL, "migration: malformed address '%s'", hostport);
		hlen = (size_t)(end - hostport - 1);
		memcpy(host, hostport + 1, hlen < sizeof(host) ? hlen : 0);
		port = end + 2;
	} else {
		colon = strrchr(hostport, ':');
		if (!colon)
			return sq_err(SQ_E_INVAL, "migration: address '%s' has no port", hostport);
		hlen = (size_t)(colon - hostport);
		memcpy(host, hostport, hlen < sizeof(host) ? hlen : 0);
		port = colon + 1;
	}
	if (hlen >= sizeof(host) || !*port)
		return sq_err(SQ_E_INVAL, "migration: malformed address '%s'", hostport);
	host[hlen] = 0;
	char *endp;
	unsigned long p = strtoul(port, &endp, 10);
	if (*endp || p > 65535)
		return sq_err(SQ_E_INVAL, "migration: bad port in '%s'", hostport);

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
	int rc = getaddrinfo(hlen ? host : NULL, port, &hints, res);
	if (rc)
		return sq_err(SQ_E_INVAL, "migration: cannot resolve '%s': %s", hostport,
			      gai_strerror(rc));
	return 0;
}

int sq_migrate_listen(const char *hostport, int *fd, unsigned *port)
{
	struct addrinfo *res = NULL;
	int rc = resolve(hostport, 1, &res);

	if (rc)
		return rc;
	if (!res)
		return sq_err(SQ_E_INVAL, "migration: no address for '%s'", hostport);
	int s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = sq_err_sys(SQ_E_IO, errno, "migration: socket");
		freeaddrinfo(res);
		return rc;
	}
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, res->ai_addr, res->ai_addrlen) || listen(s, SQ_MIGRATE_MAX_CONNS)) {
		rc = sq_err_sys(SQ_E_IO, errno, "migration: bind/listen");
		close(s);
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	if (port) {
		union {
			struct sockaddr sa;
			struct sockaddr_in in4;
			struct sockaddr_in6 in6;
			struct sockaddr_storage ss;
		} a;
		socklen_t len = sizeof(a);
		memset(&a, 0, sizeof(a));
		if (getsockname(s, &a.sa, &len)) {
			rc = sq_err_sys(SQ_E_IO, errno, "migration: getsockname");
			close(s);
			return rc;
		}
		*port = a.sa.sa_family == AF_INET6 ? ntohs(a.in6.sin6_port) : ntohs(a.in4.sin_port);
	}
	*fd = s;
	return 0;
}

void sq_mig_set_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int sq_mig_connect(const char *hostport, int timeout_ms, int *fd)
{
	struct addrinfo *res = NULL;
	int rc = resolve(hostport, 0, &res), s = -1, err = 0;

	if (rc)
		return rc;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			err = errno;
			continue;
		}
		/* SO_SNDTIMEO bounds connect(2) too. */
		sq_mig_set_timeouts(s, timeout_ms);
		if (connect(s, a->ai_addr, a->ai_addrlen) == 0)
			break;
		err = errno;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		char ctx[320];
		snprintf(ctx, sizeof(ctx), "migration: connect to %s", hostport);
		return sq_err_sys(err == EINPROGRESS || err == EAGAIN ? SQ_E_TIMEOUT : SQ_E_IO,
				  err ? err : ECONNREFUSED, ctx);
	}
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	return 0;
}

int sq_mig_accept(int listen_fd, int timeout_ms, int *fd)
{
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return sq_err_sys(SQ_E_IO, errno, "migration: poll on the listening socket");
	if (n == 0)
		return sq_err(SQ_E_TIMEOUT, "migration: no connection within %d ms", timeout_ms);
	int s = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return sq_err_sys(SQ_E_IO, errno, "migration: accept");
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sq_mig_set_timeouts(s, timeout_ms);
	*fd = s;
	return 0;
}

static int net_error(int e, const char *what)
{
	if (e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ESHUTDOWN)
		return sq_err(SQ_E_DISCONNECTED, "migration peer disconnected (%s: %s)", what,
			      strerror(e));
	if (e == EAGAIN || e == EWOULDBLOCK)
		return sq_err(SQ_E_TIMEOUT, "migration: %s timed out", what);
	return sq_err_sys(SQ_E_IO, e, what);
}

int sq_mig_send_all(int site, int fd, const void *buf, size_t len, int more)
{
	const char *p = buf;

	while (len) {
		ssize_t n = sq_sys_send(site, fd, p, len, more ? MSG_MORE : 0);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return net_error((int)-n, "send");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long sq_mig_recv_some(int site, int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = sq_sys_recv(site, fd, buf, len, 0);
	while (n == -EINTR);
	return n < 0 ? net_error((int)-n, "recv") : (long)n;
}

int sq_mig_recv_exact(int site, int fd, void *buf, size_t len, size_t *got)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = sq_sys_recv(site, fd, p + done, len - done, 0);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return net_error((int)-n, "recv");
		if (n == 0) {
			if (got)
				*got = done;
			return 1;
		}
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return 0;
}

int sq_mig_deadline(int fd, double deadline, int timeout_ms, const char *what)
{
	if (deadline <= 0)
		return 0;
	double left_ms = (deadline - sq_mig_now()) * 1000.0;
	if (left_ms <= 0)
		return sq_err(SQ_E_TIMEOUT, "migration: the %s deadline passed", what);
	if (timeout_ms <= 0 || left_ms < (double)timeout_ms)
		sq_mig_set_timeouts(fd, (int)left_ms + 1);
	return 0;
}

int sq_mig_deadline_error(int rc, double deadline, const char *what)
{
	if (rc == SQ_E_TIMEOUT && deadline > 0 && sq_mig_now() >= deadline)
		return sq_err(SQ_E_TIMEOUT, "migration: the %s deadline passed", what);
	return rc;
}
