/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/live/bench_live.c - live against paused saves, lazy against eager
 * restore (docs/PERFORMANCE.md, "Live saves and lazy restore").
 *
 * snapshot/{live,paused}/1g_{10,50}pct: a 1 GiB region (SQ_BENCH_IO_SCALE
 * scales it) tracked by synchronous kernel write-protect, one writer thread
 * writing random pages at a steady pace; per iteration pct % of the pages
 * (scattered 4 KiB pages) are dirtied, the writer is parked, and the diff
 * is saved live or paused. Time = the whole save (park to commit);
 * counters: pause_ms (the writer's stop), total_ms, cow_pages, and
 * write_ratio (the writer's rate during the save over its rate just
 * before). The paused ones are the same-run baselines.
 *
 * restore/lazy/4g/...: a 4 GiB full memory file (scaled) whose page cache is
 * dropped before each iteration. first_access: time from sq_lazy_start to
 * a first read returning; fill: start to every page present (bytes/s,
 * baseline io/raw/odirect_read_limit); fault_latency: 2,000 random reads
 * without fill, handler-side p50 / p99 counters.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include <squib/lazy.h>
#include <squib/live.h>

#include "io/io_bench.h"

struct bw {
	uint8_t *region;
	uint64_t npages;
	pthread_mutex_t m;
	pthread_cond_t cv;
	atomic_int pause, stop, parked;
	_Atomic uint64_t writes;
};

static void *bw_main(void *arg)
{
	struct bw *w = arg;
	uint64_t rng = 42;

	while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
		if (atomic_load_explicit(&w->pause, memory_order_acquire)) {
			pthread_mutex_lock(&w->m);
			atomic_store_explicit(&w->parked, 1, memory_order_relaxed);
			pthread_cond_broadcast(&w->cv);
			while (atomic_load_explicit(&w->pause, memory_order_relaxed))
				pthread_cond_wait(&w->cv, &w->m);
			atomic_store_explicit(&w->parked, 0, memory_order_relaxed);
			pthread_mutex_unlock(&w->m);
			continue;
		}
		/* Relaxed stores: the saver's copies of these pages are ordered
		 * by the write-protect faults, not by the C memory model. */
		uint64_t p = sq_splitmix64(&rng) % w->npages;
		atomic_store_explicit((_Atomic uint64_t *)(void *)(w->region + p * 4096), rng,
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&w->writes, 1, memory_order_relaxed);
		for (volatile int i = 0; i < 200; i++)
			;
	}
	return NULL;
}

static void bw_set_pause(struct bw *w, int on)
{
	pthread_mutex_lock(&w->m);
	atomic_store_explicit(&w->pause, on, memory_order_release);
	pthread_cond_broadcast(&w->cv);
	while (on && !atomic_load_explicit(&w->parked, memory_order_relaxed))
		pthread_cond_wait(&w->cv, &w->m);
	pthread_mutex_unlock(&w->m);
}

struct resume_at {
	struct bw *w;
	double t;
};

static void bw_resume(void *arg)
{
	struct resume_at *r = arg;

	r->t = sq_bench_now();
	bw_set_pause(r->w, 0);
}

static void bm_save(struct sq_bench *b)
{
	int64_t a = sq_bench_arg(b);
	int live = (int)(a / 1000), pct = (int)(a % 1000);
	uint64_t size = iob_size(1024), npages = size / 4096;
	struct bw w = { .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
			.npages = npages };
	struct sq_tracker_opts to = { .size = sizeof(to), .kernel = SQ_KERNEL_SYNC, .granule = SQ_GRANULE_FIXED_4K };
	struct sq_tracker *t = NULL;
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;
	uint32_t rid;
	pthread_t th;
	char path[4096], mem[4096], man[4096];

	if (!(sq_tracker_kernel_support() & (1u << SQ_KERNEL_SYNC)) || !sq_live_supported()) {
		sq_bench_skip(b, "synchronous userfaultfd write-protect is not available");
		return;
	}
	w.region = iob_region(size, NULL);
	iob_path(path, sizeof(path), "live.snap");
	iob_path(mem, sizeof(mem), "live.mem");
	iob_path(man, sizeof(man), "live.manifest");
	if (sq_state_demo(&vm) || sq_state_encode(vm, &st, &stlen) ||
	    sq_tracker_create(&to, &t) ||
	    sq_tracker_add_region(t, w.region, size, SQ_REGION_KERNEL_WP, &rid)) {
		sq_bench_skip(b, "set-up failed");
		return;
	}
	sq_state_destroy(vm);
	struct sq_mem_source src = { .base = w.region, .size = size };
	struct sq_snapshot_save_req full = { .size = sizeof(full), .state_path = path, .kind = SQ_SNAPSHOT_FULL,
					     .state = st, .state_len = stlen, .mem = &src };
	sq_snapshot_save_tracked(&full, t, rid, NULL);
	pthread_create(&th, NULL, bw_main, &w);
	double pause = 0, total = 0, cow = 0, ratio = 0;
	uint64_t rng = 7;
	while (sq_bench_running(b)) {
		struct sq_snapshot_id parent;
		/* dirty pct % of the pages, then 100 ms of undisturbed writing */
		for (uint64_t i = 0; i < npages * (uint64_t)pct / 100; i++)
			w.region[(sq_splitmix64(&rng) % npages) * 4096 + 8] ^= 1;
		uint64_t w0 = atomic_load(&w.writes);
		double t0 = sq_bench_now();
		struct timespec d = { 0, 100000000L };
		nanosleep(&d, NULL);
		double rate0 = (double)(atomic_load(&w.writes) - w0) / (sq_bench_now() - t0);

		sq_snapshot_id_of(path, &parent);
		struct resume_at ra = { .w = &w };
		struct sq_live_report lr = SQ_INIT(struct sq_live_report);
		struct sq_live_opts lo = { .size = sizeof(lo), .resume = bw_resume, .ctx = &ra, .report = &lr,
					   .require = 1 };
		struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .kind = SQ_SNAPSHOT_DIFF,
						  .state = st, .state_len = stlen, .mem = &src,
						  .parent = &parent, .live = live ? &lo : NULL };
		double s0 = sq_bench_now();
		bw_set_pause(&w, 1);
		double parked = sq_bench_now();
		uint64_t w1 = atomic_load(&w.writes);
		int rc = sq_snapshot_save_tracked(&q, t, rid, NULL);
		double s1 = sq_bench_now();
		if (!live) {
			ra.t = s1;
			bw_set_pause(&w, 0);
		}
		if (rc) {
			sq_bench_skip(b, sq_last_error());
			break;
		}
		double during = live && s1 > ra.t ? (double)(atomic_load(&w.writes) - w1) /
							    (s1 - ra.t) : 0;
		sq_bench_set_iteration_time(b, s1 - s0);
		pause += (ra.t - s0) * 1e3;
		total += (s1 - s0) * 1e3;
		cow += (double)lr.cow_pages;
		ratio += rate0 > 0 ? during / rate0 : 0;
		(void)parked;
	}
	double n = (double)(sq_bench_iterations(b) ? sq_bench_iterations(b) : 1);
	sq_bench_counter(b, "pause_ms", pause / n);
	sq_bench_counter(b, "total_ms", total / n);
	sq_bench_counter(b, "cow_pages", cow / n);
	sq_bench_counter(b, "write_ratio", ratio / n);
	sq_bench_counter(b, "region_bytes", (double)size);
	atomic_store(&w.stop, 1);
	bw_set_pause(&w, 0);
	pthread_join(th, NULL);
	sq_tracker_destroy(t);
	munmap(w.region, size);
	free(st);
	unlink(path);
	unlink(mem);
	unlink(man);
}

SQ_BENCH_DEF(.name = "snapshot/paused/1g_10pct", .fn = bm_save, .arg = 10, .iterations = 3,
	     .manual_time = 1)
SQ_BENCH_DEF(.name = "snapshot/paused/1g_50pct", .fn = bm_save, .arg = 50, .iterations = 3,
	     .manual_time = 1)
SQ_BENCH_DEF(.name = "snapshot/live/1g_10pct", .fn = bm_save, .arg = 1010, .iterations = 3,
	     .manual_time = 1, .baseline = "snapshot/paused/1g_10pct")
SQ_BENCH_DEF(.name = "snapshot/live/1g_50pct", .fn = bm_save, .arg = 1050, .iterations = 3,
	     .manual_time = 1, .baseline = "snapshot/paused/1g_50pct")

/* A full pair of @size bytes, random data in 7 of every 8 MiB. */
static int lazy_file(uint64_t size, char *path, size_t len)
{
	struct sq_microvm_state *vm;
	uint8_t *st = NULL;
	size_t stlen = 0;
	uint8_t *region = iob_region(size, NULL);
	uint64_t rng = 3;
	int rc;

	for (uint64_t off = 0; off < size; off += 8)
		if ((off >> 20) % 8 != 7)
			*(uint64_t *)(void *)(region + off) = sq_splitmix64(&rng);
	iob_path(path, len, "lazy.snap");
	rc = sq_state_demo(&vm);
	if (!rc)
		rc = sq_state_encode(vm, &st, &stlen);
	sq_state_destroy(vm);
	struct sq_mem_source src = { .base = region, .size = size };
	struct sq_snapshot_save_req q = { .size = sizeof(q), .state_path = path, .kind = SQ_SNAPSHOT_FULL,
					  .state = st, .state_len = stlen, .mem = &src };
	if (!rc)
		rc = sq_snapshot_save(&q, NULL);
	munmap(region, size);
	free(st);
	return rc;
}

static void lazy_drop(const char *path)
{
	char p[4096];
	size_t n = strlen(path) - 5;

	snprintf(p, sizeof(p), "%.*s.mem", (int)n, path);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static void lazy_unlink(const char *path)
{
	static const char *const ext[] = { "snap", "mem", "manifest" };
	char p[4096];
	size_t n = strlen(path) - 5;

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%.*s.%s", (int)n, path, ext[i]);
		unlink(p);
	}
}

static void bm_lazy(struct sq_bench *b)
{
	int mode = (int)sq_bench_arg(b); /* 0 first access, 1 fill, 2 fault latency */
	uint64_t size = iob_size(mode == 2 ? 1024 : 4096), npages = size / 4096;
	char path[4096];
	const char *chain[1] = { path };
	double sum = 0, p50 = 0, p99 = 0;
	uint64_t rng = 11;

	if (!npages || lazy_file(size, path, sizeof(path))) {
		sq_bench_skip(b, sq_last_error());
		return;
	}
	while (sq_bench_running(b)) {
		struct sq_lazy_opts o = { .size = sizeof(o), .no_fill = mode != 1 };
		struct sq_lazy_report r = SQ_INIT(struct sq_lazy_report);
		struct sq_lazy *l;
		lazy_drop(path);
		double t0 = sq_bench_now();
		if (sq_lazy_start(chain, 1, size, &o, &l)) {
			sq_bench_skip(b, sq_last_error());
			break;
		}
		volatile uint8_t *a = sq_lazy_addr(l);
		double t1;
		if (mode == 0) {
			sq_bench_keep(a[(sq_splitmix64(&rng) % npages) * 4096]);
			t1 = sq_bench_now();
		} else if (mode == 1) {
			sq_lazy_wait(l);
			t1 = sq_bench_now();
		} else {
			for (int i = 0; i < 2000; i++)
				sq_bench_keep(a[(sq_splitmix64(&rng) % npages) * 4096]);
			t1 = sq_bench_now();
		}
		sq_lazy_finish(l, &r);
		munmap((void *)a, size);
		sq_bench_set_iteration_time(b, t1 - t0);
		sum += (t1 - t0) * 1e3;
		p50 += r.fault_p50_us;
		p99 += r.fault_p99_us;
	}
	double n = (double)(sq_bench_iterations(b) ? sq_bench_iterations(b) : 1);
	if (mode == 1)
		sq_bench_set_bytes(b, (double)size);
	sq_bench_counter(b, mode == 0 ? "first_access_ms" : "ms", sum / n);
	sq_bench_counter(b, "fault_p50_us", p50 / n);
	sq_bench_counter(b, "fault_p99_us", p99 / n);
	sq_bench_counter(b, "region_bytes", (double)size);
	lazy_unlink(path);
}

SQ_BENCH_DEF(.name = "restore/lazy/4g/first_access", .fn = bm_lazy, .arg = 0, .iterations = 5,
	     .manual_time = 1, .baseline = "io/restore/4g")
SQ_BENCH_DEF(.name = "restore/lazy/4g/fill", .fn = bm_lazy, .arg = 1, .iterations = 2,
	     .manual_time = 1, .baseline = "io/raw/odirect_read_limit")
SQ_BENCH_DEF(.name = "restore/lazy/fault_latency", .fn = bm_lazy, .arg = 2, .iterations = 3,
	     .manual_time = 1)
