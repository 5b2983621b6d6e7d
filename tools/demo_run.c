/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/demo_run.c - the snapshot demo: a region written by worker threads,
 * tracked by the kernel (userfaultfd write-protect) or by API marks, a
 * full snapshot and diff rounds, then merge, restore and a byte-for-byte
 * comparison with the region.
 *
 * Synchronization: workers check ctl.pause (acquire) at the top of every
 * iteration and park on the condition variable; the main thread snapshots
 * only after every worker has parked (mutex), so the region is quiescent
 * while pages are written (zero-copy source) and every write a worker made
 * happened before the harvest. In API mode a worker marks a page after
 * writing it, inside one iteration, so a parked worker has no unmarked
 * write. Workers store to the region with relaxed atomics: they may write
 * the same page concurrently, like vCPUs.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/merge.h>
#include <squib/restore.h>
#include <squib/snapshot.h>
#include <squib/state.h>
#include <squib/tracker.h>

#include "core/clock.h"
#include "demo.h"
#include "core/splitmix.h"

#define PG 4096u

struct ctl {
	pthread_mutex_t m;
	pthread_cond_t cv_worker, cv_main;
	atomic_int pause, stop;
	unsigned parked;
	unsigned round;          /* changes the hot set; read under m */
};

struct worker {
	pthread_t tid;
	unsigned idx;
	struct ctl *ctl;
	uint8_t *region;
	uint64_t npages;
	struct sq_tracker *t;    /* API marks when not NULL */
	uint64_t writes;
	uint64_t rng;
};

static void park_if_paused(struct worker *w)
{
	struct ctl *c = w->ctl;

	/* Acquire pairs with the release store in pause_workers(). */
	if (!atomic_load_explicit(&c->pause, memory_order_acquire))
		return;
	pthread_mutex_lock(&c->m);
	c->parked++;
	pthread_cond_signal(&c->cv_main);
	while (atomic_load_explicit(&c->pause, memory_order_relaxed) &&
	       !atomic_load_explicit(&c->stop, memory_order_relaxed))
		pthread_cond_wait(&c->cv_worker, &c->m);
	c->parked--;
	pthread_mutex_unlock(&c->m);
}

static void touch(struct worker *w, uint64_t page, size_t npages, int zero)
{
	uint8_t *p = w->region + page * PG;
	_Atomic uint64_t *words = (_Atomic uint64_t *)(void *)p;
	size_t len = npages * PG;

	/*
	 * Two workers may write the same page at once, as two vCPUs would:
	 * the stores are relaxed atomics (no ordering needed between them;
	 * the snapshot reads the region only after every worker parked under
	 * the mutex, which orders all of them before the read).
	 */
	for (size_t i = 0; i < len / 8; i += zero ? 1 : 64)
		atomic_store_explicit(&words[i], zero ? 0 : sq_splitmix64(&w->rng), memory_order_relaxed);
	if (w->t)
		sq_tracker_mark_range(w->t, p, len);
	w->writes++;
}

/*
 * The workload: hot sparse pages (a set that moves every round), dense
 * sequential bursts from a cursor that walks the region, and now and then
 * a page cleared to zeros (a dirty zero page, the case diffs must keep).
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t cursor = (w->npages / 2) * w->idx / 2 + w->npages / 3;
	const uint64_t hot = w->npages / 256 ? w->npages / 256 : 1;
	struct timespec nap = { 0, 1000000 };

	while (!atomic_load_explicit(&w->ctl->stop, memory_order_relaxed)) {
		park_if_paused(w);
		if (atomic_load_explicit(&w->ctl->stop, memory_order_relaxed))
			break;
		pthread_mutex_lock(&w->ctl->m);
		uint64_t round = w->ctl->round;
		pthread_mutex_unlock(&w->ctl->m);
		for (int i = 0; i < 32; i++) {
			/* hot set: hash of (round, k) -> page */
			uint64_t k = sq_splitmix64(&w->rng) % hot, s = round * 0x1000193u + k;
			touch(w, sq_splitmix64(&s) % w->npages, 1, 0);
		}
		uint64_t r = sq_splitmix64(&w->rng);
		if (r % 8 == 0) {
			size_t n = 64 + (size_t)(r >> 8) % 192; /* 256 KiB .. 1 MiB */
			if (cursor + n > w->npages)
				cursor = 0;
			touch(w, cursor, n, 0);
			cursor += n;
		}
		if (r % 64 == 1)
			touch(w, (r >> 16) % w->npages, 1, 1);
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static void pause_workers(struct ctl *c, unsigned n)
{
	pthread_mutex_lock(&c->m);
	/* Release: workers that see the flag park after their current iteration. */
	atomic_store_explicit(&c->pause, 1, memory_order_release);
	while (c->parked < n)
		pthread_cond_wait(&c->cv_main, &c->m);
	pthread_mutex_unlock(&c->m);
}

static void resume_workers(struct ctl *c)
{
	pthread_mutex_lock(&c->m);
	c->round++;
	atomic_store_explicit(&c->pause, 0, memory_order_release);
	pthread_cond_broadcast(&c->cv_worker);
	pthread_mutex_unlock(&c->m);
}

static void fill_initial(uint8_t *region, uint64_t size, struct sq_tracker *t)
{
	uint64_t s = 0x5eedc0de;

	/* Five of every eight 2 MiB blocks hold data; the rest stay zero. */
	for (uint64_t off = 0; off < size; off += SQ_BLOCK_SIZE) {
		uint64_t len = size - off < SQ_BLOCK_SIZE ? size - off : SQ_BLOCK_SIZE;
		if ((off / SQ_BLOCK_SIZE) % 8 >= 5)
			continue;
		uint64_t *p = (uint64_t *)(region + off);
		for (uint64_t i = 0; i < len / 8; i++)
			p[i] = sq_splitmix64(&s);
		if (t)
			sq_tracker_mark_range(t, region + off, len);
	}
}

static int state_file(unsigned round, uint64_t size, uint8_t **buf, size_t *len)
{
	struct sq_microvm_state *vm;
	int rc = sq_state_demo(&vm);

	if (rc)
		return rc;
	vm->vm_info.mem_size_mib = size >> 20;
	vm->vm_info.track_dirty_pages = true;
	vm->vcpus[0].regs.pc = 0x80000 + round * 4;
	rc = sq_state_encode(vm, buf, len);
	sq_state_destroy(vm);
	return rc;
}

static void progress(const struct demo_cfg *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void progress(const struct demo_cfg *cfg, const char *fmt, ...)
{
	va_list ap;

	if (!cfg->cli->tty || cfg->cli->quiet || cfg->cli->json)
		return;
	va_start(ap, fmt);
	fputs("\r\033[K", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/*
 * Signals: the handler only records which one arrived (async-signal-safe);
 * the main thread polls stop_requested(res) between steps, and its sleeps end
 * early because only it (and the library's threads) can take the signal.
 */
/* Lock-free, so safe in a handler; relaxed: it orders nothing else, the
 * main thread only polls it (the handler may run on a library thread). */
static atomic_int caught;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal flag must be lock-free");

/* A failure of the demo itself: the message goes to res->msg. */
static int demo_err(struct demo_result *res, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int demo_err(struct demo_result *res, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return code;
}

static void on_signal(int sig)
{
	atomic_store_explicit(&caught, sig, memory_order_relaxed);
}

static int stop_requested(struct demo_result *res)
{
	int sig = atomic_load_explicit(&caught, memory_order_relaxed);

	if (!sig)
		return 0;
	demo_err(res, SQ_E_CANCELED, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	return 1;
}

static void catch_signals(struct sigaction old[2])
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: a sleep returns at once */
	sigemptyset(&sa.sa_mask);
	atomic_store_explicit(&caught, 0, memory_order_relaxed);
	sigaction(SIGINT, &sa, &old[0]);
	sigaction(SIGTERM, &sa, &old[1]);
}

static void restore_signals(const struct sigaction old[2])
{
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
}

void sq_demo_reraise(int sig)
{
	sigset_t set;

	fflush(NULL);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);
}

static int snapshot(const struct demo_cfg *cfg, struct demo_result *res, struct ctl *ctl,
		    unsigned nworkers, struct sq_tracker *t, uint32_t rid, uint8_t *region,
		    unsigned round)
{
	struct demo_snap *s = &res->snaps[round];
	struct sq_snapshot_id parent;
	struct sq_mem_source src = { .base = region, .size = cfg->size };
	struct sq_writer_report wr = SQ_INIT(struct sq_writer_report);
	struct sq_snapshot_report rep = { .size = sizeof(rep), .io = &wr };
	char path[4200];
	uint8_t *st = NULL;
	size_t stlen = 0;
	int rc;

	snprintf(s->name, sizeof(s->name), "snap-%u", round);
	s->diff = round > 0;
	if (round) {
		char prev[4200];
		snprintf(prev, sizeof(prev), "%s/snap-%u.snap", res->dir, round - 1);
		rc = sq_snapshot_id_of(prev, &parent);
		if (rc)
			return rc;
	}
	rc = state_file(round, cfg->size, &st, &stlen);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s.snap", res->dir, s->name);
	struct sq_snapshot_save_req q = {
		.size = sizeof(q), .state_path = path,
		.kind = round ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
		.state = st, .state_len = stlen, .mem = &src, .parent = round ? &parent : NULL,
		.io = &cfg->io,
	};
	double t0 = sq_clock_s();
	pause_workers(ctl, nworkers);
	rc = sq_snapshot_save_tracked(&q, t, rid, &rep);
	resume_workers(ctl);
	s->pause_ms = (sq_clock_s() - t0) * 1e3;
	free(st);
	if (rc)
		return rc;
	s->pages_dirty = rep.pages_dirty;
	s->pages_written = wr.pages_written;
	s->bytes_written = wr.bytes_written;
	s->write_s = wr.seconds;
	s->gbps = wr.seconds > 0 ? (double)wr.bytes_written / wr.seconds / 1e9 : 0;
	res->backend = sq_io_backend_name(wr.backend);
	res->direct = wr.direct;
	res->nsnaps = round + 1;
	return 0;
}

static int verify_all(const struct demo_cfg *cfg, struct demo_result *res, const uint8_t *region)
{
	const char *chain[DEMO_MAX_ROUNDS + 1];
	char paths[DEMO_MAX_ROUNDS + 1][4200], merged[4200];
	struct sq_merge_report mr = SQ_INIT(struct sq_merge_report);
	struct sq_restore_report rr = SQ_INIT(struct sq_restore_report);
	int rc;

	for (unsigned i = 0; i < res->nsnaps; i++) {
		struct sq_snapshot_loaded *l;
		snprintf(paths[i], sizeof(paths[i]), "%s/snap-%u.snap", res->dir, i);
		chain[i] = paths[i];
		rc = sq_snapshot_load(paths[i], SQ_LOAD_QUICK, &l);
		if (rc)
			return rc;
		sq_snapshot_loaded_destroy(l);
	}
	if (stop_requested(res))
		return SQ_E_CANCELED;
	progress(cfg, "merging %u snapshots", res->nsnaps);
	snprintf(merged, sizeof(merged), "%s/merged.mem", res->dir);
	rc = sq_merge_chain(chain, res->nsnaps, merged, NULL, &mr);
	if (rc)
		return rc;
	res->merge_s = mr.seconds;
	res->merge_bytes = mr.bytes_copied;
	rc = sq_memfile_verify(merged, NULL, 0, NULL);
	if (rc)
		return rc;
	if (stop_requested(res))
		return SQ_E_CANCELED;

	uint8_t *dst = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dst == MAP_FAILED)
		return SQ_E_NOMEM;
	struct sq_restore_opts ro = { .size = sizeof(ro), .threads = cfg->io.threads, .dest_zeroed = 1 };
	const char *one[1] = { merged };
	progress(cfg, "restoring the merged file");
	rc = sq_restore_to_memory(one, 1, dst, cfg->size, &ro, &rr);
	if (!rc) {
		res->restore_s = rr.seconds;
		res->restore_bytes = rr.bytes_read;
		if (memcmp(dst, region, cfg->size) != 0)
			snprintf(res->why, sizeof(res->why), "the merged file differs from the region");
	}
	if (!rc && stop_requested(res))
		rc = SQ_E_CANCELED;
	if (!rc && !res->why[0]) {
		progress(cfg, "restoring the chain");
		ro.dest_zeroed = 0;
		rc = sq_restore_to_memory(chain, res->nsnaps, dst, cfg->size, &ro, &rr);
		res->restore_chain_s = rr.seconds;
		if (!rc && memcmp(dst, region, cfg->size) != 0)
			snprintf(res->why, sizeof(res->why), "the restored chain differs from the region");
	}
	munmap(dst, cfg->size);
	if (!rc)
		res->verified = !res->why[0];
	return rc;
}

/* The work directory: a new temporary one, or cfg->dir (created if missing). */
static int make_dir(const struct demo_cfg *cfg, struct demo_result *res, int *created)
{
	struct stat st;

	*created = 0;
	if (!cfg->dir) {
		const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
		snprintf(res->dir, sizeof(res->dir), "%s/squib-demo.XXXXXX", base);
		if (!mkdtemp(res->dir))
			return demo_err(res, SQ_E_IO, "cannot create a directory in %s: %s", base,
				      strerror(errno));
		*created = 1;
		return 0;
	}
	snprintf(res->dir, sizeof(res->dir), "%s", cfg->dir);
	if (mkdir(cfg->dir, 0700) == 0) {
		*created = 1;
		return 0;
	}
	if (errno != EEXIST)
		return demo_err(res, SQ_E_IO, "cannot create --dir %s: %s", cfg->dir, strerror(errno));
	if (stat(cfg->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return demo_err(res, SQ_E_IO, "--dir %s is not a directory", cfg->dir);
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

int sq_demo_run(const struct demo_cfg *cfg, struct demo_result *res)
{
	struct ctl ctl = { .m = PTHREAD_MUTEX_INITIALIZER, .cv_worker = PTHREAD_COND_INITIALIZER,
			   .cv_main = PTHREAD_COND_INITIALIZER };
	struct worker *ws = NULL;
	struct sq_tracker *t = NULL;
	uint32_t rid = 0;
	unsigned started = 0;
	uint8_t *region = MAP_FAILED;
	struct sigaction old[2];
	sigset_t block, mask;
	int rc, created = 0;

	memset(res, 0, sizeof(*res));
	atomic_init(&ctl.pause, 0);
	atomic_init(&ctl.stop, 0);
	catch_signals(old);
	rc = make_dir(cfg, res, &created);
	if (rc || stop_requested(res)) {
		rc = rc ? rc : SQ_E_CANCELED;
		goto out;
	}
	region = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		rc = demo_err(res, SQ_E_NOMEM, "cannot map a %llu-byte region: %s",
			    (unsigned long long)cfg->size, strerror(errno));
		goto out;
	}
	rc = sq_tracker_create(NULL, &t);
	if (rc)
		goto out;
	res->tracking = "api";
	unsigned ks = cfg->api_marks ? 0 : sq_tracker_kernel_support();
	if (ks && sq_tracker_add_region(t, region, cfg->size, SQ_REGION_KERNEL_WP, &rid) == 0)
		res->tracking = ks & (1u << SQ_KERNEL_ASYNC) ? "kernel-async" : "kernel-sync";
	else if ((rc = sq_tracker_add_region(t, region, cfg->size, 0, &rid)))
		goto out;
	int api = !strcmp(res->tracking, "api");

	progress(cfg, "filling %llu MiB", (unsigned long long)(cfg->size >> 20));
	fill_initial(region, cfg->size, api ? t : NULL);
	ws = calloc(cfg->workers, sizeof(*ws));
	if (!ws) {
		rc = SQ_E_NOMEM;
		goto out;
	}
	/* Workers never take SIGINT/SIGTERM: the main thread's sleep ends. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &mask);
	for (unsigned i = 0; i < cfg->workers; i++) {
		ws[i] = (struct worker){ .idx = i, .ctl = &ctl, .region = region,
					 .npages = cfg->size / PG, .t = api ? t : NULL,
					 .rng = 0x1234567ull * (i + 1) };
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			break;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	for (unsigned r = 0; r <= cfg->rounds && !rc; r++) {
		if (r) {
			progress(cfg, "round %u/%u: workload running", r, cfg->rounds);
			struct timespec d = { cfg->round_ms / 1000,
					      (long)(cfg->round_ms % 1000) * 1000000L };
			nanosleep(&d, NULL);
		}
		if (stop_requested(res)) {
			rc = SQ_E_CANCELED;
			break;
		}
		progress(cfg, "round %u/%u: writing %s snapshot", r, cfg->rounds,
			 r ? "diff" : "full");
		if (r == cfg->rounds) {
			/* The last snapshot ends the workload: stop it first, so the
			 * region afterwards is exactly what the chain holds. */
			pthread_mutex_lock(&ctl.m);
			atomic_store_explicit(&ctl.stop, 1, memory_order_relaxed);
			pthread_cond_broadcast(&ctl.cv_worker);
			pthread_mutex_unlock(&ctl.m);
			for (unsigned i = 0; i < started; i++)
				pthread_join(ws[i].tid, NULL);
			for (unsigned i = 0; i < started; i++)
				res->workload_writes += ws[i].writes;
			started = 0;
			rc = snapshot(cfg, res, &ctl, 0, t, rid, region, r);
		} else {
			rc = snapshot(cfg, res, &ctl, started, t, rid, region, r);
		}
	}
	if (!rc)
		rc = verify_all(cfg, res, region);
	progress(cfg, "%s", "");
	if (cfg->cli->tty && !cfg->cli->quiet && !cfg->cli->json)
		fputs("\r\033[K", stderr);
out:
	if (started) {
		pthread_mutex_lock(&ctl.m);
		atomic_store_explicit(&ctl.stop, 1, memory_order_relaxed);
		pthread_cond_broadcast(&ctl.cv_worker);
		pthread_mutex_unlock(&ctl.m);
		for (unsigned i = 0; i < started; i++)
			pthread_join(ws[i].tid, NULL);
	}
	free(ws);
	sq_tracker_destroy(t);
	if (region != MAP_FAILED)
		munmap(region, cfg->size);
	if (!rc && stop_requested(res))
		rc = SQ_E_CANCELED;
	res->signal = atomic_load_explicit(&caught, memory_order_relaxed);
	/* A --dir that existed is the user's; a directory made here goes
	 * after any failure, and the temporary one after a success too. */
	int failed = rc || !res->verified;
	res->kept = !created || cfg->keep || (cfg->dir && !failed);
	if (created && !res->kept && nftw(res->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		res->kept = 1;
	restore_signals(old);
	return rc;
}
