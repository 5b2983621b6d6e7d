/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap merge BASE DIFF... -o OUT | --in-place [-p]
 *
 * Squashes a chain (a full memory file, then its diffs in order) into one
 * full memory file with a manifest. Arguments may be .mem or .snap paths.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/error.h>
#include <squib/merge.h>

#include "cli.h"
#include "cli_progress.h"
#include "cli_verbose.h"

static const struct sq_opt merge_opts[] = {
	{ "output", 'o', 1, 'o' }, { "in-place", 0, 0, 'i' }, { "progress", 'p', 0, 'p' },
	{ NULL, 0, 0, 0 },
};

static int run_merge(const struct sq_cli *cli, int argc, char **argv)
{
	const char **chain = calloc((size_t)argc, sizeof(*chain));
	const char *out = NULL;
	struct sq_merge_opts o = SQ_INIT(struct sq_merge_opts);
	struct sq_merge_report r = SQ_INIT(struct sq_merge_report);
	size_t n = 0;
	struct sq_opt_parser p;
	struct sq_cli_progress pr;
	int rc, k, progress = 0;

	if (!chain)
		return sq_cli_fail(cli, "merge", SQ_E_NOMEM);
	sq_opt_init(&p, cli, "merge", argc, argv);
	while ((k = sq_opt_next(&p, merge_opts)) != SQ_OPT_END) {
		if (k == SQ_OPT_ERROR) {
			free(chain);
			return SQ_EXIT_USAGE;
		}
		if (k == 'o')
			out = p.arg;
		else if (k == 'i')
			o.in_place = 1;
		else if (k == 'p')
			progress = 1;
		else
			chain[n++] = p.arg;
	}
	if (n < 1 || (!out && !o.in_place) || (out && o.in_place)) {
		free(chain);
		return sq_cli_usage_error(cli, "merge", "need BASE [DIFF...] and either -o OUT or "
							"--in-place");
	}
	sq_cli_warn_foreign(cli, "merge", chain, n);
	sq_cli_verbose_chain(cli, "merge", chain, n);
	sq_cli_verbose(cli, 1, "merge", "output %s%s, %u copy threads, "
		       "copy_file_range (the filesystem may share the blocks)",
		       o.in_place ? chain[0] : out, o.in_place ? " (in place)" : "",
		       sq_cli_threads(o.threads));
	sq_cli_progress_init(&pr, cli, "merge", progress);
	o.progress = sq_cli_progress_fn(&pr);
	o.progress_ctx = &pr;
	rc = sq_merge_chain(chain, n, out, &o, &r);
	sq_cli_progress_end(&pr);
	if (rc) {
		free(chain);
		return sq_cli_fail(cli, "merge", rc);
	}
	const char *dest = o.in_place ? chain[0] : out;
	sq_cli_verbose(cli, 1, "merge", "wrote %s: %llu extents, %llu bytes copied, %llu data "
		       "pages, committed in %.3f s (%.1f MiB/s)", dest,
		       (unsigned long long)r.extents_copied, (unsigned long long)r.bytes_copied,
		       (unsigned long long)r.pages_out, r.seconds,
		       r.seconds > 0 ? (double)r.bytes_copied / r.seconds / 1048576.0 : 0.0);
	if (cli->json) {
		sq_cli_emit(json_pack("{s:o,s:b,s:I,s:o,s:o,s:o,s:o}", "output", sq_json_text(dest),
				      "in_place", o.in_place, "layers", (json_int_t)r.layers,
				      "extents_copied", sq_json_u64(r.extents_copied),
				      "bytes_copied", sq_json_u64(r.bytes_copied),
				      "pages_out", sq_json_u64(r.pages_out),
				      "seconds", sq_json_real(r.seconds)));
	} else {
		printf("%s: %u layers merged, %llu extents (%.1f MB) copied in %.3f s, %llu data "
		       "pages\n", dest, r.layers, (unsigned long long)r.extents_copied,
		       (double)r.bytes_copied / 1e6, r.seconds, (unsigned long long)r.pages_out);
	}
	free(chain);
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "merge", .summary = "squash a full memory file and its diffs into one",
	       .usage = "usage: squib-snap merge BASE DIFF... -o OUT [-p] [--json]\n"
			"       squib-snap merge BASE DIFF... --in-place [-p] [--json]\n"
			"  BASE is a full memory file, the DIFFs follow it in order (checked\n"
			"  through the manifests' parent ids). OUT gets a manifest beside it and\n"
			"  pairs with the last DIFF's state file. Files without a manifest (the\n"
			"  original crate's, Firecracker's) are described from the file, with a\n"
			"  warning (holes in a diff are unchanged pages; order not checked).\n"
			"  -p, --progress  a progress line on stderr when it is a terminal.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_merge)
