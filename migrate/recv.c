/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/recv.c - the receiving side of a session: handshakes, one thread
 * per connection, the verdict on the final totals.
 *
 * Invariants:
 *  - The session (id, region size, connection count) is fixed by the first
 *    handshake; every other connection must repeat it with a distinct
 *    index, else the whole session fails before any page is applied.
 *  - The first connection to fail wins: its code and message are kept in
 *    r->fail (core/first_error.h); every failing connection shuts the
 *    other sockets' read side down so that their threads return.
 *    The verdict is read after pthread_join, which orders everything the
 *    threads wrote before it.
 *  - complete = 1 only after every connection's final frame matched its own
 *    counts and all finals agree on totals that add up, with the state
 *    blob's length and CRC-64 checked.
 *  - The sender hears "done" (a COMMIT reply of status 0) only after the
 *    commit step returned 0; any failure before is sent with its message.
 *  - An accepting receiver refuses a bad handshake on its own: until the
 *    session is complete, only the session deadline or a quiet listener
 *    ends the wait, so a probe cannot end it before the sender comes.
 *  - With TLS set (link.c), a connection's bytes are taken as a handshake
 *    only after its TLS 1.3 handshake with the configured keys completed;
 *    a peer that fails it is refused like any bad handshake, and one that
 *    spoke plaintext is told so in plaintext (nothing of it was read but
 *    its first byte, peeked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <squib/alloc.h>
#include <squib/crc64.h>
#include <squib/migrate.h>

#include "core/err.h"
#include "core/sized.h"
#include "core/sysio.h"
#include "migrate/net.h"
#include "migrate/recv_internal.h"
#include "migrate/transport.h"

static int bad_ms(int ms)
{
	return ms < 0 || ms > SQ_MIGRATE_MAX_MS;
}

int sq_migrate_recv_create(const struct sq_migrate_recv_opts *caller,
			   struct sq_migrate_recv **out)
{
	struct sq_migrate_recv_opts local = SQ_INIT(struct sq_migrate_recv_opts);
	const struct sq_migrate_recv_opts *opts = &local;

	if (!caller || !out)
		return sq_err(SQ_E_INVAL, "migration: no receiver options");
	if (SQ_SIZED_IN(local, caller, SQ_V0_MIGRATE_RECV_OPTS, "sq_migrate_recv_opts"))
		return SQ_E_INVAL;
	if (opts->region && (opts->region_size == 0 || opts->region_size % SQ_PAGE_SIZE))
		return sq_err(SQ_E_INVAL, "migration: region size %zu is not a page multiple",
			      opts->region_size);
	if (opts->region && opts->mem_fd >= 0)
		return sq_err(SQ_E_INVAL, "migration: a receiver has one destination");
	if (bad_ms(opts->timeout_ms) || bad_ms(opts->handshake_ms) || bad_ms(opts->session_ms))
		return sq_err(SQ_E_INVAL, "migration: a time limit is negative or above %d ms",
			      SQ_MIGRATE_MAX_MS);
	int rc = sq_mig_check_commit_dests(opts);
	if (rc)
		return rc;
	struct sq_migrate_recv *r = calloc(1, sizeof(*r));
	if (!r)
		return sq_err(SQ_E_NOMEM, "migration: out of memory");
	r->o = *opts;
	if (!r->o.max_region_size)
		r->o.max_region_size = SQ_MIG_MAX_REGION_DEFAULT;
	if (!r->o.timeout_ms)
		r->o.timeout_ms = SQ_MIGRATE_DEFAULT_TIMEOUT_MS;
	if (!r->o.handshake_ms)
		r->o.handshake_ms = SQ_MIGRATE_DEFAULT_HANDSHAKE_MS;
	if (!r->o.session_ms)
		r->o.session_ms = SQ_MIGRATE_DEFAULT_SESSION_MS;
	for (int i = 0; i < SQ_MIG_LOCK_STRIPES; i++)
		pthread_mutex_init(&r->locks[i], NULL);
	sq_first_err_init(&r->fail);
	*out = r;
	return 0;
}

/* Back to the state before sq_mig_rx_setup: a refused first handshake
 * leaves nothing behind. */
static void undo_setup(struct sq_migrate_recv *r)
{
	if (r->have_tags)
		sq_mig_tags_fini(&r->tags);
	r->have_tags = 0;
	if (r->own_region)
		munmap(r->region, r->size);
	r->own_region = 0;
	r->region = NULL;
	r->size = 0;
	r->have_session = 0;
}

int sq_mig_rx_setup(struct sq_migrate_recv *r, const struct sq_mig_hello *h)
{
	uint64_t size = h->region_size;

	if (r->o.region && size != r->o.region_size)
		return sq_err(SQ_E_SIZE_MISMATCH,
			      "migration: sender's region is %llu bytes, the destination %zu",
			      (unsigned long long)size, r->o.region_size);
	if (!r->o.region && size > r->o.max_region_size)
		return sq_err(SQ_E_SIZE_LIMIT,
			      "migration: sender's region of %llu bytes exceeds the limit of %llu",
			      (unsigned long long)size, (unsigned long long)r->o.max_region_size);
	if (r->o.region) {
		r->region = r->o.region;
	} else if (r->o.mem_fd >= 0) {
		int e = sq_sys_ftruncate(SQ_SITE_MIG_RX_FILE_TRUNC, r->o.mem_fd, (off_t)size);
		if (e)
			return sq_err_sys(SQ_E_MEMORY_IO, -e, "migration: sizing the memory file");
	} else {
		void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return sq_err_sys(SQ_E_NOMEM, errno, "migration: mapping the destination");
		r->region = m;
		r->own_region = 1;
	}
	r->size = (size_t)size;
	int rc = sq_mig_tags_init(&r->tags, size >> SQ_PAGE_SHIFT);
	if (rc) {
		undo_setup(r);
		return rc;
	}
	r->have_tags = 1;
	r->hello = *h;
	r->have_session = 1;
	r->t0 = sq_mig_now();
	return 0;
}

/* Allocate the connection table once the count is known. */
static int alloc_conns(struct sq_migrate_recv *r, unsigned n)
{
	r->conns = calloc(n, sizeof(*r->conns));
	if (!r->conns)
		return sq_err(SQ_E_NOMEM, "migration: out of memory");
	r->nconns = n;
	for (unsigned i = 0; i < n; i++) {
		r->conns[i].fd = -1;
		r->conns[i].r = r;
		r->conns[i].index = i;
	}
	return 0;
}

/* Check a handshake against the session and claim its connection slot. */
static int admit(struct sq_migrate_recv *r, const uint8_t raw[SQ_MIG_HELLO_LEN], struct rx_conn **slot)
{
	struct sq_mig_hello h;
	int rc = sq_mig_hello_decode(raw, &h);

	if (rc)
		return rc;
	if (!r->have_session) {
		rc = sq_mig_rx_setup(r, &h);
		if (!rc) {
			rc = alloc_conns(r, h.conn_count);
			if (rc)
				undo_setup(r);
		}
		if (rc)
			return rc;
	} else if (h.session_id != r->hello.session_id || h.region_size != r->hello.region_size ||
		   h.conn_count != r->hello.conn_count || h.version != r->hello.version) {
		return sq_err(SQ_E_STREAM_MALFORMED,
			      "migration stream: connection of session %016llx (%u connections) "
			      "joined session %016llx (%u connections)",
			      (unsigned long long)h.session_id, h.conn_count,
			      (unsigned long long)r->hello.session_id, r->hello.conn_count);
	}
	struct rx_conn *c = &r->conns[h.conn_index];
	if (c->admitted)
		return sq_err(SQ_E_STREAM_MALFORMED, "migration stream: connection index %u twice",
			      h.conn_index);
	c->admitted = 1;
	*slot = c;
	return 0;
}

/* Answer the sender: @status with the current error message when it fails.
 * Returns 0 or the send's error (the message of @status is kept then). */
static int reply(int fd, struct sq_mig_tls *tls, unsigned phase, int status, uint64_t session)
{
	struct sq_mig_result res = { .status = status, .phase = phase, .session_id = session };
	uint8_t raw[SQ_MIG_RESULT_LEN + SQ_MIG_RESULT_MAX_MSG];

	if (fd < 0)
		return 0;
	if (status) {
		snprintf(res.msg, sizeof(res.msg), "%s", sq_last_error());
		res.msg_len = (uint32_t)strlen(res.msg);
	}
	size_t n = sq_mig_result_encode(&res, raw);
	int rc = sq_mig_io_send(SQ_SITE_MIG_RX_SEND, fd, tls, raw, n, 0);
	if (rc && status)
		sq_err(status, "%s", res.msg);
	return rc;
}

/* The TLS handshake of a secured receiver, by @deadline. A plaintext peer
 * hears why in plaintext; the others learned it from the TLS alert. */
static int tls_handshake(struct sq_migrate_recv *r, int fd, double deadline,
			 struct sq_mig_tls **tls)
{
	int rc = sq_mig_tls_accept(r->tls_ctx, fd, deadline, tls);

	if (rc == SQ_E_TLS_REQUIRED)
		(void)reply(fd, NULL, SQ_MIG_PHASE_HELLO, rc, 0);
	sq_mig_set_timeouts(fd, r->o.timeout_ms);
	return rc;
}

/* Read a handshake from @fd by @deadline and admit it; answers the sender
 * either way (the reply keeps the error message). */
static int handshake_fd(struct sq_migrate_recv *r, int fd, double deadline, struct rx_conn **slot)
{
	uint8_t raw[SQ_MIG_HELLO_LEN];
	size_t got = 0;
	struct sq_mig_tls *tls = NULL;
	int rc = r->tls_ctx ? tls_handshake(r, fd, deadline, &tls) : 0;

	if (rc)
		return rc;
	while (!rc && got < sizeof(raw)) {
		rc = sq_mig_deadline(fd, deadline, r->o.timeout_ms, "handshake");
		if (rc)
			break;
		long n = sq_mig_io_recv_some(SQ_SITE_MIG_RX_RECV, fd, tls, raw + got, sizeof(raw) - got);
		if (n < 0)
			rc = sq_mig_deadline_error((int)n, deadline, "handshake");
		else if (n == 0)
			rc = got ? sq_err(SQ_E_STREAM_TRUNCATED,
					  "migration stream: handshake cut after %zu bytes", got)
				 : sq_err(SQ_E_DISCONNECTED,
					  "migration peer disconnected before its handshake");
		else
			got += (size_t)n;
	}
	sq_mig_set_timeouts(fd, r->o.timeout_ms);
	if (!rc)
		rc = admit(r, raw, slot);
	if (!rc && !(*slot)->buf) {
		/* Sockets read through a buffer; memory-fed connections need none. */
		(*slot)->buf = sq_mem_alloc(SQ_MIG_RX_BUF, 4096);
		if (!(*slot)->buf) {
			(*slot)->admitted = 0;
			rc = sq_err(SQ_E_NOMEM, "migration: out of memory for a receive buffer");
		}
	}
	int sent = reply(fd, tls, SQ_MIG_PHASE_HELLO, rc, r->have_session ? r->hello.session_id : 0);
	if (!rc && sent) {
		/* The sender never heard it was admitted: the slot stays free. */
		(*slot)->admitted = 0;
		rc = sent;
	}
	if (rc) {
		sq_mig_tls_free(tls);
		return rc;
	}
	(*slot)->fd = fd;
	(*slot)->tls = tls;
	if ((*slot)->index == 0)
		snprintf(r->tls_kind, sizeof(r->tls_kind), "%s",
			 sq_mig_tls_kind_name(sq_mig_tls_kind(tls)));
	return 0;
}

static void conn_failed(struct rx_conn *c, int rc)
{
	struct sq_migrate_recv *r = c->r;

	sq_first_err_set(&r->fail, rc);
	for (unsigned i = 0; i < r->nconns; i++)
		if (i != c->index && r->conns[i].fd >= 0)
			shutdown(r->conns[i].fd, SHUT_RD);
}

static void *conn_thread(void *arg)
{
	struct rx_conn *c = arg;
	int rc = sq_mig_rx_conn_run(c);

	if (rc)
		conn_failed(c, rc);
	return NULL;
}

/* After all connections: the verdict over the totals of all finals. */
static int verdict(struct sq_migrate_recv *r)
{
	struct sq_mig_final *t0 = &r->conns[0].fin;
	uint64_t frames = 0, pages = 0, payload = 0;
	unsigned rounds = 0;

	for (unsigned i = 0; i < r->nconns; i++) {
		struct rx_conn *c = &r->conns[i];
		struct sq_mig_final *t = &c->fin;
		if (t->total_frames != t0->total_frames || t->total_pages != t0->total_pages ||
		    t->total_payload != t0->total_payload || t->state_len != t0->state_len ||
		    t->state_crc != t0->state_crc || t->rounds != t0->rounds)
			return sq_err(SQ_E_STREAM_TOTALS,
				      "migration stream: final frames of connections 0 and %u disagree", i);
		frames += c->frames;
		pages += c->pages;
		payload += c->payload;
		if (c->round > rounds)
			rounds = c->round;
	}
	if (frames != t0->total_frames || pages != t0->total_pages || payload != t0->total_payload)
		return sq_err(SQ_E_STREAM_TOTALS,
			      "migration stream: totals differ: frames %llu/%llu, pages %llu/%llu, "
			      "bytes %llu/%llu (sent/received)",
			      (unsigned long long)t0->total_frames, (unsigned long long)frames,
			      (unsigned long long)t0->total_pages, (unsigned long long)pages,
			      (unsigned long long)t0->total_payload, (unsigned long long)payload);
	if (rounds != t0->rounds)
		return sq_err(SQ_E_STREAM_TOTALS, "migration stream: final round %u, frames up to %u",
			      t0->rounds, rounds);
	if (r->state_len != t0->state_len || sq_crc64(r->state, r->state_len) != t0->state_crc)
		return sq_err(SQ_E_STREAM_TOTALS,
			      "migration stream: state blob of %zu bytes does not match the final "
			      "frame (%llu bytes, CRC %016llx)",
			      r->state_len, (unsigned long long)t0->state_len,
			      (unsigned long long)t0->state_crc);
	return 0;
}

static void fill_stats(struct sq_migrate_recv *r)
{
	struct sq_migrate_recv_stats *s = &r->stats;

	memset(s, 0, sizeof(*s));
	s->session_id = r->hello.session_id;
	s->region_size = r->size;
	s->nconns = r->nconns;
	for (unsigned i = 0; i < r->nconns; i++) {
		struct rx_conn *c = &r->conns[i];
		s->frames += c->frames;
		s->pages += c->pages;
		s->zero_pages += c->zero_pages;
		s->stale_pages += c->stale_pages;
		s->payload_bytes += c->payload;
		s->compressed_frames += c->comp_frames;
		if (c->round > s->rounds)
			s->rounds = c->round;
	}
	s->state_len = r->state_len;
	s->complete = r->complete;
	s->seconds = r->have_session ? sq_mig_now() - r->t0 : 0;
}

/* Run all admitted connections to their end, then judge the session. */
static int run_session(struct sq_migrate_recv *r, int threaded)
{
	int rc = 0;

	for (unsigned i = 0; i < r->nconns; i++)
		r->conns[i].deadline = r->deadline;
	/* Connections are read concurrently: the sender's workers fill them
	 * together, so reading one to its end first could stall the other. */
	for (unsigned i = threaded ? 1 : 0; i < r->nconns; i++) {
		struct rx_conn *c = &r->conns[threaded ? i : r->feed_order[i]];
		if (!threaded) {
			conn_thread(c);
		} else if (pthread_create(&c->thread, NULL, conn_thread, c) == 0) {
			c->thread_live = 1;
		} else {
			sq_err(SQ_E_NOMEM, "migration: cannot start a receiving thread");
			conn_failed(c, SQ_E_NOMEM);
		}
	}
	if (threaded)
		conn_thread(&r->conns[0]);
	for (unsigned i = 0; i < r->nconns; i++)
		if (r->conns[i].thread_live)
			pthread_join(r->conns[i].thread, NULL);

	/* After the joins: the first failure, with its message. */
	rc = sq_first_err_raise(&r->fail);
	for (unsigned i = 0; !rc && i < r->nconns; i++)
		if (r->conns[i].fd >= 0)
			rc = sq_mig_rx_check_trailing(&r->conns[i]);
	if (!rc)
		rc = verdict(r);
	if (!rc)
		r->complete = 1;
	fill_stats(r);
	(void)reply(r->conns[0].fd, r->conns[0].tls, SQ_MIG_PHASE_FINAL, rc, r->hello.session_id);
	if (rc)
		return rc;
	rc = sq_mig_commit_step(r);
	(void)reply(r->conns[0].fd, r->conns[0].tls, SQ_MIG_PHASE_COMMIT, rc, r->hello.session_id);
	return rc;
}

static int once(struct sq_migrate_recv *r)
{
	if (r->have_session || r->nconns)
		return sq_err(SQ_E_INVAL, "migration: a receiver runs one session");
	return 0;
}

/* Wait for the next connection: at most timeout_ms, never past the deadline. */
static int accept_next(struct sq_migrate_recv *r, int listen_fd, int *fd)
{
	double left_ms = (r->deadline - sq_mig_now()) * 1000.0;
	int wait = r->o.timeout_ms;

	if (left_ms <= 0)
		return sq_err(SQ_E_TIMEOUT, "migration: the session deadline passed");
	if (left_ms < (double)wait)
		wait = (int)left_ms + 1;
	int rc = sq_mig_accept(listen_fd, wait, fd);
	return sq_mig_deadline_error(rc, r->deadline, "session");
}

int sq_migrate_recv_accept(struct sq_migrate_recv *r, int listen_fd)
{
	int rc = once(r), fds[SQ_MIGRATE_MAX_CONNS], nfds = 0;
	struct rx_conn *slot;
	char refused[512] = "";
	int refused_rc = 0;

	if (rc)
		return rc;
	r->deadline = sq_mig_now() + r->o.session_ms / 1000.0;
	/* A connection whose handshake fails is answered, closed and
	 * forgotten: probes and strays do not end the wait for the sender. */
	while (!r->have_session || (unsigned)nfds < r->nconns) {
		int fd = -1;
		rc = accept_next(r, listen_fd, &fd);
		if (rc)
			break;
		double hs = sq_mig_now() + r->o.handshake_ms / 1000.0;
		if (hs > r->deadline)
			hs = r->deadline;
		int hrc = handshake_fd(r, fd, hs, &slot);
		if (hrc == 0) {
			fds[nfds++] = fd;
		} else {
			refused_rc = hrc;
			snprintf(refused, sizeof(refused), "%s", sq_last_error());
			close(fd);
		}
	}
	if (rc && refused[0]) {
		char why[512]; /* sq_err must not format from its own buffer */
		snprintf(why, sizeof(why), "%s", sq_last_error());
		rc = sq_err(rc, "%s (last connection refused, %s: %s)", why,
			    sq_error_name(refused_rc), refused);
	}
	if (!rc)
		rc = run_session(r, 1);
	sq_mig_rx_drop_tls(r);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	for (unsigned i = 0; i < r->nconns; i++)
		r->conns[i].fd = -1;
	return rc;
}

int sq_migrate_recv_fds(struct sq_migrate_recv *r, const int *fds, unsigned nfds)
{
	int rc = once(r);
	struct rx_conn *slot;

	if (rc)
		return rc;
	if (!fds || nfds == 0 || nfds > SQ_MIGRATE_MAX_CONNS)
		return sq_err(SQ_E_INVAL, "migration: %u connections", nfds);
	r->deadline = sq_mig_now() + r->o.session_ms / 1000.0;
	for (unsigned i = 0; i < nfds && !rc; i++) {
		double hs = sq_mig_now() + r->o.handshake_ms / 1000.0;
		rc = handshake_fd(r, fds[i], hs < r->deadline ? hs : r->deadline, &slot);
		if (!rc && r->nconns != nfds)
			rc = sq_err(SQ_E_STREAM_MALFORMED,
				    "migration stream: handshake announces %u connections, %u given",
				    r->nconns, nfds);
	}
	if (!rc)
		rc = run_session(r, 1);
	sq_mig_rx_drop_tls(r);
	for (unsigned i = 0; i < r->nconns; i++)
		r->conns[i].fd = -1;
	return rc;
}

int sq_mig_recv_feed(struct sq_migrate_recv *r, const uint8_t *const *bufs, const size_t *lens,
		     unsigned n)
{
	int rc = once(r);
	struct rx_conn *slot = NULL;

	if (rc)
		return rc;
	for (unsigned i = 0; i < n && !rc; i++) {
		if (lens[i] < SQ_MIG_HELLO_LEN) {
			rc = sq_err(SQ_E_STREAM_TRUNCATED, "migration stream: handshake cut after %zu bytes",
				    lens[i]);
			break;
		}
		rc = admit(r, bufs[i], &slot);
		if (!rc && slot) {
			r->feed_order[i] = slot->index;
			slot->mem = bufs[i] + SQ_MIG_HELLO_LEN;
			slot->mem_len = lens[i] - SQ_MIG_HELLO_LEN;
		}
	}
	if (!rc && r->nconns != n)
		rc = sq_err(SQ_E_STREAM_MALFORMED,
			    "migration stream: handshake announces %u connections, %u given", r->nconns, n);
	return rc ? rc : run_session(r, 0);
}

int sq_migrate_recv_stats(const struct sq_migrate_recv *r, struct sq_migrate_recv_stats *s)
{
	if (!r || !s)
		return sq_err(SQ_E_INVAL, "migration: no receiver or stats");
	if (sq_sized_check(s, SQ_V0_MIGRATE_RECV_STATS, "sq_migrate_recv_stats"))
		return SQ_E_INVAL;
	SQ_SIZED_OUT(s, r->stats);
	return 0;
}

void *sq_migrate_recv_region(const struct sq_migrate_recv *r, size_t *size)
{
	if (size)
		*size = r->region ? r->size : 0;
	return r->region;
}

const void *sq_migrate_recv_state(const struct sq_migrate_recv *r, size_t *len)
{
	if (len)
		*len = r->state_len;
	return r->state;
}

void sq_migrate_recv_destroy(struct sq_migrate_recv *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nconns; i++) {
		sq_mem_free(r->conns[i].buf, SQ_MIG_RX_BUF, 4096);
		sq_mig_rx_conn_fini(&r->conns[i]);
	}
	sq_mig_rx_drop_tls(r);
	sq_mig_tls_ctx_free(r->tls_ctx);
	free(r->conns);
	if (r->have_tags)
		sq_mig_tags_fini(&r->tags);
	if (r->own_region)
		munmap(r->region, r->size);
	free(r->state);
	for (int i = 0; i < SQ_MIG_LOCK_STRIPES; i++)
		pthread_mutex_destroy(&r->locks[i]);
	sq_first_err_destroy(&r->fail);
	free(r);
}
