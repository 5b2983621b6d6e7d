/* SPDX-License-Identifier: Apache-2.0 */
/*
 * squib-snap info FILE
 *
 * What a memory file or a manifest holds, as qemu-img info tells it for an
 * image: layout (full / diff), page size, region size, extents, data and
 * hole bytes by the manifest and as the filesystem stores them, the CRC
 * state, the snapshot id and the chain parent (with the file in the same
 * directory that has that id, when there is one). Reads only metadata:
 * nothing is checksummed (that is `squib-snap verify`).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <squib/error.h>
#include <squib/manifest.h>

#include "cli.h"
#include "cli_verbose.h"

/* Extents the filesystem reports as data (SEEK_DATA / SEEK_HOLE). */
struct disk_map {
	uint64_t data_bytes, extents;
	int holes_supported;
};

static int disk_map(int fd, uint64_t size, struct disk_map *d)
{
	off_t pos = 0;

	memset(d, 0, sizeof(*d));
	d->holes_supported = 1;
	while ((uint64_t)pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;
			if (errno == EINVAL || errno == EOPNOTSUPP) {
				d->holes_supported = 0;
				d->data_bytes = size;
				d->extents = size ? 1 : 0;
				return 0;
			}
			return -errno;
		}
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		d->data_bytes += (uint64_t)(hole - data);
		d->extents++;
		pos = hole;
	}
	return 0;
}

/* "dir/x.mem" or "dir/x.snap" -> "dir/x" + @ext (malloc'ed). */
static char *sibling(const char *path, const char *ext)
{
	size_t n = strlen(path);
	const char *cut[] = { ".manifest", ".snap", ".mem" };
	char *p;

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		size_t k = strlen(cut[i]);
		if (n > k && strcmp(path + n - k, cut[i]) == 0) {
			n -= k;
			break;
		}
	}
	if (asprintf(&p, "%.*s%s", (int)n, path, ext) < 0)
		return NULL;
	return p;
}

/* The manifest in @path's directory whose id is @id, or NULL (malloc'ed). */
static char *find_by_id(const char *path, const struct sq_snapshot_id *id)
{
	char *copy = strdup(path), *found = NULL;
	if (!copy)
		return NULL;
	const char *dir = dirname(copy);
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned seen = 0;

	while (d && !found && (e = readdir(d)) != NULL && seen++ < 4096) {
		size_t n = strlen(e->d_name);
		if (n <= 9 || strcmp(e->d_name + n - 9, ".manifest") != 0)
			continue;
		char *p;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			break;
		struct sq_manifest *m = NULL;
		if (sq_manifest_load(p, &m) == 0 && !memcmp(&m->id, id, sizeof(*id)))
			found = sibling(p, ".mem");
		sq_manifest_destroy(m);
		free(p);
	}
	if (d)
		closedir(d);
	free(copy);
	return found;
}

static int run_info(const struct sq_cli *cli, int argc, char **argv)
{
	static const struct sq_opt opts[] = { { NULL, 0, 0, 0 } };
	struct sq_opt_parser p;
	const char *file = NULL;
	char *mem = NULL, *mpath = NULL, *parent_file = NULL;
	struct sq_manifest *m = NULL;
	struct disk_map dm = { 0 };
	struct stat st;
	int rc, fd = -1, have_mem = 0;

	sq_opt_init(&p, cli, "info", argc, argv);
	while ((rc = sq_opt_next(&p, opts)) != SQ_OPT_END) {
		if (rc == SQ_OPT_ERROR)
			return SQ_EXIT_USAGE;
		if (file)
			return sq_cli_usage_error(cli, "info", "one file expected");
		file = p.arg;
	}
	if (!file)
		return sq_cli_usage_error(cli, "info", "missing FILE (a memory file or a manifest)");
	size_t n = strlen(file);
	int is_manifest = n > 9 && strcmp(file + n - 9, ".manifest") == 0;
	mem = is_manifest ? sibling(file, ".mem") : strdup(file);
	mpath = is_manifest ? strdup(file) : sibling(file, ".manifest");
	if (!mem || !mpath) {
		rc = sq_cli_fail(cli, "info", SQ_E_NOMEM);
		goto out;
	}

	/* Never block on a FIFO or read a device: regular files only. */
	fd = open(mem, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && !(is_manifest && errno == ENOENT)) {
		rc = sq_cli_fail_errno(cli, "info", "cannot open", mem, errno);
		goto out;
	}
	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			rc = sq_cli_fail_errno(cli, "info", "cannot stat", mem, errno);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = sq_cli_fail_errno(cli, "info", "not a regular file:", mem,
					       S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
			goto out;
		}
		have_mem = 1;
		rc = disk_map(fd, (uint64_t)st.st_size, &dm);
		if (rc) {
			rc = sq_cli_fail_errno(cli, "info", "cannot map the extents of", mem, -rc);
			goto out;
		}
	}
	if (have_mem)
		sq_cli_verbose(cli, 1, "info", "memory file %s: %llu bytes, %llu allocated on disk",
			       mem, (unsigned long long)st.st_size,
			       (unsigned long long)st.st_blocks * 512);
	rc = sq_manifest_load(mpath, &m);
	sq_cli_verbose(cli, 1, "info", "manifest %s: %s", mpath,
		       rc == SQ_E_NOT_FOUND ? "none" : rc ? sq_error_name(rc) : "loaded");
	if (rc && rc != SQ_E_NOT_FOUND) {
		rc = sq_cli_fail(cli, "info", rc);
		goto out;
	}
	if (rc == SQ_E_NOT_FOUND && is_manifest) {
		rc = sq_cli_fail(cli, "info", rc);
		goto out;
	}
	if (m && !sq_id_is_zero(&m->parent)) {
		parent_file = find_by_id(mpath, &m->parent);
		sq_cli_verbose(cli, 1, "info", "parent: %s", parent_file ? parent_file
					 : "no manifest with its id in the same directory");
	}

	char id[2 * SQ_ID_BYTES + 1] = "", parent[2 * SQ_ID_BYTES + 1] = "";
	uint64_t mdata = 0, mhole = 0;
	if (m) {
		sq_id_format(&m->id, id);
		sq_id_format(&m->parent, parent);
		mdata = m->npages * m->page_size;
		if (m->nextents) { /* a partial last page holds only its bytes */
			const struct sq_run *e = &m->extents[m->nextents - 1];
			uint64_t end = (e->first_page + e->npages) * m->page_size;
			if (end > m->region_size)
				mdata -= end - m->region_size;
		}
		mhole = m->region_size - mdata;
	}
	const char *layout = !m ? "unknown (no manifest)"
				: m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full";
	if (cli->json) {
		json_t *doc = json_pack("{s:o,s:o,s:s}", "memory_file", sq_json_text(mem), "manifest",
					m ? sq_json_text(mpath) : json_null(), "layout",
					!m ? "unknown" : m->kind == SQ_SNAPSHOT_DIFF ? "diff" : "full");
		if (doc && have_mem)
			json_object_set_new(doc, "disk",
					    json_pack("{s:o,s:o,s:o,s:o,s:b}", "size",
						      sq_json_u64((uint64_t)st.st_size), "allocated",
						      sq_json_u64((uint64_t)st.st_blocks * 512),
						      "data_bytes", sq_json_u64(dm.data_bytes),
						      "data_extents", sq_json_u64(dm.extents),
						      "holes_reported", dm.holes_supported));
		if (doc && m)
			json_object_set_new(
				doc, "manifest_says",
				json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o}", "id", id,
					  "parent", sq_id_is_zero(&m->parent) ? json_null()
									      : json_string(parent),
					  "parent_file", sq_json_text(parent_file), "page_size",
					  sq_json_u64(m->page_size), "region_size",
					  sq_json_u64(m->region_size), "extents",
					  sq_json_u64(m->nextents), "data_bytes", sq_json_u64(mdata),
					  "crc", "one CRC-64 per data page, not checked (verify)",
					  "crc_pages", sq_json_u64(m->npages), "hole_bytes",
					  sq_json_u64(mhole), "state_size", sq_json_u64(m->state_size),
					  "state_crc", sq_json_u64(m->state_crc)));
		rc = sq_cli_emit(doc) ? SQ_EXIT_FAIL : SQ_EXIT_OK;
		goto out;
	}
	printf("memory file:   %s%s\n", mem, have_mem ? "" : " (missing)");
	printf("manifest:      %s\n", m ? mpath : "none (a foreign or bare memory file)");
	printf("layout:        %s\n", layout);
	if (have_mem)
		printf("on disk:       %llu bytes, %llu allocated, %llu data bytes in %llu "
		       "extents%s\n",
		       (unsigned long long)st.st_size, (unsigned long long)st.st_blocks * 512,
		       (unsigned long long)dm.data_bytes, (unsigned long long)dm.extents,
		       dm.holes_supported ? "" : " (the filesystem reports no holes)");
	if (m) {
		printf("page size:     %u\n", m->page_size);
		printf("region size:   %llu\n", (unsigned long long)m->region_size);
		printf("extents:       %zu, %llu data bytes, %llu hole bytes (%s)\n", m->nextents,
		       (unsigned long long)mdata, (unsigned long long)mhole,
		       m->kind == SQ_SNAPSHOT_DIFF ? "holes: unchanged from the parent"
						   : "holes: zero");
		printf("CRC:           one CRC-64 per data page (%llu), not checked here: run "
		       "squib-snap verify\n",
		       (unsigned long long)m->npages);
		printf("snapshot id:   %s\n", id);
		if (sq_id_is_zero(&m->parent))
			printf("parent:        none\n");
		else
			printf("parent:        %s%s%s\n", parent, parent_file ? " = " : " (not found beside it)",
			       parent_file ? parent_file : "");
		if (m->state_size)
			printf("state file:    %llu bytes, CRC trailer 0x%016llx\n",
			       (unsigned long long)m->state_size, (unsigned long long)m->state_crc);
	}
	rc = SQ_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	sq_manifest_destroy(m);
	free(mem);
	free(mpath);
	free(parent_file);
	return rc;
}

SQ_CLI_COMMAND(.name = "info", .summary = "what a memory file or manifest holds",
	       .usage = "usage: squib-snap info FILE [--json]\n"
			"  FILE is a memory file (its manifest is looked up beside it) or a\n"
			"  .manifest. Prints the layout (full / diff), page size, region size,\n"
			"  extents, data and hole bytes by the manifest and on disk, the CRC\n"
			"  state, the snapshot id and the chain parent. Reads metadata only.\n"
			"  -v, -vv  details on stderr: files, extents, IO path, bytes, timing.\n",
	       .run = run_info)
