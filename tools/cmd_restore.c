/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap restore STATE... -o FILE [--verify] [--threads N] [-p]
 *
 * Materializes a chain (a full snapshot, then diffs in order) into FILE,
 * a plain memory image of the region's size: the chain is read in
 * parallel straight into a shared mapping of an exclusive temp file of
 * FILE (squib/atomic_file.h: anonymous where the filesystem allows, so no
 * other process can truncate it under the mapping), which is synced and
 * renamed to FILE. FILE may not be one of the inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/atomic_file.h>
#include <squib/error.h>
#include <squib/restore.h>

#include "cli.h"
#include "core/clock.h"
#include "cli_progress.h"
#include "cli_verbose.h"

static int sys_fail(const struct sq_cli *cli, const char *what, const char *path)
{
	return sq_cli_fail_errno(cli, "restore", what, path, errno);
}

static const struct sq_opt restore_opts[] = {
	{ "output", 'o', 1, 'o' }, { "verify", 0, 0, 'V' }, { "threads", 0, 1, 't' },
	{ "progress", 'p', 0, 'p' }, { NULL, 0, 0, 0 },
};

static int run_restore(const struct sq_cli *cli, int argc, char **argv)
{
	const char **chain = calloc((size_t)argc, sizeof(*chain));
	const char *out = NULL;
	struct sq_restore_opts o = { .size = sizeof(o), .dest_zeroed = 1 };
	struct sq_restore_report r = SQ_INIT(struct sq_restore_report);
	struct sq_opt_parser p;
	struct sq_cli_progress pr;
	size_t n = 0;
	int rc, k, progress = 0;

	if (!chain)
		return sq_cli_fail(cli, "restore", SQ_E_NOMEM);
	sq_opt_init(&p, cli, "restore", argc, argv);
	while ((k = sq_opt_next(&p, restore_opts)) != SQ_OPT_END) {
		if (k == SQ_OPT_ERROR ||
		    (k == 't' && sq_cli_opt_uint(cli, "restore", p.opt, p.arg, 0, SQ_CLI_MAX_THREADS,
						     &o.threads))) {
			free(chain);
			return SQ_EXIT_USAGE;
		}
		if (k == 'o')
			out = p.arg;
		else if (k == 'V')
			o.verify = 1;
		else if (k == 'p')
			progress = 1;
		else if (k == SQ_OPT_POSITIONAL)
			chain[n++] = p.arg;
	}
	if (n < 1 || !out) {
		free(chain);
		return sq_cli_usage_error(cli, "restore", "need STATE... and -o FILE");
	}
	/* The region size: the first memory file's size. */
	char *mem0 = NULL;
	size_t l0 = strlen(chain[0]);
	if (l0 > 5 && !strcmp(chain[0] + l0 - 5, ".snap")) {
		if (asprintf(&mem0, "%.*s.mem", (int)(l0 - 5), chain[0]) < 0)
			mem0 = NULL;
	} else {
		mem0 = strdup(chain[0]);
	}
	struct stat st;
	if (!mem0 || stat(mem0, &st) < 0) {
		int e = sys_fail(cli, "cannot stat", mem0 ? mem0 : chain[0]);
		free(mem0);
		free(chain);
		return e;
	}
	free(mem0);
	uint64_t size = (uint64_t)st.st_size;
	/* The output: an exclusive atomic file (a second writer of FILE fails
	 * busy), never one of the inputs. */
	struct sq_atomic_file *af = NULL;
	rc = sq_atomic_open(out, NULL, &af);
	if (!rc)
		rc = sq_restore_check_output(chain, n, out);
	int fd = af ? sq_atomic_fd(af) : -1;
	if (!rc && ftruncate(fd, (off_t)size) < 0) {
		int e = sys_fail(cli, "cannot size", out);
		sq_atomic_destroy(af);
		free(chain);
		return e;
	}
	void *dst = !rc && size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
				: NULL;
	if (dst == MAP_FAILED) {
		int e = sys_fail(cli, "cannot map the output for", out);
		sq_atomic_destroy(af);
		free(chain);
		return e;
	}
	if (!rc) {
		sq_cli_warn_foreign(cli, "restore", chain, n);
		sq_cli_verbose_chain(cli, "restore", chain, n);
		sq_cli_verbose(cli, 1, "restore", "output %s: %llu bytes, mapped shared, %u read "
			       "threads, CRC check %s", out,
			       (unsigned long long)size, sq_cli_threads(o.threads), o.verify ? "on" : "off");
	}
	sq_cli_progress_init(&pr, cli, "restore", progress);
	o.progress = sq_cli_progress_fn(&pr);
	o.progress_ctx = &pr;
	if (!rc)
		rc = sq_restore_to_memory(chain, n, dst, size, &o, &r);
	sq_cli_progress_end(&pr);
	if (!rc)
		sq_cli_verbose(cli, 1, "restore", "read %llu pages (%llu bytes) in %.3f s with %s",
			       (unsigned long long)r.pages_read, (unsigned long long)r.bytes_read,
			       r.seconds, r.direct ? "O_DIRECT" : "buffered reads");
	double t_sync = sq_clock_s();
	int sync_bad = !rc && size && msync(dst, size, MS_SYNC) < 0;
	if (dst)
		munmap(dst, size);
	if (sync_bad) {
		int e = sys_fail(cli, "cannot write", out);
		sq_atomic_destroy(af);
		free(chain);
		return e;
	}
	if (!rc)
		rc = sq_atomic_commit(af);
	sq_atomic_destroy(af);
	if (!rc)
		sq_cli_verbose(cli, 1, "restore", "synced and committed %s in %.3f s", out,
			       sq_clock_s() - t_sync);
	if (rc) {
		free(chain);
		return sq_cli_fail(cli, "restore", rc);
	}
	if (cli->json) {
		sq_cli_emit(json_pack("{s:o,s:o,s:I,s:o,s:o,s:b,s:b,s:o}", "output", sq_json_text(out),
				      "size", sq_json_u64(size), "layers", (json_int_t)r.layers,
				      "pages_read", sq_json_u64(r.pages_read),
				      "bytes_read", sq_json_u64(r.bytes_read), "direct", r.direct,
				      "verified_crcs", o.verify, "seconds", sq_json_real(r.seconds)));
	} else {
		printf("%s: %u layers restored, %.1f MB read in %.3f s (%.2f GB/s)\n", out, r.layers,
		       (double)r.bytes_read / 1e6, r.seconds,
		       r.seconds > 0 ? (double)r.bytes_read / r.seconds / 1e9 : 0.0);
	}
	free(chain);
	return SQ_EXIT_OK;
}

SQ_CLI_COMMAND(.name = "restore", .summary = "materialize a snapshot chain into a memory image",
	       .usage = "usage: squib-snap restore STATE... -o FILE [--verify] [--threads N] [-p]\n"
			"                          [--json]\n"
			"  STATE... is a full snapshot followed by its diffs, in order (checked\n"
			"  through the manifests). Files without one (the original crate's,\n"
			"  Firecracker's) are read by SEEK_DATA / SEEK_HOLE, with a warning: their\n"
			"  order and CRCs cannot be checked (squib-snap manifest builds one).\n"
			"  --verify compares every page read with its manifest CRC.\n"
			"  -p, --progress  a progress line on stderr when it is a terminal.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_restore)
