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

#include "cli.h"
#include "demo.h"
#include "demo_live.h"

/* Used when the migration demo is not linked into this build. */
__attribute__((weak)) int sq_cli_demo_migrate(const struct sq_cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (cli->json)
		printf("{\"error\":{\"code\":%d,\"name\":\"SQ_E_UNSUPPORTED\",\"message\":"
		       "\"the migration demo is not available in this build\"}}\n",
		       SQ_E_UNSUPPORTED);
	else
		fprintf(stderr, "%s demo migrate: not available in this build\n", cli->prog);
	return SQ_EXIT_UNSUPPORTED;
}

static void print_json(const struct demo_cfg *cfg, const struct demo_result *r)
{
	printf("{\"size\":%llu,\"rounds\":%u,\"dir\":", (unsigned long long)cfg->size, cfg->rounds);
	sq_json_str(stdout, r->dir);
	printf(",\"kept\":%s,\"tracking\":\"%s\",\"backend\":\"%s\",\"direct\":%s,"
	       "\"workload_writes\":%llu,\"snapshots\":[",
	       r->kept ? "true" : "false", r->tracking ? r->tracking : "none",
	       r->backend ? r->backend : "none", r->direct ? "true" : "false",
	       (unsigned long long)r->workload_writes);
	for (unsigned i = 0; i < r->nsnaps; i++) {
		const struct demo_snap *s = &r->snaps[i];
		printf("%s{\"name\":\"%s\",\"kind\":\"%s\",\"pages_dirty\":%llu,"
		       "\"pages_written\":%llu,\"bytes_written\":%llu,\"pause_ms\":%.3f,"
		       "\"write_s\":%.6f,\"gb_per_s\":%.3f}",
		       i ? "," : "", s->name, s->diff ? "diff" : "full",
		       (unsigned long long)s->pages_dirty, (unsigned long long)s->pages_written,
		       (unsigned long long)s->bytes_written, s->pause_ms, s->write_s, s->gbps);
	}
	printf("],\"merge\":{\"seconds\":%.6f,\"bytes_copied\":%llu},"
	       "\"restore\":{\"seconds\":%.6f,\"bytes_read\":%llu,\"chain_seconds\":%.6f},"
	       "\"verified\":%s",
	       r->merge_s, (unsigned long long)r->merge_bytes, r->restore_s,
	       (unsigned long long)r->restore_bytes, r->restore_chain_s,
	       r->verified ? "true" : "false");
	if (!r->verified) {
		printf(",\"why\":");
		sq_json_str(stdout, r->why);
	}
	printf("}\n");
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

static int run_demo(const struct sq_cli *cli, int argc, char **argv)
{
	struct demo_cfg cfg = { .size = 1ull << 30, .rounds = 5, .round_ms = 300, .workers = 2,
				.cli = cli };
	struct demo_result *res;
	int rc, mode = 0; /* 1 = --live, 2 = --lazy-restore (demo_live.h) */

	if (argc > 1 && !strcmp(argv[1], "migrate"))
		return sq_cli_demo_migrate(cli, argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;

		if (!strcmp(a, "--size") && v && !sq_parse_size(v, &n)) {
			cfg.size = n;
			i++;
		} else if (!strcmp(a, "--rounds") && v) {
			cfg.rounds = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--round-ms") && v) {
			cfg.round_ms = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--workers") && v) {
			cfg.workers = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--threads") && v) {
			cfg.io.threads = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--queue-depth") && v) {
			cfg.io.queue_depth = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--backend") && v) {
			if (!strcmp(v, "io_uring"))
				cfg.io.backend = SQ_IO_URING;
			else if (!strcmp(v, "pwritev2"))
				cfg.io.backend = SQ_IO_PWRITEV;
			else if (strcmp(v, "auto"))
				return sq_cli_usage_error(cli, "demo", "unknown backend '%s'", v);
			i++;
		} else if (!strcmp(a, "--dir") && v) {
			cfg.dir = v;
			i++;
		} else if (!strcmp(a, "--keep")) {
			cfg.keep = 1;
		} else if (!strcmp(a, "--api-marks")) {
			cfg.api_marks = 1;
		} else if (!strcmp(a, "--live")) {
			mode = 1;
		} else if (!strcmp(a, "--lazy-restore")) {
			mode = 2;
		} else {
			return sq_cli_usage_error(cli, "demo", "bad argument '%s'", a);
		}
	}
	if (cfg.size < (1u << 21) || cfg.size % 4096)
		return sq_cli_usage_error(cli, "demo", "--size must be a multiple of 4 KiB, at "
						       "least 2 MiB");
	if (cfg.rounds > DEMO_MAX_ROUNDS)
		return sq_cli_usage_error(cli, "demo", "--rounds is at most %d", DEMO_MAX_ROUNDS);
	if (cfg.dir && (mkdir(cfg.dir, 0700) < 0 && errno != EEXIST))
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
		int e = sq_cli_fail(cli, "demo", rc);
		free(res);
		return e;
	}
	if (cli->json)
		print_json(&cfg, res);
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
			"  lazily (userfaultfd) while a reader checks random pages, and compared.\n",
	       .run = run_demo)
