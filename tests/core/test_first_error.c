/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/first_error.h: the first error of a sequence of steps survives a
 * failing cleanup, code and message; the first error of a thread group
 * reaches the joining thread with the message its worker recorded, and a
 * racing group always reports one worker's code with that worker's text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <squib/error.h>

#include "core/err.h"
#include "core/first_error.h"

static void cleanup_keeps_first(void **state)
{
	(void)state;
	struct sq_err_first f = { 0 };

	assert_int_equal(sq_err_first_keep(&f, 0), 0);
	assert_int_equal(sq_err_first_result(&f), 0);
	assert_int_equal(sq_err_first_keep(&f, sq_err(SQ_E_VERIFY, "the step failed")),
			 SQ_E_VERIFY);
	/* The cleanup fails too: its sq_err overwrites the thread's message. */
	assert_int_equal(sq_err_first_keep(&f, sq_err(SQ_E_IO, "the cleanup failed")),
			 SQ_E_VERIFY);
	assert_int_equal(sq_err_first_keep(&f, 0), SQ_E_VERIFY);
	assert_string_equal(sq_last_error(), "the cleanup failed");
	assert_int_equal(sq_err_first_result(&f), SQ_E_VERIFY);
	assert_string_equal(sq_last_error(), "the step failed");
	assert_int_equal(sq_last_error_code(), SQ_E_VERIFY);
}

#define NT 8
static const int codes[NT] = { SQ_E_IO,     SQ_E_NOMEM,	  SQ_E_VERIFY, SQ_E_CORRUPT,
			       SQ_E_MANIFEST, SQ_E_TIMEOUT, SQ_E_INVAL, SQ_E_MEMORY_IO };

struct group {
	struct sq_first_err e;
	pthread_barrier_t start;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int first_done; /* ordered: worker 0 records before the others try */
	int ordered;
};

struct worker {
	struct group *g;
	int i;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	struct group *g = w->g;

	pthread_barrier_wait(&g->start);
	if (g->ordered && w->i != 0) {
		pthread_mutex_lock(&g->lock);
		while (!g->first_done)
			pthread_cond_wait(&g->cond, &g->lock);
		pthread_mutex_unlock(&g->lock);
	}
	sq_first_err_set(&g->e, 0); /* a success is never an error */
	sq_first_err_set(&g->e, sq_err(codes[w->i], "worker %d failed", w->i));
	if (w->i == 0) {
		pthread_mutex_lock(&g->lock);
		g->first_done = 1;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
	}
	/* Once anyone failed, the poll says so. */
	return sq_first_err_failed(&g->e) ? p : NULL;
}

static int run_group(int ordered)
{
	struct group g = { .ordered = ordered };
	struct worker w[NT];
	pthread_t t[NT];

	sq_first_err_init(&g.e);
	pthread_barrier_init(&g.start, NULL, NT);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	assert_false(sq_first_err_failed(&g.e));
	for (int i = 0; i < NT; i++) {
		w[i] = (struct worker){ &g, i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		assert_ptr_equal(ret, &w[i]);
	}
	sq_err(SQ_E_INTERNAL, "the joining thread's own message");
	int code = sq_first_err_raise(&g.e);
	int who = -1;
	for (int i = 0; i < NT; i++)
		if (codes[i] == code)
			who = i;
	assert_true(who >= 0);
	char want[64];
	snprintf(want, sizeof(want), "worker %d failed", who);
	assert_string_equal(sq_last_error(), want);
	assert_int_equal(sq_last_error_code(), code);
	assert_int_equal(sq_first_err_code(&g.e), code);
	/* Raising again gives the same first error. */
	assert_int_equal(sq_first_err_raise(&g.e), code);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	pthread_barrier_destroy(&g.start);
	sq_first_err_destroy(&g.e);
	return who;
}

static void group_keeps_first(void **state)
{
	(void)state;
	assert_int_equal(run_group(1), 0);
}

static void group_race_is_consistent(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++)
		run_group(0);
}

static void group_without_failure(void **state)
{
	(void)state;
	struct sq_first_err e;

	sq_first_err_init(&e);
	assert_int_equal(sq_first_err_set(&e, 0), 0);
	assert_false(sq_first_err_failed(&e));
	assert_int_equal(sq_first_err_raise(&e), 0);
	sq_first_err_destroy(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cleanup_keeps_first),
		cmocka_unit_test(group_keeps_first),
		cmocka_unit_test(group_race_is_consistent),
		cmocka_unit_test(group_without_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
