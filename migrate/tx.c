/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/tx.c - the sending transport: connections, workers, frames.
 *
 * Invariants:
 *  - Each connection is written by exactly one thread at a time: its
 *    worker during a round, the loop thread between rounds (handshake,
 *    state, final, abort). The loop thread starts a round by bumping
 *    tx->gen under tx->mu and waits under the same mutex until busy == 0,
 *    so the mutex orders every hand-over (round description, counters,
 *    sequence numbers) between the two.
 *  - Frames carry a per-connection sequence number starting at 1, and are
 *    built in the worker's staging buffer: a page is copied once, and the
 *    CRC-64 is computed over the copy, so a page that changes while it is
 *    sent still arrives self-consistent (the tracker has marked it for
 *    the next round).
 *  - A job is at most SQ_MIG_MAX_FRAME_PAGES pages; its frames (one per
 *    stretch of data or zero pages) fit the staging buffer of
 *    SQ_MIG_MAX_PAYLOAD + (SQ_MIG_MAX_FRAME_PAGES + 1) headers, and go out
 *    in one send.
 *  - With a codec set for the round (sq_mig_tx_codec), each data frame is
 *    compressed from the staged copy (never from the live region) into
 *    the connection's zbuf and replaces the copy only when smaller; the
 *    CRC covers the bytes sent. The time spent compressing is measured
 *    per worker for the per-round rule (compress.h).
 *  - The first failing worker records its code and message in tx->fail
 *    (core/first_error.h: under its lock, code published with release);
 *    the others stop taking jobs when they see a code (relaxed poll); the
 *    loop thread raises it after the round (acquire).
 *  - Progress (optional): workers count each job's pages in tx->pg; the
 *    loop thread reports while it waits for the round (a timed wait) and
 *    sets tx->pg's cancel flag when the callback asks to stop; workers
 *    then stop taking jobs, like after a failure.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include <squib/alloc.h>
#include <squib/crc64.h>
#include <squib/error.h>

#include "core/err.h"
#include "core/first_error.h"
#include "core/progress.h"
#include "core/sysio.h"
#include "migrate/compress.h"
#include "migrate/net.h"
#include "migrate/stream.h"
#include "migrate/transport.h"
#include "migrate/tx.h"

#define JOB_PAGES SQ_MIG_MAX_FRAME_PAGES
#define STAGE_BYTES (SQ_MIG_MAX_PAYLOAD + (JOB_PAGES + 1) * SQ_MIG_FRAME_HDR)

struct tx_conn {
	struct sq_mig_tx *tx;
	unsigned index;
	int fd;
	struct sq_mig_tls *tls;  /* NULL: plaintext */
	uint64_t seq, frames, pages, payload, wire;
	uint64_t r_pages, r_zero, r_wire; /* the current round */
	uint64_t r_comp_in, r_comp_out, r_comp_frames, r_raw_frames;
	double r_comp_s;
	uint8_t *stage;
	struct sq_mig_cctx *cz;           /* when compressing: codec state, */
	uint8_t *zbuf;                    /* and SQ_MIG_MAX_PAYLOAD bytes of output */
	pthread_t thread;
	int thread_live;
};

struct sq_mig_tx {
	struct sq_mig_tx_opts o;
	struct tx_conn *conns;
	unsigned n;
	struct sq_mig_tls_ctx *tls_ctx; /* NULL: plaintext */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	uint64_t gen;
	unsigned busy;
	int quit;
	/* The round being sent: written by the loop thread under mu. */
	uint32_t round;
	int skip_zero;
	enum sq_mig_codec codec, next_codec; /* this round's; the next one's (loop thread) */
	struct sq_run *pieces; /* runs cut to at most JOB_PAGES pages */
	size_t npieces, pieces_cap;
	size_t *jobs;          /* job j = pieces [jobs[j], jobs[j + 1]) */
	size_t njobs, jobs_cap;
	atomic_size_t next_job;
	struct sq_first_err fail; /* the first failing worker's code and message */
	double pace_start;
	atomic_uint_fast64_t pace_bytes;
	uint64_t other_wire;   /* handshake bytes */
	struct sq_prog pg;     /* the round's progress (core/progress.h) */
};

static void conn_fail(struct tx_conn *c, int rc)
{
	sq_first_err_set(&c->tx->fail, rc);
}

/* Bandwidth limit: sleep until the bytes sent this round are due. */
static void pace(struct sq_mig_tx *tx, size_t len)
{
	if (!tx->o.bandwidth_limit)
		return;
	/* relaxed: a byte counter; ordering with the data is irrelevant. */
	uint64_t total = atomic_fetch_add_explicit(&tx->pace_bytes, len, memory_order_relaxed) + len;
	double due = tx->pace_start + (double)total / (double)tx->o.bandwidth_limit;
	double wait = due - sq_mig_now();

	if (wait > 0) {
		struct timespec ts = { .tv_sec = (time_t)wait,
				       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

/*
 * The copy out of the live region. Pre-copy reads pages that the
 * application may be writing at the same moment, by design: the dirty
 * tracker makes a later round (or the final one, after the pause) carry
 * the new bytes. Kept out of line so that ThreadSanitizer runs suppress
 * exactly this race (tests/tsan.supp: race:sq_mig_copy_live) and no other.
 */
__attribute__((noinline)) static void sq_mig_copy_live(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

/* The zero test of a live page: the same intended race as the copy above,
 * out of line for the same reason (tests/tsan.supp: race:sq_mig_live_zero). */
__attribute__((noinline)) static int sq_mig_live_zero(const void *p)
{
	return sq_mig_page_zero(p);
}

/* Compress the staged @len bytes at @payload in place when that shrinks
 * them; returns the payload length and sets the frame's codec fields. */
static size_t squeeze(struct tx_conn *c, struct sq_mig_frame *f, uint8_t *payload, size_t len)
{
	enum sq_mig_codec codec = c->tx->codec;
	double t0 = sq_mig_now();
	size_t zl = sq_mig_compress(c->cz, codec, c->zbuf, payload, len);

	c->r_comp_s += sq_mig_now() - t0;
	c->r_comp_in += len;
	if (!zl) {
		c->r_comp_out += len;
		c->r_raw_frames++;
		return len;
	}
	memcpy(payload, c->zbuf, zl);
	f->flags = codec == SQ_MIG_CODEC_LZ4 ? SQ_MIG_F_LZ4 : SQ_MIG_F_ZSTD;
	f->zlen = (uint32_t)zl;
	c->r_comp_out += zl;
	c->r_comp_frames++;
	return zl;
}

/* Frames for pages [first, first + n) appended at @pos; returns the new end. */
static size_t build(struct tx_conn *c, uint64_t first, uint64_t n, size_t pos)
{
	struct sq_mig_tx *tx = c->tx;
	uint64_t end = first + n;

	for (uint64_t p = first; p < end;) {
		const uint8_t *src = tx->o.region + (p << SQ_PAGE_SHIFT);
		int zero = sq_mig_live_zero(src);
		uint64_t q = p + 1;
		while (q < end && sq_mig_live_zero(tx->o.region + (q << SQ_PAGE_SHIFT)) == zero)
			q++;
		if (zero && tx->skip_zero) {
			p = q;
			continue;
		}
		size_t len = (size_t)(q - p) << SQ_PAGE_SHIFT, plen = zero ? 0 : len;
		uint8_t *hdr = c->stage + pos;
		struct sq_mig_frame f = { .type = SQ_MIG_PAGES, .flags = zero ? SQ_MIG_F_ZERO : 0,
					  .round = tx->round, .seq = ++c->seq,
					  .offset = p << SQ_PAGE_SHIFT, .length = (uint32_t)len };
		if (!zero) {
			sq_mig_copy_live(hdr + SQ_MIG_FRAME_HDR, src, len);
			if (tx->codec != SQ_MIG_CODEC_NONE)
				plen = squeeze(c, &f, hdr + SQ_MIG_FRAME_HDR, len);
		}
		sq_mig_frame_encode(&f, hdr, hdr + SQ_MIG_FRAME_HDR, plen);
		pos += SQ_MIG_FRAME_HDR + plen;
		c->frames++;
		c->pages += q - p;
		c->payload += plen;
		c->r_pages += q - p;
		if (zero)
			c->r_zero += q - p;
		p = q;
	}
	return pos;
}

static int work_round(struct tx_conn *c)
{
	struct sq_mig_tx *tx = c->tx;

	/* A relaxed poll: stop early once a worker failed, nothing more. */
	while (!sq_first_err_failed(&tx->fail) && !sq_prog_canceled(&tx->pg)) {
		/* relaxed: the job table was published under tx->mu. */
		size_t j = atomic_fetch_add_explicit(&tx->next_job, 1, memory_order_relaxed);
		if (j >= tx->njobs)
			return 0;
		size_t pos = 0;
		uint64_t pages = 0;
		for (size_t i = tx->jobs[j]; i < tx->jobs[j + 1]; i++) {
			pos = build(c, tx->pieces[i].first_page, tx->pieces[i].npages, pos);
			pages += tx->pieces[i].npages;
		}
		if (!pos) {
			sq_prog_add(&tx->pg, pages << SQ_PAGE_SHIFT);
			continue;
		}
		pace(tx, pos);
		int rc = sq_mig_io_send(SQ_SITE_MIG_TX_SEND, c->fd, c->tls, c->stage, pos, 0);
		if (rc)
			return rc;
		c->wire += pos;
		c->r_wire += pos;
		sq_prog_add(&tx->pg, pages << SQ_PAGE_SHIFT);
	}
	return 0;
}

static void *worker(void *arg)
{
	struct tx_conn *c = arg;
	struct sq_mig_tx *tx = c->tx;
	uint64_t seen = 0;

	pthread_mutex_lock(&tx->mu);
	for (;;) {
		while (!tx->quit && tx->gen == seen)
			pthread_cond_wait(&tx->work, &tx->mu);
		if (tx->quit)
			break;
		seen = tx->gen;
		pthread_mutex_unlock(&tx->mu);
		int rc = work_round(c);
		if (rc)
			conn_fail(c, rc);
		pthread_mutex_lock(&tx->mu);
		if (--tx->busy == 0)
			pthread_cond_signal(&tx->done);
	}
	pthread_mutex_unlock(&tx->mu);
	return NULL;
}

/* Read one reply (header, then its message); @phase 0 accepts any phase. */
static int read_result(struct tx_conn *c, unsigned phase, struct sq_mig_result *res)
{
	uint8_t raw[SQ_MIG_RESULT_LEN], msg[SQ_MIG_RESULT_MAX_MSG];
	uint32_t mlen = 0;
	size_t got = 0;
	int rc = sq_mig_io_recv_exact(SQ_SITE_MIG_TX_RECV, c->fd, c->tls, raw, sizeof(raw), &got);

	if (!rc)
		rc = sq_mig_result_decode_hdr(raw, &mlen);
	if (!rc && mlen)
		rc = sq_mig_io_recv_exact(SQ_SITE_MIG_TX_RECV, c->fd, c->tls, msg, mlen, &got);
	if (rc == 1)
		return sq_err(SQ_E_DISCONNECTED,
			      "migration peer disconnected: connection %u closed before its reply",
			      c->index);
	if (!rc)
		rc = sq_mig_result_decode(raw, msg, res);
	if (!rc && phase && res->phase != phase)
		rc = sq_err(SQ_E_STREAM_ORDER, "migration stream: reply for phase %u, expected %u",
			    res->phase, phase);
	return rc;
}

/* The receiver's failure @res as this side's error: its code and text. */
static int peer_failed(const struct sq_mig_result *res, const char *what)
{
	return sq_err(res->status, "migration: the receiver %s: %s", what,
		      res->msg_len ? res->msg : sq_strerror(res->status));
}

int sq_mig_tx_peer_reason(struct sq_mig_tx *tx, int rc)
{
	struct sq_mig_result res = { 0 };
	char mine[512];

	snprintf(mine, sizeof(mine), "%s", sq_last_error());
	if ((rc != SQ_E_DISCONNECTED && rc != SQ_E_TIMEOUT) || tx->conns[0].fd < 0)
		return rc;
	sq_mig_set_timeouts(tx->conns[0].fd, 1000);
	/* The receiver's echo of our own abort (SQ_E_CANCELED) says nothing. */
	if (read_result(&tx->conns[0], 0, &res) == 0 && res.status < 0 &&
	    res.status != SQ_E_CANCELED)
		return sq_err(res.status, "migration: the receiver failed: %s (%s)",
			      res.msg_len ? res.msg : sq_strerror(res.status), mine);
	return sq_err(rc, "%s", mine);
}

int sq_mig_tx_open(const struct sq_mig_tx_opts *o, struct sq_mig_tx **out)
{
	struct sq_mig_tx *tx = calloc(1, sizeof(*tx));
	int rc = 0;

	if (!tx)
		return sq_err(SQ_E_NOMEM, "migration: out of memory");
	tx->o = *o;
	tx->n = o->nconns;
	pthread_mutex_init(&tx->mu, NULL);
	pthread_cond_init(&tx->work, NULL);
	pthread_condattr_t ca; /* the progress ticks wait on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tx->done, &ca);
	pthread_condattr_destroy(&ca);
	sq_first_err_init(&tx->fail);
	atomic_init(&tx->next_job, 0);
	atomic_init(&tx->pace_bytes, 0);
	tx->conns = calloc(tx->n, sizeof(*tx->conns));
	if (!tx->conns) {
		free(tx);
		return sq_err(SQ_E_NOMEM, "migration: out of memory");
	}
	for (unsigned i = 0; i < tx->n; i++) {
		tx->conns[i] = (struct tx_conn){ .tx = tx, .index = i, .fd = -1 };
	}
	/* Keys are loaded and checked before any connection is made. */
	rc = sq_mig_tls_ctx_new(o->link, 0, &tx->tls_ctx);
	for (unsigned i = 0; i < tx->n && !rc; i++) {
		struct tx_conn *c = &tx->conns[i];
		c->stage = sq_mem_alloc(STAGE_BYTES, 4096);
		if (!c->stage) {
			rc = sq_err(SQ_E_NOMEM, "migration: out of memory for staging");
			break;
		}
		if (o->compress) {
			c->zbuf = malloc(SQ_MIG_MAX_PAYLOAD);
			rc = c->zbuf ? sq_mig_cctx_new(&c->cz)
				     : sq_err(SQ_E_NOMEM, "migration: out of memory for compression");
			if (rc)
				break;
		}
		rc = sq_mig_connect(o->to, o->timeout_ms, &c->fd);
		if (!rc && tx->tls_ctx)
			rc = sq_mig_tls_connect(tx->tls_ctx, c->fd,
						sq_mig_now() + o->timeout_ms / 1000.0, &c->tls);
		if (rc)
			break;
		/* Raw streams stay version 2: receivers of the previous release take them. */
		struct sq_mig_hello h = { .version = o->compress ? SQ_MIG_VERSION : SQ_MIG_VERSION_MIN,
					  .page_size = SQ_PAGE_SIZE,
					  .session_id = o->session_id, .region_size = o->size,
					  .conn_index = (uint16_t)i, .conn_count = (uint16_t)tx->n };
		uint8_t raw[SQ_MIG_HELLO_LEN];
		sq_mig_hello_encode(&h, raw);
		rc = sq_mig_io_send(SQ_SITE_MIG_TX_SEND, c->fd, c->tls, raw, sizeof(raw), 0);
		tx->other_wire += sizeof(raw);
	}
	for (unsigned i = 0; i < tx->n && !rc; i++) {
		struct sq_mig_result res = { 0 };
		rc = read_result(&tx->conns[i], SQ_MIG_PHASE_HELLO, &res);
		if (!rc && res.status < 0)
			rc = peer_failed(&res, "refused the handshake");
	}
	for (unsigned i = 0; i < tx->n && !rc; i++) {
		struct tx_conn *c = &tx->conns[i];
		if (pthread_create(&c->thread, NULL, worker, c)) {
			rc = sq_err(SQ_E_NOMEM, "migration: cannot start a sending thread");
			break;
		}
		c->thread_live = 1;
	}
	if (rc) {
		sq_mig_tx_close(tx);
		return rc;
	}
	*out = tx;
	return 0;
}

/* Cut @runs into pieces of at most JOB_PAGES, grouped into jobs of as many. */
static int plan(struct sq_mig_tx *tx, const struct sq_run *runs, size_t nruns)
{
	size_t need = 0;

	for (size_t i = 0; i < nruns; i++)
		need += (size_t)((runs[i].npages + JOB_PAGES - 1) / JOB_PAGES);
	if (need > tx->pieces_cap) {
		free(tx->pieces);
		free(tx->jobs);
		tx->pieces = malloc(need * sizeof(*tx->pieces));
		tx->jobs = malloc((need + 1) * sizeof(*tx->jobs));
		tx->pieces_cap = tx->jobs_cap = tx->pieces && tx->jobs ? need : 0;
		if (!tx->pieces_cap)
			return sq_err(SQ_E_NOMEM, "migration: out of memory for %zu pieces", need);
	}
	size_t np = 0, nj = 0, in_job = 0;
	for (size_t i = 0; i < nruns; i++) {
		uint64_t p = runs[i].first_page, end = p + runs[i].npages;
		while (p < end) {
			uint64_t n = end - p < JOB_PAGES ? end - p : JOB_PAGES;
			if (nj == 0 || in_job + n > JOB_PAGES) {
				tx->jobs[nj++] = np;
				in_job = 0;
			}
			tx->pieces[np++] = (struct sq_run){ p, n };
			in_job += n;
			p += n;
		}
	}
	tx->jobs[nj] = np;
	tx->npieces = np;
	tx->njobs = nj;
	return 0;
}

/*
 * Wait (tx->mu held) until a worker finishes or, with a progress
 * callback, 100 ms pass; then report without the mutex, so that the
 * callback never delays a worker's hand-back.
 */
static void wait_round(struct sq_mig_tx *tx)
{
	if (!tx->pg.fn) {
		pthread_cond_wait(&tx->done, &tx->mu);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += SQ_PROGRESS_INTERVAL_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&tx->done, &tx->mu, &ts);
	if (!tx->busy)
		return;
	pthread_mutex_unlock(&tx->mu);
	sq_prog_poll(&tx->pg); /* a cancel sets the flag the workers poll */
	pthread_mutex_lock(&tx->mu);
}

int sq_mig_tx_round(struct sq_mig_tx *tx, uint32_t round, const struct sq_run *runs, size_t nruns,
		    int skip_zero, struct sq_mig_tx_round_stats *st)
{
	for (size_t i = 0; i < nruns; i++)
		if (runs[i].first_page > (tx->o.size >> SQ_PAGE_SHIFT) ||
		    runs[i].npages > (tx->o.size >> SQ_PAGE_SHIFT) - runs[i].first_page)
			return sq_err(SQ_E_RANGE, "migration: dirty run %llu+%llu outside the region",
				      (unsigned long long)runs[i].first_page,
				      (unsigned long long)runs[i].npages);
	int rc = plan(tx, runs, nruns);
	if (rc)
		return rc;
	uint64_t pages = 0;
	for (size_t i = 0; i < nruns; i++)
		pages += runs[i].npages;
	rc = sq_prog_begin(&tx->pg, tx->o.progress, tx->o.progress_ctx, SQ_PROGRESS_MIGRATE_ROUND,
			   round, pages << SQ_PAGE_SHIFT);
	if (rc)
		return rc;
	double t0 = sq_mig_now();

	pthread_mutex_lock(&tx->mu);
	tx->round = round;
	tx->skip_zero = skip_zero;
	tx->codec = tx->o.compress ? tx->next_codec : SQ_MIG_CODEC_NONE;
	tx->pace_start = t0;
	atomic_store_explicit(&tx->pace_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&tx->next_job, 0, memory_order_relaxed);
	for (unsigned i = 0; i < tx->n; i++) {
		struct tx_conn *c = &tx->conns[i];
		c->r_pages = c->r_zero = c->r_wire = 0;
		c->r_comp_in = c->r_comp_out = c->r_comp_frames = c->r_raw_frames = 0;
		c->r_comp_s = 0;
	}
	tx->busy = tx->n;
	tx->gen++;
	pthread_cond_broadcast(&tx->work);
	while (tx->busy)
		wait_round(tx);
	pthread_mutex_unlock(&tx->mu);

	memset(st, 0, sizeof(*st));
	st->seconds = sq_mig_now() - t0;
	st->codec = tx->codec;
	for (unsigned i = 0; i < tx->n; i++) {
		const struct tx_conn *c = &tx->conns[i];
		st->pages += c->r_pages;
		st->zero_pages += c->r_zero;
		st->wire_bytes += c->r_wire;
		st->comp_in += c->r_comp_in;
		st->comp_out += c->r_comp_out;
		st->comp_frames += c->r_comp_frames;
		st->raw_frames += c->r_raw_frames;
		st->comp_s += c->r_comp_s;
	}
	if (sq_first_err_code(&tx->fail))
		return sq_first_err_raise(&tx->fail);
	if (sq_prog_canceled(&tx->pg))
		return sq_err(SQ_E_CANCELED, "migration canceled by its progress callback");
	return sq_prog_end(&tx->pg);
}

static int send_frame(struct tx_conn *c, struct sq_mig_frame *f, const void *payload, size_t plen)
{
	uint8_t hdr[SQ_MIG_FRAME_HDR];

	f->seq = ++c->seq;
	sq_mig_frame_encode(f, hdr, payload, plen);
	int rc = sq_mig_io_send(SQ_SITE_MIG_TX_SEND, c->fd, c->tls, hdr, sizeof(hdr), plen > 0);
	if (!rc && plen)
		rc = sq_mig_io_send(SQ_SITE_MIG_TX_SEND, c->fd, c->tls, payload, plen, 0);
	if (!rc)
		c->wire += sizeof(hdr) + plen;
	return rc;
}

int sq_mig_tx_finish(struct sq_mig_tx *tx, uint32_t rounds, const void *state, size_t state_len)
{
	struct tx_conn *c0 = &tx->conns[0];
	const uint8_t *s = state;
	int rc = 0;

	for (size_t off = 0; off < state_len && !rc; off += SQ_MIG_MAX_PAYLOAD) {
		size_t n = state_len - off < SQ_MIG_MAX_PAYLOAD ? state_len - off : SQ_MIG_MAX_PAYLOAD;
		struct sq_mig_frame f = { .type = SQ_MIG_STATE, .round = rounds, .offset = off,
					  .length = (uint32_t)n };
		rc = send_frame(c0, &f, s + off, n);
		c0->frames++;
		c0->payload += n;
	}
	struct sq_mig_final t = { .state_len = state_len, .state_crc = sq_crc64(state, state_len),
				  .rounds = rounds, .conn_count = tx->n,
				  .session_id = tx->o.session_id };
	for (unsigned i = 0; i < tx->n; i++) {
		t.total_frames += tx->conns[i].frames;
		t.total_pages += tx->conns[i].pages;
		t.total_payload += tx->conns[i].payload;
	}
	for (unsigned i = 0; i < tx->n && !rc; i++) {
		struct tx_conn *c = &tx->conns[i];
		uint8_t raw[SQ_MIG_FINAL_LEN];
		t.conn_frames = c->frames;
		t.conn_pages = c->pages;
		t.conn_payload = c->payload;
		sq_mig_final_encode(&t, raw);
		struct sq_mig_frame f = { .type = SQ_MIG_FINAL, .round = rounds,
					  .length = SQ_MIG_FINAL_LEN };
		rc = send_frame(c, &f, raw, sizeof(raw));
	}
	if (rc)
		return rc;
	struct sq_mig_result res = { 0 };
	rc = read_result(c0, SQ_MIG_PHASE_FINAL, &res);
	if (!rc && res.status < 0)
		rc = peer_failed(&res, "rejected the stream");
	return rc;
}

int sq_mig_tx_commit(struct sq_mig_tx *tx)
{
	struct tx_conn *c0 = &tx->conns[0];
	struct sq_mig_result res = { 0 };

	sq_mig_set_timeouts(c0->fd, tx->o.commit_timeout_ms);
	int rc = read_result(c0, SQ_MIG_PHASE_COMMIT, &res);
	sq_mig_set_timeouts(c0->fd, tx->o.timeout_ms);
	if (rc == SQ_E_TIMEOUT)
		rc = sq_err(rc, "migration: the receiver did not confirm its commit within %d ms",
			    tx->o.commit_timeout_ms);
	if (!rc && res.status < 0)
		rc = peer_failed(&res, "failed to commit");
	return rc;
}

void sq_mig_tx_abort(struct sq_mig_tx *tx, uint32_t round)
{
	for (unsigned i = 0; i < tx->n; i++) {
		struct tx_conn *c = &tx->conns[i];
		struct sq_mig_frame f = { .type = SQ_MIG_ABORT, .round = round ? round : 1 };
		if (c->fd >= 0) {
			sq_mig_set_timeouts(c->fd, 1000);
			(void)send_frame(c, &f, NULL, 0);
			shutdown(c->fd, SHUT_WR);
		}
	}
}

void sq_mig_tx_link_report(const struct sq_mig_tx *tx, struct sq_migrate_link_report *lr)
{
	if (!lr)
		return;
	memset(lr->tls, 0, sizeof(lr->tls));
	snprintf(lr->tls, sizeof(lr->tls), "%s",
		 sq_mig_tls_kind_name(tx ? sq_mig_tls_kind(tx->conns[0].tls) : SQ_MIG_TLS_OFF));
}

void sq_mig_tx_codec(struct sq_mig_tx *tx, enum sq_mig_codec codec)
{
	tx->next_codec = codec;
}

uint64_t sq_mig_tx_wire_bytes(const struct sq_mig_tx *tx)
{
	uint64_t w = tx->other_wire;

	for (unsigned i = 0; i < tx->n; i++)
		w += tx->conns[i].wire;
	return w;
}

void sq_mig_tx_close(struct sq_mig_tx *tx)
{
	if (!tx)
		return;
	pthread_mutex_lock(&tx->mu);
	tx->quit = 1;
	pthread_cond_broadcast(&tx->work);
	pthread_mutex_unlock(&tx->mu);
	for (unsigned i = 0; i < tx->n; i++) {
		struct tx_conn *c = &tx->conns[i];
		if (c->thread_live)
			pthread_join(c->thread, NULL);
		sq_mig_tls_free(c->tls);
		if (c->fd >= 0)
			close(c->fd);
		sq_mem_free(c->stage, STAGE_BYTES, 4096);
		sq_mig_cctx_free(c->cz);
		free(c->zbuf);
	}
	free(tx->conns);
	sq_mig_tls_ctx_free(tx->tls_ctx);
	free(tx->pieces);
	free(tx->jobs);
	pthread_mutex_destroy(&tx->mu);
	sq_first_err_destroy(&tx->fail);
	pthread_cond_destroy(&tx->work);
	pthread_cond_destroy(&tx->done);
	free(tx);
}
