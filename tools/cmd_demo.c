/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap demo - the main job: a live region, kernel write tracking, a
 * full snapshot and diff rounds, merge, restore and verification, with a
 * table (or one JSON document). "squib-snap demo migrate ..." is the
 * migration demo (sq_cli_demo_migrate).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <squib/error.h>
#include <squib/manifest.h>

#include "cli.h"
#include "cli_verbose.h"
#include "demo.h"
#include "demo_live.h"

/* Used when the migration demo is not linked into this build. */
__attribute__((weak)) int sq_cli_demo_migrate(const struct sq_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return sq_cli_fail(cli, "demo migrate", SQ_E_UNSUPPORTED);
}

static json_t *result_json(const struct demo_cfg *cfg, const struct demo_result *r)
{
	json_t *snaps = json_array();

	for (unsigned i = 0; snaps && i < r->nsnaps; i++) {
		const struct demo_snap *s = &r->snaps[i];
		json_array_append_new(snaps, json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
						       "name", s->name, "kind",
						       s->diff ? "diff" : "full", "pages_dirty",
						       sq_json_u64(s->pages_dirty), "pages_written",
						       sq_json_u64(s->pages_written), "bytes_written",
						       sq_json_u64(s->bytes_written), "pause_ms",
						       sq_json_real(s->pause_ms), "write_s",
						       sq_json_real(s->write_s), "gb_per_s",
						       sq_json_real(s->gbps)));
	}
	json_t *doc = json_pack("{s:o,s:I,s:o,s:b,s:s,s:s,s:b,s:o,s:o,s:{s:o,s:o},"
				"s:{s:o,s:o,s:o},s:b}",
				"size", sq_json_u64(cfg->size), "rounds", (json_int_t)cfg->rounds,
				"dir", sq_json_text(r->dir), "kept", r->kept,
				"tracking", r->tracking ? r->tracking : "none",
				"backend", r->backend ? r->backend : "none", "direct", r->direct,
				"workload_writes", sq_json_u64(r->workload_writes),
				"snapshots", snaps,
				"merge", "seconds", sq_json_real(r->merge_s),
				"bytes_copied", sq_json_u64(r->merge_bytes),
				"restore", "seconds", sq_json_real(r->restore_s),
				"bytes_read", sq_json_u64(r->restore_bytes),
				"chain_seconds", sq_json_real(r->restore_chain_s),
				"verified", r->verified);
	if (doc && !r->verified)
		json_object_set_new(doc, "why", sq_json_text(r->why));
	return doc;
}

static void print_table(const struct demo_cfg *cfg, const struct demo_result *r)
{
	printf("squib-snap demo: %llu MiB region, %u diff rounds, tracking: %s, backend: %s%s\n",
	       (unsigned long long)(cfg->size >> 20), cfg->rounds, r->tracking, r->backend,
	       r->direct ? " + O_DIRECT" : " (buffered + fdatasync)");
	printf("%-8s %-5s %12s %14s %10s %8s\n", "snapshot", "kind", "pages dirty",
	       "bytes written", "pause ms", "GB/s");
	for (unsigned i = 0; i < r->nsnaps; i++) {
		const struct demo_snap *s = &r->snaps[i];
		printf("%-8s %-5s %12llu %14llu %10.1f %8.2f\n", s->name, s->diff ? "diff" : "full",
		       (unsigned long long)s->pages_dirty, (unsigned long long)s->bytes_written,
		       s->pause_ms, s->gbps);
	}
	printf("merge:   %.1f MB copied in %.3f s\n", (double)r->merge_bytes / 1e6, r->merge_s);
	printf("restore: %.1f MB read in %.3f s (%.2f GB/s); chain of %u in %.3f s\n",
	       (double)r->restore_bytes / 1e6, r->restore_s,
	       r->restore_s > 0 ? (double)r->restore_bytes / r->restore_s / 1e9 : 0.0, r->nsnaps,
	       r->restore_chain_s);
	printf("verified: %s%s%s\n", r->verified ? "yes (restored chain and merged file equal the "
						   "region byte for byte)" : "NO: ",
	       r->verified ? "" : r->why, "");
	printf("files: %s%s\n", r->dir, r->kept ? "" : " (removed)");
}

static const struct sq_opt demo_opts[] = {
	{ "size", 0, 1, 's' },        { "rounds", 0, 1, 'r' },   { "round-ms", 0, 1, 'R' },
	{ "workers", 0, 1, 'w' },     { "threads", 0, 1, 't' },  { "queue-depth", 0, 1, 'Q' },
	{ "backend", 0, 1, 'b' },     { "dir", 0, 1, 'd' },      { "keep", 0, 0, 'k' },
	{ "api-marks", 0, 0, 'a' },   { "live", 0, 0, 'L' },     { "lazy-restore", 0, 0, 'Z' },
	{ NULL, 0, 0, 0 },
};

/* One option of the demo: 0, or SQ_EXIT_USAGE after the report. */
static int demo_option(const struct sq_opt_parser *p, int k, struct demo_cfg *cfg)
{
	const struct sq_cli *cli = p->cli;

	switch (k) {
	case 's':
		return sq_cli_opt_size(cli, "demo", p->opt, p->arg, 2ull << 20,
				       SQ_MANIFEST_MAX_REGION, &cfg->size);
	case 'r':
		return sq_cli_opt_uint(cli, "demo", p->opt, p->arg, 0, DEMO_MAX_ROUNDS, &cfg->rounds);
	case 'R':
		return sq_cli_opt_uint(cli, "demo", p->opt, p->arg, 0, 3600000, &cfg->round_ms);
	case 'w':
		return sq_cli_opt_uint(cli, "demo", p->opt, p->arg, 1, 256, &cfg->workers);
	case 't':
		return sq_cli_opt_uint(cli, "demo", p->opt, p->arg, 0, SQ_CLI_MAX_THREADS,
				       &cfg->io.threads);
	case 'Q':
		return sq_cli_opt_uint(cli, "demo", p->opt, p->arg, 1, SQ_CLI_MAX_QUEUE_DEPTH,
				       &cfg->io.queue_depth);
	case 'b':
		if (!strcmp(p->arg, "io_uring"))
			cfg->io.backend = SQ_IO_URING;
		else if (!strcmp(p->arg, "pwritev2"))
			cfg->io.backend = SQ_IO_PWRITEV;
		else if (strcmp(p->arg, "auto"))
			return sq_cli_usage_error(cli, "demo", "unknown backend '%s'", p->arg);
		return 0;
	case 'd':
		cfg->dir = p->arg;
		return 0;
	case 'k':
		cfg->keep = 1;
		return 0;
	case 'a':
		cfg->api_marks = 1;
		return 0;
	default:
		return sq_cli_usage_error(cli, "demo", "unexpected argument '%s'", p->arg);
	}
}

/* -v: what each step did, on stderr (after the run: the live status line is gone). */
static void verbose_run(const struct sq_cli *cli, const struct demo_cfg *cfg,
			const struct demo_result *res)
{
	sq_cli_verbose(cli, 1, "demo", "directory %s (%s), %u workload threads, tracking %s", res->dir,
		       res->kept ? "kept" : "removed", cfg->workers, res->tracking);
	sq_cli_verbose(cli, 1, "demo", "writer: %s, %s, %u threads, queue depth %u (0 = the "
		       "default)", res->backend, res->direct ? "O_DIRECT" : "buffered + fdatasync",
		       sq_cli_threads(cfg->io.threads), cfg->io.queue_depth);
	for (unsigned i = 0; i < res->nsnaps; i++) {
		const struct demo_snap *s = &res->snaps[i];
		sq_cli_verbose(cli, 1, "demo", "%s: %s, %llu pages dirty, %llu pages (%llu bytes) "
			       "written in %.3f s, workload paused %.1f ms; files %s/%s.{snap,mem,"
			       "manifest}", s->name, s->diff ? "diff" : "full",
			       (unsigned long long)s->pages_dirty, (unsigned long long)s->pages_written,
			       (unsigned long long)s->bytes_written, s->write_s, s->pause_ms, res->dir,
			       s->name);
	}
	sq_cli_verbose(cli, 1, "demo", "merge: %llu bytes in %.3f s; restore: %llu bytes in %.3f s; "
		       "%llu workload writes", (unsigned long long)res->merge_bytes, res->merge_s,
		       (unsigned long long)res->restore_bytes, res->restore_s,
		       (unsigned long long)res->workload_writes);
}

static int run_demo(const struct sq_cli *cli, int argc, char **argv)
{
	struct demo_cfg cfg = { .size = 1ull << 30, .rounds = 5, .round_ms = 300, .workers = 2,
				.io = SQ_INIT(struct sq_writer_opts),
				.cli = cli };
	struct demo_result *res;
	struct sq_opt_parser p;
	int rc, k, mode = 0; /* 1 = --live, 2 = --lazy-restore (demo_live.h) */

	if (argc > 1 && !strcmp(argv[1], "migrate"))
		return sq_cli_demo_migrate(cli, argc - 1, argv + 1);
	sq_opt_init(&p, cli, "demo", argc, argv);
	while ((k = sq_opt_next(&p, demo_opts)) != SQ_OPT_END) {
		if (k == 'L' || k == 'Z')
			mode = k == 'L' ? 1 : 2;
		else if (k == SQ_OPT_ERROR || demo_option(&p, k, &cfg))
			return SQ_EXIT_USAGE;
	}
	if (cfg.size % 4096)
		return sq_cli_usage_error(cli, "demo", "--size must be a multiple of 4 KiB");
	/* The live and lazy-restore demos make their own work directory;
	 * the main demo makes its own in sq_demo_run (and removes it). */
	if (mode && cfg.dir && (mkdir(cfg.dir, 0700) < 0 && errno != EEXIST))
		return sq_cli_usage_error(cli, "demo", "cannot create --dir %s", cfg.dir);
	if (mode == 1)
		return sq_demo_live(&cfg);
	if (mode == 2)
		return sq_demo_lazy(&cfg);
	res = calloc(1, sizeof(*res));
	if (!res)
		return sq_cli_fail(cli, "demo", SQ_E_NOMEM);
	rc = sq_demo_run(&cfg, res);
	if (rc) {
		int e = res->msg[0] ? sq_cli_fail_msg(cli, "demo", rc, res->msg)
				    : sq_cli_fail(cli, "demo", rc);
		int sig = res->signal;
		free(res);
		if (sig)
			sq_demo_reraise(sig);
		return e;
	}
	verbose_run(cli, &cfg, res);
	if (cli->json)
		sq_cli_emit(result_json(&cfg, res));
	else
		print_table(&cfg, res);
	rc = res->verified ? SQ_EXIT_OK : SQ_EXIT_FAIL;
	free(res);
	return rc;
}

SQ_CLI_COMMAND(.name = "demo", .summary = "snapshot a live region: full + diffs, merge, restore, verify",
	       .usage = "usage: squib-snap demo [--size SIZE] [--rounds N] [--dir DIR] [--keep] [--json]\n"
			"                        [--round-ms MS] [--workers N] [--threads N]\n"
			"                        [--backend auto|io_uring|pwritev2] [--queue-depth N]\n"
			"                        [--api-marks] [--live | --lazy-restore]\n"
			"       squib-snap demo migrate ...   (the migration demo)\n"
			"  Allocates a region (default 1G), runs a writer workload in other threads\n"
			"  (hot sparse pages, dense bursts, zeroed pages), tracks it with the\n"
			"  kernel's write tracking (else API marks), takes a full snapshot and N\n"
			"  diff snapshots (default 5) into DIR (default: a new temporary directory,\n"
			"  removed unless --keep), pausing the workload only while each snapshot\n"
			"  is written, then merges the chain, restores it and compares it with the\n"
			"  region byte for byte. Exit 1 when verification fails.\n"
			"  --live: each snapshot is saved live (copy-on-write: the workload runs\n"
			"  while it is written), with the pause beside a paused save of the same\n"
			"  pages in the same run. --lazy-restore: the chain is then restored\n"
			"  lazily (userfaultfd) while a reader checks random pages, and compared.\n"
			"  On SIGINT, SIGTERM or a failure, a directory the main demo created is\n"
			"  removed (unless --keep) before it exits; a --dir that existed before\n"
			"  is never removed. Numbers: digits only, sizes with k/M/G/T.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_demo)
