/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progress reports and cancellation of sq_migrate_send over loopback TCP:
 * one phase per round, numbered from 1, on the sending thread, each from
 * 0 to its total in order (round 1: the whole region); a cancel at the
 * first report or during a round returns SQ_E_CANCELED, and the receiver
 * hears that the sender aborted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/progress.h>

#include "helpers.h"
#include "workload.h"

/* As in test_loopback.c: pre-copy reads pages being written, by design. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "race:wl_writer\nrace:sq_mig_copy_live\n";
}

static uint64_t seed;

#define MAX_ROUNDS 64

struct seen {
	pthread_t caller;
	unsigned calls, cancel_at, rounds;
	int off_thread, bad;
	uint64_t last, total[MAX_ROUNDS + 1], end[MAX_ROUNDS + 1];
};

static int on_progress(void *ctx, const struct sq_progress *p)
{
	struct seen *s = ctx;

	s->calls++;
	if (!pthread_equal(pthread_self(), s->caller))
		s->off_thread = 1;
	if (p->phase != SQ_PROGRESS_MIGRATE_ROUND || p->round == 0 || p->round > MAX_ROUNDS ||
	    p->done > p->total)
		s->bad = 1;
	else if (p->round != s->rounds) {
		/* A new round: the next number, starting at 0. */
		if (p->round != s->rounds + 1 || p->done != 0)
			s->bad = 1;
		s->rounds = p->round;
		s->total[p->round] = p->total;
	} else if (p->done <= s->last || p->total != s->total[p->round]) {
		s->bad = 1; /* within a round: strictly growing, fixed total */
	}
	if (p->round <= MAX_ROUNDS)
		s->end[p->round] = p->done;
	s->last = p->done;
	return s->cancel_at && s->calls == s->cancel_at;
}

/* An 8 MiB workload sent to a fresh receiver at @bw bytes/s, reported to @s. */
static int send_watched(struct wl *w, struct rx_thread *x, struct seen *s, uint64_t bw,
			struct sq_migrate_report *rep)
{
	struct sq_migrate_send_opts o = SQ_INIT(struct sq_migrate_send_opts);

	assert_int_equal(wl_init(w, 8u << 20, 4.0 * 1048576, seed + s->cancel_at), 0);
	wl_opts(w, &o);
	o.nconns = 2;
	o.bandwidth_limit = bw;
	o.progress = on_progress;
	o.progress_ctx = s;
	x->timeout_ms = 5000;
	assert_int_equal(rx_thread_start(x, NULL), 0);
	o.to = x->addr;
	o.timeout_ms = 5000;
	wl_start(w);
	return sq_migrate_send(&o, rep);
}

static void rounds_reported(void **state)
{
	(void)state;
	struct wl w;
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x = { 0 };
	struct seen s = { .caller = pthread_self() };

	/* ~0.25 s per full pass: reports during it. */
	assert_int_equal(send_watched(&w, &x, &s, 32u << 20, &rep), 0);
	assert_int_equal(rx_thread_join(&x), 0);
	assert_false(s.off_thread);
	assert_false(s.bad);
	assert_int_equal(s.rounds, rep.rounds);
	assert_int_equal(s.total[1], w.size);
	for (unsigned r = 1; r <= s.rounds; r++)
		assert_int_equal(s.end[r], s.total[r]); /* every round ends at its total */
	assert_memory_equal(sq_migrate_recv_region(x.r, NULL), w.region, w.size);
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void cancel(unsigned at)
{
	struct wl w;
	struct sq_migrate_report rep = SQ_INIT(struct sq_migrate_report);
	struct rx_thread x = { 0 };
	struct seen s = { .caller = pthread_self(), .cancel_at = at };

	/* Round 1 takes ~0.5 s: call 2 comes during it. */
	assert_int_equal(send_watched(&w, &x, &s, 16u << 20, &rep), SQ_E_CANCELED);
	assert_int_equal(rep.result, SQ_E_CANCELED);
	assert_false(rep.converged);
	assert_int_equal(s.calls, at); /* nothing reported after the cancel */
	assert_int_equal(rx_thread_join(&x), SQ_E_CANCELED); /* the sender aborted */
	sq_migrate_recv_destroy(x.r);
	wl_fini(&w);
}

static void cancel_at_start(void **state)
{
	(void)state;
	cancel(1);
}

static void cancel_during_round(void **state)
{
	(void)state;
	cancel(2);
}

int main(void)
{
	seed = sq_test_seed("migrate/progress");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rounds_reported),
		cmocka_unit_test(cancel_at_start),
		cmocka_unit_test(cancel_during_round),
	};
	return cmocka_run_group_tests_name("migrate/progress", tests, NULL, NULL);
}
