/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/demo_lazy.c - "squib-snap demo --lazy-restore", and the output of
 * "demo --live" (demo_live.c runs it).
 *
 * --lazy-restore: the ordinary demo (demo_run.c) writes and verifies a
 * chain, kept in its directory; the chain is then restored eagerly (the
 * same-run baseline and the expected bytes) and lazily, while a reader
 * thread reads random pages of the lazy region as soon as it is mapped and
 * compares each with the eager copy. At the end the whole lazy region is
 * compared. Synchronization: the reader only reads; it is joined before
 * the final comparison.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/lazy.h>
#include <squib/restore.h>

#include "demo_live.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

static int make_dir(const struct demo_cfg *cfg, char *dir, size_t len)
{
	if (cfg->dir) {
		snprintf(dir, len, "%s", cfg->dir);
		return 0;
	}
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	snprintf(dir, len, "%s/squib-demo.XXXXXX", base);
	return mkdtemp(dir) ? 0 : SQ_E_IO;
}

static void drop_dir(const struct demo_cfg *cfg, const char *dir)
{
	if (!cfg->keep && !cfg->dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_live(const struct demo_cfg *cfg, const struct demo_live_result *r)
{
	const struct sq_cli *cli = cfg->cli;

	if (cli->json) {
		json_t *snaps = json_array();
		for (unsigned i = 0; snaps && i < r->nsnaps; i++) {
			const struct demo_live_snap *s = &r->snaps[i];
			json_t *o = json_pack(
				"{s:s,s:s,s:b,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name",
				s->name, "kind", s->diff ? "diff" : "full", "live", s->live, "protect",
				s->protect, "pages", sq_json_u64(s->pages), "bytes_written",
				sq_json_u64(s->bytes_written), "pause_ms", sq_json_real(s->pause_ms),
				"paused_save_ms", sq_json_real(s->paused_ms), "total_ms",
				sq_json_real(s->total_ms), "cow_pages", sq_json_u64(s->cow_pages),
				"faults", sq_json_u64(s->faults), "stall_ms", sq_json_real(s->stall_ms),
				"writes_per_s", sq_json_real(s->write_rate));
			if (o && !s->live)
				json_object_set_new(o, "fallback", sq_json_text(s->fallback));
			json_array_append_new(snaps, o);
		}
		json_t *doc = json_pack("{s:s,s:o,s:I,s:s,s:o,s:o,s:b}", "mode", "live", "size",
					sq_json_u64(cfg->size), "rounds", (json_int_t)cfg->rounds,
					"tracking", r->tracking, "undisturbed_writes_per_s",
					sq_json_real(r->undisturbed_rate), "snapshots", snaps,
					"verified", r->verified);
		if (doc && !r->verified)
			json_object_set_new(doc, "why", sq_json_text(r->why));
		sq_cli_emit(doc);
		return;
	}
	printf("squib-snap demo --live: %llu MiB region, %u diff rounds, tracking: %s\n",
	       (unsigned long long)(cfg->size >> 20), cfg->rounds, r->tracking);
	printf("%-8s %-5s %10s %10s %12s %10s %9s %9s %9s\n", "snapshot", "kind", "pages",
	       "pause ms", "paused ms", "total ms", "cow", "stall ms", "writes");
	for (unsigned i = 0; i < r->nsnaps; i++) {
		const struct demo_live_snap *s = &r->snaps[i];
		printf("%-8s %-5s %10llu %10.2f %12.2f %10.1f %9llu %9.2f %8.0f%%%s%s\n", s->name,
		       s->diff ? "diff" : "full", (unsigned long long)s->pages, s->pause_ms,
		       s->paused_ms, s->total_ms, (unsigned long long)s->cow_pages, s->stall_ms,
		       r->undisturbed_rate > 0 ? 100.0 * s->write_rate / r->undisturbed_rate : 0.0,
		       s->live ? "" : "  paused: ", s->live ? "" : s->fallback);
	}
	printf("pause: the workload's stop for the live save; paused: the same pages saved with "
	       "the workload stopped throughout\nwrites: the workload's write rate during the live "
	       "save against its rate between snapshots\n");
	printf("verified: %s%s\n", r->verified ? "yes (the chain restores to the region byte for "
						 "byte)" : "NO: ", r->verified ? "" : r->why);
}

int sq_demo_live(const struct demo_cfg *cfg)
{
	struct demo_live_result *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return sq_cli_fail(cfg->cli, "demo", SQ_E_NOMEM);
	rc = make_dir(cfg, r->dir, sizeof(r->dir));
	if (!rc)
		rc = sq_demo_live_run(cfg, r);
	drop_dir(cfg, r->dir);
	if (rc) {
		free(r);
		return sq_cli_fail(cfg->cli, "demo", rc);
	}
	print_live(cfg, r);
	rc = r->verified ? SQ_EXIT_OK : SQ_EXIT_FAIL;
	free(r);
	return rc;
}

struct reader {
	const uint8_t *lazy, *want;
	uint64_t npages, checked, bad;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t s = 0x1234567;

	for (int i = 0; i < 20000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t p = (s >> 17) % rd->npages;
		rd->bad += memcmp(rd->lazy + p * 4096, rd->want + p * 4096, 4096) != 0;
		rd->checked++;
	}
	return NULL;
}

int sq_demo_lazy(const struct demo_cfg *cfg)
{
	struct demo_cfg dc = *cfg;
	struct demo_result *dr = calloc(1, sizeof(*dr));
	const char *chain[DEMO_MAX_ROUNDS + 1];
	char paths[DEMO_MAX_ROUNDS + 1][4200], dir[4096];
	struct sq_restore_report er = SQ_INIT(struct sq_restore_report);
	struct sq_lazy_report lr = SQ_INIT(struct sq_lazy_report);
	struct reader rd = { 0 };
	uint8_t *want = MAP_FAILED;
	int rc;

	if (!dr)
		return sq_cli_fail(cfg->cli, "demo", SQ_E_NOMEM);
	rc = make_dir(cfg, dir, sizeof(dir));
	dc.dir = dir;
	if (!rc)
		rc = sq_demo_run(&dc, dr);
	for (unsigned i = 0; !rc && i < dr->nsnaps; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/snap-%u.snap", dir, i);
		chain[i] = paths[i];
	}
	if (!rc) {
		want = mmap(NULL, cfg->size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		rc = want == MAP_FAILED ? SQ_E_NOMEM : 0;
	}
	struct sq_restore_opts ro = { .size = sizeof(ro), .threads = cfg->io.threads, .dest_zeroed = 1 };
	if (!rc)
		rc = sq_restore_to_memory(chain, dr->nsnaps, want, cfg->size, &ro, &er);
	struct sq_lazy *l = NULL;
	if (!rc)
		rc = sq_lazy_start(chain, dr->nsnaps, cfg->size, NULL, &l);
	if (!rc) {
		pthread_t th;
		rd = (struct reader){ .lazy = sq_lazy_addr(l), .want = want,
				      .npages = cfg->size / 4096 };
		int started = pthread_create(&th, NULL, reader_main, &rd) == 0;
		if (started)
			pthread_join(th, NULL);
		rc = sq_lazy_finish(l, &lr);
		if (!rc && dr->verified && !rd.bad && !memcmp(rd.lazy, want, cfg->size))
			dr->verified = 2; /* the chain and the lazy restore */
		munmap((void *)rd.lazy, cfg->size);
	}
	if (want != MAP_FAILED)
		munmap(want, cfg->size);
	drop_dir(cfg, dir);
	if (rc) {
		free(dr);
		return sq_cli_fail(cfg->cli, "demo", rc);
	}
	int ok = dr->verified == 2;
	if (cfg->cli->json) {
		sq_cli_emit(json_pack(
			"{s:s,s:o,s:I,s:{s:o,s:o},s:{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o},"
			"s:o,s:o,s:b}",
			"mode", "lazy-restore", "size", sq_json_u64(cfg->size), "layers",
			(json_int_t)dr->nsnaps, "eager", "seconds", sq_json_real(er.seconds),
			"bytes_read", sq_json_u64(er.bytes_read), "lazy", "ready_ms",
			sq_json_real(lr.ready_s * 1e3), "first_access_ms",
			sq_json_real(lr.first_access_s * 1e3), "fill_s", sq_json_real(lr.fill_s),
			"faults", sq_json_u64(lr.faults), "fault_p50_us", sq_json_real(lr.fault_p50_us),
			"fault_p99_us", sq_json_real(lr.fault_p99_us), "pages_faulted",
			sq_json_u64(lr.pages_faulted), "pages_filled", sq_json_u64(lr.pages_filled),
			"pages_present", sq_json_u64(lr.pages_present), "bytes_read",
			sq_json_u64(lr.bytes_read), "reader_pages", sq_json_u64(rd.checked),
			"reader_mismatches", sq_json_u64(rd.bad), "verified", ok));
	} else {
		printf("squib-snap demo --lazy-restore: %llu MiB region, chain of %u\n",
		       (unsigned long long)(cfg->size >> 20), dr->nsnaps);
		printf("eager restore:  %.3f s (%.1f MB read)\n", er.seconds,
		       (double)er.bytes_read / 1e6);
		printf("lazy restore:   usable after %.3f ms, first access served at %.3f ms, "
		       "filled in %.3f s\n", lr.ready_s * 1e3, lr.first_access_s * 1e3, lr.fill_s);
		printf("faults:         %llu served (p50 %.1f us, p99 %.1f us), %llu pages by "
		       "faults, %llu by the fill\n", (unsigned long long)lr.faults, lr.fault_p50_us,
		       lr.fault_p99_us, (unsigned long long)lr.pages_faulted,
		       (unsigned long long)lr.pages_filled);
		printf("reader:         %llu random pages checked during the restore, %llu "
		       "mismatches\n", (unsigned long long)rd.checked, (unsigned long long)rd.bad);
		printf("verified: %s\n", ok ? "yes (lazy region == eager restore == region)"
					    : "NO");
	}
	free(dr);
	return ok ? SQ_EXIT_OK : SQ_EXIT_FAIL;
}
