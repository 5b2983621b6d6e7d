/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap merge BASE DIFF... -o OUT | --in-place
 *
 * Squashes a chain (a full memory file, then its diffs in order) into one
 * full memory file with a manifest. Arguments may be .mem or .snap paths.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>
#include <squib/merge.h>

#include "cli.h"

static int run_merge(const struct sq_cli *cli, int argc, char **argv)
{
	const char **chain = calloc((size_t)argc, sizeof(*chain));
	const char *out = NULL;
	struct sq_merge_opts o = { 0 };
	struct sq_merge_report r = { 0 };
	size_t n = 0;
	int rc;

	if (!chain)
		return sq_cli_usage_error(cli, "merge", "out of memory");
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--in-place"))
			o.in_place = 1;
		else if (argv[i][0] == '-') {
			free(chain);
			return sq_cli_usage_error(cli, "merge", "unknown option '%s'", argv[i]);
		} else
			chain[n++] = argv[i];
	}
	if (n < 1 || (!out && !o.in_place) || (out && o.in_place)) {
		free(chain);
		return sq_cli_usage_error(cli, "merge", "need BASE [DIFF...] and either -o OUT or "
							"--in-place");
	}
	sq_cli_warn_foreign(cli, "merge", chain, n);
	rc = sq_merge_chain(chain, n, out, &o, &r);
	if (rc) {
		free(chain);
		return sq_cli_fail(cli, "merge", rc);
	}
	const char *dest = o.in_place ? chain[0] : out;
	if (cli->json) {
		printf("{\"output\":");
		sq_json_str(stdout, dest);
		printf(",\"in_place\":%s,\"layers\":%u,\"extents_copied\":%llu,"
		       "\"bytes_copied\":%llu,\"pages_out\":%llu,\"seconds\":%.6f}\n",
		       o.in_place ? "true" : "false", r.layers,
		       (unsigned long long)r.extents_copied, (unsigned long long)r.bytes_copied,
		       (unsigned long long)r.pages_out, r.seconds);
	} else {
		printf("%s: %u layers merged, %llu extents (%.1f MB) copied in %.3f s, %llu data "
		       "pages\n", dest, r.layers, (unsigned long long)r.extents_copied,
		       (double)r.bytes_copied / 1e6, r.seconds, (unsigned long long)r.pages_out);
	}
	free(chain);
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "merge", .summary = "squash a full memory file and its diffs into one",
	       .usage = "usage: squib-snap merge BASE DIFF... -o OUT [--json]\n"
			"       squib-snap merge BASE DIFF... --in-place [--json]\n"
			"  BASE is a full memory file, the DIFFs follow it in order (checked\n"
			"  through the manifests' parent ids). OUT gets a manifest beside it and\n"
			"  pairs with the last DIFF's state file. Files without a manifest (the\n"
			"  original crate's, Firecracker's) are described from the file, with a\n"
			"  warning (holes in a diff are unchanged pages; order not checked).\n",
	       .run = run_merge)
