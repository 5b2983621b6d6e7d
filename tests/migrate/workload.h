/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/migrate/workload.h - a writer thread dirtying a region at a paced
 * rate (tracked through an engine tracker), the pause / throttle callbacks
 * a pre-copy loop needs, and a receiver thread on a loopback listener.
 * Shared by the migration tests and benchmarks.
 */
#ifndef SQ_TESTS_MIGRATE_WORKLOAD_H
#define SQ_TESTS_MIGRATE_WORKLOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/migrate.h>
#include <squib/tracker.h>
#include "core/splitmix.h"
#include "core/clock.h"

struct wl {
	uint8_t *region;
	size_t size;
	struct sq_tracker *t;
	uint32_t id;
	struct sq_migrate_tracker_ctx tctx;
	double rate;            /* bytes dirtied per second (pages * 4096); 0 = idle */
	uint64_t seed;
	atomic_int stop;        /* set by pause */
	atomic_uint throttle;   /* percent */
	atomic_uint_fast64_t writes;
	unsigned throttle_calls;
	unsigned last_throttle;
	int paused;
	pthread_t thr;
	int running;
};

/* Writer: one 8-byte store into a random page, then the mark; paced in
 * batches of 16 writes so the rate holds at low values too. */
static inline void *wl_writer(void *arg)
{
	struct wl *w = arg;
	uint64_t s = w->seed, npages = w->size / 4096, n = 0;
	double t0 = sq_clock_s(), budget = 0;

	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		unsigned th = atomic_load_explicit(&w->throttle, memory_order_relaxed);
		double rate = w->rate * (100.0 - th) / 100.0 / 4096.0; /* pages/s */
		double now = sq_clock_s();
		budget += (now - t0) * rate;
		t0 = now;
		if (budget > 64)
			budget = 64;
		if (budget < 1) {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			continue;
		}
		int batch = budget < 16 ? (int)budget : 16;
		budget -= batch;
		for (int i = 0; i < batch; i++) {
			uint64_t r = sq_splitmix64(&s);
			uint64_t page = r % npages;
			uint8_t *p = w->region + page * 4096 + ((r >> 32) % 512) * 8;
			uint64_t v = ++n | 1;
			memcpy(p, &v, 8);
			sq_tracker_mark(w->t, p);
		}
		atomic_fetch_add_explicit(&w->writes, (uint64_t)batch, memory_order_relaxed);
	}
	return NULL;
}

/* Map and fill a region (every page non-zero except every 8th), track it
 * in pages of @ps bytes (4 KiB .. 64 KiB). */
static inline int wl_init_paged(struct wl *w, size_t size, double rate, uint64_t seed,
				uint32_t ps)
{
	struct sq_region_opts ro = SQ_INIT(struct sq_region_opts);

	memset(w, 0, sizeof(*w));
	w->size = size;
	w->rate = rate;
	w->seed = seed;
	w->region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->region == MAP_FAILED)
		return -1;
	uint64_t s = seed ^ 0x5555;
	for (size_t p = 0; p < size / 4096; p++) {
		if (p % 8 == 7)
			continue;
		uint64_t *q = (uint64_t *)(w->region + p * 4096);
		uint64_t v = sq_splitmix64(&s);
		for (int i = 0; i < 512; i++)
			q[i] = v + (uint64_t)i;
	}
	ro.page_size = ps;
	if (sq_tracker_create(NULL, &w->t) ||
	    sq_tracker_add_region_opts(w->t, w->region, size, &ro, &w->id))
		return -1;
	w->tctx = (struct sq_migrate_tracker_ctx){ w->t, w->id };
	return 0;
}

/* As wl_init_paged, tracked in 4 KiB pages. */
static inline int wl_init(struct wl *w, size_t size, double rate, uint64_t seed)
{
	return wl_init_paged(w, size, rate, seed, 4096);
}

/*
 * Refill the region's non-zero pages (every 8th stays zero) with text-like
 * bytes: log lines of words from a small vocabulary, numbers and
 * identifiers, which lz4 and zstd shrink to roughly a half and a third.
 */
static inline void wl_fill_text(uint8_t *region, size_t size, uint64_t seed)
{
	static const char *const words[] = {
		"request", "worker", "session", "memory", "page",    "dirty", "round", "send",
		"receive", "the",    "a",       "of",     "to",      "and",   "in",    "for",
		"INFO",    "WARN",   "DEBUG",   "cache",  "miss",    "hit",   "user",  "id",
		"took",    "ms",     "bytes",   "queue",  "flushed", "open",  "close", "state",
	};
	uint64_t s = seed ^ 0x7e47;

	for (size_t p = 0; p < size / 4096; p++) {
		char *q = (char *)region + p * 4096;
		size_t n = 0;
		if (p % 8 == 7) {
			memset(q, 0, 4096);
			continue;
		}
		while (n < 4096) {
			uint64_t r = sq_splitmix64(&s);
			char tok[32];
			int k;
			if (r % 11 == 0)
				k = snprintf(tok, sizeof(tok), "%llu ", (unsigned long long)(r >> 40));
			else if (r % 23 == 0)
				k = snprintf(tok, sizeof(tok), "\n2026-12-04 %02u:%02u ",
					     (unsigned)(r >> 8) % 24, (unsigned)(r >> 16) % 60);
			else
				k = snprintf(tok, sizeof(tok), "%s ", words[(r >> 20) % 32]);
			for (int i = 0; i < k && n < 4096; i++)
				q[n++] = tok[i];
		}
	}
}

/* Refill every page with uniformly random bytes (nothing compresses). */
static inline void wl_fill_random(uint8_t *region, size_t size, uint64_t seed)
{
	uint64_t s = seed ^ 0x4a4d;

	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint64_t v = sq_splitmix64(&s);
		memcpy(region + i, &v, 8);
	}
}

static inline void wl_start(struct wl *w)
{
	if (w->rate > 0 && pthread_create(&w->thr, NULL, wl_writer, w) == 0)
		w->running = 1;
}

static inline int wl_pause(void *ctx)
{
	struct wl *w = ctx;

	atomic_store_explicit(&w->stop, 1, memory_order_release);
	if (w->running)
		pthread_join(w->thr, NULL);
	w->running = 0;
	w->paused = 1;
	return 0;
}

static inline int wl_throttle(void *ctx, unsigned pct)
{
	struct wl *w = ctx;

	w->throttle_calls++;
	w->last_throttle = pct;
	atomic_store_explicit(&w->throttle, pct, memory_order_relaxed);
	return 0;
}

static inline void wl_fini(struct wl *w)
{
	wl_pause(w);
	sq_tracker_destroy(w->t);
	if (w->region && w->region != MAP_FAILED)
		munmap(w->region, w->size);
}

/* Fill send options for this workload (destination and policy: caller). */
static inline void wl_opts(struct wl *w, struct sq_migrate_send_opts *o)
{
	*o = (struct sq_migrate_send_opts)SQ_INIT(struct sq_migrate_send_opts);
	o->region = w->region;
	o->region_size = w->size;
	sq_migrate_tracker_source(&w->tctx, &o->source);
	o->pause = wl_pause;
	o->throttle = wl_throttle;
	o->ctx = w;
}

/* A receiver thread: accepts one session into its own memory. */
struct rx_thread {
	int lfd;
	unsigned port;
	char addr[64];
	struct sq_migrate_recv *r;
	int rc;
	char msg[512]; /* the receiver's error message when rc != 0 */
	int timeout_ms;
	pthread_t thr;
};

static inline void *rx_thread_main(void *arg)
{
	struct rx_thread *x = arg;
	x->rc = sq_migrate_recv_accept(x->r, x->lfd);
	if (x->rc)
		snprintf(x->msg, sizeof(x->msg), "%s", sq_last_error());
	return NULL;
}

static inline int rx_thread_start(struct rx_thread *x, const struct sq_migrate_recv_opts *opts)
{
	struct sq_migrate_recv_opts o = { .size = sizeof(o), .mem_fd = -1, .timeout_ms = x->timeout_ms };

	if (opts)
		o = *opts;
	if (sq_migrate_listen("127.0.0.1:0", &x->lfd, &x->port))
		return -1;
	snprintf(x->addr, sizeof(x->addr), "127.0.0.1:%u", x->port);
	if (sq_migrate_recv_create(&o, &x->r))
		return -1;
	return pthread_create(&x->thr, NULL, rx_thread_main, x);
}

static inline int rx_thread_join(struct rx_thread *x)
{
	pthread_join(x->thr, NULL);
	close(x->lfd);
	return x->rc;
}

#endif /* SQ_TESTS_MIGRATE_WORKLOAD_H */
