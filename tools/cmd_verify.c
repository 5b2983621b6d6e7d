/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap verify STATE [--mem MEM] [--threads N] [-p]
 *
 * Checks a snapshot pair: the state file's envelope and its binding to
 * the manifest (size and CRC), then the memory file against the manifest
 * (size, every data page's CRC-64, zeros outside the extents). An
 * interrupted commit of the pair is completed first (sq_snapshot_recover);
 * inputs that are not regular files are refused without blocking.
 */
#include <stdlib.h>
#include <string.h>

#include <squib/alloc.h>
#include <squib/atomic_file.h>
#include <squib/crc64.h>
#include <squib/error.h>
#include <squib/file.h>
#include <squib/manifest.h>
#include <squib/restore.h>
#include <squib/snapshot.h>

#include "core/endian.h"
#include "cli.h"
#include "cli_progress.h"
#include "cli_verbose.h"

static char *stem_path(const char *state, const char *ext)
{
	size_t n = strlen(state);
	char *p;

	if (n > 5 && strcmp(state + n - 5, ".snap") == 0)
		n -= 5;
	if (asprintf(&p, "%.*s%s", (int)n, state, ext) < 0)
		return NULL;
	return p;
}

static int state_error(const struct sq_cli *cli, const char *why, const char *path)
{
	if (cli->json)
		sq_cli_emit(json_pack("{s:o,s:b,s:{s:s,s:o}}", "state", sq_json_text(path), "ok", 0,
				      "error", "name", "SQ_E_PAIR_MISMATCH", "message",
				      sq_json_text(why)));
	else
		fprintf(stderr, "%s verify: %s: %s\n", cli->prog, path, why);
	return SQ_EXIT_FAIL;
}

static const struct sq_opt verify_opts[] = {
	{ "mem", 0, 1, 'm' }, { "threads", 0, 1, 't' }, { "progress", 'p', 0, 'p' },
	{ NULL, 0, 0, 0 },
};

static int verify_pair(const struct sq_cli *cli, int argc, char **argv,
		       struct sq_atomic_group **gp)
{
	const char *state = NULL, *mem = NULL;
	struct sq_verify_opts vo = SQ_INIT(struct sq_verify_opts);
	struct sq_cli_progress pr;
	int progress = 0;
	char mpath[4096];
	struct sq_manifest *m = NULL;
	struct sq_verify_report r = SQ_INIT(struct sq_verify_report);
	struct sq_opt_parser p;
	int rc, k;

	sq_opt_init(&p, cli, "verify", argc, argv);
	while ((k = sq_opt_next(&p, verify_opts)) != SQ_OPT_END) {
		if (k == SQ_OPT_ERROR)
			return SQ_EXIT_USAGE;
		if (k == 'm')
			mem = p.arg;
		else if (k == 'p')
			progress = 1;
		else if (k == 't' && sq_cli_opt_uint(cli, "verify", p.opt, p.arg, 0,
						     SQ_CLI_MAX_THREADS, &vo.threads))
			return SQ_EXIT_USAGE;
		else if (k == SQ_OPT_POSITIONAL && state)
			return sq_cli_usage_error(cli, "verify", "one state file only");
		else if (k == SQ_OPT_POSITIONAL)
			state = p.arg;
	}
	if (!state)
		return sq_cli_usage_error(cli, "verify", "missing STATE");
	/* An interrupted commit of this pair is completed (or refused) first,
	 * and a save in progress is waited for. */
	char rp[4096];
	rc = sq_commit_path(state, rp, sizeof(rp));
	if (!rc)
		rc = sq_atomic_group_read(rp, gp); /* the pair as one commit */
	if (rc)
		return sq_cli_fail(cli, "verify", rc);
	char *own_mem = mem ? NULL : stem_path(state, ".mem");
	if (!mem)
		mem = own_mem;
	/* The manifest beside --mem (a merged file has its own), else beside STATE. */
	rc = SQ_E_NOT_FOUND;
	if (!own_mem && !sq_manifest_path(mem, mpath, sizeof(mpath)))
		rc = sq_manifest_load(mpath, &m);
	if (rc == SQ_E_NOT_FOUND) {
		rc = sq_manifest_path(state, mpath, sizeof(mpath));
		if (!rc)
			rc = sq_manifest_load(mpath, &m);
	}
	if (rc) {
		free(own_mem);
		return sq_cli_fail(cli, "verify", rc);
	}
	/* The state file: a valid envelope, and the one the manifest names
	 * (so it is read only up to the size the manifest gives). */
	void *sv = NULL;
	size_t slen = 0;
	int rs = sq_file_read(state, (size_t)m->state_size, &sv, &slen);
	if (rs) {
		free(own_mem);
		sq_manifest_destroy(m);
		if (rs == SQ_E_NOT_REGULAR)
			return state_error(cli, "the state file is not a regular file (FIFO, "
						"socket, device or directory)", state);
		if (rs == SQ_E_SIZE_LIMIT)
			return state_error(cli, "the manifest names another state file", state);
		return sq_cli_fail(cli, "verify", rs);
	}
	const unsigned char *sb = sv;
	uint64_t trailer = slen >= 8 ? sq_le_get64(sb + slen - 8) : 0;
	const char *bad = slen < 8 ? "state file too short"
			  : sq_crc64(sb, slen) ? "state file CRC-64 mismatch"
			  : (m->state_size != slen || m->state_crc != trailer)
				  ? "the manifest names another state file" : NULL;
	sq_free(sv);
	sq_cli_verbose(cli, 1, "verify", "state file %s: %zu bytes: %s", state, slen,
		       bad ? bad : "CRC-64 good, the one the manifest names");
	sq_cli_verbose(cli, 1, "verify", "manifest %s: %s snapshot, region %llu bytes, %zu "
		       "extents, %llu data pages", mpath,
		       m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full",
		       (unsigned long long)m->region_size, m->nextents,
		       (unsigned long long)m->npages);
	if (bad) {
		free(own_mem);
		sq_manifest_destroy(m);
		return state_error(cli, bad, state);
	}
	sq_cli_verbose(cli, 1, "verify", "memory file %s: %u read threads, O_DIRECT where "
		       "the filesystem allows", mem, sq_cli_threads(vo.threads));
	sq_cli_progress_init(&pr, cli, "verify", progress);
	vo.progress = sq_cli_progress_fn(&pr);
	vo.progress_ctx = &pr;
	rc = sq_memfile_verify_ex(mem, m, &vo, &r);
	sq_cli_progress_end(&pr);
	if (rc && rc != SQ_E_VERIFY) {
		free(own_mem);
		sq_manifest_destroy(m);
		return sq_cli_fail(cli, "verify", rc);
	}
	sq_cli_verbose(cli, 1, "verify", "checked %llu pages (%llu bytes read) in %.3f s: %s",
		       (unsigned long long)r.pages_checked, (unsigned long long)r.bytes_read,
		       r.seconds, rc ? "mismatch" : "match");
	char id[33], parent[33];
	sq_id_format(&m->id, id);
	sq_id_format(&m->parent, parent);
	if (cli->json) {
		json_t *doc = json_pack(
			"{s:o,s:o,s:s,s:s,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:b}", "state",
			sq_json_text(state), "mem", sq_json_text(mem), "kind",
			m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full", "id", id, "parent",
			m->kind == SQ_SNAPSHOT_DIFF ? json_string(parent) : json_null(),
			"region_size", sq_json_u64(m->region_size), "extents",
			(json_int_t)m->nextents, "data_pages", sq_json_u64(m->npages),
			"pages_checked", sq_json_u64(r.pages_checked), "bytes_read",
			sq_json_u64(r.bytes_read), "seconds", sq_json_real(r.seconds), "ok", !rc);
		if (doc && rc) {
			json_object_set_new(doc, "bad_page", sq_json_u64(r.bad_page));
			json_object_set_new(doc, "error",
					    json_pack("{s:s,s:o}", "name", "SQ_E_VERIFY", "message",
						      sq_json_text(sq_last_error())));
		}
		sq_cli_emit(doc);
	} else if (rc) {
		fprintf(stderr, "%s verify: %s\n", cli->prog, sq_last_error());
	} else {
		printf("%s: ok (%s snapshot %s, %llu data pages in %zu extents, %.1f MB read in "
		       "%.3f s)\n", mem, m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full", id,
		       (unsigned long long)m->npages, m->nextents, (double)r.bytes_read / 1e6,
		       r.seconds);
	}
	free(own_mem);
	sq_manifest_destroy(m);
	return rc ? SQ_EXIT_FAIL : SQ_EXIT_OK;
}

static int run_verify(const struct sq_cli *cli, int argc, char **argv)
{
	struct sq_atomic_group *g = NULL;
	int rc = verify_pair(cli, argc, argv, &g);

	sq_atomic_group_destroy(g);
	return rc;
}

SQ_CLI_COMMAND(.name = "verify", .summary = "check a snapshot pair's memory file against its manifest",
	       .usage = "usage: squib-snap verify STATE [--mem MEM] [--threads N] [-p] [--json]\n"
			"  Checks that STATE is the state file the manifest names (the manifest\n"
			"  beside MEM if it has one, else beside STATE), and that the\n"
			"  memory file (default: STATE with .snap replaced by .mem) has the\n"
			"  manifest's size, page CRCs and zeros outside its extents.\n"
			"  Exit 0 when it matches, 1 when it does not.\n"
			"  -p, --progress  a progress line on stderr when it is a terminal.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_verify)
