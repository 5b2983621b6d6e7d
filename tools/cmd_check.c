/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap check [DIR]
 *
 * What this host offers: userfaultfd write-protect modes, PAGEMAP_SCAN,
 * missing-page faults, io_uring, O_DIRECT / O_TMPFILE / SEEK_DATA in DIR
 * (default: the current directory), membarrier and kernel TLS. Each line
 * says what the feature is for, whether it works here, and why not.
 * Exit 0 when the probes ran (a missing feature is reported, not an
 * error: squib-snap falls back as its line says); 1 when DIR cannot be
 * probed; 2: usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "host_probe.h"

static int run_check(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct sq_opt opts[] = { { NULL, 0, 0, 0 } };
	struct sq_probe_result r[SQ_PROBE_COUNT];
	struct sq_opt_parser p;
	const char *dir = NULL;
	int rc, missing = 0;

	sq_opt_init(&p, cli, "check", argc, argv);
	while ((rc = sq_opt_next(&p, opts)) != SQ_OPT_END) {
		if (rc == SQ_OPT_ERROR)
			return SQ_EXIT_USAGE;
		if (dir)
			return sq_cli_usage_error(cli, "check", "one directory at most");
		dir = p.arg;
	}
	if (!dir)
		dir = ".";
	rc = sq_host_probe(dir, r);
	if (rc)
		return sq_cli_fail_errno(cli, "check", "cannot probe", dir, -rc);
	for (int i = 0; i < SQ_PROBE_COUNT; i++)
		missing += !r[i].ok;

	if (cli->json) {
		json_t *feats = json_object();
		for (int i = 0; feats && i < SQ_PROBE_COUNT; i++)
			json_object_set_new(feats, r[i].name,
					    json_pack("{s:b,s:o,s:o}", "ok", r[i].ok, "what",
						      sq_json_text(r[i].what), "detail",
						      sq_json_text(r[i].detail)));
		rc = sq_cli_emit(json_pack("{s:o,s:o,s:i}", "dir", sq_json_text(dir), "features",
					   feats, "missing", missing));
		return rc ? SQ_EXIT_FAIL : SQ_EXIT_OK;
	}
	printf("squib-snap check (directory %s)\n", dir);
	for (int i = 0; i < SQ_PROBE_COUNT; i++) {
		printf("  %-14s %-4s %s\n", r[i].name, r[i].ok ? "yes" : "NO", r[i].what);
		if (r[i].detail[0] && (!r[i].ok || cli->verbose))
			printf("  %-14s      %s\n", "", r[i].detail);
	}
	printf("%s\n", missing ? "some features are missing: squib-snap falls back as noted"
			       : "everything works");
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "check", .summary = "probe what this host offers (like criu check)",
	       .usage = "usage: squib-snap check [DIR] [--json] [-v]\n"
			"  Probes userfaultfd write-protect (async and sync), PAGEMAP_SCAN,\n"
			"  userfaultfd missing faults (lazy restore), io_uring, O_DIRECT,\n"
			"  O_TMPFILE and SEEK_DATA in DIR (default: .), membarrier and kernel\n"
			"  TLS, each by making the call the library makes. -v shows details.\n"
			"  Exit 0 when the probes ran (missing features are reported),\n"
			"  1 when DIR cannot be probed.\n"
			"  -v  also the detail of the probes that passed.\n",
	       .run = run_check)
