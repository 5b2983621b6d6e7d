/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap manifest STATE MEM --kind full|diff [--parent STATE] [--page-size N]
 *                     [--replace]
 *
 * Builds the manifest of a pair written without one (by the original crate
 * or by Firecracker): extents from SEEK_DATA / SEEK_HOLE, a CRC-64 per page
 * of what is there, bound to STATE (size and CRC trailer), written
 * atomically beside MEM. Afterwards load, verify, restore --verify and
 * merge apply to the pair like to one this library wrote.
 *
 * Also: sq_cli_warn_foreign(), the warning restore and merge print for
 * layers that have no manifest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/foreign.h>
#include <squib/manifest.h>

#include "cli.h"
#include "core/clock.h"
#include "cli_verbose.h"

static int has_manifest(const char *path)
{
	char mpath[4096];
	size_t n = strlen(path);
	char mem[4096];

	/* a ".snap" argument stands for its ".mem" sibling, as in restore/merge */
	if (n > 5 && strcmp(path + n - 5, ".snap") == 0)
		snprintf(mem, sizeof(mem), "%.*s.mem", (int)(n - 5), path);
	else
		snprintf(mem, sizeof(mem), "%s", path);
	return sq_manifest_path(mem, mpath, sizeof(mpath)) == 0 && access(mpath, F_OK) == 0;
}

void sq_cli_warn_foreign(const struct sq_cli *cli, const char *cmd, const char *const *chain,
			 size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!has_manifest(chain[i]))
			sq_cli_msg(cli, "%s %s: warning: %s has no manifest: read by SEEK_DATA / "
					"SEEK_HOLE as %s (holes %s), its place in the chain and its "
					"CRCs cannot be checked (squib-snap manifest builds one)\n",
				    cli->prog, cmd, chain[i], i ? "a diff" : "a full image",
				    i ? "are taken as unchanged" : "read as zero");
}

/* An id as 32 hex digits, or JSON null for the all-zero id (no parent). */
static json_t *id_json(const struct sq_snapshot_id *id)
{
	char hex[2 * SQ_ID_BYTES + 1];

	if (sq_id_is_zero(id))
		return json_null();
	sq_id_format(id, hex);
	return json_string(hex);
}

static int report(const struct sq_cli *cli, const char *mpath, const char *mem,
		  const char *state)
{
	struct sq_manifest *m;
	char id[2 * SQ_ID_BYTES + 1], parent[2 * SQ_ID_BYTES + 1];
	int rc = sq_manifest_load(mpath, &m);

	if (rc)
		return sq_cli_fail(cli, "manifest", rc);
	const char *kind = m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full";
	if (cli->json) {
		rc = sq_cli_emit(json_pack("{s:o,s:o,s:o,s:s,s:o,s:o,s:I,s:o,s:o,s:o}", "manifest",
					   sq_json_text(mpath), "memory", sq_json_text(mem), "state",
					   sq_json_text(state), "kind", kind, "region_size",
					   sq_json_u64(m->region_size), "page_size",
					   sq_json_u64(m->page_size), "extents",
					   (json_int_t)m->nextents, "data_pages", sq_json_u64(m->npages),
					   "id", id_json(&m->id), "parent", id_json(&m->parent)));
	} else {
		sq_id_format(&m->id, id);
		sq_id_format(&m->parent, parent);
		printf("%s: %s of %s, %zu extents, %llu data pages of %llu (%u bytes), id %s%s%s, "
		       "bound to %s (%llu bytes)\n", mpath, kind, mem, m->nextents,
		       (unsigned long long)m->npages,
		       (unsigned long long)((m->region_size + m->page_size - 1) / m->page_size),
		       m->page_size,
		       id, sq_id_is_zero(&m->parent) ? "" : ", parent ",
		       sq_id_is_zero(&m->parent) ? "" : parent, state,
		       (unsigned long long)m->state_size);
	}
	sq_manifest_destroy(m);
	return rc ? SQ_EXIT_FAIL : SQ_EXIT_OK;
}

static const struct sq_opt manifest_opts[] = {
	{ "kind", 0, 1, 'k' },	    { "parent", 0, 1, 'p' }, { "replace", 0, 0, 'r' },
	{ "page-size", 0, 1, 's' }, { NULL, 0, 0, 0 },
};

static int run_manifest(const struct sq_cli *cli, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *kind = NULL, *parent = NULL;
	struct sq_snapshot_id pid = { { 0 } };
	struct sq_opt_parser p;
	int npos = 0, replace = 0, rc, k;
	uint64_t page = SQ_PAGE_SIZE;
	char mpath[4096];

	sq_opt_init(&p, cli, "manifest", argc, argv);
	while ((k = sq_opt_next(&p, manifest_opts)) != SQ_OPT_END) {
		if (k == SQ_OPT_ERROR)
			return SQ_EXIT_USAGE;
		if (k == 'k')
			kind = p.arg;
		else if (k == 'p')
			parent = p.arg;
		else if (k == 'r')
			replace = 1;
		else if (k == 's') {
			if (sq_cli_opt_size(cli, "manifest", "--page-size", p.arg, SQ_PAGE_SIZE_MIN,
					    SQ_PAGE_SIZE_MAX, &page))
				return SQ_EXIT_USAGE;
			if (page & (page - 1))
				return sq_cli_usage_error(cli, "manifest", "--page-size %llu is not "
							  "a power of two",
							  (unsigned long long)page);
		}
		else if (npos < 2)
			pos[npos++] = p.arg;
		else
			return sq_cli_usage_error(cli, "manifest", "one STATE and one MEM expected");
	}
	if (npos != 2 || !kind)
		return sq_cli_usage_error(cli, "manifest", "need STATE MEM --kind full|diff");
	if (strcmp(kind, "full") && strcmp(kind, "diff"))
		return sq_cli_usage_error(cli, "manifest", "--kind is full or diff, not '%s'", kind);
	int diff = !strcmp(kind, "diff");
	if (diff != (parent != NULL))
		return sq_cli_usage_error(cli, "manifest", diff ? "a diff needs --parent STATE"
							       : "a full image has no --parent");
	if (parent) {
		struct sq_manifest *pm;
		char ppath[4096], pmem[4096];
		size_t n = strlen(parent);
		if (n > 5 && !strcmp(parent + n - 5, ".snap"))
			snprintf(pmem, sizeof(pmem), "%.*s.mem", (int)(n - 5), parent);
		else
			snprintf(pmem, sizeof(pmem), "%s", parent);
		rc = sq_manifest_path(pmem, ppath, sizeof(ppath));
		if (!rc)
			rc = sq_manifest_load(ppath, &pm);
		if (rc == SQ_E_NOT_FOUND)
			sq_cli_msg(cli, "%s manifest: the parent %s has no manifest yet: build the "
					"chain's manifests from the full image up\n", cli->prog, parent);
		if (rc)
			return sq_cli_fail(cli, "manifest", rc);
		pid = pm->id;
		sq_manifest_destroy(pm);
	}
	sq_cli_verbose(cli, 1, "manifest", "scanning %s (SEEK_DATA / SEEK_HOLE, a CRC-64 per data "
		       "page) as a %s snapshot, bound to %s%s%s", pos[1], diff ? "diff" : "full",
		       pos[0], parent ? ", parent " : "", parent ? parent : "");
	double t0 = sq_clock_s();
	rc = sq_manifest_build_save_paged(pos[1], diff ? SQ_SNAPSHOT_DIFF : SQ_SNAPSHOT_FULL,
					  (uint32_t)page, pos[0], parent ? &pid : NULL, replace, NULL);
	sq_cli_verbose(cli, 1, "manifest", "%s in %.3f s", rc ? sq_error_name(rc) : "built and saved",
		       sq_clock_s() - t0);
	if (rc)
		return sq_cli_fail(cli, "manifest", rc);
	if (diff)
		sq_cli_msg(cli, "%s manifest: note: built from the file: its holes are taken as "
				"unchanged pages and its CRCs are of the file as it is now\n",
			   cli->prog);
	rc = sq_manifest_path(pos[1], mpath, sizeof(mpath));
	if (rc)
		return sq_cli_fail(cli, "manifest", rc);
	return report(cli, mpath, pos[1], pos[0]);
}

SQ_CLI_COMMAND(.name = "manifest",
	       .summary = "build the manifest of a pair written without one (original, Firecracker)",
	       .usage = "usage: squib-snap manifest STATE MEM --kind full|diff [--parent STATE]\n"
			"                           [--page-size N] [--replace] [--json]\n"
			"  Describes MEM, a memory file written by squib-snapshot 0.2.0 or by\n"
			"  Firecracker (full: a dense image; diff: a sparse file whose written pages\n"
			"  are the dirty ones), in a manifest beside it (MEM without .mem, plus\n"
			"  .manifest): its data extents from SEEK_DATA / SEEK_HOLE, a CRC-64 per\n"
			"  page, and the size and CRC of STATE. A diff names its parent: --parent is\n"
			"  the layer below (its .snap or .mem; its manifest must exist), so build\n"
			"  a chain's manifests from the full image up. Written atomically; an\n"
			"  existing manifest is replaced only with --replace. Afterwards load,\n"
			"  verify, restore --verify and merge apply as to any pair. Any file size\n"
			"  is described (a partial last page is a page). --page-size: the pages of\n"
			"  the manifest, a power of two from 4k to 64k (default 4k); give the page\n"
			"  size the file was written with or a smaller one (a diff's holes inside a\n"
			"  larger page would be taken as zeros), and one size for a whole chain\n"
			"  (merge needs it).\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_manifest)
