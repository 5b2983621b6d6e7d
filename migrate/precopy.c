/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate/precopy.c - the pre-copy loop.
 *
 * Design. Round 1 empties the source (one harvest, discarded) and sends the
 * whole region, zero pages skipped. Every later step harvests, measures and
 * decides:
 *
 *   remaining   = dirty pages now * (4 KiB + frame overhead)
 *   dirty rate  = remaining / time since the previous harvest
 *   bandwidth   = wire bytes / seconds of the last round that sent at
 *                 least 256 KiB (short rounds measure latency, not rate)
 *   predicted   = remaining / bandwidth
 *
 * predicted <= target: pause() the writers, harvest once more, send the
 * union of the two sets as the final round, then the state blob and the
 * final frames; the downtime runs from the pause until the receiver's
 * verdict. Otherwise the harvested set is sent as the next round, unless
 * the policy says stop:
 *
 *   FAIL           dirty rate >= 90 % of the bandwidth in two consecutive
 *                  steps (remaining cannot shrink: say so early), or
 *                  max_rounds / max_seconds exhausted -> SQ_E_NOT_CONVERGED;
 *   AUTO_CONVERGE  dirty rate >= 50 % of the bandwidth in two consecutive
 *                  steps (QEMU's trigger) -> throttle(initial), then +step
 *                  at every further such step (at most 99); only
 *                  max_rounds / max_seconds end it with SQ_E_NOT_CONVERGED.
 *
 * Compression (opts->compression): before each round the meter (compress.h)
 * picks the round's codec from what the rounds so far measured: compress
 * while the link is slower than the compressors.
 *
 * Invariants:
 *  - A harvested set is either sent (release) or merged back (put_back):
 *    on every failure path the source again holds every page not known to
 *    be at the receiver.
 *  - The receiver is told about a give-up (ABORT frames) before the
 *    connections close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <squib/migrate.h>

#include "core/err.h"
#include "migrate/compress.h"
#include "core/sized.h"
#include "migrate/net.h"
#include "migrate/stream.h"
#include "migrate/tx.h"

#define BW_MIN_SAMPLE (256u << 10)
#define FAIL_RATIO 0.9
#define THROTTLE_RATIO 0.5

struct held {
	void *set;
	const struct sq_run *runs;
	size_t nruns;
	uint64_t pages;
};

static uint64_t count_pages(const struct sq_run *runs, size_t n)
{
	uint64_t p = 0;

	for (size_t i = 0; i < n; i++)
		p += runs[i].npages;
	return p;
}

/* Union of two sorted run lists (overlapping or adjacent runs merged). */
static struct sq_run *run_union(const struct sq_run *a, size_t na, const struct sq_run *b,
				size_t nb, size_t *n)
{
	struct sq_run *out = malloc((na + nb + 1) * sizeof(*out));
	size_t i = 0, j = 0, k = 0;

	if (!out)
		return NULL;
	while (i < na || j < nb) {
		struct sq_run r = (j >= nb || (i < na && a[i].first_page <= b[j].first_page)) ? a[i++]
											     : b[j++];
		if (k && out[k - 1].first_page + out[k - 1].npages >= r.first_page) {
			uint64_t end = r.first_page + r.npages;
			if (end > out[k - 1].first_page + out[k - 1].npages)
				out[k - 1].npages = end - out[k - 1].first_page;
		} else {
			out[k++] = r;
		}
	}
	*n = k;
	return out;
}

static int harvest(const struct sq_migrate_send_opts *o, struct held *h)
{
	int rc = o->source.harvest(o->source.ctx, &h->set, &h->runs, &h->nruns);

	if (rc)
		return rc;
	h->pages = count_pages(h->runs, h->nruns);
	return 0;
}

static void drop(const struct sq_migrate_send_opts *o, struct held *h, int sent)
{
	if (!h->set)
		return;
	if (sent)
		o->source.release(o->source.ctx, h->set);
	else
		o->source.put_back(o->source.ctx, h->set);
	h->set = NULL;
}

static int check_opts(const struct sq_migrate_send_opts *o)
{
	if (!o || !o->to || !o->region || !o->region_size || o->region_size % SQ_PAGE_SIZE)
		return sq_err(SQ_E_INVAL, "migration: a destination and a page-multiple region are required");
	if (!o->source.harvest || !o->source.put_back || !o->source.release)
		return sq_err(SQ_E_INVAL, "migration: the dirty-page source is incomplete");
	if (!o->pause)
		return sq_err(SQ_E_INVAL, "migration: a pause callback is required");
	if (o->policy == SQ_MIGRATE_AUTO_CONVERGE && !o->throttle)
		return sq_err(SQ_E_INVAL, "migration: auto-converge needs a throttle callback");
	if (o->policy != SQ_MIGRATE_FAIL && o->policy != SQ_MIGRATE_AUTO_CONVERGE)
		return sq_err(SQ_E_INVAL, "migration: unknown policy %d", (int)o->policy);
	if (o->max_rounds >= SQ_MIG_MAX_ROUND)
		return sq_err(SQ_E_INVAL, "migration: at most %u rounds", SQ_MIG_MAX_ROUND - 1);
	if ((unsigned)o->compression > SQ_MIGRATE_COMPRESS_AUTO)
		return sq_err(SQ_E_INVAL, "migration: unknown compression %d", (int)o->compression);
	if (o->nconns > SQ_MIGRATE_MAX_CONNS)
		return sq_err(SQ_E_INVAL, "migration: at most %d connections", SQ_MIGRATE_MAX_CONNS);
	if (o->state_len > SQ_MIGRATE_MAX_STATE)
		return sq_err(SQ_E_INVAL, "migration: state blob larger than %u bytes",
			      SQ_MIGRATE_MAX_STATE);
	if (o->timeout_ms < 0 || o->timeout_ms > SQ_MIGRATE_MAX_MS || o->commit_timeout_ms < 0 ||
	    o->commit_timeout_ms > SQ_MIGRATE_MAX_MS)
		return sq_err(SQ_E_INVAL, "migration: a time limit is negative or above %d ms",
			      SQ_MIGRATE_MAX_MS);
	return 0;
}

struct loop {
	const struct sq_migrate_send_opts *o;
	struct sq_migrate_report *rep;
	struct sq_mig_tx *tx;
	struct sq_mig_meter meter;
	double t0, target_ms, bw;
	unsigned max_rounds, round;
};

static struct sq_migrate_round *stat_slot(struct loop *L)
{
	static __thread struct sq_migrate_round scratch;
	struct sq_migrate_report *rep = L->rep;

	if (L->round - 1 < SQ_MIGRATE_MAX_ROUND_STATS) {
		if (rep->nstats < L->round)
			rep->nstats = L->round;
		return &rep->round[L->round - 1];
	}
	return &scratch;
}

/* Send @runs as round L->round and record its statistics. */
static int send_round(struct loop *L, const struct sq_run *runs, size_t nruns, int skip_zero)
{
	struct sq_mig_tx_round_stats st = { 0 };
	struct sq_migrate_report *rep = L->rep;

	sq_mig_tx_codec(L->tx, sq_mig_meter_choose(&L->meter, L->o->compression));
	int rc = sq_mig_tx_round(L->tx, L->round, runs, nruns, skip_zero, &st);
	struct sq_migrate_round *s = stat_slot(L);
	struct sq_mig_round_meas m = { .codec = st.codec, .comp_in = st.comp_in,
				       .comp_out = st.comp_out, .comp_s = st.comp_s,
				       .wire = st.wire_bytes, .seconds = st.seconds };

	sq_mig_meter_update(&L->meter, &m);
	if (st.codec != SQ_MIG_CODEC_NONE)
		rep->compressed_rounds++;
	rep->compressed_frames += st.comp_frames;
	rep->raw_frames += st.raw_frames;
	rep->compress_in += st.comp_in;
	rep->compress_out += st.comp_out;

	memset(s, 0, sizeof(*s));
	s->round = L->round;
	s->pages = st.pages;
	s->zero_pages = st.zero_pages;
	s->wire_bytes = st.wire_bytes;
	s->seconds = st.seconds;
	s->bandwidth = st.seconds > 0 ? (double)st.wire_bytes / st.seconds : 0;
	s->throttle_pct = L->rep->throttle_pct;
	L->rep->rounds = L->round;
	L->rep->pages += st.pages;
	if (s->bandwidth > 0 && (st.wire_bytes >= BW_MIN_SAMPLE || L->bw <= 0))
		L->bw = s->bandwidth;
	return rc;
}

static int converge(struct loop *L, struct held *h)
{
	const struct sq_migrate_send_opts *o = L->o;
	struct sq_migrate_report *rep = L->rep;
	unsigned high = 0, stalled = 0;
	double last_harvest;
	int rc;

	/* Round 1: clear the source, then everything non-zero. */
	rc = harvest(o, h);
	if (rc)
		return rc;
	drop(o, h, 1);
	last_harvest = sq_mig_now();
	L->round = 1;
	struct sq_run all = { 0, o->region_size >> SQ_PAGE_SHIFT };
	rc = send_round(L, &all, 1, 1);
	if (rc)
		return rc;

	for (;;) {
		rc = harvest(o, h);
		if (rc)
			return rc;
		double now = sq_mig_now(), interval = now - last_harvest;
		last_harvest = now;
		uint64_t remaining = h->pages * (SQ_PAGE_SIZE + SQ_MIG_FRAME_HDR);
		double rate = interval > 0 ? (double)remaining / interval : 0;
		double predicted = remaining == 0 ? 0 : L->bw > 0 ? 1000.0 * (double)remaining / L->bw : 1e12;
		struct sq_migrate_round *s = stat_slot(L);
		s->remaining = h->pages << SQ_PAGE_SHIFT;
		s->dirty_rate = rate;
		s->predicted_downtime_ms = predicted;
		if (o->on_round)
			o->on_round(o->ctx, s);
		if (predicted <= L->target_ms) {
			rep->predicted_downtime_ms = predicted;
			return 0;
		}
		double ratio = L->bw > 0 ? rate / L->bw : 1e9;
		const char *why = NULL;
		if (L->round >= L->max_rounds)
			why = "round limit reached";
		else if (o->max_seconds > 0 && now - L->t0 >= o->max_seconds)
			why = "time limit reached";
		if (o->policy == SQ_MIGRATE_FAIL) {
			high = ratio >= FAIL_RATIO ? high + 1 : 0;
			if (!why && high >= 2)
				why = "dirty rate at or above the bandwidth for two rounds";
		} else {
			stalled = ratio >= THROTTLE_RATIO ? stalled + 1 : 0;
			if (!why && stalled >= 2) {
				unsigned init = o->throttle_initial ? o->throttle_initial : 20;
				unsigned step = o->throttle_step ? o->throttle_step : 10;
				unsigned pct = rep->throttle_pct ? rep->throttle_pct + step : init;
				rep->throttle_pct = pct > 99 ? 99 : pct;
				rc = o->throttle(o->ctx, rep->throttle_pct);
				if (rc)
					return rc;
			}
		}
		if (why)
			return sq_err(SQ_E_NOT_CONVERGED,
				      "pre-copy migration did not converge: %s after %u rounds "
				      "(dirty rate %.1f MiB/s, bandwidth %.1f MiB/s, predicted downtime "
				      "%.0f ms, target %.0f ms)",
				      why, L->round, rate / 1048576.0, L->bw / 1048576.0, predicted,
				      L->target_ms);
		L->round++;
		rc = send_round(L, h->runs, h->nruns, 0);
		drop(o, h, rc == 0);
		if (rc)
			return rc;
	}
}

/* Pause, final harvest, final round, state, verdict. @h: the set in hand. */
static int finish(struct loop *L, struct held *h)
{
	const struct sq_migrate_send_opts *o = L->o;
	struct held last = { 0 };
	double tp = sq_mig_now();
	int rc = o->pause(o->ctx);

	if (rc)
		return rc;
	rc = harvest(o, &last);
	if (rc)
		return rc;
	size_t n = 0;
	struct sq_run *u = run_union(h->runs, h->nruns, last.runs, last.nruns, &n);
	if (!u) {
		drop(o, &last, 0);
		return sq_err(SQ_E_NOMEM, "migration: out of memory");
	}
	const void *blob = o->state_blob;
	size_t blob_len = o->state_len;
	if (o->state)
		rc = o->state(o->ctx, &blob, &blob_len);
	if (!rc && blob_len > SQ_MIGRATE_MAX_STATE)
		rc = sq_err(SQ_E_INVAL, "migration: state blob larger than %u bytes",
			    SQ_MIGRATE_MAX_STATE);
	L->round++;
	if (!rc)
		rc = send_round(L, u, n, 0);
	free(u);
	if (!rc)
		rc = sq_mig_tx_finish(L->tx, L->round, blob, blob_len);
	double tv = sq_mig_now();
	L->rep->downtime_ms = 1000.0 * (tv - tp);
	/* The pages count as moved only once the receiver kept them. */
	if (!rc) {
		rc = sq_mig_tx_commit(L->tx);
		L->rep->commit_ms = 1000.0 * (sq_mig_now() - tv);
	}
	drop(o, &last, rc == 0);
	drop(o, h, rc == 0);
	L->rep->state_bytes = rc ? 0 : blob_len;
	return rc;
}

/* sq_migrate_send_link on the library's full-size copies of the caller's structs. */
static int migrate_send(const struct sq_migrate_send_opts *o,
			const struct sq_migrate_link_opts *link, struct sq_migrate_report *rep,
			struct sq_migrate_link_report *lrep)
{
	struct held h = { 0 };
	int rc = check_opts(o);

	sq_mig_tx_link_report(NULL, lrep);
	if (rc) {
		rep->result = rc;
		return rc;
	}
	struct loop L = { .o = o, .rep = rep, .t0 = sq_mig_now() };
	rep->compression = o->compression;
	L.target_ms = o->downtime_ms > 0 ? o->downtime_ms : SQ_MIGRATE_DEFAULT_DOWNTIME_MS;
	L.max_rounds = o->max_rounds ? o->max_rounds : SQ_MIGRATE_DEFAULT_MAX_ROUNDS;
	uint64_t sid = o->session_id;
	while (!sid && getrandom(&sid, sizeof(sid), 0) != (ssize_t)sizeof(sid))
		sid = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	struct sq_mig_tx_opts to = {
		.to = o->to, .nconns = o->nconns ? o->nconns : SQ_MIGRATE_DEFAULT_CONNS,
		.region = o->region, .size = o->region_size, .session_id = sid,
		.bandwidth_limit = o->bandwidth_limit,
		.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : SQ_MIGRATE_DEFAULT_TIMEOUT_MS,
		.commit_timeout_ms = o->commit_timeout_ms > 0 ? o->commit_timeout_ms
							      : SQ_MIGRATE_DEFAULT_COMMIT_MS,
		.link = link,
		.progress = o->progress, .progress_ctx = o->progress_ctx,
		.compress = o->compression != SQ_MIGRATE_COMPRESS_OFF,
	};
	sq_mig_meter_init(&L.meter, to.nconns);
	rep->region_bytes = o->region_size;
	rep->nconns = to.nconns;
	rep->session_id = sid;

	rc = sq_mig_tx_open(&to, &L.tx);
	if (!rc)
		rc = converge(&L, &h);
	if (!rc) {
		rep->converged = true;
		rc = finish(&L, &h);
	}
	if (rc) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", sq_last_error());
		drop(o, &h, 0);
		if (L.tx) {
			sq_mig_tx_abort(L.tx, L.round);
			sq_err(rc, "%s", msg); /* the abort's own errors do not count */
			rc = sq_mig_tx_peer_reason(L.tx, rc);
		} else {
			rc = sq_err(rc, "%s", msg);
		}
	}
	sq_mig_tx_link_report(L.tx, lrep);
	if (L.tx) {
		rep->wire_bytes = sq_mig_tx_wire_bytes(L.tx);
		sq_mig_tx_close(L.tx);
	}
	rep->total_s = sq_mig_now() - L.t0;
	rep->result = rc;
	return rc;
}

int sq_migrate_send_link(const struct sq_migrate_send_opts *opts,
			 const struct sq_migrate_link_opts *link, struct sq_migrate_report *rep_out,
			 struct sq_migrate_link_report *lrep)
{
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct sq_migrate_link_opts lo = SQ_INIT(struct sq_migrate_link_opts);
	struct sq_migrate_link_report lr = SQ_INIT(struct sq_migrate_link_report);
	int rc = sq_sized_check(rep_out, SQ_V0_MIGRATE_REPORT, "sq_migrate_report");

	if (!rc)
		rc = sq_sized_check(lrep, SQ_V0_MIGRATE_LINK_REPORT, "sq_migrate_link_report");
	if (rc)
		return rc;
	rc = SQ_SIZED_IN(lo, link, SQ_V0_MIGRATE_LINK_OPTS, "sq_migrate_link_opts");
	if (!rc)
		rc = SQ_SIZED_IN(o, opts, SQ_V0_MIGRATE_SEND_OPTS, "sq_migrate_send_opts");
	if (rc) {
		rep.result = rc;
		sq_mig_tx_link_report(NULL, &lr);
	} else {
		/* NULL @opts: the defaults, which check_opts refuses */
		rc = migrate_send(&o, link ? &lo : NULL, &rep, &lr);
	}
	SQ_SIZED_OUT(rep_out, rep);
	SQ_SIZED_OUT(lrep, lr);
	return rc;
}
