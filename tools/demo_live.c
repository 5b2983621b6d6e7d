/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/demo_live.c - "squib-snap demo --live" and "demo --lazy-restore".
 *
 * --live: writer threads run on a region tracked by synchronous kernel
 * write-protect (else API marks); each round the workload is parked, the
 * pages a paused save would write are saved paused once (the same-run
 * baseline, then deleted), and the snapshot itself is saved live: the
 * workers resume as soon as S is protected. A final paused diff after the
 * workers stop closes the chain, which must restore to the region byte for
 * byte (a write during a live save missing from the next diff would show).
 *
 * --lazy-restore: the ordinary demo builds a chain, then the chain is
 * restored eagerly (the baseline and the expected bytes) and lazily while
 * a reader thread checks random pages as they arrive; the whole lazy
 * region is compared at the end.
 *
 * Synchronization: as in demo_run.c, workers check the pause flag
 * (acquire) between iterations and park under the mutex; counters are
 * relaxed atomics read after a park or join.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/lazy.h>
#include <squib/live.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>

#include "core/clock.h"
#include "demo.h"
#include "demo_live.h"
#include "core/splitmix.h"

struct lw {
	pthread_mutex_t m;
	pthread_cond_t cv;
	atomic_int pause, stop;
	unsigned parked, n;
	uint8_t *region;
	uint64_t npages;
	struct sq_tracker *t; /* API marks when not NULL */
	_Atomic uint64_t writes;
};

static void lw_write(struct lw *w, uint64_t page, uint64_t v)
{
	_Atomic uint64_t *p = (_Atomic uint64_t *)(void *)(w->region + page * 4096 + (v % 512) * 8);

	/* Relaxed: two workers may write one page, like two vCPUs. */
	atomic_store_explicit(p, v, memory_order_relaxed);
	if (w->t)
		sq_tracker_mark(w->t, (const void *)p);
}

static void *lw_main(void *arg)
{
	struct lw *w = arg;
	static _Atomic unsigned seq;
	uint64_t rng = 0xabcdefull * (atomic_fetch_add(&seq, 1) + 1), cursor = 0;
	struct timespec nap = { 0, 1000000 };

	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		if (atomic_load_explicit(&w->pause, memory_order_acquire)) {
			pthread_mutex_lock(&w->m);
			w->parked++;
			pthread_cond_broadcast(&w->cv);
			while (atomic_load_explicit(&w->pause, memory_order_relaxed) &&
			       !atomic_load_explicit(&w->stop, memory_order_relaxed))
				pthread_cond_wait(&w->cv, &w->m);
			w->parked--;
			pthread_mutex_unlock(&w->m);
			continue;
		}
		/* sparse random pages, and now and then a dense burst */
		for (int i = 0; i < 32; i++)
			lw_write(w, sq_splitmix64(&rng) % w->npages, sq_splitmix64(&rng));
		uint64_t r = sq_splitmix64(&rng);
		if (r % 8 == 0) {
			uint64_t n = 64 + r % 192;
			if (cursor + n > w->npages)
				cursor = r % (w->npages / 2);
			for (uint64_t p = cursor; p < cursor + n; p++)
				lw_write(w, p, r + p);
			cursor += n;
		}
		atomic_fetch_add_explicit(&w->writes, 33, memory_order_relaxed);
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static void lw_park(struct lw *w)
{
	pthread_mutex_lock(&w->m);
	atomic_store_explicit(&w->pause, 1, memory_order_release);
	while (w->parked < w->n)
		pthread_cond_wait(&w->cv, &w->m);
	pthread_mutex_unlock(&w->m);
}

struct resume_ctx {
	struct lw *w;
	double at;
	uint64_t writes_at;
};

static void lw_resume(void *arg)
{
	struct resume_ctx *c = arg;

	c->at = sq_clock_s();
	c->writes_at = atomic_load_explicit(&c->w->writes, memory_order_relaxed);
	pthread_mutex_lock(&c->w->m);
	atomic_store_explicit(&c->w->pause, 0, memory_order_release);
	pthread_cond_broadcast(&c->w->cv);
	pthread_mutex_unlock(&c->w->m);
}

static void unlink_pair(const char *dir, const char *stem)
{
	static const char *const ext[] = { "snap", "mem", "manifest" };
	char p[4200];

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%.4000s/%.64s.%s", dir, stem, ext[i]);
		unlink(p);
	}
}

/* One round: the paused baseline (same set, deleted afterwards), then the
 * live save. The workers are parked on entry and running on return. */
static int live_round(const struct demo_cfg *cfg, struct demo_live_result *res, struct lw *w,
		      uint32_t rid, const uint8_t *st, size_t stlen, unsigned k, double park_s)
{
	struct demo_live_snap *s = &res->snaps[k];
	struct sq_mem_source src = { .base = w->region, .size = cfg->size };
	struct sq_snapshot_id parent;
	struct sq_dirty_set *set = NULL;
	char path[4200];
	int rc = 0;

	if (k) {
		snprintf(path, sizeof(path), "%s/snap-%u.snap", res->dir, k - 1);
		rc = sq_snapshot_id_of(path, &parent);
		if (!rc)
			rc = sq_tracker_peek(res->t, rid, &set);
		if (rc)
			return rc;
	}
	snprintf(path, sizeof(path), "%s/paused-%u.snap", res->dir, k);
	struct sq_snapshot_save_req q = {
		.size = sizeof(q), .state_path = path, .kind = k ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
		.state = st, .state_len = stlen, .mem = &src, .parent = k ? &parent : NULL,
		.runs = set ? sq_dirty_set_runs(set) : NULL, .nruns = set ? sq_dirty_set_nruns(set) : 0,
		.io = &cfg->io,
	};
	double t0 = sq_clock_s();
	rc = sq_snapshot_save(&q, NULL);
	s->paused_ms = (park_s + sq_clock_s() - t0) * 1e3;
	sq_dirty_set_destroy(set);
	snprintf(path, sizeof(path), "paused-%u", k);
	unlink_pair(res->dir, path);
	if (rc)
		return rc;

	struct resume_ctx rcx = { .w = w };
	struct sq_live_report lr = SQ_INIT(struct sq_live_report);
	struct sq_live_opts lo = { .size = sizeof(lo), .resume = lw_resume, .ctx = &rcx,
				   .report = &lr };
	struct sq_writer_report wrep = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wrep };
	snprintf(path, sizeof(path), "%.4000s/snap-%u.snap", res->dir, k);
	q.state_path = path;
	q.runs = NULL;
	q.nruns = 0;
	q.live = &lo;
	rc = sq_snapshot_save_tracked(&q, res->t, rid, &rep);
	double end = sq_clock_s();
	uint64_t wr = atomic_load_explicit(&w->writes, memory_order_relaxed) - rcx.writes_at;
	if (rc)
		return rc;
	snprintf(s->name, sizeof(s->name), "snap-%u", k);
	s->diff = k > 0;
	s->live = lr.live;
	snprintf(s->protect, sizeof(s->protect), "%s", lr.protect);
	snprintf(s->fallback, sizeof(s->fallback), "%s", lr.fallback);
	s->pages = lr.pages;
	s->bytes_written = wrep.bytes_written;
	s->pause_ms = (park_s + lr.pause_s) * 1e3;
	s->total_ms = (park_s + lr.total_s) * 1e3;
	s->cow_pages = lr.cow_pages;
	s->faults = lr.faults;
	s->stall_ms = lr.stall_s * 1e3;
	s->write_rate = end > rcx.at ? (double)wr / (end - rcx.at) : 0;
	res->nsnaps = k + 1;
	return 0;
}

static int verify_chain(const struct demo_cfg *cfg, struct demo_live_result *res,
			const uint8_t *region)
{
	const char *chain[DEMO_MAX_ROUNDS + 2];
	char paths[DEMO_MAX_ROUNDS + 2][4200];
	int rc;

	for (unsigned i = 0; i < res->nsnaps + 1; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/snap-%u.snap", res->dir, i);
		chain[i] = paths[i];
	}
	uint8_t *dst = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		return SQ_E_NOMEM;
	struct sq_restore_opts ro = { .size = sizeof(ro), .threads = cfg->io.threads, .dest_zeroed = 1 };
	rc = sq_restore_to_memory(chain, res->nsnaps + 1, dst, cfg->size, &ro, NULL);
	if (!rc && memcmp(dst, region, cfg->size))
		snprintf(res->why, sizeof(res->why), "the restored chain differs from the region");
	res->verified = !rc && !res->why[0];
	munmap(dst, cfg->size);
	return rc;
}

int sq_demo_live_run(const struct demo_cfg *cfg, struct demo_live_result *res)
{
	struct sq_tracker_opts to = { .size = sizeof(to), .kernel = SQ_KERNEL_SYNC };
	struct lw w = { .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t tid[16];
	unsigned started = 0;
	uint32_t rid = 0;
	uint8_t *st = NULL;
	size_t stlen = 0;
	struct sq_microvm_state *vm = NULL;
	int rc;

	res->tracking = "api";
	w.region = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w.region == MAP_FAILED)
		return SQ_E_NOMEM;
	w.npages = cfg->size / 4096;
	rc = sq_tracker_create(&to, &res->t);
	if (!rc && (sq_tracker_kernel_support() & (1u << SQ_KERNEL_SYNC)) && !cfg->api_marks &&
	    sq_tracker_add_region(res->t, w.region, cfg->size, SQ_REGION_KERNEL_WP, &rid) == 0)
		res->tracking = "kernel-sync";
	else if (!rc)
		rc = sq_tracker_add_region(res->t, w.region, cfg->size, 0, &rid);
	if (!rc)
		rc = sq_state_demo(&vm);
	if (!rc)
		rc = sq_state_encode(vm, &st, &stlen);
	sq_state_destroy(vm);
	if (rc)
		goto out;
	w.t = strcmp(res->tracking, "api") ? NULL : res->t;
	/* initial content: five of every eight 2 MiB blocks */
	uint64_t seed = 0x5eed;
	for (uint64_t off = 0; off < cfg->size; off += 8)
		if ((off >> 21) % 8 < 5)
			*(uint64_t *)(void *)(w.region + off) = sq_splitmix64(&seed);
	if (w.t)
		sq_tracker_mark_range(w.t, w.region, cfg->size);
	w.n = cfg->workers < 16 ? cfg->workers : 16;
	for (; started < w.n; started++)
		if (pthread_create(&tid[started], NULL, lw_main, &w))
			break;
	w.n = started;
	for (unsigned k = 0; k <= cfg->rounds && !rc; k++) {
		if (k) {
			uint64_t w0 = atomic_load_explicit(&w.writes, memory_order_relaxed);
			double t0 = sq_clock_s();
			struct timespec d = { cfg->round_ms / 1000,
					      (long)(cfg->round_ms % 1000) * 1000000L };
			nanosleep(&d, NULL);
			res->undisturbed_rate +=
				(double)(atomic_load_explicit(&w.writes, memory_order_relaxed) - w0) /
				(sq_clock_s() - t0) / cfg->rounds;
		}
		double p0 = sq_clock_s();
		lw_park(&w);
		rc = live_round(cfg, res, &w, rid, st, stlen, k, sq_clock_s() - p0);
	}
	/* Stop the workers, then one paused diff closes the chain. */
	lw_park(&w);
	pthread_mutex_lock(&w.m);
	atomic_store_explicit(&w.stop, 1, memory_order_release);
	pthread_cond_broadcast(&w.cv);
	pthread_mutex_unlock(&w.m);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	started = 0;
	if (!rc) {
		char path[4200], prev[4200];
		struct sq_snapshot_id parent;
		struct sq_mem_source src = { .base = w.region, .size = cfg->size };
		snprintf(prev, sizeof(prev), "%s/snap-%u.snap", res->dir, res->nsnaps - 1);
		snprintf(path, sizeof(path), "%s/snap-%u.snap", res->dir, res->nsnaps);
		rc = sq_snapshot_id_of(prev, &parent);
		struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path,
						  .kind = SQ_SNAPSHOT_DIFF,
						  .state = st, .state_len = stlen, .mem = &src,
						  .parent = &parent, .io = &cfg->io };
		if (!rc)
			rc = sq_snapshot_save_tracked(&q, res->t, rid, NULL);
	}
	if (!rc)
		rc = verify_chain(cfg, res, w.region);
out:
	if (started) {
		atomic_store_explicit(&w.stop, 1, memory_order_release);
		lw_resume(&(struct resume_ctx){ .w = &w });
		for (unsigned i = 0; i < started; i++)
			pthread_join(tid[i], NULL);
	}
	free(st);
	sq_tracker_destroy(res->t);
	res->t = NULL;
	munmap(w.region, cfg->size);
	return rc;
}
