/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tools/cli_verbose.c - the -v / -vv detail lines (tools/cli_verbose.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/manifest.h>

#include "cli_verbose.h"

/* -vv lists at most this many extents of a file. */
#define VERBOSE_MAX_EXTENTS 64u

unsigned sq_cli_threads(unsigned threads)
{
	long n = threads ? (long)threads : sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

int sq_cli_verbose_on(const struct sq_cli *cli, int level)
{
	return cli->verbose >= level && !cli->quiet;
}

void sq_cli_verbose(const struct sq_cli *cli, int level, const char *cmd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!sq_cli_verbose_on(cli, level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s: %s\n", cli->prog, cmd, line);
}

/* "<stem>.mem" for a ".snap" path, else a copy of @path. */
static char *mem_of(const char *path)
{
	size_t n = strlen(path);
	char *p = NULL;

	if (n > 5 && !strcmp(path + n - 5, ".snap")) {
		if (asprintf(&p, "%.*s.mem", (int)(n - 5), path) < 0)
			p = NULL;
		return p;
	}
	return strdup(path);
}

static void one_layer(const struct sq_cli *cli, const char *cmd, size_t i, const char *path)
{
	char *mem = mem_of(path);
	char mp[4096], id[33], parent[33];
	struct sq_manifest *m = NULL;
	struct stat st;

	if (!mem)
		return;
	int have = stat(mem, &st) == 0;
	int rc = sq_manifest_path(mem, mp, sizeof(mp));
	if (!rc)
		rc = sq_manifest_load(mp, &m);
	if (rc) {
		sq_cli_verbose(cli, 1, cmd, "layer %zu: %s (%s), no usable manifest (%s)", i, mem,
			       have ? "present" : "missing", sq_error_name(rc));
		free(mem);
		return;
	}
	sq_id_format(&m->id, id);
	sq_id_format(&m->parent, parent);
	sq_cli_verbose(cli, 1, cmd,
		       "layer %zu: %s, manifest %s: %s snapshot %s%s%s, region %llu bytes, "
		       "%zu extents, %llu data bytes", i, mem, mp,
		       m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full", id,
		       m->kind == SQ_SNAPSHOT_DIFF ? " parent " : "",
		       m->kind == SQ_SNAPSHOT_DIFF ? parent : "",
		       (unsigned long long)m->region_size, m->nextents,
		       (unsigned long long)(m->npages * (uint64_t)m->page_size));
	for (size_t e = 0; e < m->nextents && e < VERBOSE_MAX_EXTENTS; e++)
		sq_cli_verbose(cli, 2, cmd, "layer %zu: extent pages %llu+%llu", i,
			       (unsigned long long)m->extents[e].first_page,
			       (unsigned long long)m->extents[e].npages);
	if (m->nextents > VERBOSE_MAX_EXTENTS)
		sq_cli_verbose(cli, 2, cmd, "layer %zu: ... %zu more extents", i,
			       m->nextents - VERBOSE_MAX_EXTENTS);
	sq_manifest_destroy(m);
	free(mem);
}

void sq_cli_verbose_chain(const struct sq_cli *cli, const char *cmd, const char *const *chain,
			  size_t n)
{
	if (!sq_cli_verbose_on(cli, 1))
		return;
	for (size_t i = 0; i < n; i++)
		one_layer(cli, cmd, i, chain[i]);
}
