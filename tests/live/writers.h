/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/live/writers.h - writer threads that hammer a region and can be
 * parked, for the live save and lazy restore tests.
 *
 * Writer w owns the pages p with p % nwriters == w, so every page has one
 * writer and its final content is that writer's last store. A write fills
 * eight words spread over the page with (page, version) or clears the
 * whole page now and then (a dirty zero page). With @t the writer marks
 * the page after writing it (API tracking). park() returns once every
 * writer is parked between two writes (the mutex orders all their stores
 * before the caller's reads); unpark() lets them go on.
 */
#ifndef SQ_TESTS_LIVE_WRITERS_H
#define SQ_TESTS_LIVE_WRITERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <squib/tracker.h>
#include "core/splitmix.h"

#define WR_MAX 8

struct writers {
	uint8_t *region;
	uint64_t npages;
	unsigned n;
	struct sq_tracker *t;
	pthread_mutex_t m;
	pthread_cond_t cv;
	atomic_int pause, stop;
	unsigned parked;
	pthread_t tid[WR_MAX];
	uint64_t writes[WR_MAX];
};

struct writer_arg {
	struct writers *ws;
	unsigned idx;
};

static inline void *wr_main(void *arg)
{
	struct writer_arg *a = arg;
	struct writers *ws = a->ws;
	uint64_t rng = 77 + a->idx, ver = 0;

	while (!atomic_load_explicit(&ws->stop, memory_order_acquire)) {
		if (atomic_load_explicit(&ws->pause, memory_order_acquire)) {
			pthread_mutex_lock(&ws->m);
			ws->parked++;
			pthread_cond_broadcast(&ws->cv);
			while (atomic_load_explicit(&ws->pause, memory_order_relaxed) &&
			       !atomic_load_explicit(&ws->stop, memory_order_relaxed))
				pthread_cond_wait(&ws->cv, &ws->m);
			ws->parked--;
			pthread_mutex_unlock(&ws->m);
			continue;
		}
		uint64_t r = sq_splitmix64(&rng);
		uint64_t p = (r % (ws->npages / ws->n)) * ws->n + a->idx;
		uint64_t *w = (uint64_t *)(void *)(ws->region + p * 4096);
		if (r % 97 == 0) {
			memset(w, 0, 4096);
		} else {
			ver++;
			for (int i = 0; i < 8; i++)
				w[i * 64 + (ver % 64)] = p << 32 | ver << 3 | (uint64_t)i;
		}
		if (ws->t)
			sq_tracker_mark(ws->t, w);
		ws->writes[a->idx]++;
	}
	return NULL;
}

static struct writer_arg wr_args[WR_MAX];

static inline int writers_start(struct writers *ws, uint8_t *region, uint64_t npages, unsigned n,
				struct sq_tracker *t)
{
	memset(ws, 0, sizeof(*ws));
	ws->region = region;
	ws->npages = npages;
	ws->n = n;
	ws->t = t;
	pthread_mutex_init(&ws->m, NULL);
	pthread_cond_init(&ws->cv, NULL);
	for (unsigned i = 0; i < n; i++) {
		wr_args[i] = (struct writer_arg){ ws, i };
		if (pthread_create(&ws->tid[i], NULL, wr_main, &wr_args[i]))
			return -1;
	}
	return 0;
}

static inline void writers_park(struct writers *ws)
{
	pthread_mutex_lock(&ws->m);
	atomic_store_explicit(&ws->pause, 1, memory_order_release);
	while (ws->parked < ws->n)
		pthread_cond_wait(&ws->cv, &ws->m);
	pthread_mutex_unlock(&ws->m);
}

static inline void writers_unpark(void *arg)
{
	struct writers *ws = arg;

	pthread_mutex_lock(&ws->m);
	atomic_store_explicit(&ws->pause, 0, memory_order_release);
	pthread_cond_broadcast(&ws->cv);
	pthread_mutex_unlock(&ws->m);
}

static inline uint64_t writers_stop(struct writers *ws)
{
	uint64_t total = 0;

	pthread_mutex_lock(&ws->m);
	atomic_store_explicit(&ws->stop, 1, memory_order_release);
	pthread_cond_broadcast(&ws->cv);
	pthread_mutex_unlock(&ws->m);
	for (unsigned i = 0; i < ws->n; i++)
		pthread_join(ws->tid[i], NULL);
	for (unsigned i = 0; i < ws->n; i++)
		total += ws->writes[i];
	pthread_mutex_destroy(&ws->m);
	pthread_cond_destroy(&ws->cv);
	return total;
}

#endif /* SQ_TESTS_LIVE_WRITERS_H */
